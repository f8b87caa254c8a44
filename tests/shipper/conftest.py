"""Fixtures of the shipper tests: shipper processes that never outlive their test.

This directory is on ``sys.path`` (pytest's prepend import mode puts a conftest's directory
there, and there is no ``__init__.py``), so the tests in ``source/`` and ``sink/`` import
the helpers beside this file by their basename: ``shipper_harness``, ``fake_elasticsearch``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from shipper_harness import ShipperProcess


@pytest.fixture
def shippers(tmp_path: Path, es_url: str) -> Iterator[Callable[..., ShipperProcess]]:
    """Builds shipper processes over ``<tmp>/app.jsonl``; none outlives its test."""
    made: list[ShipperProcess] = []

    def make(path: Path | None = None, **options: str) -> ShipperProcess:
        shipper = ShipperProcess(
            path or tmp_path / "app.jsonl",
            tmp_path / "state",
            es_url,
            {f"--{name.replace('_', '-')}": value for name, value in options.items()},
        )
        made.append(shipper)
        return shipper

    yield make
    for shipper in made:
        if shipper.process is not None and shipper.process.poll() is None:
            shipper.process.kill()
            shipper.process.wait(10)
