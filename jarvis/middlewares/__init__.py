"""The server's middlewares, outermost first: request ID → metrics → errors."""
