"""What the server needs from a language model, whichever one answers."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Protocol


class LLMError(Exception):
    """The model could not give a complete answer.

    ``reason`` is a short, fixed word fit for a log field or a metric label:
    "timeout", "connection", "http_status", "bad_stream" or "model_error".
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class LLMClient(Protocol):
    """A chat model. Implementations never log message contents."""

    name: str

    def stream_chat(self, messages: Sequence[Mapping[str, str]]) -> AsyncGenerator[str, None]:
        """Yield the answer to ``messages`` (Ollama-style role/content dicts) token by token.

        Use as ``async for token in client.stream_chat(messages)``. When the iteration ends
        normally the answer is complete; anything else raises :class:`LLMError`. A caller
        that may stop early wraps the stream in ``contextlib.aclosing`` so that the
        connection is released at once, not when the generator is garbage-collected.
        """
        ...

    async def probe(self) -> None:
        """Return when the model service answers a cheap request; raise :class:`LLMError` if not."""
        ...

    async def close(self) -> None:
        """Release connections; the client is not used afterwards."""
        ...
