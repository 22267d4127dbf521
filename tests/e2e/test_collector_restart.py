"""A real `slawatch agent` whose real `slawatch collector` is stopped, stays away long enough for
the agent's backoff to grow long, and comes back: the agent, asking /healthz meanwhile, pushes
within seconds of its return, and nothing it spooled is lost (issue 15 item 7)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from tests.support import (
    free_port,
    read_stderr,
    start_collector,
    start_slawatch,
    stop_process,
    wait_until,
)

ADMIN = "admin-token-e2e-restart-0123"
AGENT = "agent-token-e2e-restart-0123"
BACK_WITHIN_S = 8.0
"""/healthz is asked every 2 s (± a quarter): the agent pushes well within this, and the outage
lasts until the agent waits longer than this between two pushes."""


def ingested(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    prefix = 'slawatch_samples_ingested_total{agent="eu-1"}'
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


def longest_wait(lines: list[str]) -> float:
    """The longest wait the agent has logged before a push again (0 before any)."""
    events = [json.loads(line) for line in list(lines) if line.startswith("{")]
    return max((e["retry_in_s"] for e in events if e["event"] == "push_failed"), default=0.0)


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
    agent = start_slawatch(["agent", "--config", str(config)])
    lines, reader = read_stderr(agent)  # the outage lasts until the agent's log shows a long wait
    try:
        wait_until(lambda: ingested(url) >= 1, timeout=30)
        stop_process(collector)
        # The backoff has full jitter: its waits grow long within 10 to 40 s of an outage.
        wait_until(lambda: longest_wait(lines) > BACK_WITHIN_S, timeout=120)
        collector = start_collector(config, url, quiet=True)
        back = time.monotonic()
        wait_until(lambda: ingested(url) >= 1, timeout=60)
        took = time.monotonic() - back
    finally:
        agent.terminate()
        try:
            code = agent.wait(15)
        finally:
            agent.kill()  # a no-op once it has exited
            reader.join(10)
            stop_process(collector)
    log = "".join(lines)
    assert code == 0, log
    # Seen through its /healthz probe (`collector_back`), or, when the collector's start took
    # until the backoff's end, by the retry itself: either way within seconds.
    assert took < BACK_WITHIN_S, f"pushed {took:.1f} s after the collector was back"
    assert AGENT not in log
