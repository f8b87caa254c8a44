"""The last messages of the users who chatted lately, kept in the server's memory so a chat
turn reads its context without a trip to the database.

Used from the event loop only (no lock). It holds copies of what the database holds, never
more: entries are filled from a database read and then follow the commits, in commit order.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable
from typing import NoReturn

Message = dict[str, str]

# What a held message costs beyond its text: the dict, the string object, the deque slot.
_MESSAGE_OVERHEAD_BYTES = 250


class HeldMessage(dict[str, str]):
    """A held message: a plain dict to JSON encoders and LLM clients, but one that refuses to
    change, so that every turn of its user can read it as it is, with no copy per read (a copy,
    ``dict(message)``, is an ordinary dict)."""

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a message held by the conversation memory cannot be changed; copy it")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


class RecentHistory:
    """Per-user history, each user's last ``max_messages`` messages, least recently used users
    forgotten first once what is held takes more than about ``max_bytes``."""

    def __init__(self, max_messages: int, max_bytes: int) -> None:
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._bytes = 0
        self._users: OrderedDict[str, deque[HeldMessage]] = OrderedDict()

    def get(self, user_id: str) -> list[Message] | None:
        """The user's messages, oldest first, in a fresh list; None when not held. The
        messages themselves are ``HeldMessage``: read-only."""
        messages = self._users.get(user_id)
        if messages is None:
            return None
        self._users.move_to_end(user_id)
        return list(messages)

    def fill(self, user_id: str, messages: list[Message]) -> None:
        """Hold ``messages``, as just read from the database, unless the user is held already:
        the held copy has followed every commit since it was read, so it is as fresh."""
        if user_id in self._users:
            return
        held = deque(HeldMessage(message) for message in messages)
        self._users[user_id] = held
        self._bytes += _bytes_of(held)
        self._trim(held)
        self._forget_least_recent()

    def append(self, user_id: str, messages: list[Message]) -> None:
        """Add messages the database has just committed, if the user is held; a user not held
        is read whole from the database the next time."""
        held = self._users.get(user_id)
        if held is None:
            return
        for message in messages:
            held.append(HeldMessage(message))
            self._bytes += len(message["content"]) + _MESSAGE_OVERHEAD_BYTES
        self._users.move_to_end(user_id)
        self._trim(held)
        self._forget_least_recent()

    def forget(self, user_id: str) -> None:
        """Drop the user's copy, so the next read goes to the database."""
        held = self._users.pop(user_id, None)
        if held is not None:
            self._bytes -= _bytes_of(held)

    def _trim(self, held: deque[HeldMessage]) -> None:
        while len(held) > self._max_messages:
            self._bytes -= len(held.popleft()["content"]) + _MESSAGE_OVERHEAD_BYTES

    def _forget_least_recent(self) -> None:
        while self._bytes > self._max_bytes and self._users:
            _, held = self._users.popitem(last=False)
            self._bytes -= _bytes_of(held)


def _bytes_of(messages: Iterable[Message]) -> int:
    """About what ``messages`` take in memory (a character may take up to 4 bytes)."""
    return sum(len(m["content"]) + _MESSAGE_OVERHEAD_BYTES for m in messages)
