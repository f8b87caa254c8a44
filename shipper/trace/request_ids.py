"""What a request ID may look like: the rule the server applies to incoming ``X-Request-ID``."""

from __future__ import annotations

import re

# 1–128 printable ASCII characters from a safe set: nothing that could mean something in a
# query, a shell or a terminal.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def is_valid_request_id(value: str) -> bool:
    """True when ``value`` is a request ID the server could have issued or accepted."""
    return _REQUEST_ID.fullmatch(value) is not None
