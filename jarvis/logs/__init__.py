"""Structured JSON logging, in the order a record goes through it:

``handler`` (in the caller) runs the ``processors`` and renders the event (``render``) into one
JSON line, the ``writer`` thread appends it to stdout and the log file; ``setup`` installs this
for the whole process. The one line every HTTP request writes (``jarvis.web.access_log``) skips
the record machinery: built as the processors would build it, it goes straight to the writer
that ``handler.sole_json_writer`` names; so do the two lines of every chat turn
(``handler.DirectLogger``), rendered from templates (``direct_lines``).
"""
