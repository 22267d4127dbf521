"""Logs a person can read on a terminal, JSON lines for log shippers, `--log-format` to choose."""

from __future__ import annotations

import json
import os
import pty
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import SLAWATCH, run_slawatch


@pytest.fixture
def busy_config(tmp_path: Path) -> Iterator[Path]:
    """A collector config whose port is taken: `slawatch collector` logs one error and exits 1."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        path = tmp_path / "collector.yaml"
        path.write_text(
            f"collector: {{listen: '127.0.0.1:{busy.getsockname()[1]}', database: data/c.db}}\n",
            encoding="utf-8",
        )
        yield path


def error_line(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if "collector_cannot_start" in line]
    return line


def is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("options", [[], ["--log-format", "json"], ["--log-format", "auto"]])
def test_json_lines_when_stderr_is_not_a_terminal(busy_config: Path, options: list[str]) -> None:
    result = run_slawatch([*options, "collector", "--config", str(busy_config)])
    assert result.returncode == 1
    event = json.loads(error_line(result.stderr))
    assert (event["event"], event["level"]) == ("collector_cannot_start", "error")


def test_console_lines_on_request(busy_config: Path) -> None:
    result = run_slawatch(["--log-format", "console", "collector", "--config", str(busy_config)])
    assert result.returncode == 1
    line = error_line(result.stderr)
    assert not is_json(line)
    assert "[error    ] collector_cannot_start" in line
    assert "\x1b[" not in result.stderr  # no colours into a pipe or file


def test_console_lines_on_a_terminal(busy_config: Path) -> None:
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [*SLAWATCH, "collector", "--config", str(busy_config)],
            stdout=subprocess.DEVNULL,
            stderr=follower,
            env={k: v for k, v in os.environ.items() if k != "NO_COLOR"},
        )
        os.close(follower)
        assert process.wait(timeout=60) == 1
        output = b""
        while chunk := _read(leader):
            output += chunk
    finally:
        os.close(leader)
    line = error_line(output.decode())
    assert not is_json(line)
    assert "collector_cannot_start" in line and "\x1b[" in line


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO once the terminal's other side is closed and drained
        return b""


def test_an_unknown_format_is_a_usage_error() -> None:
    result = run_slawatch(["--log-format", "xml", "check-config", "x.yaml"])
    assert result.returncode == 2
    assert "invalid choice: 'xml'" in result.stderr
