"""Structured JSON logging, in the order a record goes through it:

``handler`` (in the caller) runs the ``processors`` and renders the event (``render``) into one
JSON line, the ``writer`` thread appends it to stdout and the log file; ``setup`` installs this
for the whole process.
"""
