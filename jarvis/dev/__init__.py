"""``jarvis dev``: the whole pipeline on one machine, started in order and stopped in order.

``command`` is the command line and one run, start to stop. ``options`` holds a run's choices
(ports, data directory, model, an external cluster) and ``layout`` where everything lives;
``ports`` checks the ports before anything starts. ``services`` lists what runs, in which
order, each with its readiness probe (``probes``; ``prometheus_config`` for Prometheus).
``supervisor`` starts, watches and stops the processes; ``output`` prefixes and renders their
lines; ``summary`` is the block printed once everything is ready.
"""
