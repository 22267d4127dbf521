"""A real `slawatch agent` whose real `slawatch collector` is stopped, stays away long enough for
the agent's backoff to grow long, and comes back: the agent, asking /healthz meanwhile, pushes
within seconds of its return, and nothing it spooled is lost (issue 15 item 7)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support import free_port, start_collector, start_slawatch, stop_process, wait_until

ADMIN = "admin-token-e2e-restart-0123"
AGENT = "agent-token-e2e-restart-0123"
OUTAGE_S = 20.0
"""Long enough for the exponential backoff to reach waits of 10 to 30 s."""
BACK_WITHIN_S = 8.0
"""/healthz is asked every 2 s (± a quarter): the agent pushes well within this."""


def ingested(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    prefix = 'slawatch_samples_ingested_total{agent="eu-1"}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def write_config(folder: Path, port: int) -> Path:
    config = folder / "slawatch.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {AGENT}}}
agent:
  id: eu-1
  collector: http://127.0.0.1:{port}
  token: {AGENT}
checks:
  - id: collector-port
    host: 127.0.0.1
    port: {port}
    interval: 1s
""",
        encoding="utf-8",
    )
    return config


def test_the_agent_pushes_within_seconds_of_the_collectors_return(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port)
    collector = start_collector(config, url, quiet=True)
    agent: subprocess.Popen[str] | None = None
    try:
        agent = start_slawatch(["agent", "--config", str(config)])
        wait_until(lambda: ingested(url) >= 1, timeout=30)
        stop_process(collector)
        time.sleep(OUTAGE_S)  # the outage itself, not a wait for a condition
        collector = start_collector(config, url, quiet=True)
        back = time.monotonic()
        wait_until(lambda: ingested(url) >= 1, timeout=60)
        took = time.monotonic() - back
        code, _, log = stop_process(agent)
    finally:
        if agent is not None and agent.poll() is None:
            stop_process(agent)
        stop_process(collector)
    assert code == 0, log
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    failed = [e for e in events if e["event"] == "push_failed"]
    assert max(e["retry_in_s"] for e in failed) > BACK_WITHIN_S, "the backoff had grown"
    # Seen through its /healthz probe (`collector_back`), or, when the collector's start took
    # until the backoff's end, by the retry itself: either way within seconds.
    assert took < BACK_WITHIN_S, f"pushed {took:.1f} s after the collector was back"
    assert AGENT not in log
