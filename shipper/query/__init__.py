"""jarvis-logs: find what one request did, search the logs and compute usage figures.

Reads the events the shipper indexed into ``jarvis-logs-*`` (or the local JSONL files and
their rotated backups) and shows them as a timeline, as raw JSONL, or as aggregated KPIs.
"""
