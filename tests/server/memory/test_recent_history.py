"""The in-process copy of recent users' messages: bounded per user and in total, least
recently used users forgotten first, and only ever filled from what the database returned."""

import gc
import json

import orjson

from jarvis.memory.recent_history import RecentHistory

# A one-character message, held: its text and the objects around it.
ONE = 251


def message(content: str, role: str = "user") -> dict[str, str]:
    return {"role": role, "content": content}


def test_a_user_never_read_is_not_held_and_commits_do_not_invent_them():
    recent = RecentHistory(max_messages=4, max_bytes=100_000)
    recent.append("ann", [message("hello"), message("hi", "assistant")])
    assert recent.get("ann") is None, "a partial history would hide older stored turns"


def test_commits_follow_a_held_user_and_keep_their_last_messages():
    recent = RecentHistory(max_messages=4, max_bytes=100_000)
    recent.fill("ann", [message("a"), message("b", "assistant")])
    recent.append("ann", [message("c"), message("d", "assistant")])
    recent.append("ann", [message("e"), message("f", "assistant")])
    assert [m["content"] for m in recent.get("ann") or []] == ["c", "d", "e", "f"]


def test_messages_pushed_out_give_their_budget_back_however_many_come_at_once():
    """A budget of two users of two one-character messages: each user's turns push their
    oldest messages out, and what those took is free again, so both users stay held; a
    history read longer than the limit is held by its last messages only."""
    recent = RecentHistory(max_messages=2, max_bytes=4 * ONE)
    recent.fill("ann", [message(c) for c in "abcde"])
    recent.fill("bob", [message("x"), message("y", "assistant")])
    for turn in "fghijk":
        recent.append("ann", [message(turn), message(turn.upper(), "assistant")])
        recent.append("bob", [message(turn), message(turn.upper(), "assistant")])
    assert [m["content"] for m in recent.get("ann") or []] == ["k", "K"]
    assert [m["content"] for m in recent.get("bob") or []] == ["k", "K"]
    recent.fill("cid", [message("z")])  # a fifth message: the least recent user goes
    assert recent.get("ann") is None and recent.get("bob") is not None


def test_the_least_recently_used_user_goes_first_when_the_text_budget_is_spent():
    recent = RecentHistory(max_messages=10, max_bytes=2 * ONE)
    recent.fill("ann", [message("a")])
    recent.fill("bob", [message("b")])
    recent.get("ann")  # ann is now the most recent
    recent.fill("cid", [message("c")])
    assert recent.get("bob") is None
    assert recent.get("ann") is not None and recent.get("cid") is not None


def test_a_user_bigger_than_the_whole_budget_is_simply_not_held():
    recent = RecentHistory(max_messages=10, max_bytes=ONE + 9)
    recent.fill("ann", [message("a" * 11)])
    assert recent.get("ann") is None
    recent.fill("bob", [message("b" * 10)])
    assert recent.get("bob") == [message("b" * 10)]


def test_forget_drops_the_copy_and_gives_its_budget_back():
    recent = RecentHistory(max_messages=10, max_bytes=ONE)
    recent.fill("ann", [message("a")])
    recent.forget("ann")
    recent.fill("bob", [message("b")])
    assert recent.get("ann") is None
    assert recent.get("bob") == [message("b")]


def test_readers_get_plain_json_dicts_and_changing_their_list_changes_nothing_held():
    """What the database reader filled in is held as copies: changing the read dicts changes
    nothing held. Readers get their own list of the held messages (read-only)."""
    recent = RecentHistory(max_messages=4, max_bytes=100_000)
    read = [message("a"), message("b", "assistant")]
    recent.fill("ann", read)
    read[0]["content"] = "changed by the reader of the database"
    held = recent.get("ann") or []
    assert held == [message("a"), message("b", "assistant")]
    assert orjson.loads(orjson.dumps(held)) == held
    assert json.loads(json.dumps(held)) == held
    held.append(message("not stored"))
    held.reverse()
    recent.append("ann", [message("c")])
    assert recent.get("ann") == [message("a"), message("b", "assistant"), message("c")]


def test_a_full_cache_gives_the_garbage_collector_one_object_a_user_to_walk():
    """Every full collection walks what the collector tracks: held messages, tracked, made it
    walk the whole cache, a stall of the event loop growing with it."""
    recent = RecentHistory(max_messages=20, max_bytes=100_000_000)
    gc.collect()
    before = len(gc.get_objects())
    for user in range(1000):
        recent.fill(f"user-{user}", [message(f"hello {n}") for n in range(10)])
        recent.append(f"user-{user}", [message("question"), message("answer", "assistant")])
    gc.collect()
    assert len(gc.get_objects()) - before <= 1000 + 10
    assert len(recent.get("user-999") or []) == 12
