"""The last messages of the users who chatted lately, kept in the server's memory so a chat
turn reads its context without a trip to the database.

Used from the event loop only (no lock). It holds copies of what the database holds, never
more: entries are filled from a database read and then follow the commits, in commit order.

What is held is invisible to the garbage collector: each user's messages are a tuple of plain
``dict``\\s of strings, objects CPython does not track (a dict subclass or a deque it always
tracks). Tracked, a full cache (some 200,000 messages at its 64 MiB) would be walked by every
full collection, a stall of the event loop growing with the cache. Readers get a list of the
held messages themselves, typed read-only (``Mapping``): copying them cost every turn more
than the rest of reading its history, as they are scattered in memory, mostly out of cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping

Message = dict[str, str]

# What a held message costs beyond its text: the dict, the string object, the tuple slot.
_MESSAGE_OVERHEAD_BYTES = 250


class RecentHistory:
    """Per-user history, each user's last ``max_messages`` messages, least recently used users
    forgotten first once what is held takes more than about ``max_bytes``."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._bytes = 0
        self._users: OrderedDict[str, tuple[Message, ...]] = OrderedDict()

    def get(self, user_id: str) -> list[Mapping[str, str]] | None:
        """The user's messages, oldest first, read-only; None when not held."""
        held = self._users.get(user_id)
        if held is None:
            return None
        self._users.move_to_end(user_id)
        return list(held)

    def fill(self, user_id: str, messages: list[Message]) -> None:
        """Hold ``messages``, as just read from the database, unless the user is held already:
        the held copy has followed every commit since it was read, so it is as fresh."""
        if user_id in self._users:
            return
        # Copies the reader cannot reach; of strings only, so never tracked.
        self._hold(user_id, (), [dict(message) for message in messages])
        self._forget_least_recent()

    def append(self, user_id: str, messages: list[Message]) -> None:
        """Add messages the database has just committed, if the user is held; a user not held
        is read whole from the database the next time. The messages are held as they are: the
        caller hands them over (a committed turn's own), keeping no reference."""
        users = self._users
        held = users.get(user_id)
        if held is None:
            return
        self._hold(user_id, held, messages)
        users.move_to_end(user_id)
        if self._bytes > self._max_bytes:
            self._forget_least_recent()

    def forget(self, user_id: str) -> None:
        """Drop the user's copy, so the next read goes to the database."""
        held = self._users.pop(user_id, None)
        if held is not None:
            self._bytes -= _bytes_of(held)

    def _hold(self, user_id: str, held: tuple[Message, ...], added: list[Message]) -> None:
        kept = (*held, *added)
        self._bytes += _bytes_of(added)
        excess = len(kept) - self._max_messages
        if excess > 0:
            self._bytes -= _bytes_of(kept[:excess])
            kept = kept[excess:]
        self._users[user_id] = kept

    def _forget_least_recent(self) -> None:
        while self._bytes > self._max_bytes and self._users:
            _, held = self._users.popitem(last=False)
            self._bytes -= _bytes_of(held)


def _bytes_of(messages: Iterable[Message]) -> int:
    """About what ``messages`` take in memory (a character may take up to 4 bytes)."""
    # A loop, not sum() over a generator: a commit counts two messages in and two out, and
    # a generator's set-up and resumptions cost more than their sums.
    total = 0
    for message in messages:
        total += len(message["content"]) + _MESSAGE_OVERHEAD_BYTES
    return total
