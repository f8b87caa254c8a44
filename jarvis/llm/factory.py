"""Chooses the language-model client the settings name."""

from __future__ import annotations

from jarvis.llm.base import LLMClient
from jarvis.llm.echo import EchoClient
from jarvis.llm.ollama import OllamaClient, OllamaOptions
from jarvis.settings import Settings


def create_llm_client(settings: Settings) -> LLMClient:
    """Build the client named by ``settings.llm_provider`` ("ollama" or "echo")."""
    if settings.llm_provider == "echo":
        return EchoClient()
    return OllamaClient(OllamaOptions.from_settings(settings))
