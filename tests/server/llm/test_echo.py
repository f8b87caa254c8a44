"""The echo client: a model stand-in that needs no Ollama."""

import pytest

from jarvis.llm.base import LLMError
from jarvis.llm.factory import create_llm_client
from jarvis.settings import Settings

pytestmark = pytest.mark.timeout(10)


async def collect(client, messages):
    return [token async for token in client.stream_chat(messages)]


async def test_answers_the_last_user_message_word_by_word():
    client = create_llm_client(Settings(llm_provider="echo"))
    messages = [
        {"role": "system", "content": "You are Jarvis."},
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "quelle heure est-il  à Paris ?\n"},
    ]
    tokens = await collect(client, messages)
    assert client.name == "echo"
    assert "".join(tokens) == "Echo: quelle heure est-il  à Paris ?\n"
    assert len(tokens) == len("Echo: quelle heure est-il  à Paris ?".split())
    await client.close()


async def test_without_a_user_message_it_refuses():
    client = create_llm_client(Settings(llm_provider="echo"))
    with pytest.raises(LLMError) as caught:
        await collect(client, [{"role": "system", "content": "You are Jarvis."}])
    assert caught.value.reason == "model_error"


async def test_probe_is_always_healthy():
    client = create_llm_client(Settings(llm_provider="echo"))
    await client.probe()
    await client.close()
