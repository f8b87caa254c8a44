"""Clients for the language model behind the chat: Ollama over HTTP, or a local echo."""

from jarvis.llm.base import LLMClient, LLMError, create_llm_client

__all__ = ["LLMClient", "LLMError", "create_llm_client"]
