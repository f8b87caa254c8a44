"""The block ``jarvis dev`` prints once ready: what a person copies from it must work."""

from __future__ import annotations

from pathlib import Path

from jarvis.dev.options import DevOptions
from jarvis.dev.summary import JARVIS_LOGS_DEFAULT_URL, summary_block
from shipper.elastic import ElasticsearchSettings


def _lines(options: DevOptions, *, prometheus: bool = True) -> list[str]:
    return summary_block(options, prometheus=prometheus, elapsed=21.43).splitlines()


def test_with_the_default_ports_jarvis_logs_needs_no_option():
    """jarvis-logs' own default cluster is the one jarvis dev starts on its default port."""
    assert ElasticsearchSettings().url.rstrip("/") == JARVIS_LOGS_DEFAULT_URL
    assert DevOptions().elasticsearch_url == JARVIS_LOGS_DEFAULT_URL
    lines = _lines(DevOptions())
    assert "  jarvis-logs trace <request_id>   # the request_id of that answer" in lines


def test_other_ports_are_in_every_url_and_command():
    options = DevOptions(port=18000, es_port=19200, shipper_port=19108, prometheus_port=19090)
    text = "\n".join(_lines(options))
    assert "Jarvis dev stack ready in 21.4 s" in text
    assert "  API            http://127.0.0.1:18000   (echo model)" in text
    assert "  Metrics        http://127.0.0.1:18000/metrics" in text
    assert "  Shipper        http://127.0.0.1:19108/health" in text
    assert "  Elasticsearch  http://127.0.0.1:19200" in text
    assert "  Prometheus     http://127.0.0.1:19090" in text
    assert "curl -s http://127.0.0.1:18000/chat -H 'Content-Type: application/json'" in text
    assert "jarvis-logs --es-url http://127.0.0.1:19200 trace <request_id>" in text


def test_without_prometheus_it_says_why_and_how_to_get_it():
    text = "\n".join(_lines(DevOptions(), prometheus=False))
    assert "Prometheus     not started: no prometheus binary on PATH" in text


def test_an_external_cluster_is_shown_without_its_password():
    options = DevOptions(external_elasticsearch="https://elastic:s3cret@es.internal:9243,x")
    text = "\n".join(_lines(options))
    assert "s3cret" not in text and "elastic:" not in text
    assert "  Elasticsearch  https://es.internal:9243" in text
    # jarvis-logs reads ELASTICSEARCH_URL (and its credentials) itself.
    assert "  jarvis-logs trace <request_id>" in text


def test_the_log_file_is_shown_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = "\n".join(_lines(DevOptions(data_dir=Path(".jarvis-dev"))))
    assert "  Log file       .jarvis-dev/logs/jarvis.jsonl" in text
