"""One typed settings object: defaults < config file < environment < command line."""

from __future__ import annotations

import pytest

from jarvis.settings import Settings, SettingsError


def test_defaults_match_the_spec():
    settings = Settings.load(config_file=None, environ={})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.log_level == "INFO"
    assert settings.prometheus_metrics is True
    assert settings.request_id_header == "X-Request-ID"
    assert settings.log_chat_content is False


def test_file_then_environment_then_overrides(tmp_path):
    config = tmp_path / "jarvis.toml"
    config.write_text('[server]\nport = 9000\nlog_level = "DEBUG"\nollama_model = "mistral"\n')
    env = {"JARVIS_PORT": "9100", "PROMETHEUS_METRICS": "false", "LOG_FILE": "/tmp/x.jsonl"}
    settings = Settings.load(config, environ=env, port=9200)
    assert settings.port == 9200
    assert settings.log_level == "DEBUG"
    assert settings.ollama_model == "mistral"
    assert settings.prometheus_metrics is False
    assert settings.log_file == "/tmp/x.jsonl"


def test_the_config_file_can_be_named_by_the_environment(tmp_path):
    config = tmp_path / "other.toml"
    config.write_text('request_id_header = "X-Correlation-ID"\n')
    settings = Settings.load(environ={"JARVIS_CONFIG": str(config)})
    assert settings.request_id_header == "X-Correlation-ID"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JARVIS_PORT": "eighty"}, "JARVIS_PORT"),
        ({"JARVIS_PORT": "70000"}, "JARVIS_PORT"),
        ({"PROMETHEUS_METRICS": "maybe"}, "PROMETHEUS_METRICS"),
        ({"JARVIS_LLM": "gpt"}, "JARVIS_LLM"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"MAX_BODY_BYTES": "0"}, "max_body_bytes"),
    ],
)
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(SettingsError, match=message):
        Settings.load(environ=env)


def test_unknown_keys_in_the_file_are_refused(tmp_path):
    config = tmp_path / "jarvis.toml"
    config.write_text("[server]\nprot = 1\n")
    with pytest.raises(SettingsError, match="prot"):
        Settings.load(config, environ={})


def test_a_missing_named_config_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load(tmp_path / "nope.toml", environ={})


def test_a_missing_file_named_by_the_environment_is_skipped_like_the_default(tmp_path):
    """Only ``--config`` names a file that must exist; ``JARVIS_CONFIG`` replaces the default."""
    settings = Settings.load(environ={"JARVIS_CONFIG": str(tmp_path / "absent.toml")})
    assert settings.port == 8000
