"""Helpers shared by the tests: waiting on conditions, free ports, running the command line."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SLAWATCH = [sys.executable, "-m", "slawatch.cli"]
"""The command line as a subprocess, with the test interpreter."""


def ms(text: str) -> int:
    """Unix ms of an ISO 8601 time with its offset ("2026-11-03T00:00:00Z")."""
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def auth(token: str) -> dict[str, str]:
    """The header that presents `token`."""
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        time.sleep(interval)


async def async_wait_until(
    condition: Callable[[], T | Awaitable[T]], timeout: float = 10.0, interval: float = 0.02
) -> T:
    """Like `wait_until`, for conditions that may be coroutines, without blocking the loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {condition}")
        await asyncio.sleep(interval)


def run_slawatch(
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 60.0,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SLAWATCH, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )


def start_slawatch(
    args: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[str]:
    """A long-running slawatch process; the caller stops it (see `stop_process`)."""
    return subprocess.Popen(
        [*SLAWATCH, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        cwd=cwd,
    )


def stop_process(process: subprocess.Popen[str], timeout: float = 10.0) -> tuple[int, str, str]:
    """SIGTERM, wait, kill if need be; returns (returncode, stdout, stderr)."""
    if process.poll() is None:
        process.terminate()
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return process.returncode, out, err


def read_stderr(process: subprocess.Popen[str]) -> tuple[list[str], threading.Thread]:
    """The lines `process` writes to stderr, appended as they come by a thread (started), so
    that a test can wait on them and a full pipe never blocks the process; join the thread
    once the process has exited."""
    assert process.stderr is not None
    lines: list[str] = []
    stream = process.stderr

    def read() -> None:
        for line in stream:
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return lines, reader


def collector_healthy(url: str, process: subprocess.Popen[str]) -> bool:
    """True once `url`/healthz answers 200; fails at once if the process has exited."""
    if process.poll() is not None:
        raise AssertionError(f"the collector exited: {process.communicate()[1]}")
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def start_collector(
    config: Path, url: str, *, env: dict[str, str] | None = None, quiet: bool = False
) -> subprocess.Popen[str]:
    """`slawatch collector --config CONFIG` as a process, returned once it answers at `url`."""
    options = ["--log-level", "warning"] if quiet else []
    process = start_slawatch([*options, "collector", "--config", str(config)], env=env)
    wait_until(lambda: collector_healthy(url, process), timeout=20)
    return process


@contextmanager
def running_collector(
    config: Path, url: str, *, env: dict[str, str] | None = None, quiet: bool = True
) -> Iterator[subprocess.Popen[str]]:
    """A collector process for the block; it must then stop cleanly on SIGTERM (exit 0)."""
    process = start_collector(config, url, env=env, quiet=quiet)
    try:
        yield process
    finally:
        code, _, err = stop_process(process)
        assert code == 0, err
