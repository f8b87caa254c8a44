"""load_settings: defaults, then environment, then command line; bad values are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shipper.settings import load_settings


def test_defaults_follow_the_seed() -> None:
    settings = load_settings([], environ={"LOG_FILE": "/app/logs/jarvis.jsonl"})
    assert settings.path == "/app/logs/jarvis.jsonl"
    assert settings.rotate_size == 100 * 1024 * 1024
    assert settings.keep == 10
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9108)


def test_command_line_beats_environment_beats_defaults() -> None:
    environ = {
        "LOG_FILE": "/a.jsonl",
        "SHIPPER_PATH": "/b.jsonl",
        "SHIPPER_KEEP": "3",
        "SHIPPER_STATE_DIR": "/state",
        "ELASTICSEARCH_URL": "http://127.0.0.1:9201",
    }
    settings = load_settings(["--keep", "4", "--flush-interval", "0.5"], environ=environ)
    assert settings.path == "/b.jsonl"
    assert settings.keep == 4 and settings.flush_interval == 0.5
    assert settings.state_dir == Path("/state")
    assert settings.dead_letter_path == Path("/state/dead-letter.jsonl")
    assert settings.elasticsearch.url == "http://127.0.0.1:9201"


def test_a_relative_path_is_made_absolute() -> None:
    settings = load_settings(["--path", "logs/*.jsonl"], environ={})
    assert settings.path == os.path.join(os.getcwd(), "logs/*.jsonl")


@pytest.mark.parametrize(
    ("argv", "environ", "problem"),
    [
        (["--batch-size", "0"], {}, "batch_size"),
        ([], {"SHIPPER_ROTATE_SIZE": "big"}, "SHIPPER_ROTATE_SIZE"),
        (["--senders", "0"], {}, "senders"),
    ],
)
def test_invalid_values_are_refused_with_their_name(
    argv: list[str], environ: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        load_settings(argv, environ=environ)


def test_credentials_never_show_in_the_settings_repr() -> None:
    settings = load_settings(
        [], environ={"ELASTICSEARCH_PASSWORD": "s3cret", "ELASTICSEARCH_USERNAME": "u"}
    )
    assert "s3cret" not in repr(settings)
