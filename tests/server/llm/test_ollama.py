"""The Ollama client against a loopback server speaking Ollama's HTTP API."""

import logging
import socket
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from support.fake_ollama import Behaviour, FakeOllama

from jarvis.llm.base import LLMError
from jarvis.llm.factory import create_llm_client
from jarvis.llm.ollama import OllamaClient, OllamaOptions
from jarvis.settings import Settings

pytestmark = pytest.mark.timeout(30)

MESSAGES = [
    {"role": "system", "content": "You are Jarvis."},
    {"role": "user", "content": "Quel temps fait-il ?"},
]


def settings_for(fake: FakeOllama, **overrides) -> Settings:
    values = {
        "llm_provider": "ollama",
        "ollama_url": fake.url,
        "ollama_model": "llama3.2",
        "ollama_connect_timeout": 2.0,
        "ollama_read_timeout": 5.0,
        "ollama_total_timeout": 20.0,
        "health_timeout": 2.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def make_client() -> AsyncIterator:
    clients = []

    def make(fake: FakeOllama, **overrides):
        client = create_llm_client(settings_for(fake, **overrides))
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def collect(client, messages=MESSAGES) -> list[str]:
    return [token async for token in client.stream_chat(messages)]


async def failure_of(client, messages=MESSAGES) -> tuple[LLMError, list[str]]:
    received: list[str] = []
    with pytest.raises(LLMError) as caught:
        async for token in client.stream_chat(messages):
            received.append(token)
    return caught.value, received


async def test_streams_the_answer_token_by_token(fake_ollama, make_client):
    client = make_client(fake_ollama)
    tokens = await collect(client)
    assert isinstance(client, OllamaClient)
    assert client.name == "ollama"
    assert tokens == list(fake_ollama.reply)
    assert "".join(tokens) == fake_ollama.answer


async def test_sends_the_configured_model_and_the_messages(fake_ollama, make_client):
    await collect(make_client(fake_ollama, ollama_model="llama3.2:latest"))
    [request] = fake_ollama.chat_requests()
    assert request.method == "POST"
    assert request.body == {"model": "llama3.2:latest", "messages": MESSAGES, "stream": True}


async def test_slow_tokens_within_the_timeouts_all_arrive(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.SLOW, delay=0.05)
    tokens = await collect(make_client(fake_ollama))
    assert tokens == list(fake_ollama.reply)


async def test_a_token_slower_than_the_read_timeout_is_a_timeout(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.SLOW, delay=2.0)
    error, received = await failure_of(make_client(fake_ollama, ollama_read_timeout=0.3))
    assert error.reason == "timeout"
    assert "sent nothing for 0.3 s" in str(error)
    assert received == []


async def test_an_answer_longer_than_the_total_timeout_is_a_timeout(fake_ollama, make_client):
    # Each token comes well within the read timeout; only the whole answer is too long.
    fake_ollama.set_behaviour(Behaviour.SLOW, delay=0.3)
    client = make_client(fake_ollama, ollama_read_timeout=5.0, ollama_total_timeout=1.0)
    error, received = await failure_of(client)
    assert error.reason == "timeout"
    assert "longer than 1 s" in str(error)
    assert len(received) < len(fake_ollama.reply)
    assert received == list(fake_ollama.reply[: len(received)])


async def test_a_server_that_never_answers_is_a_timeout(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.HANG)
    error, _ = await failure_of(make_client(fake_ollama, ollama_read_timeout=0.3))
    assert error.reason == "timeout"


@pytest.fixture
def unaccepting_port() -> Iterator[int]:
    """A loopback port whose accept queue is full, so that new connections hang in SYN."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


async def test_a_server_that_never_accepts_is_a_connect_timeout(unaccepting_port):
    options = OllamaOptions(
        url=f"http://127.0.0.1:{unaccepting_port}",
        model="llama3.2",
        connect_timeout=0.3,
        read_timeout=60.0,
        total_timeout=120.0,
        probe_timeout=60.0,
    )
    client = OllamaClient(options)
    try:
        error, _ = await failure_of(client)
    finally:
        await client.close()
    assert error.reason == "timeout"
    assert "could not connect to Ollama within 0.3 s" in str(error)


async def test_http_500_is_an_http_status_error(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.HTTP_500)
    error, received = await failure_of(make_client(fake_ollama))
    assert error.reason == "http_status"
    assert "500" in str(error)
    assert "llama runner process has terminated" in str(error)
    assert received == []


async def test_an_error_line_mid_stream_is_a_model_error(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.ERROR_MID_STREAM)
    error, received = await failure_of(make_client(fake_ollama))
    assert error.reason == "model_error"
    assert "error was encountered while running the model" in str(error)
    assert "".join(received) != fake_ollama.answer


async def test_a_dropped_connection_before_done_is_a_bad_stream(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.HALF_CLOSED)
    error, received = await failure_of(make_client(fake_ollama))
    assert error.reason == "bad_stream"
    assert "".join(received) != fake_ollama.answer


async def test_a_stream_ending_without_done_is_a_bad_stream(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.NO_DONE)
    error, received = await failure_of(make_client(fake_ollama))
    assert error.reason == "bad_stream"
    assert received == list(fake_ollama.reply[: len(fake_ollama.reply) // 2])


async def test_a_model_that_is_not_pulled_is_a_model_error(fake_ollama, make_client):
    error, _ = await failure_of(make_client(fake_ollama, ollama_model="mistral"))
    assert error.reason == "model_error"
    assert 'model "mistral" not found' in str(error)


async def test_selected_model_not_found_behaviour(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.MODEL_NOT_FOUND)
    error, _ = await failure_of(make_client(fake_ollama))
    assert error.reason == "model_error"
    assert "404" in str(error)


async def test_an_unreachable_server_is_a_connection_error(fake_ollama, make_client):
    client = make_client(fake_ollama)
    await fake_ollama.stop()
    error, _ = await failure_of(client)
    assert error.reason == "connection"
    with pytest.raises(LLMError) as probed:
        await client.probe()
    assert probed.value.reason == "connection"


async def test_errors_do_not_show_credentials_from_the_url(fake_ollama, make_client):
    url = fake_ollama.url.replace("http://", "http://jarvis:s3cret-token@")
    client = make_client(fake_ollama, ollama_url=url)
    await fake_ollama.stop()
    error, _ = await failure_of(client)
    assert error.reason == "connection"
    assert "s3cret-token" not in str(error)
    assert fake_ollama.url in str(error)


async def test_probe_asks_for_the_version(fake_ollama, make_client):
    await make_client(fake_ollama).probe()
    assert [(r.method, r.path) for r in fake_ollama.requests] == [("GET", "/api/version")]


async def test_probe_fails_on_http_500(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.HTTP_500)
    with pytest.raises(LLMError) as caught:
        await make_client(fake_ollama).probe()
    assert caught.value.reason == "http_status"


async def test_probe_fails_when_the_server_hangs(fake_ollama, make_client):
    fake_ollama.set_behaviour(Behaviour.HANG)
    with pytest.raises(LLMError) as caught:
        await make_client(fake_ollama, health_timeout=0.3).probe()
    assert caught.value.reason == "timeout"


async def test_a_closed_client_refuses_to_work(fake_ollama, make_client):
    client = make_client(fake_ollama)
    await collect(client)
    await client.close()
    error, _ = await failure_of(client)
    assert error.reason == "connection"


async def test_message_contents_are_not_logged(fake_ollama, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(fake_ollama)
    await collect(client)
    fake_ollama.set_behaviour(Behaviour.ERROR_MID_STREAM)
    await failure_of(client)
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    for message in MESSAGES:
        assert message["content"] not in logged


async def test_fake_answers_tags_and_non_streaming_chat_like_ollama(fake_ollama):
    """The stand-in itself: the endpoints a test may hit directly behave like Ollama's."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{fake_ollama.url}/api/tags") as response:
            tags = await response.json()
        body = {"model": "llama3.2", "messages": MESSAGES, "stream": False}
        async with http.post(f"{fake_ollama.url}/api/chat", json=body) as response:
            chat = await response.json()
    assert [m["name"] for m in tags["models"]] == list(fake_ollama.models)
    assert chat["done"] is True
    assert chat["message"] == {"role": "assistant", "content": fake_ollama.answer}
