"""Rate limiting: token buckets per client and endpoint (``limiter``), and the guard that
applies them to chats and counts and logs each refusal (``guard``)."""
