"""One typed settings object: defaults < config file < environment < command line."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from jarvis.config import env_names
from jarvis.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]


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
        ({"MAX_BODY_BYTES": "0"}, "MAX_BODY_BYTES"),
        ({"RATE_LIMIT_ADDRESS_FACTOR": "0.5"}, "RATE_LIMIT_ADDRESS_FACTOR"),
        ({"RATE_LIMIT_LOG_WINDOW": "0"}, "RATE_LIMIT_LOG_WINDOW"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
        ({"REDIS_URL": "http://redis:6379"}, "REDIS_URL"),
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


def test_a_missing_file_named_by_the_environment_is_an_error_naming_the_variable(tmp_path):
    """A file someone named must exist, whether by ``--config`` or by ``JARVIS_CONFIG``; only
    the default ``config/jarvis.toml`` is optional."""
    with pytest.raises(SettingsError, match=r"absent\.toml \(from JARVIS_CONFIG\) does not"):
        Settings.load(environ={"JARVIS_CONFIG": str(tmp_path / "absent.toml")})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[server]\nport = 70000\n", "jarvis.toml: [server] port must be a TCP port"),
        ("[server]\nhealth_interval = 0\n", "jarvis.toml: [server] health_interval must be"),
        ("trusted_proxy_hops = -5\n", "jarvis.toml: trusted_proxy_hops must be at least 0"),
        ('[server]\nllm_provider = "gpt"\n', "jarvis.toml: [server] llm_provider must be"),
    ],
)
def test_a_bad_value_in_the_file_is_reported_as_the_file_and_key(tmp_path, text, where):
    config = tmp_path / "jarvis.toml"
    config.write_text(text)
    with pytest.raises(SettingsError, match=re.escape(where)) as refused:
        Settings.load(config, environ={})
    assert str(config) in str(refused.value)
    assert not re.search(r"\b[A-Z_]{4,}\b", str(refused.value)), "no variable is named"


def test_a_bad_value_given_as_an_option_is_reported_as_the_option():
    with pytest.raises(SettingsError, match=r"^--port must be a TCP port"):
        Settings.load(environ={"JARVIS_PORT": "8080"}, port=70000)


def test_each_value_comes_with_where_it_came_from(tmp_path):
    config = tmp_path / "jarvis.toml"
    config.write_text('[server]\nollama_model = "mistral"\nrate_limit_burst = 3\n')
    resolved = Settings.resolve(
        config, environ={"RATE_LIMIT_BURST": "5", "LOG_LEVEL": "DEBUG"}, port="9001"
    )
    origins = {name: origin.shown for name, origin in resolved.origins.items()}
    assert origins["ollama_model"] == f"file {config}: [server] ollama_model"
    assert origins["rate_limit_burst"] == "env RATE_LIMIT_BURST"
    assert origins["log_level"] == "env LOG_LEVEL"
    assert origins["port"] == "flag --port"
    assert origins["host"] == "default"
    assert (resolved.settings.rate_limit_burst, resolved.settings.port) == (5, 9001)


def test_the_committed_config_file_lists_every_key_with_its_variable():
    text = (ROOT / "config" / "jarvis.toml").read_text()
    for field in dataclasses.fields(Settings):
        assert f"# {field.name} = " in text, field.name
        assert f"  # {' or '.join(env_names(field))}\n" in text, field.name
    # Everything commented out: the file changes no default.
    assert Settings.load(ROOT / "config" / "jarvis.toml", environ={}) == Settings()


def test_a_redis_password_is_never_shown():
    url = "redis://:hunter2@redis:6379/0"
    assert "hunter2" not in repr(Settings.load(environ={"REDIS_URL": url}))
    with pytest.raises(SettingsError) as refused:
        Settings.load(environ={"REDIS_URL": "redis+sentinel://:hunter2@redis:26379"})
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HEALTH_INTERVAL", "0"),
        ("TRUSTED_PROXY_HOPS", "-5"),
        ("RATE_LIMIT_PER_MINUTE", "-1"),
        ("MEMORY_MAX_TURNS", "0"),
        ("MAX_USER_ID_CHARS", "0"),
        ("SHUTDOWN_TIMEOUT", "-1"),
        ("HEALTH_TIMEOUT", "0"),
    ],
)
def test_a_value_that_would_break_the_server_is_refused_naming_its_variable(variable, value):
    with pytest.raises(SettingsError, match=variable):
        Settings.load(environ={variable: value})


def test_max_body_bytes_takes_a_size_with_a_unit():
    assert Settings.load(environ={"MAX_BODY_BYTES": "1MiB"}).max_body_bytes == 1024**2
    with pytest.raises(SettingsError, match="MAX_BODY_BYTES"):
        Settings.load(environ={"MAX_BODY_BYTES": "big"})
