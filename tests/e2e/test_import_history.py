"""`slawatch import uptime-kuma KUMA.db --history --config F` (issue 18, "Import"): Uptime
Kuma's heartbeats land in the collector's store as samples of agent `imported`, each with its
exact time, verdict and response time; importing twice stores nothing twice."""

from __future__ import annotations

from pathlib import Path

from slawatch.collector.store import create_store
from slawatch.collector.store.records import LastSample
from tests.e2e.test_import_command import LINKS, MONITORS, NOTIFICATIONS
from tests.kuma_db import build
from tests.support import ms, run_slawatch

HEARTBEATS = [
    {"monitor_id": 1, "status": 1, "time": "2026-11-03 10:00:00.250", "ping": 84, "msg": ""},
    {"monitor_id": 1, "status": 0, "time": "2026-11-03 10:01:00.500", "ping": None, "msg": "timeout of 48000ms exceeded"},
    {"monitor_id": 1, "status": 2, "time": "2026-11-03 10:02:00.000", "ping": None, "msg": "Request failed with status code 503"},
    {"monitor_id": 1, "status": 1, "time": "2026-11-03 10:03:00.000", "ping": 90, "msg": ""},
    {"monitor_id": 1, "status": 3, "time": "2026-11-03 10:04:00.000", "ping": None, "msg": "maintenance"},
    {"monitor_id": 1, "status": 1, "time": "2026-11-03 10:05:00.000", "ping": None, "msg": ""},
    {"monitor_id": 3, "status": 1, "time": "2026-11-03 10:00:10.000", "ping": 3, "msg": ""},
    {"monitor_id": 4, "status": 1, "time": "2026-11-03 10:00:10.000", "ping": 7, "msg": ""},
]  # fmt: skip


def collector_config(tmp_path: Path) -> Path:
    path = tmp_path / "collector.yaml"
    path.write_text("collector:\n  database: data/slawatch.db\n", encoding="utf-8")
    return path


async def test_heartbeats_become_samples_of_agent_imported(tmp_path: Path) -> None:
    kuma = build(tmp_path / "kuma.db", MONITORS, NOTIFICATIONS, LINKS, HEARTBEATS)
    config = collector_config(tmp_path)
    args = ["import", "uptime-kuma", str(kuma), "--history", "--config", str(config)]

    first = run_slawatch(args)
    assert first.returncode == 0, first.stderr
    assert "checks:" in first.stdout
    assert "5 samples stored as agent 'imported'" in first.stderr
    assert "2 heartbeats left out" in first.stderr

    store = create_store(tmp_path / "data" / "slawatch.db")
    await store.open_readonly()
    try:
        assert await store.sample_count() == 5
        last = await store.last_samples()
        assert set(last) == {"main-website", "database"}
        assert last["main-website"]["imported"] == LastSample(
            ms("2026-11-03T10:03:00Z"), True, 90.0, None, None
        )
        assert last["database"]["imported"] == LastSample(
            ms("2026-11-03T10:00:10Z"), True, 3.0, None, None
        )
        start, end = ms("2026-11-03T09:00:00Z"), ms("2026-11-03T11:00:00Z")
        runs = (await store.runs(["main-website"], start, end))["main-website"]["imported"]
        assert [(r.start_ms, r.ok, r.error, r.samples) for r in runs] == [
            (ms("2026-11-03T10:00:00.250Z"), True, None, 1),
            (ms("2026-11-03T10:01:00.500Z"), False, "timeout of 48000ms exceeded", 2),
            (ms("2026-11-03T10:03:00Z"), True, None, 1),
        ]
        assert sorted(await store.latency_values(["main-website"], start, end)) == [84.0, 90.0]
        seen = {c.id: c for c in await store.seen_checks()}
        assert (seen["main-website"].type, seen["main-website"].interval_ms) == ("http", 60_000)
        assert (seen["database"].type, seen["database"].interval_ms) == ("tcp", 120_000)
    finally:
        await store.close()

    again = run_slawatch(args)
    assert again.returncode == 0, again.stderr
    assert "0 samples stored as agent 'imported'" in again.stderr
    assert "5 already there" in again.stderr


def test_history_with_a_bad_config_is_a_config_error(tmp_path: Path) -> None:
    kuma = build(tmp_path / "kuma.db", MONITORS, NOTIFICATIONS, LINKS, HEARTBEATS)
    config = tmp_path / "collector.yaml"
    config.write_text("collector:\n  databse: x.db\n", encoding="utf-8")
    result = run_slawatch(
        ["import", "uptime-kuma", str(kuma), "--history", "--config", str(config)]
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "databse" in result.stderr
    assert "Traceback" not in result.stderr
