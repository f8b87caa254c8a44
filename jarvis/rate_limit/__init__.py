"""Rate limiting: token buckets per client address and per user (``limiter``: the buckets in
process; ``redis_buckets``: shared by replicas through Redis), and the guard that charges chats
to them and counts and logs each refusal (``guard``), no more than a line per client and
window (``log_throttle``)."""
