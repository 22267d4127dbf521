"""A real `slawatch agent` process pushes to a real `slawatch collector` process probing a local
target: the collector's view (API, metrics, stored runs) follows the target up and down."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from slawatch.collector.store import create_store
from tests.support import (
    free_port,
    start_collector,
    start_slawatch,
    stop_process,
    wait_until,
)

ADMIN = "admin-token-e2e-0123456789"
AGENT = "agent-token-e2e-0123456789"


class Target:
    """A local HTTP server answering with `status`, which the test changes."""

    def __init__(self) -> None:
        self.status = 200
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = b"ok" if target.status == 200 else b"broken"
                self.send_response(target.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    target = Target()
    yield target
    target.close()


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return json.loads(r.read())


def check_state(url: str, check: str) -> tuple[str, dict[str, str]] | None:
    for item in get_json(f"{url}/api/v1/checks", ADMIN)["checks"]:
        if item["id"] == check:
            return item["state"], {a["agent"]: a["state"] for a in item["agents"]}
    return None


def metric_line(url: str, prefix: str) -> str | None:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return next((line for line in text.splitlines() if line.startswith(prefix)), None)


def test_an_agent_process_feeds_a_collector_process(tmp_path: Path, target: Target) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "slawatch.yaml"
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
  collector: {url}
  token: {AGENT}
  labels: {{region: eu}}
checks:
  - id: web
    url: http://127.0.0.1:{target.port}/health
    interval: 500ms
    timeout: 400ms
    expect: {{status: [200], body_contains: ok}}
  - id: port
    host: 127.0.0.1
    port: {target.port}
    interval: 500ms
    timeout: 400ms
""",
        encoding="utf-8",
    )
    collector = start_collector(config, url)
    agent: subprocess.Popen[str] | None = None
    try:
        agent = start_slawatch(["agent", "--config", str(config)])
        wait_until(lambda: check_state(url, "web") == ("up", {"eu-1": "up"}), timeout=30)
        wait_until(lambda: check_state(url, "port") == ("up", {"eu-1": "up"}), timeout=30)
        wait_until(
            lambda: (
                metric_line(url, 'slawatch_check_up{check="web"}')
                == 'slawatch_check_up{check="web"} 1.0'
            )
        )
        target.status = 503
        wait_until(lambda: check_state(url, "web") == ("down", {"eu-1": "down"}), timeout=30)
        wait_until(
            lambda: (
                metric_line(url, 'slawatch_check_up{check="web"}')
                == 'slawatch_check_up{check="web"} 0.0'
            )
        )
        wait_until(lambda: check_state(url, "port") == ("up", {"eu-1": "up"}))
        ingested = metric_line(url, 'slawatch_samples_ingested_total{agent="eu-1"}')
        # What was seen needs at least web up, web down and port up (more on a slow machine).
        assert ingested is not None and float(ingested.split()[-1]) >= 3
        agent_code, agent_out, agent_err = stop_process(agent)
        assert agent_code == 0, agent_err
    finally:
        if agent is not None and agent.poll() is None:
            stop_process(agent)
        code, out, err = stop_process(collector)
    assert code == 0, err
    for secret in (ADMIN, AGENT):
        assert secret not in out + err + agent_out + agent_err

    runs = asyncio.run(stored_runs(tmp_path / "data" / "collector.db"))
    states = [run.ok for run in runs["web"]["eu-1"]]
    assert states[:1] == [True] and False in states
    checks = {c.id: c for c in asyncio.run(seen_checks(tmp_path / "data" / "collector.db"))}
    assert (checks["web"].type, checks["port"].type) == ("http", "tcp")


async def stored_runs(database: Path) -> dict[str, Any]:
    store = create_store(database)
    await store.open()
    try:
        return await store.runs(["web", "port"], 0, 2**62)
    finally:
        await store.close()


async def seen_checks(database: Path) -> list[Any]:
    store = create_store(database)
    await store.open()
    try:
        return await store.seen_checks()
    finally:
        await store.close()
