"""`slawatch agent` that cannot start: a clear message naming what and where, exit 1, no
traceback."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support import free_port, run_slawatch

ENV = {"SLAWATCH_E2E_TOKEN": "e2e-agent-token-77aa"}


def write_config(folder: Path, extra: str = "") -> Path:
    path = folder / "agent.yaml"
    path.write_text(
        f"""
agent:
  id: eu-1
  collector: http://127.0.0.1:{free_port()}
  token: ${{SLAWATCH_E2E_TOKEN}}
  spool: data/spool.db
{extra}
checks: []
""",
        encoding="utf-8",
    )
    return path


def test_a_spool_it_cannot_open(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "data" / "spool.db").mkdir(parents=True)
    result = run_slawatch(["agent", "--config", str(config)], env=ENV, timeout=30)
    assert result.returncode == 1
    assert "cannot open the spool" in result.stderr and "spool.db" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_metrics_port_already_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, f"  metrics_listen: 127.0.0.1:{port}")
        result = run_slawatch(["agent", "--config", str(config)], env=ENV, timeout=30)
    assert result.returncode == 1
    assert f"cannot serve metrics on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert ENV["SLAWATCH_E2E_TOKEN"] not in result.stderr
