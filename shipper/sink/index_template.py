"""The ``jarvis-logs`` index template: how every daily ``jarvis-logs-*`` index is mapped.

The settings let Elasticsearch take what it can of an awkward line rather than refuse it:
a value of the wrong type for a numeric field is kept in ``_source`` but not indexed
(``ignore_malformed``), fields beyond the 1,000-field limit likewise
(``ignore_dynamic_beyond_limit``), and every keyword has an ``ignore_above`` below Lucene's
32,766-byte term limit. What it still refuses gets a fallback document (``shipper/fallback.py``),
whose fields are mapped here: ``event.original`` (the whole line, as text) and
``event.fallback_reason``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jarvis import logline
from shipper.elastic import INDEX_PATTERN

if TYPE_CHECKING:
    from elasticsearch import AsyncElasticsearch

TEMPLATE_NAME = "jarvis-logs"

# Characters, at most 4 UTF-8 bytes each: a longer value would exceed Lucene's 32,766-byte term.
CONTRACT_KEYWORD_LIMIT = 8191
# Strings of fields the contract does not name: longer ones are kept but not indexed.
DYNAMIC_KEYWORD_LIMIT = 1024

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
_TEXTS = (logline.MESSAGE, logline.TRACEBACK, logline.EXC_MESSAGE)

# The top-level fields the template maps, by type: any value but an object fits each of them
# (a wrong scalar is coerced or ignored as malformed), which is what a fallback relies on.
CONTRACT_FIELDS: dict[str, str] = {
    **{name: "keyword" for name in _KEYWORDS},
    **{name: "long" for name in _LONGS},
    **{name: "double" for name in _DOUBLES},
    **{name: "text" for name in _TEXTS},
}

INDEX_SETTINGS: dict[str, Any] = {
    "index.mapping.ignore_malformed": True,
    "index.mapping.total_fields.ignore_dynamic_beyond_limit": True,
    # A day of logs is small: one primary shard. One replica as soon as a second node exists,
    # none on a lone node, so a dev node is green and a cluster survives losing a node.
    "index.number_of_shards": 1,
    "index.auto_expand_replicas": "0-1",
}


def _keyword(limit: int = CONTRACT_KEYWORD_LIMIT) -> dict[str, Any]:
    return {"type": "keyword", "ignore_above": limit}


def template_mappings() -> dict[str, Any]:
    """The mappings of the contract; other strings become keywords (ignore_above 1024)."""
    properties: dict[str, Any] = {
        "@timestamp": {"type": "date"},
        logline.MESSAGE: {
            "type": "text",
            "fields": {"keyword": _keyword(DYNAMIC_KEYWORD_LIMIT)},
        },
        logline.TRACEBACK: {"type": "text"},
        logline.EXC_MESSAGE: {"type": "text"},
        "log": {
            "properties": {
                "file": {"properties": {"path": _keyword()}},
                "offset": {"type": "long"},
            }
        },
        "host": {"properties": {"name": _keyword()}},
        "event": {
            "properties": {
                "original": {"type": "text"},
                "fallback_reason": _keyword(),
            }
        },
    }
    properties.update({name: _keyword() for name in _KEYWORDS})
    properties.update({name: {"type": "long"} for name in _LONGS})
    # Our server puts HTTP codes in ``status``; a line from another producer with a word
    # there is kept in _source rather than refused as a mapping conflict.
    properties["status"]["ignore_malformed"] = True
    properties.update({name: {"type": "double"} for name in _DOUBLES})
    return {
        "dynamic_templates": [
            {
                "strings_as_keywords": {
                    "match_mapping_type": "string",
                    "mapping": _keyword(DYNAMIC_KEYWORD_LIMIT),
                }
            }
        ],
        "properties": properties,
    }


def template_body() -> dict[str, Any]:
    """The body of ``PUT _index_template/jarvis-logs``."""
    return {
        "index_patterns": [INDEX_PATTERN],
        "priority": 100,
        "template": {"settings": INDEX_SETTINGS, "mappings": template_mappings()},
        "_meta": {"managed_by": "jarvis-shipper"},
    }


async def install_template(client: AsyncElasticsearch) -> None:
    """Create or replace the template with an ``elasticsearch-py`` client; indices created
    afterwards use it. (The shipper itself installs ``template_body()`` with its own client.)"""
    body = template_body()
    await client.indices.put_index_template(
        name=TEMPLATE_NAME,
        index_patterns=body["index_patterns"],
        priority=body["priority"],
        template=body["template"],
        meta=body["_meta"],
    )
