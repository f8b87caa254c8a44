"""Ollama's HTTP API: streamed chat over ``POST /api/chat``, health over ``GET /api/version``."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from jarvis.llm.base import LLMError
from jarvis.settings import Settings


@dataclass(frozen=True)
class OllamaOptions:
    url: str
    model: str
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    probe_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> OllamaOptions:
        """Take the ``ollama_*`` settings; the probe gets the health-check timeout."""
        return cls(
            url=settings.ollama_url.rstrip("/"),
            model=settings.ollama_model,
            connect_timeout=settings.ollama_connect_timeout,
            read_timeout=settings.ollama_read_timeout,
            total_timeout=settings.ollama_total_timeout,
            probe_timeout=settings.health_timeout,
        )


class OllamaClient:
    """One HTTP connection pool to one Ollama server and model."""

    name = "ollama"

    def __init__(self, options: OllamaOptions) -> None:
        self._options = options
        # For error messages: a URL may carry credentials, which must never reach the logs.
        self._shown_url = str(URL(options.url).with_user(None))
        # Created on first use so that construction needs no running event loop.
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            raise LLMError("connection", "the Ollama client is closed")
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return self._session

    async def stream_chat(self, messages: Sequence[Mapping[str, str]]) -> AsyncGenerator[str, None]:
        """Yield the answer's tokens; raise LLMError unless Ollama marked the answer done.

        Connect, per-read and total timeouts come from the options. A stream that stops
        before its ``"done": true`` line raises ``bad_stream``: a partial answer is never
        passed off as a complete one.
        """
        opts = self._options
        timeout = aiohttp.ClientTimeout(
            total=opts.total_timeout,
            sock_connect=opts.connect_timeout,
            sock_read=opts.read_timeout,
        )
        body = {"model": opts.model, "messages": messages, "stream": True}
        try:
            async with self._http().post(
                f"{opts.url}/api/chat", json=body, timeout=timeout
            ) as response:
                if response.status >= 300:
                    raise await _status_error(response)
                async for token in _read_stream(response):
                    yield token
        except TimeoutError as exc:
            raise LLMError("timeout", self._timeout_message(exc)) from exc
        except aiohttp.ClientPayloadError as exc:
            raise LLMError("bad_stream", "Ollama's answer stream was cut off") from exc
        except ValueError as exc:
            # aiohttp's line reader refuses a line longer than its buffer.
            raise LLMError("bad_stream", f"Ollama sent an unreadable line: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise self._unreachable(exc) from exc

    async def probe(self) -> None:
        """Return when ``GET /api/version`` answers 2xx within the probe timeout."""
        opts = self._options
        timeout = aiohttp.ClientTimeout(total=opts.probe_timeout)
        try:
            async with self._http().get(f"{opts.url}/api/version", timeout=timeout) as response:
                if response.status >= 300:
                    raise await _status_error(response)
                await response.read()
        except TimeoutError as exc:
            raise LLMError("timeout", "Ollama did not answer its health probe in time") from exc
        except aiohttp.ClientError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: aiohttp.ClientError) -> LLMError:
        return LLMError("connection", f"cannot reach Ollama at {self._shown_url}: {exc}")

    def _timeout_message(self, exc: TimeoutError) -> str:
        opts = self._options
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return f"could not connect to Ollama within {opts.connect_timeout:g} s"
        if isinstance(exc, aiohttp.SocketTimeoutError):
            return f"Ollama sent nothing for {opts.read_timeout:g} s"
        return f"Ollama's answer took longer than {opts.total_timeout:g} s"

    async def close(self) -> None:
        """Close the connection pool."""
        self._closed = True
        if self._session is not None:
            await self._session.close()


async def _read_stream(response: aiohttp.ClientResponse) -> AsyncIterator[str]:
    # NDJSON: one object per line, the last one carries "done": true.
    async for raw in response.content:
        if not raw.strip():
            continue
        chunk = _parse_line(raw)
        if "error" in chunk:
            raise LLMError("model_error", f"Ollama reported an error: {chunk['error']}")
        content = (chunk.get("message") or {}).get("content") or ""
        if content:
            yield content
        if chunk.get("done") is True:
            return
    raise LLMError("bad_stream", "Ollama's answer stream ended before it was done")


def _parse_line(raw: bytes) -> dict[str, Any]:
    try:
        chunk = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise LLMError("bad_stream", "Ollama sent a line that is not JSON") from exc
    if not isinstance(chunk, dict):
        raise LLMError("bad_stream", "Ollama sent a line that is not a JSON object")
    return chunk


async def _status_error(response: aiohttp.ClientResponse) -> LLMError:
    """Turn a non-2xx answer into an LLMError, quoting Ollama's own error text when it gave one."""
    detail = ""
    try:
        payload = orjson.loads(await response.read())
        if isinstance(payload, dict) and isinstance(payload.get("error"), str):
            detail = payload["error"]
    except (orjson.JSONDecodeError, aiohttp.ClientError):
        pass
    # Ollama answers 404 when the model is not pulled: a configuration problem, not an outage.
    reason = "model_error" if response.status == 404 and "model" in detail else "http_status"
    message = f"Ollama answered HTTP {response.status}"
    return LLMError(reason, f"{message}: {detail}" if detail else message)
