"""FileRegistry: saved atomically, reloaded at the acknowledged offsets."""

from pathlib import Path

import pytest

from shipper.registry import FileRegistry


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
