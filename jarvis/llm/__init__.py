"""Clients for the language model behind the chat: what the server needs of one (``base``),
Ollama over HTTP (``ollama``), a local echo (``echo``), and the choice between them
(``factory``)."""
