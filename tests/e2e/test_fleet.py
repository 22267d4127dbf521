"""The fleet with real processes on loopback (CONTRACT §5): one `slawatch collector` with the
checks, three zero-config `slawatch agent --collector URL --id ID --token-file F` processes.

A check added to the collector's file and SIGHUP: the agents it selects probe it within one
poll, the one whose label does not match never does. A broken file and SIGHUP: refused, the old
checks keep running, the metric says 0. The collector stopped, an agent restarted: it probes from
the answer it kept on disk. An agent killed with SIGKILL right in a poll and restarted: each
check still runs once per interval (no duplicate schedule), as the samples stored show."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    free_port,
    run_slawatch,
    start_collector,
    start_slawatch,
    stop_process,
    wait_until,
)

ADMIN = "admin-token-fleet-0123456789"
TOKENS = {f"agent-{n}": f"agent-{n}-token-0123456789abc" for n in (1, 2, 3)}
LABELS = {"agent-1": "eu", "agent-2": "eu", "agent-3": "us"}
POLL = "1s"
INTERVAL_S = 0.5


class Target:
    """A local HTTP server answering 200 to every GET, counting requests by path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                target.hits[self.path] = target.hits.get(self.path, 0) + 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    server = Target()
    yield server
    server.close()


def collector_file(port: int, target: Target, *, with_eu_check: bool) -> str:
    agents = "".join(f"    - {{id: {a}, token: {t}}}\n" for a, t in TOKENS.items())
    checks = (
        f'  - {{id: everywhere, url: "http://127.0.0.1:{target.port}/everywhere", '
        f"interval: {INTERVAL_S}s}}\n"
    )
    if with_eu_check:
        checks += (
            f'  - {{id: eu-web, url: "http://127.0.0.1:{target.port}/eu-web", '
            f"interval: {INTERVAL_S}s, labels: {{region: eu}}}}\n"
        )
    return f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
{agents}checks:
{checks}"""


class Fleet:
    def __init__(self, tmp_path: Path, target: Target) -> None:
        self.tmp_path = tmp_path
        self.target = target
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = tmp_path / "collector.yaml"
        self.collector: subprocess.Popen[str] | None = None
        self.agents: dict[str, subprocess.Popen[str]] = {}
        self.metrics_ports = {agent: free_port() for agent in TOKENS}

    def write(self, text: str) -> None:
        self.config.write_text(text, encoding="utf-8")

    def start_collector(self) -> None:
        self.collector = start_collector(self.config, self.url)

    def stop_collector(self) -> None:
        assert self.collector is not None
        code, _, err = stop_process(self.collector)
        assert code == 0, err
        self.collector = None

    def start_agent(self, agent: str) -> None:
        folder = self.tmp_path / agent
        folder.mkdir(exist_ok=True)
        token_file = folder / "token"
        token_file.write_text(TOKENS[agent] + "\n", encoding="utf-8")
        self.agents[agent] = start_slawatch(
            [
                "agent",
                "--collector", self.url,
                "--id", agent,
                "--token-file", str(token_file),
                "--label", f"region={LABELS[agent]}",
                "--checks-poll", POLL,
                "--metrics-listen", f"127.0.0.1:{self.metrics_ports[agent]}",
            ],
            cwd=folder,
        )  # fmt: skip

    def stop_agent(self, agent: str) -> str:
        code, _, err = stop_process(self.agents.pop(agent))
        assert code == 0, err
        return err

    def close(self) -> None:
        for process in [*self.agents.values(), self.collector]:
            if process is not None:
                stop_process(process)

    def agents_of(self, check: str) -> set[str]:
        """The agents whose samples of `check` the collector has."""
        request = urllib.request.Request(
            f"{self.url}/api/v1/checks", headers={"Authorization": f"Bearer {ADMIN}"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            checks = json.loads(response.read())["checks"]
        found = next((c for c in checks if c["id"] == check), None)
        return {a["agent"] for a in found["agents"] if a["last_sample"]} if found else set()

    def agent_metric(self, agent: str, prefix: str) -> float | None:
        try:
            url = f"http://127.0.0.1:{self.metrics_ports[agent]}/metrics"
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return None
        line = next((line for line in text.splitlines() if line.startswith(prefix)), None)
        return float(line.split()[-1]) if line else None

    def collector_metric(self, prefix: str) -> float | None:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        line = next((line for line in text.splitlines() if line.startswith(prefix)), None)
        return float(line.split()[-1]) if line else None


@pytest.fixture
def fleet(tmp_path: Path, target: Target) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, target)
    yield fleet
    fleet.close()


def test_central_checks_reload_cache_and_restarts_with_real_processes(
    fleet: Fleet, target: Target
) -> None:
    fleet.write(collector_file(fleet.port, target, with_eu_check=False))
    fleet.start_collector()
    for agent in TOKENS:
        fleet.start_agent(agent)
    wait_until(lambda: fleet.agents_of("everywhere") == set(TOKENS), timeout=60)

    # a new check selecting region eu, and SIGHUP: the eu agents probe it within one poll
    fleet.write(collector_file(fleet.port, target, with_eu_check=True))
    assert fleet.collector is not None
    fleet.collector.send_signal(signal.SIGHUP)
    wait_until(lambda: fleet.agents_of("eu-web") == {"agent-1", "agent-2"}, timeout=30)
    hits = target.hits.get("/eu-web", 0)
    wait_until(lambda: target.hits.get("/eu-web", 0) >= hits + 8, timeout=30)
    assert fleet.agents_of("eu-web") == {"agent-1", "agent-2"}, "agent-3 is in region us"
    assert fleet.agent_metric("agent-3", 'slawatch_probe_success{check="eu-web"}') is None
    assert fleet.collector_metric("slawatch_config_last_reload_successful") == 1

    # a broken file and SIGHUP: refused, the old checks keep running, the metric says 0
    fleet.write(collector_file(fleet.port, target, with_eu_check=False) + "  - {id: [\n")
    fleet.collector.send_signal(signal.SIGHUP)
    wait_until(lambda: fleet.collector_metric("slawatch_config_last_reload_successful") == 0)
    hits = target.hits.get("/eu-web", 0)
    wait_until(lambda: target.hits.get("/eu-web", 0) >= hits + 4, timeout=30)
    stop_process(fleet.agents["agent-1"], timeout=0)  # keeps the collector's view below simple
    fleet.agents.pop("agent-1")

    # the collector away, agent-2 restarted: it probes what it kept on disk
    fleet.stop_collector()
    err = fleet.stop_agent("agent-2")
    assert "central_checks_received" in err
    fleet.start_agent("agent-2")
    wait_until(
        lambda: fleet.agent_metric("agent-2", 'slawatch_probe_success{check="eu-web"}') == 1,
        timeout=30,
    )
    assert fleet.agent_metric("agent-2", "slawatch_central_checks ") == 2

    # the collector back (with the good file); agent-2 killed right in a poll, then restarted
    fleet.write(collector_file(fleet.port, target, with_eu_check=True))
    fleet.start_collector()
    process = fleet.agents.pop("agent-2")
    process.send_signal(signal.SIGHUP)  # a poll at once
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)
    restarted_ms = time.time() * 1000
    fleet.start_agent("agent-2")
    wait_until(
        lambda: (fleet.agent_metric("agent-2", 'slawatch_checks_polls_total{outcome="unchanged"}')
                 or 0) >= 5,
        timeout=60,
    )  # fmt: skip
    wait_until(lambda: fleet.agent_metric("agent-2", "slawatch_spool_samples ") == 0, timeout=30)
    fleet.stop_agent("agent-2")
    fleet.stop_agent("agent-3")
    fleet.stop_collector()

    database = fleet.tmp_path / "data" / "collector.db"
    with sqlite3.connect(database) as db:
        rows = db.execute(
            "SELECT s.ts_ms FROM samples s JOIN series r ON r.id = s.series "
            "WHERE r.agent = 'agent-2' AND r.check_id = 'eu-web' AND s.ts_ms > ? "
            "ORDER BY s.ts_ms",
            (restarted_ms,),
        ).fetchall()
        never = db.execute(
            "SELECT count(*) FROM samples s JOIN series r ON r.id = s.series "
            "WHERE r.agent = 'agent-3' AND r.check_id = 'eu-web'"
        ).fetchone()[0]
    times = [ts for (ts,) in rows]  # since the restart after SIGKILL
    assert len(times) >= 6
    # One schedule runs the check once a slot: at most one sample per interval over the span;
    # a second schedule would double that. (Gaps are not asserted: a loaded machine may stall a
    # run late, and the next one starts on its slot.)
    slots = (times[-1] - times[0]) / (INTERVAL_S * 1000)
    assert len(times) <= slots * 1.1 + 3, "the check ran on two schedules"
    assert never == 0


@pytest.mark.parametrize(
    ("content", "says"),
    [(None, "cannot read it"), ("  \n", "is empty"), ("two words\n", "holds more than one word")],
)
def test_a_zero_config_agent_names_its_token_file_when_it_cannot_use_it(
    tmp_path: Path, content: str | None, says: str
) -> None:
    token_file = tmp_path / "token"
    if content is not None:
        token_file.write_text(content, encoding="utf-8")
    result = run_slawatch(
        ["agent", "--collector", "http://127.0.0.1:1", "--id", "eu-1", "--token-file",
         str(token_file)],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert f"--token-file {token_file}: {says}" in result.stderr
    assert "Traceback" not in result.stderr


def test_zero_config_options_are_judged_like_a_file_s_keys(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("a-token-0123456789abcdef\n", encoding="utf-8")
    result = run_slawatch(
        ["agent", "--collector", "ftp://x", "--id", "Bad Id", "--token-file", str(token_file)],
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert (
        "--id: 'Bad Id' is not a valid id" in result.stderr
        and "--collector: must be" in result.stderr
    )
    result = run_slawatch(["agent", "--id", "eu-1"], cwd=tmp_path)
    assert result.returncode == 2 and "missing: --collector, --token-file" in result.stderr
    result = run_slawatch(
        ["agent", "--config", "x.yaml", "--collector", "http://127.0.0.1:1"], cwd=tmp_path
    )
    assert result.returncode == 2 and "not both" in result.stderr


def agent_file(metrics_port: int, target: Target, checks: list[str]) -> str:
    lines = "".join(
        f'  - {{id: {c}, url: "http://127.0.0.1:{target.port}/{c}", interval: 0.3s}}\n'
        for c in checks
    )
    return f"""
agent:
  id: eu-1
  collector: http://127.0.0.1:{free_port()}
  token: agent-1-token-0123456789abc
  metrics_listen: 127.0.0.1:{metrics_port}
checks:
{lines}"""


def test_an_agent_reloads_its_file_on_sighup_and_refuses_a_broken_one(
    tmp_path: Path, target: Target
) -> None:
    port = free_port()
    config = tmp_path / "agent.yaml"
    config.write_text(agent_file(port, target, ["first"]), encoding="utf-8")
    process = start_slawatch(["agent", "--config", str(config)], cwd=tmp_path)
    fleet = Fleet(tmp_path, target)
    fleet.metrics_ports["eu-1"] = port
    try:
        wait_until(lambda: target.hits.get("/first", 0) >= 2, timeout=30)
        config.write_text(agent_file(port, target, ["second"]), encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        wait_until(lambda: target.hits.get("/second", 0) >= 2, timeout=30)
        stopped = target.hits.get("/first", 0)
        wait_until(lambda: target.hits.get("/second", 0) >= 6, timeout=30)
        assert target.hits.get("/first", 0) <= stopped + 1, "a removed check stops"
        assert fleet.agent_metric("eu-1", 'slawatch_probe_success{check="first"}') is None

        config.write_text("agent: {id: [\n", encoding="utf-8")
        process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: fleet.agent_metric("eu-1", "slawatch_config_last_reload_successful ") == 0,
            timeout=30,
        )
        running = target.hits.get("/second", 0)
        wait_until(lambda: target.hits.get("/second", 0) >= running + 3, timeout=30)
    finally:
        code, _, err = stop_process(process)
    assert code == 0, err
    assert "reload_refused" in err and "Traceback" not in err
