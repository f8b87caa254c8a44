"""Chat over HTTP and WebSocket: each handler translates its transport, the one intake admits
or refuses a chat (decode → user → rate limit → validate), the service answers it."""
