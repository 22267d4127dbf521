"""Idle and half-open connections against a `slawatch collector` process with a lowered open-file
limit (`ulimit -n`): pushes and `/healthz` go on, the server closes the idle sockets itself, and
running out of descriptors is one log line, not a traceback per failed accept (issue 15, 1)."""

from __future__ import annotations

import json
import selectors
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from tests.support import (
    SLAWATCH,
    collector_healthy,
    free_port,
    start_slawatch,
    stop_process,
    wait_until,
)

ADMIN = "admin-token-idle-0123456789"
AGENT = "agent-token-idle-0123456789"
HALF_A_HEAD = b"GET /healthz HTTP/1.1\r\nHost: collector\r\n"


class IdleFlood:
    """`count` sockets to the collector that send nothing, or half a request head, and are
    opened again as soon as the server closes them, until `stop_reopening()`."""

    def __init__(self, port: int, count: int) -> None:
        self.port = port
        self.count = count
        self.opened = 0
        self.closed_by_server = 0
        self.open_now = 0
        self._reopen = True
        self._stop = threading.Event()
        self._selector = selectors.DefaultSelector()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> IdleFlood:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for key in list(self._selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self._selector.close()

    def stop_reopening(self) -> None:
        self._reopen = False

    def _open(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        if self.opened % 2:
            sock.sendall(HALF_A_HEAD)
        sock.setblocking(False)
        self._selector.register(sock, selectors.EVENT_READ)
        self.opened += 1
        self.open_now += 1

    def _run(self) -> None:
        for _ in range(self.count):
            self._open()
        while not self._stop.is_set():
            for key, _ in self._selector.select(timeout=0.05):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = sock.recv(65536)
                except ConnectionResetError:
                    data = b""
                if data:
                    continue  # an answer (a 503): the server closes after it
                self._selector.unregister(sock)
                sock.close()
                self.closed_by_server += 1
                self.open_now -= 1
                if self._reopen:
                    self._open()


def write_configs(folder: Path, port: int) -> tuple[Path, Path]:
    url = f"http://127.0.0.1:{port}"
    collector = folder / "collector.yaml"
    collector.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {AGENT}}}
""",
        encoding="utf-8",
    )
    agent = folder / "agent.yaml"
    agent.write_text(
        f"""
agent:
  id: eu-1
  collector: {url}
  token: {AGENT}
checks:
  - id: collector-health
    url: {url}/healthz
    interval: 1s
""",
        encoding="utf-8",
    )
    return collector, agent


def start_limited(open_files: int, args: list[str]) -> subprocess.Popen[str]:
    """slawatch ARGS under `ulimit -n OPEN_FILES`, as a shell would start it."""
    return subprocess.Popen(
        ["sh", "-c", f'ulimit -n {open_files} && exec "$@"', "sh", *SLAWATCH, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def metrics(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        key: float(value)
        for key, _, value in (line.rpartition(" ") for line in text.splitlines())
        if key and not key.startswith("#")
    }


def accept_failures(url: str) -> float:
    """`slawatch_http_accept_failures_total`, or 0 if the collector cannot answer now."""
    try:
        return metrics(url).get("slawatch_http_accept_failures_total", 0.0)
    except OSError:
        return 0.0


def health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def ingested(url: str) -> float | None:
    """Samples stored so far; None when this request lost its connection to the flood (a
    newcomer at the cap may be the one closed: like any client, the test asks again)."""
    try:
        return metrics(url).get('slawatch_samples_ingested_total{agent="eu-1"}', 0.0)
    except OSError:
        return None


def last_probe_ok(url: str) -> bool:
    request = urllib.request.Request(
        f"{url}/api/v1/checks", headers={"Authorization": f"Bearer {ADMIN}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            checks = json.loads(response.read())["checks"]
    except OSError:
        return False
    [agent] = checks[0]["agents"]
    return bool(agent["last_sample"]["ok"])


def test_twice_the_cap_of_idle_connections_lock_out_neither_pushes_nor_health_checks(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    collector_config, agent_config = write_configs(tmp_path, port)
    collector = start_limited(512, ["collector", "--config", str(collector_config)])
    agent = None
    try:
        wait_until(lambda: collector_healthy(url, collector), timeout=20)
        cap = int(metrics(url)["slawatch_http_connections_limit"])
        assert cap == 512 - 256  # the open-file limit leaves room for the store and accepts
        agent = start_slawatch(["agent", "--config", str(agent_config)])
        wait_until(lambda: (ingested(url) or 0) >= 2, timeout=30)

        with IdleFlood(port, 2 * cap) as flood:
            wait_until(lambda: flood.opened >= 2 * cap, timeout=30)
            during = wait_until(lambda: ingested(url), timeout=10)
            wait_until(lambda: health_ok(url), timeout=10)
            wait_until(lambda: (ingested(url) or 0) >= during + 4, timeout=30)
            wait_until(lambda: last_probe_ok(url), timeout=30)  # its probes get through too
            flood.stop_reopening()
            wait_until(lambda: flood.open_now == 0, timeout=30)  # the server closed each
            assert flood.closed_by_server >= 2 * cap

        closed = metrics(url)
        assert (
            closed.get('slawatch_http_connections_closed_total{reason="head_timeout"}', 0)
            + closed.get('slawatch_http_connections_closed_total{reason="evicted"}', 0)
            >= 2 * cap
        )
    finally:
        if agent is not None:
            agent_code, _, agent_err = stop_process(agent)
        code, _, err = stop_process(collector)
    assert code == 0, err
    assert agent_code == 0, agent_err
    assert "Traceback" not in err
    assert "Too many open files" not in err


def test_running_out_of_descriptors_is_logged_once_a_minute_without_tracebacks(
    tmp_path: Path,
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    collector_config, _ = write_configs(tmp_path, port)
    collector = start_limited(64, ["collector", "--config", str(collector_config)])
    started = time.monotonic()
    try:
        wait_until(lambda: collector_healthy(url, collector), timeout=20)
        with IdleFlood(port, 300) as flood:
            wait_until(lambda: flood.opened >= 300, timeout=30)
            wait_until(lambda: accept_failures(url) > 0, timeout=30)
            flood.stop_reopening()
            wait_until(lambda: flood.open_now == 0, timeout=30)
        wait_until(lambda: health_ok(url), timeout=10)
        failures = metrics(url)["slawatch_http_accept_failures_total"]
    finally:
        code, _, err = stop_process(collector)
    minutes = (time.monotonic() - started) / 60
    assert code == 0, err
    assert "Traceback" not in err
    lines = [json.loads(line) for line in err.splitlines() if '"accept_failed"' in line]
    assert 1 <= len(lines) <= 1 + minutes  # at once, then at most once a minute
    assert {line["error"] for line in lines} == {"EMFILE"}
    assert {line["open_file_limit"] for line in lines} == {64}
    assert 1 <= sum(line["count"] for line in lines) <= failures
