"""``jarvis config check``: every setting with its value and where it came from, secrets
masked; exit 0 when the configuration is valid (a bad one is in test_serve_command.py)."""

from __future__ import annotations

from support.refusals import run_command


def settings_shown(stdout: str) -> dict[str, tuple[str, str]]:
    """``{name: (value, origin)}`` from the table ``config check`` prints."""
    rows = {}
    for line in stdout.splitlines()[:-1]:
        name, value, origin = line.split(maxsplit=2)
        rows[name] = (value, origin)
    return rows


def test_each_setting_shows_its_value_and_where_it_came_from(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "jarvis.toml").write_text(
        '[server]\nollama_model = "mistral"\nrate_limit_burst = 3\n'
    )
    result = run_command(
        "jarvis", "config", "check", "--port", "9001", cwd=tmp_path,
        env={"RATE_LIMIT_BURST": "5", "LOG_LEVEL": "DEBUG"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "configuration ok"
    shown = settings_shown(result.stdout)
    assert shown["ollama_model"] == ("mistral", "file config/jarvis.toml: [server] ollama_model")
    assert shown["rate_limit_burst"] == ("5", "env RATE_LIMIT_BURST")
    assert shown["port"] == ("9001", "flag --port")
    assert shown["host"] == ("127.0.0.1", "default")
    assert shown["max_body_bytes"] == ("64KiB", "default")
    assert shown["log_stdout"] == ("true", "default")


def test_passwords_in_urls_are_masked(tmp_path):
    result = run_command(
        "jarvis", "config", "check", cwd=tmp_path,
        env={"REDIS_URL": "redis://:hunter2@redis:6379/0",
             "OLLAMA_URL": "http://user:s3cret@ollama:11434"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout and "s3cret" not in result.stdout
    shown = settings_shown(result.stdout)
    assert shown["redis_url"] == ("redis://:***@redis:6379/0", "env REDIS_URL")
    assert shown["ollama_url"] == ("http://user:***@ollama:11434", "env OLLAMA_URL")


def test_the_config_file_named_by_the_environment_is_shown_as_the_origin(tmp_path):
    config = tmp_path / "elsewhere.toml"
    config.write_text('request_id_header = "X-Trace"\n')
    result = run_command(
        "jarvis", "config", "check", cwd=tmp_path, env={"JARVIS_CONFIG": str(config)}
    )
    assert result.returncode == 0, result.stderr
    assert settings_shown(result.stdout)["request_id_header"] == (
        "X-Trace", f"file {config}: request_id_header"
    )  # fmt: skip
