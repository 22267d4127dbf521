"""A real `slawatch agent` whose token a real `slawatch collector` refuses: the agent says so at
error level (status, collector URL, never a token), counts it in
`slawatch_push_refused_total{reason}`, and keeps its samples."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port, running_collector, start_slawatch, stop_process, wait_until

EU_TOKEN = "eu-1-token-e2e-8c41d07a"
US_TOKEN = "us-1-token-e2e-5b9e22f0"
UNKNOWN_TOKEN = "nobody-token-e2e-77d1c3"


def refusals(metrics_port: int, reason: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "slawatch_push_refused_total" and s.labels == {"reason": reason}
    )


def write_configs(folder: Path, port: int, token: str, metrics_port: int) -> tuple[Path, Path]:
    collector = folder / "collector.yaml"
    collector.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  agents:
    - {{id: eu-1, token: {EU_TOKEN}}}
    - {{id: us-1, token: {US_TOKEN}}}
""",
        encoding="utf-8",
    )
    agent = folder / "agent.yaml"
    agent.write_text(
        f"""
agent:
  id: eu-1
  collector: http://127.0.0.1:{port}
  token: {token}
  spool: data/spool.db
  metrics_listen: 127.0.0.1:{metrics_port}
checks:
  - id: self
    host: 127.0.0.1
    port: {port}
    interval: 200ms
""",
        encoding="utf-8",
    )
    return collector, agent


@pytest.mark.parametrize(
    ("token", "status", "reason"),
    [(UNKNOWN_TOKEN, 401, "unauthorized"), (US_TOKEN, 403, "forbidden")],
    ids=["unknown-token", "another-agents-token"],
)
def test_a_refused_token_is_said_and_counted(
    tmp_path: Path, token: str, status: int, reason: str
) -> None:
    port, metrics_port = free_port(), free_port()
    collector_config, agent_config = write_configs(tmp_path, port, token, metrics_port)
    url = f"http://127.0.0.1:{port}"
    with running_collector(collector_config, url):
        agent: subprocess.Popen[str] = start_slawatch(["agent", "--config", str(agent_config)])
        try:
            wait_until(lambda: refusals(metrics_port, reason) >= 1, timeout=30)
        finally:
            code, _, log = stop_process(agent)
    assert code == 0, log
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    said = [e for e in events if e["event"] == "token_refused"]
    assert len(said) == 1, "once a minute"
    assert said[0]["level"] == "error"
    assert (said[0]["status"], said[0]["collector"], said[0]["agent"]) == (status, url, "eu-1")
    for secret in (EU_TOKEN, US_TOKEN, UNKNOWN_TOKEN):
        assert secret not in log
    stopped = next(e for e in events if e["event"] == "agent_stopped")
    assert stopped["queued"] >= 1, "the samples stay spooled"
