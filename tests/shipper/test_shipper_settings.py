"""load_settings: defaults, then the config file, then environment, then command line; bad
values are refused with the name of the option, variable or file key they came from."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from jarvis.config import SettingsError, env_names
from shipper.elastic import ElasticsearchSettings
from shipper.settings import ShipperSettings, build_parser, load_settings

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, text: str) -> Path:
    config = tmp_path / "shipper.toml"
    config.write_text(text)
    return config


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
        (["--batch-size", "0"], {}, "--batch-size"),
        ([], {"SHIPPER_ROTATE_SIZE": "big"}, "SHIPPER_ROTATE_SIZE"),
        (["--senders", "0"], {}, "--senders"),
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


def test_a_value_from_the_config_file_is_used(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '[shipper]\nkeep = 3\nflush_interval = 0.5\npath = "/logs/app.jsonl"\n'
        '[elasticsearch]\nurl = "https://es:9200"\nverify_certs = false\n',
    )
    settings = load_settings(["--config", str(config)], environ={})
    assert (settings.keep, settings.flush_interval, settings.path) == (3, 0.5, "/logs/app.jsonl")
    assert settings.elasticsearch.url == "https://es:9200"
    assert settings.elasticsearch.verify_certs is False


def test_the_config_file_can_be_named_by_the_environment(tmp_path: Path) -> None:
    config = write_config(tmp_path, "[shipper]\nsenders = 4\n")
    assert load_settings([], environ={"SHIPPER_CONFIG": str(config)}).senders == 4


def test_the_default_config_file_is_read_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "shipper.toml").write_text("[shipper]\nbatch_size = 500\n")
    monkeypatch.chdir(tmp_path)
    assert load_settings([], environ={}).batch_size == 500


def test_the_environment_beats_the_config_file(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        '[shipper]\nkeep = 3\npath = "/from-file.jsonl"\n[elasticsearch]\nurl = "http://file:9200"\n',
    )
    environ = {
        "SHIPPER_KEEP": "5",
        "LOG_FILE": "/from-env.jsonl",
        "ELASTICSEARCH_URL": "http://env:9200",
    }
    settings = load_settings(["--config", str(config)], environ=environ)
    assert (settings.keep, settings.path) == (5, "/from-env.jsonl")
    assert settings.elasticsearch.url == "http://env:9200"


def test_the_command_line_beats_the_environment_and_the_file(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[shipper]\nkeep = 3\n[elasticsearch]\nurl = "http://f:1"\n')
    settings = load_settings(
        ["--config", str(config), "--keep", "7", "--elasticsearch-url", "http://flag:9200"],
        environ={"SHIPPER_KEEP": "5", "ELASTICSEARCH_URL": "http://env:9200"},
    )
    assert settings.keep == 7
    assert settings.elasticsearch.url == "http://flag:9200"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[shipper]\nbatch_sise = 10\n", r"unknown setting 'batch_sise' in \[shipper\]"),
        ("[elasticsearch]\nusername = 'u'\npasword = 'p'\n", "unknown setting 'pasword'"),
        ("[shipper]\nkeep = 'many'\n", r"shipper\.toml: \[shipper\] keep expects an integer"),
        ("[shipper]\nkeep = \n", "not valid TOML"),
    ],
)
def test_a_bad_config_file_is_refused_with_the_file_and_key(
    tmp_path: Path, text: str, problem: str
) -> None:
    config = write_config(tmp_path, text)
    with pytest.raises(SettingsError, match=problem) as refused:
        load_settings(["--config", str(config)], environ={})
    assert str(config) in str(refused.value)


def test_a_missing_config_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(SettingsError, match=r"nowhere\.toml \(from --config\) does not exist"):
        load_settings(["--config", str(missing)], environ={})
    with pytest.raises(SettingsError, match=r"nowhere\.toml \(from SHIPPER_CONFIG\) does not"):
        load_settings([], environ={"SHIPPER_CONFIG": str(missing)})


def test_an_elasticsearch_variable_that_is_not_a_boolean_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match="ELASTICSEARCH_VERIFY_CERTS"):
        load_settings([], environ={"ELASTICSEARCH_VERIFY_CERTS": "maybe"})


def test_the_committed_config_file_lists_every_key_with_its_variables() -> None:
    text = (ROOT / "config" / "shipper.toml").read_text()
    for section, cls in (("shipper", ShipperSettings), ("elasticsearch", ElasticsearchSettings)):
        body = text.split(f"[{section}]\n", 1)[1].split("\n[", 1)[0]
        for field in dataclasses.fields(cls):
            variables = " or ".join(reversed(env_names(field)))
            if variables:
                assert f"# {field.name} = " in body, field.name
                assert f"  # {variables}" in body, variables
    # Everything commented out: the file changes no default.
    defaults = load_settings([], environ={"SHIPPER_CONFIG": str(ROOT / "config/shipper.toml")})
    assert defaults.keep == 10 and defaults.elasticsearch == ElasticsearchSettings()


def test_elasticsearch_url_takes_several_nodes_separated_by_commas():
    settings = ElasticsearchSettings.from_env(
        {"ELASTICSEARCH_URL": "http://127.0.0.1:9200, http://user:secret@127.0.0.1:9201"}
    )
    assert settings.urls == ["http://127.0.0.1:9200", "http://user:secret@127.0.0.1:9201"]
    assert "secret" not in settings.shown_url and "secret" not in repr(settings)
    assert settings.shown_url == "http://127.0.0.1:9200,http://127.0.0.1:9201"


@pytest.mark.parametrize("url", ["127.0.0.1:9200", "localhost", "ftp://host:21", "http://"])
def test_an_elasticsearch_url_without_scheme_or_host_is_refused_by_name(url):
    with pytest.raises(SettingsError, match="ELASTICSEARCH_URL"):
        ElasticsearchSettings.from_env({"ELASTICSEARCH_URL": url})


@pytest.mark.parametrize(
    ("given", "size"),
    [("100MB", 100_000_000), ("100M", 100 * 1024**2), ("64 KiB", 65_536), ("1048576", 1_048_576)],
)
def test_sizes_take_the_units_operators_type(given, size):
    settings = load_settings(["--rotate-size", given], environ={})
    assert settings.rotate_size == size


@pytest.mark.parametrize("given", ["ten", "5TB", "1.5", "-1"])
def test_a_size_that_is_not_one_is_refused_naming_the_option(given):
    with pytest.raises(SettingsError, match="--rotate-size"):
        load_settings(["--rotate-size", given], environ={})


def test_help_shows_each_default_with_its_unit(capsys):
    with pytest.raises(SystemExit):
        load_settings(["--help"], environ={})
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 100MiB) [SHIPPER_ROTATE_SIZE]" in text
    assert "(default 10) [SHIPPER_KEEP]" in text


def test_the_elasticsearch_url_option_has_one_name_and_the_old_one_still_works() -> None:
    for option in ("--elasticsearch-url", "--es-url"):
        settings = load_settings([option, "http://flag:9200"], environ={})
        assert settings.elasticsearch.url == "http://flag:9200"
    shown = build_parser().format_help()
    assert "--elasticsearch-url" in shown and "--es-url" not in shown


def test_the_progress_interval_is_a_setting_like_the_others() -> None:
    assert load_settings([], environ={}).progress_interval == 10.0
    assert load_settings([], environ={"SHIPPER_PROGRESS_INTERVAL": "0.5"}).progress_interval == 0.5
    with pytest.raises(SettingsError, match="--progress-interval must be more than 0"):
        load_settings(["--progress-interval", "0"], environ={})
