"""FileRegistry: saved atomically, reloaded at the acknowledged offsets."""

from pathlib import Path

import orjson
import pytest

from shipper.registry import FORMAT_VERSION, FileRegistry, RegistryUnreadable
from shipper.source.identity import Anchor


async def test_a_saved_registry_reloads_with_acknowledged_offsets_only(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "state" / "registry.json")
    progress = registry.get_or_create("abc", "/logs/app.jsonl")
    progress.size = 300
    progress.track(0, 100)
    progress.track(100, 200)
    progress.acknowledge(0)
    await registry.save()

    reloaded = FileRegistry(tmp_path / "state" / "registry.json")
    await reloaded.load()
    again = reloaded.get("abc")
    assert again is not None
    assert (again.path, again.acked, again.read, again.size) == ("/logs/app.jsonl", 100, 100, 300)
    assert not (tmp_path / "state" / "registry.json.tmp").exists()


async def test_a_missing_registry_is_a_first_start(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "registry.json")
    await registry.load()
    assert len(registry) == 0


async def test_an_unreadable_registry_is_refused_with_a_way_out(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_bytes(b'{"files": {"abc": {"path": "/x"')
    registry = FileRegistry(path)
    with pytest.raises(ValueError, match="move it away"):
        await registry.load()


async def test_a_registry_that_cannot_be_read_is_refused_naming_why(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.mkdir()  # what a mistaken volume mount leaves
    with pytest.raises(RegistryUnreadable, match=r"Is a directory.*move it away"):
        await FileRegistry(path).load()


async def test_what_tells_a_file_apart_is_saved_with_its_offset(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "registry.json")
    progress = registry.create("head", 7, 42, "/logs/app.jsonl")
    progress.track(0, 100)
    progress.mark(Anchor(100, "a100"))
    progress.track(100, 200)
    progress.mark(Anchor(200, "a200"))
    progress.track(200, 300)
    progress.mark(Anchor(300, "a300"))
    progress.acknowledge(0)
    progress.acknowledge(100)
    await registry.save()

    reloaded = FileRegistry(tmp_path / "registry.json")
    await reloaded.load()
    again = reloaded.get(progress.fingerprint)
    assert again is not None
    assert (again.head, again.dev, again.ino, again.generation, again.acked) == (
        "head",
        7,
        42,
        0,
        200,
    )
    # The anchor at the acknowledged offset, and the furthest one read.
    assert again.anchors == [Anchor(200, "a200"), Anchor(300, "a300")]
    assert reloaded.by_inode()[(7, 42, "head")] is again


async def test_a_forgotten_file_s_generation_is_not_given_again(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "registry.json")
    first = registry.create("head", 7, 42, "/logs/app.jsonl")
    assert registry.unsaved(first.fingerprint)
    registry.forget(first.fingerprint)
    await registry.save()
    assert not registry.unsaved(first.fingerprint)
    reloaded = FileRegistry(tmp_path / "registry.json")
    await reloaded.load()
    second = reloaded.create("head", 7, 42, "/logs/app.jsonl")
    assert second.generation == 1 and second.fingerprint != first.fingerprint
    assert reloaded.create("head", 7, 43, "/logs/app.jsonl").generation == 0


async def test_a_version_1_registry_is_read_with_its_fingerprints_as_identities(
    tmp_path: Path,
) -> None:
    path = tmp_path / "registry.json"
    path.write_bytes(
        b'{"version": 1, "files": {"abc": {"path": "/logs/app.jsonl", "offset": 10, "size": 20}}}'
    )
    registry = FileRegistry(path)
    await registry.load()
    progress = registry.get("abc")
    assert progress is not None
    assert (progress.head, progress.dev, progress.acked, progress.size) == ("abc", None, 10, 20)
    await registry.save()
    assert orjson.loads(path.read_bytes())["version"] == FORMAT_VERSION


async def test_a_registry_from_a_newer_shipper_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_bytes(b'{"version": 99, "files": {}}')
    with pytest.raises(ValueError, match="newer jarvis-shipper"):
        await FileRegistry(path).load()


async def test_the_removal_of_a_released_file_concerns_not_the_next_one_given_its_inode(
    tmp_path: Path,
) -> None:
    """The rotator compressed (or deleted) the old file; the new one on its inode is not it."""
    registry = FileRegistry(tmp_path / "registry.json")
    old = registry.create("head", 7, 42, "/logs/app.jsonl.1")
    old.released = True
    new = registry.create("head", 7, 42, "/logs/app.jsonl")
    registry.released_file_removed(7, 42)
    assert old.removed and not new.removed
