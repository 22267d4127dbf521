"""`slawatch report` as a process, reading the database of a collector process that keeps running
(CONTRACT §1): JSON, CSV and HTML on stdout; exit 2 for a bad SLA or window, 1 for a database
that is missing or not one."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import (
    free_port,
    run_slawatch,
    start_collector,
    stop_process,
)

ADMIN = "admin-token-0123456789-secret"
AGENT = "agent-token-0123456789-secret"


def write_config(folder: Path, port: int, database: str = "data/collector.db") -> Path:
    config = folder / "collector.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: {database}
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {AGENT}}}
  customers:
    - {{id: acme, name: ACME Corp}}
slas:
  - id: acme-web
    customer: acme
    name: ACME website
    checks: [web]
    objective: 99.9
""",
        encoding="utf-8",
    )
    return config


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


class Scene:
    """Two hours of `web` probed every minute by eu-1, from a whole hour three hours ago; it
    fails from minute 30 to 39: DOWN 600 s, UP 6,600 s."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.base = (int(time.time()) // 3600 - 3) * 3600
        self.config = write_config(folder, free_port())

    def samples(self) -> list[dict]:
        return [
            {"check": "web", "ts": self.base + 60 * i, "ok": not 30 <= i < 40,
             "latency_ms": 42.0, "interval_s": 60, "error": None if not 30 <= i < 40 else "HTTP 502"}
            for i in range(120)
        ]  # fmt: skip

    def window(self) -> list[str]:
        return ["--from", iso(self.base), "--to", iso(self.base + 7200)]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """A collector process holding the scene's samples, still running while reports are read."""
    made = Scene(tmp_path_factory.mktemp("report"))
    port = int(made.config.read_text().split("127.0.0.1:")[1].split()[0])
    url = f"http://127.0.0.1:{port}"
    process = start_collector(made.config, url)
    try:
        request = urllib.request.Request(
            f"{url}/api/v1/samples",
            data=json.dumps({"agent": "eu-1", "samples": made.samples()}).encode(),
            headers={"Authorization": f"Bearer {AGENT}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response) == {"accepted": 120, "duplicates": 0}
        yield made
    finally:
        code, _, err = stop_process(process)
        assert code == 0, err


def report(scene: Scene, *args: str) -> subprocess.CompletedProcess[str]:
    return run_slawatch(["report", "--config", str(scene.config), "--sla", "acme-web", *args])


def test_the_json_report_of_a_window(scene: Scene) -> None:
    result = report(scene, *scene.window())
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["sla"], data["from"], data["to"]) == (
        "acme-web",
        iso(scene.base),
        iso(scene.base + 7200),
    )
    assert (data["up_s"], data["down_s"], data["unknown_s"]) == (6600.0, 600.0, 0.0)
    assert data["availability"] == 100 * 6600 / 7200
    assert [(i["duration_s"], i["error"]) for i in data["incidents"]] == [(600.0, "HTTP 502")]
    assert data["latency"]["count"] == 110
    # A window in the past is complete: judged by its availability (CONTRACT §4.8).
    assert (data["complete"], data["future_s"], data["verdict"]) == (True, 0.0, "breached")
    assert data["projected_availability"] == data["availability"]


def test_the_csv_report_is_one_row(scene: Scene) -> None:
    result = report(scene, *scene.window(), "--format", "csv")
    assert result.returncode == 0, result.stderr
    [row] = list(csv.DictReader(io.StringIO(result.stdout)))
    assert (row["sla"], row["down_s"], row["incidents"]) == ("acme-web", "600.0", "1")
    assert (row["complete"], row["verdict"]) == ("true", "breached")


def test_the_html_report_is_a_page(scene: Scene) -> None:
    result = report(scene, *scene.window(), "--format", "html")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<!DOCTYPE html>")
    assert "ACME Corp" in result.stdout and "HTTP 502" in result.stdout


def test_the_default_is_the_current_period(scene: Scene) -> None:
    result = report(scene)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    month = datetime.fromtimestamp(time.time(), UTC)
    assert (data["period"], data["from"]) == (
        month.strftime("%Y-%m"),
        month.strftime("%Y-%m-01T00:00:00Z"),
    )
    # The month is in progress: judged by the error budget of the whole month.
    budget, left = data["error_budget_s"], data["error_budget_remaining_s"]
    assert data["complete"] is False and data["future_s"] > 0
    assert data["verdict"] == (
        "breached" if left < 0 else "on_track" if left >= budget / 4 else "at_risk"
    )


def test_a_period_report(scene: Scene) -> None:
    month = datetime.fromtimestamp(scene.base, UTC).strftime("%Y-%m")
    result = report(scene, "--period", month)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["period"], data["down_s"], len(data["incidents"])) == (month, 600.0, 1)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--period", "2026-13"], "period: month must be 01 to 12"),
        (["--from", "2026-11-01T00:00:00Z"], "from and to go together"),
        (["--to", "2026-11-01T00:00:00Z"], "from and to go together"),
        (
            ["--from", "2026-11-02T00:00:00Z", "--to", "2026-11-01T00:00:00Z"],
            "to: must be after from",
        ),
    ],
)
def test_a_bad_window_is_exit_2_saying_why(scene: Scene, args: list[str], says: str) -> None:
    result = report(scene, *args)
    assert (result.returncode, result.stdout) == (2, "")
    assert says in result.stderr and "Traceback" not in result.stderr


def test_an_unknown_sla_is_exit_2_naming_the_known_ones(scene: Scene) -> None:
    result = run_slawatch(["report", "--config", str(scene.config), "--sla", "nope"])
    assert (result.returncode, result.stdout) == (2, "")
    assert "no SLA 'nope'" in result.stderr and "acme-web" in result.stderr


def test_a_missing_database_is_exit_1_and_is_not_created(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    result = run_slawatch(["report", "--config", str(config), "--sla", "acme-web"])
    assert (result.returncode, result.stdout) == (1, "")
    assert "cannot read the database" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_a_file_that_is_not_a_database_is_exit_1(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all " * 1000)
    config = write_config(tmp_path, free_port(), database="junk.db")
    result = run_slawatch(["report", "--config", str(config), "--sla", "acme-web"])
    assert (result.returncode, result.stdout) == (1, "")
    assert "cannot read the database" in result.stderr and "Traceback" not in result.stderr
