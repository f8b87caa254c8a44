"""Fixtures shared by the whole suite. Each fixture module lives in tests/support/."""

from support.elasticsearch_node import elasticsearch_node, es_client, es_url  # noqa: F401
from support.fake_ollama import fake_ollama  # noqa: F401
from support.jarvis_server import jarvis_server  # noqa: F401
from support.redis_server import redis_server  # noqa: F401
from support.small_disk import small_disk  # noqa: F401
