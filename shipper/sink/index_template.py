"""The ``jarvis-logs`` index template: how every daily ``jarvis-logs-*`` index is mapped."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch

from jarvis import logline
from shipper.elastic import INDEX_PATTERN

TEMPLATE_NAME = "jarvis-logs"

# Fields of the log-line contract by type, then fields it does not name (the access log's,
# the WebSocket's, the shipper's own ``tags``).
_KEYWORDS = (
    logline.REQUEST_ID,
    logline.USER_ID,
    logline.LEVEL,
    logline.LOGGER,
    logline.ACTION,
    logline.ROUTE,
    logline.STAGE,
    logline.TRANSPORT,
    logline.MODULE,
    logline.FUNCTION,
    logline.TRACE_ID,
    logline.SPAN_ID,
    logline.ERROR,
    logline.EXC_TYPE,
    *"method client tags service direction health".split(),
)
_LONGS = (logline.LINE, *"status bytes close_code message_length response_length".split())
_DOUBLES = (logline.TIMESTAMP, logline.DURATION_MS, logline.LLM_SECONDS)


def template_mappings() -> dict[str, Any]:
    """The mappings of the contract; other strings become keywords (ignore_above 1024)."""
    properties: dict[str, Any] = {
        "@timestamp": {"type": "date"},
        logline.MESSAGE: {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}},
        },
        logline.TRACEBACK: {"type": "text"},
        logline.EXC_MESSAGE: {"type": "text"},
        "log": {
            "properties": {
                "file": {"properties": {"path": {"type": "keyword"}}},
                "offset": {"type": "long"},
            }
        },
        "host": {"properties": {"name": {"type": "keyword"}}},
    }
    properties.update({name: {"type": "keyword"} for name in _KEYWORDS})
    properties.update({name: {"type": "long"} for name in _LONGS})
    # Our server puts HTTP codes in ``status``; a line from another producer with a word
    # there is kept in _source rather than dead-lettered as a mapping conflict.
    properties["status"]["ignore_malformed"] = True
    properties.update({name: {"type": "double"} for name in _DOUBLES})
    return {
        "dynamic_templates": [
            {
                "strings_as_keywords": {
                    "match_mapping_type": "string",
                    "mapping": {"type": "keyword", "ignore_above": 1024},
                }
            }
        ],
        "properties": properties,
    }


async def install_template(client: AsyncElasticsearch) -> None:
    """Create or replace the template; indices created afterwards use it."""
    await client.indices.put_index_template(
        name=TEMPLATE_NAME,
        index_patterns=[INDEX_PATTERN],
        priority=100,
        template={"mappings": template_mappings()},
        meta={"managed_by": "jarvis-shipper"},
    )
