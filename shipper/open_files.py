"""The shipper's limit of open files, raised at start from the soft limit to the hard one.

The tailer keeps a descriptor open on every live file it follows, and one for a moment on each
file it looks at. The usual soft limit (1,024 on Linux) would stop it at about that many
files, while the hard limit is usually far above: Go programs such as Filebeat are raised to
it by their runtime; this does the same.
"""

from __future__ import annotations

import resource

# Enough for any log directory; descriptors above 1,024 are fine here (epoll, never select).
MOST_OPEN_FILES = 1 << 20


def raise_open_files_limit() -> int:
    """Raise the soft limit of open files to the hard one (at most ``MOST_OPEN_FILES``);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MOST_OPEN_FILES if hard == resource.RLIM_INFINITY else min(hard, MOST_OPEN_FILES)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return soft  # refused (a sandbox): the tailer warns of files it cannot open
    return wanted
