"""A model stand-in that answers locally, so the server runs where no Ollama is installed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Mapping, Sequence

from jarvis.llm.base import LLMError

# A word with the whitespace after it, or leading whitespace alone: joined back, the tokens
# give the answer unchanged.
_TOKEN = re.compile(r"\S+\s*|\s+")


class EchoClient:
    """Answers "Echo: <last user message>", streamed word by word."""

    name = "echo"

    async def stream_chat(self, messages: Sequence[Mapping[str, str]]) -> AsyncGenerator[str, None]:
        """Yield "Echo: " + the last user message, one word per token; joined, exactly that."""
        last = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), None)
        if last is None:
            raise LLMError("model_error", "no user message to answer")
        for token in _TOKEN.findall("Echo: " + last):
            yield token
            # Give other tasks a turn between tokens, as a real stream would.
            await asyncio.sleep(0)

    async def probe(self) -> None:
        """Always healthy: there is nothing remote to reach."""

    async def close(self) -> None:
        """Nothing to release."""
