"""Chat over HTTP and WebSocket: input validation, the chat service, and the two handlers."""
