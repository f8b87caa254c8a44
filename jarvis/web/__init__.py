"""The server's HTTP side. A request's path through it, as ``jarvis.app.create_app`` wires it:

    client
      │
      ▼
    middlewares/                 around every route's handler, its steps outermost first
      step1_request_id           the request's ID (and W3C trace), sent back on every response
      step2_client_address       the real client behind trusted proxies
      step3_errors               any error → a JSON body naming the request ID (responses.py)
      step4_shutdown             cut off by a shutdown → a 503, its access and outcome lines
      │
      ▼
    handler
      POST /chat   chat/http_handler ─┬─► chat/intake: decode → user → rate limit → validate
      GET  /ws     chat/ws_handler ───┘     └─► chat/service: memory.py + llm/ → the answer
      GET  /health health_endpoint ────► health.py (probes run on a timer, not per request)
      GET  /metrics metrics_endpoint ──► metrics_exposition.py
      │
      ▼
    access_log                   once the last byte is sent: one JSON line per request
                                 (rendered by access_lines), through logs/ to stdout and
                                 file, and request_metrics (http_requests_total,
                                 http_request_duration_seconds), made together at the end of
                                 each loop iteration

``keys.py`` names everything the application carries (what the steps learn of a request is
its context's: ``jarvis.request_context``); ``responses.py`` holds the error answers and route
names the steps share; ``log_context.py`` gives the log fields that name a request.
"""
