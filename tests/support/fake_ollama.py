"""A loopback stand-in for Ollama speaking its real HTTP API, with selectable misbehaviours.

``/api/chat`` (streamed NDJSON by default, one JSON object with ``"stream": false``),
``/api/version`` and ``/api/tags``. A test picks a :class:`Behaviour` with
``set_behaviour`` and reads back what the server sent in ``requests``.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest_asyncio
from aiohttp import web

VERSION = "0.6.2"
DEFAULT_MODELS = ("llama3.2:latest",)
DEFAULT_REPLY = ("Bonjour", ",", " je", " suis", " Jarvis", ".")


class Behaviour(enum.StrEnum):
    NORMAL = "normal"
    # Every token waits ``delay`` seconds before it is sent.
    SLOW = "slow"
    # Every endpoint answers 500 with an Ollama-style error body.
    HTTP_500 = "http_500"
    # Half the tokens, then an {"error": ...} line, as Ollama does when a runner dies mid-answer.
    ERROR_MID_STREAM = "error_mid_stream"
    # Half the tokens, then the TCP connection is dropped without ending the chunked body.
    HALF_CLOSED = "half_closed"
    # Half the tokens, then a clean end of body, but no "done": true line.
    NO_DONE = "no_done"
    # Every endpoint accepts the request and never answers (until the server stops).
    HANG = "hang"
    # /api/chat answers 404 "model not found", whatever model is asked for.
    MODEL_NOT_FOUND = "model_not_found"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    body: Any


@dataclass
class FakeOllama:
    models: tuple[str, ...] = DEFAULT_MODELS
    reply: tuple[str, ...] = DEFAULT_REPLY
    behaviour: Behaviour = Behaviour.NORMAL
    delay: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = field(default=None, init=False)
    _released: asyncio.Event = field(default_factory=asyncio.Event, init=False)

    def set_behaviour(self, behaviour: Behaviour | str, *, delay: float = 0.0) -> None:
        """Make every following request behave so; ``delay`` is the per-token wait for SLOW."""
        self.behaviour = Behaviour(behaviour)
        self.delay = delay

    @property
    def answer(self) -> str:
        """The full text a NORMAL or SLOW chat streams."""
        return "".join(self.reply)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/api/chat"]

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port; ``url`` then points there."""
        app = web.Application()
        app.router.add_post("/api/chat", self._chat)
        app.router.add_get("/api/version", self._version)
        app.router.add_get("/api/tags", self._tags)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop listening and let hanging handlers return; safe to call twice."""
        self._released.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _record(self, request: web.Request) -> Any:
        body = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = raw.decode("utf-8", "replace")
        self.requests.append(RecordedRequest(request.method, request.path, body))
        return body

    async def _common_failure(self) -> web.Response | None:
        if self.behaviour is Behaviour.HANG:
            await self._released.wait()
            return web.json_response({"error": "shutting down"}, status=503)
        if self.behaviour is Behaviour.HTTP_500:
            return web.json_response({"error": "llama runner process has terminated"}, status=500)
        return None

    async def _version(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return await self._common_failure() or web.json_response({"version": VERSION})

    async def _tags(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        failure = await self._common_failure()
        if failure is not None:
            return failure
        return web.json_response({"models": [_model_entry(name) for name in self.models]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        failure = await self._common_failure()
        if failure is not None:
            return failure
        if not isinstance(body, dict):
            return web.json_response({"error": "invalid request body"}, status=400)
        model = body.get("model")
        if not model:
            return web.json_response({"error": "model is required"}, status=400)
        if self.behaviour is Behaviour.MODEL_NOT_FOUND or not self._knows(model):
            return web.json_response(
                {"error": f'model "{model}" not found, try pulling it first'}, status=404
            )
        if body.get("stream", True) is False:
            return web.json_response(_final_chunk(model, self.answer, len(self.reply)))
        return await self._stream(request, model)

    def _knows(self, model: str) -> bool:
        name = model if ":" in model else f"{model}:latest"
        return name in self.models

    async def _stream(self, request: web.Request, model: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        broken = self.behaviour in (
            Behaviour.ERROR_MID_STREAM,
            Behaviour.HALF_CLOSED,
            Behaviour.NO_DONE,
        )
        tokens = self.reply[: len(self.reply) // 2] if broken else self.reply
        for token in tokens:
            if self.behaviour is Behaviour.SLOW:
                await asyncio.sleep(self.delay)
            await response.write(_line(_token_chunk(model, token)))
        if self.behaviour is Behaviour.ERROR_MID_STREAM:
            await response.write(
                _line({"error": "an error was encountered while running the model"})
            )
        elif self.behaviour is Behaviour.HALF_CLOSED:
            assert request.transport is not None
            request.transport.abort()
            return response
        elif self.behaviour is Behaviour.NORMAL or self.behaviour is Behaviour.SLOW:
            await response.write(_line(_final_chunk(model, "", len(tokens))))
        await response.write_eof()
        return response


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\n"


def _token_chunk(model: str, content: str) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
        "done": False,
    }


def _final_chunk(model: str, content: str, eval_count: int) -> dict[str, Any]:
    return {
        "model": model,
        "created_at": _now(),
        "message": {"role": "assistant", "content": content},
        "done_reason": "stop",
        "done": True,
        "total_duration": 1_234_567,
        "load_duration": 12_345,
        "prompt_eval_count": 12,
        "prompt_eval_duration": 123_456,
        "eval_count": eval_count,
        "eval_duration": 234_567,
    }


def _model_entry(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": name,
        "modified_at": _now(),
        "size": 2_019_393_189,
        "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
        "details": {"format": "gguf", "family": "llama", "parameter_size": "3.2B"},
    }


@pytest_asyncio.fixture
async def fake_ollama() -> AsyncIterator[FakeOllama]:
    """A started FakeOllama on a free loopback port, stopped after the test."""
    server = FakeOllama()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
