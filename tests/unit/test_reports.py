"""`slawatch.collector.reports.build` on a real SQLite store: the shared-timeline summaries equal the reports
computed SLA by SLA from the agents' runs, the history loop, report windows; and the store's
declared maintenance and read-only opening that reports rely on."""

from __future__ import annotations

import random
import sqlite3
from dataclasses import replace
from datetime import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import Window, current_window
from slawatch.collector.engine.sla import history_range
from slawatch.collector.engine.timeline import Run
from slawatch.collector.reports.build import (
    LatencyCache,
    compute_from_store,
    maintenance_in,
    report_window,
    sla_report,
)
from slawatch.collector.reports.shared import SharedTimelines, shared_report, summaries
from slawatch.collector.reports.shared import _has_run_within as has_run_within
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import DeclaredMaintenance, Store, create_store
from slawatch.config.schema import LatencyObjective, OneOffMaintenance, RecurringMaintenance, Sla
from tests.support import ms

S = 1000
MIN = 60 * S
HOUR = 3600 * S


NOW = ms("2026-11-02T05:30:00Z")
START = ms("2026-10-29T00:00:00Z")
CHECKS = ("a", "b", "c")
AGENTS = ("eu-1", "us-1", "ap-1")


def row(ts_ms: int, ok: bool, check: str, latency: float = 50.0, error: str = "boom") -> SampleRow:
    return SampleRow(ts_ms, ok, latency if ok else None, MIN, 200 if ok else 503,
                     None if ok else f"{error} at {ts_ms}", None, None, None, None, None, None,
                     check, "http")  # fmt: skip


def random_trace(seed: int) -> dict[str, list[SampleRow]]:
    """Per agent, samples of every check every minute from START to a little past NOW: each check
    has a true state that flips now and then, each agent sees it with some noise and some gaps.
    Check a is DOWN for every agent across the start of November (a run crossing the month's
    edge); check b is DOWN from 05:00 on the 2nd until now (an ongoing incident)."""
    rng = random.Random(seed)
    by_agent: dict[str, list[SampleRow]] = {agent: [] for agent in AGENTS}
    for check in CHECKS:
        truth = True
        for ts in range(START, NOW + 3 * MIN, MIN):
            if rng.random() < 0.01:
                truth = not truth
            forced_down = (check == "a" and abs(ts - ms("2026-11-01T00:00:00Z")) < 20 * MIN) or (
                check == "b" and ts >= ms("2026-11-02T05:00:00Z")
            )
            for agent in AGENTS:
                if rng.random() < 0.03:
                    continue
                ok = (truth if rng.random() > 0.05 else not truth) and not forced_down
                by_agent[agent].append(
                    row(ts + rng.randrange(0, 500), ok, check, rng.uniform(5, 500))
                )
    return by_agent


def slas() -> list[Sla]:
    sunday = RecurringMaintenance("sunday", time(1, 0), 3600.0, "weekly")
    one_off = OneOffMaintenance(
        ms("2026-10-31T10:00:00Z") / 1000, ms("2026-11-01T00:10:00Z") / 1000
    )
    variants = [
        {"checks": ("a", "b", "c")},
        {"checks": ("a", "b"), "quorum": "any", "require": "any"},
        {"checks": ("a",), "quorum": "all", "min_downtime": 90.0, "unknown": "up"},
        {"checks": ("b", "c"), "quorum": 2, "period": "week", "unknown": "down"},
        {
            "checks": ("a", "c"),
            "period": "day",
            "timezone": "America/New_York",
            "min_downtime": 600.0,
        },
        {"checks": ("a", "b", "c"), "timezone": "Asia/Kolkata", "maintenance": (sunday, one_off)},
        {"checks": ("c",), "min_downtime": 3 * 3600.0, "period": "week"},
        {"checks": ("a", "missing"), "require": "any"},
    ]
    return [
        Sla(id=f"sla-{i}", name=f"SLA {i}", objective=99.5, customer="acme", **variant)
        for i, variant in enumerate(variants)
    ]


async def fill(store: Store, seed: int) -> None:
    for agent, rows in random_trace(seed).items():
        for start in range(0, len(rows), 5000):
            await store.ingest(agent, rows[start : start + 5000], labels=None, now_ms=NOW)


# --------------------------------------------------------------------------------- summaries


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_summaries_equal_the_reports_computed_one_by_one(store: Store, seed: int) -> None:
    await fill(store, seed)
    await store.add_maintenance(["sla-0", "sla-3"], ms("2026-11-01T06:00:00Z"),
                                ms("2026-11-01T07:30:00Z"), "declared", created_ms=NOW)  # fmt: skip
    the_slas = slas()
    found = await summaries(store, the_slas, NOW)
    assert [s.report.sla for s in found] == the_slas
    for summary, sla in zip(found, the_slas, strict=True):
        declared = [
            Interval(d.start_ms, d.end_ms) for d in await store.declared_maintenance([sla.id])
        ]
        window = current_window(sla.period, sla.timezone, NOW)
        exact = await compute_from_store(store, sla, window, NOW, declared=declared, latency=False)
        ongoing = tuple(i for i in exact.incidents if i.end_ms is None)
        assert summary.report == replace(exact, incidents=ongoing), sla.id
    # Every figure of the shared timelines is exact, whether the summary took it or not.
    since = ms("2026-10-20T00:00:00Z")
    timelines = SharedTimelines(await store.runs((*CHECKS, "missing"), since, NOW), since, NOW)
    for sla in the_slas:
        window = current_window(sla.period, sla.timezone, NOW)
        declared = [
            Interval(d.start_ms, d.end_ms) for d in await store.declared_maintenance([sla.id])
        ]
        history = history_range(sla, window, NOW)
        shared = shared_report(sla, timelines, window, NOW, history=history, declared=declared)
        exact = await compute_from_store(store, sla, window, NOW, declared=declared, latency=False)
        assert replace(shared, incidents=(), wider_history=None) == replace(exact, incidents=()), (
            sla.id
        )
        assert [(i.start_ms, i.end_ms) for i in shared.incidents] == [
            (i.start_ms, i.end_ms) for i in exact.incidents
        ]
    # The trace was made to have an incident open now, with its error, and one crossing the
    # start of November (that needs a wider history).
    assert found[0].report.open_incident is not None
    assert found[0].report.open_incident.error is not None
    window = current_window("month", "UTC", NOW)
    exact = await compute_from_store(store, the_slas[0], window, NOW, declared=[], latency=False)
    assert any(i.run_start_ms < window.from_ms for i in exact.incidents)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4)), max_size=12),
    st.integers(-2, 40),
    st.integers(-2, 40),
)
def test_a_check_has_data_in_a_range_as_its_runs_say(
    shape: list[tuple[int, int]], start_ms: int, end_ms: int
) -> None:
    """Summaries find a run inside an SLA's window by bisection (runs of a month, a day's
    window); the same answer as looking at every run, empty runs included."""
    runs, t = [], 0
    for gap, length in shape:
        t += gap
        runs.append(Run(t, t + length, True, None, t, 1))
        t += length
    linear = any(
        r.start_ms < end_ms and r.end_ms > start_ms and r.start_ms < r.end_ms for r in runs
    )
    assert has_run_within(runs, start_ms, end_ms) == linear


async def test_a_report_widens_its_history_until_the_incident_is_whole(store: Store) -> None:
    # Down from Oct 30 12:00 to Nov 1 06:00 (every agent): the November report's incident
    # starts at the window but its run started two and a half days before.
    rows = [row(ts, not (ms("2026-10-30T12:00:00Z") <= ts < ms("2026-11-01T06:00:00Z")), "a")
            for ts in range(START, NOW, MIN)]  # fmt: skip
    await store.ingest("eu-1", rows, labels=None, now_ms=NOW)
    sla = Sla(id="x", name="x", checks=("a",), objective=99.0, min_downtime=60.0)
    found = await sla_report(
        store, sla, Window(ms("2026-11-01T00:00:00Z"), NOW), NOW, latency=False
    )
    [incident] = found.report.incidents
    assert (incident.start_ms, incident.end_ms) == (
        ms("2026-11-01T00:00:00Z"),
        ms("2026-11-01T06:00:00Z"),
    )
    assert incident.run_start_ms == ms("2026-10-30T12:00:00Z")
    assert incident.error == f"boom at {ms('2026-10-30T12:00:00Z')}"


async def test_latency_mixes_raw_partial_hours_and_hourly_histograms(store: Store) -> None:
    # 10:30–13:15 of one day, one sample a minute, latency = the minute's index + 1 (1 … 165 ms).
    # The window 10:30–13:15 reads 10:30–11:00 and 13:00–13:15 raw, 11:00–13:00 from histograms.
    base = ms("2026-11-01T10:30:00Z")
    await store.ingest("eu-1", [row(base + i * MIN, True, "a", float(i + 1)) for i in range(165)],
                       labels=None, now_ms=NOW)  # fmt: skip
    sla = Sla(id="x", name="x", checks=("a",), objective=99.0)
    found = await sla_report(store, sla, Window(base, base + 165 * MIN), NOW)
    latency = found.report.latency
    # Nearest rank of 165 values 1…165: p50 = 83rd = 83, p95 = 157th, p99 = 164th; 83 and 157
    # lie in the histogram hours (31…150 ms) or raw (151…165): within 1 % either way.
    assert latency.count == 165
    assert latency.p50_ms == pytest.approx(83, rel=0.01)
    assert latency.p95_ms == 157.0
    assert latency.p99_ms == 164.0


@pytest.mark.parametrize(("p95", "met"), [(801.0, False), (799.5, True), (790.0, True)])
async def test_latency_met_is_exact_when_the_percentiles_bucket_holds_the_objective(
    store: Store, p95: float, met: bool
) -> None:
    # Two whole hours (histograms only), 120 samples: the p95 is the 114th. 801 and 799.5 share
    # the bucket (791.1, 807.0] of 800 ms, which stands for 799.0: read from the histogram, 801
    # would pass. That bucket's raw values decide; 790 lies in the bucket below (no refinement).
    base = ms("2026-11-01T11:00:00Z")
    latencies = [100.0] * 113 + [p95] + [900.0] * 6
    await store.ingest("eu-1", [row(base + i * MIN, True, "a", v) for i, v in enumerate(latencies)],
                       labels=None, now_ms=NOW)  # fmt: skip
    sla = Sla(id="x", name="x", checks=("a",), objective=99.0,
              latency=LatencyObjective(0.8, 95.0))  # fmt: skip
    latency = (await sla_report(store, sla, Window(base, base + 2 * HOUR), NOW)).report.latency
    assert (latency.count, latency.met) == (120, met)
    assert latency.value_ms == (p95 if p95 != 790.0 else pytest.approx(790.0, rel=0.01))
    assert latency.p50_ms == pytest.approx(100.0, rel=0.01)


async def test_a_partial_hour_whose_raw_samples_are_pruned_reads_its_hours_histogram(
    store: Store,
) -> None:
    # One sample a minute 10:00–11:00; the window starts at 10:30, so 10:30–11:00 is read raw.
    # Once raw samples before 12:00 are pruned, the whole hour's histogram stands in for it.
    hour = ms("2026-11-01T10:00:00Z")
    await store.ingest("eu-1", [row(hour + i * MIN, True, "a", 10.0 + i) for i in range(60)],
                       labels=None, now_ms=NOW)  # fmt: skip
    sla = Sla(id="x", name="x", checks=("a",), objective=99.0)
    window = Window(hour + 30 * MIN, hour + HOUR)
    before = (await sla_report(store, sla, window, NOW)).report.latency
    assert (before.count, before.p50_ms) == (30, 54.0)
    cutoff = ms("2026-11-01T12:00:00Z")
    await store.prune(NOW, raw_retention_ms=NOW - cutoff, rollup_retention_ms=400 * 24 * HOUR)
    assert await store.latency_values(["a"], hour, hour + HOUR) == []
    after = (await sla_report(store, sla, window, NOW)).report.latency
    assert after.count == 60, "the whole hour, not nothing"
    assert after.p50_ms == pytest.approx(39.0, rel=0.01)


async def test_the_latency_cache_answers_as_the_store_and_sees_late_samples(store: Store) -> None:
    # Three days of one check by two agents, a sample every 10 minutes; the range asked starts
    # and ends mid-day: its partial days and the whole day between are each cached.
    day = ms("2026-11-01T00:00:00Z")
    for agent, latency in (("eu-1", 40.0), ("us-1", 90.0)):
        rows = [
            row(day + i * 10 * MIN, True, "a", latency + i % 7) for i in range(3 * 144) if i % 5
        ]
        await store.ingest(agent, rows, labels=None, now_ms=NOW)
    cache = LatencyCache(max_days=2)
    start, end = day + 5 * HOUR, day + 2 * 24 * HOUR + 7 * HOUR
    fresh = await store.latency_histograms(["a"], start, end)
    assert await cache.histograms(store, ["a"], start, end) == fresh
    assert await cache.histograms(store, ["a"], start, end) == fresh  # from the cache
    # Late samples on the cached day (the 2nd): the next answer has them.
    late = [row(day + 24 * HOUR + i * 10 * MIN, True, "a", 400.0) for i in range(1, 144, 5)]
    await store.ingest("eu-1", late, labels=None, now_ms=NOW)
    fresh_after = await store.latency_histograms(["a"], start, end)
    assert sum(fresh_after.values()) == sum(fresh.values()) + len(late)
    assert await cache.histograms(store, ["a"], start, end) == fresh_after
    # Three whole days through a cache of two: the least recently used goes, answers stay right.
    everything = await store.latency_histograms(["a"], day, day + 3 * 24 * HOUR)
    assert await cache.histograms(store, ["a"], day, day + 3 * 24 * HOUR) == everything
    assert len(cache._days) == 2


async def test_the_latency_cache_keeps_service_hours_of_each_day(store: Store) -> None:
    """An 8x5 SLA asks 08:00-18:00 of each day: those parts of days are cached too, and a late
    sample inside one of them is counted at once."""
    day = ms("2026-11-02T00:00:00Z")
    rows = [row(day + i * 10 * MIN, True, "a", 50.0 + i % 9) for i in range(2 * 144)]
    await store.ingest("eu-1", rows, labels=None, now_ms=NOW)
    cache = LatencyCache()
    parts = [(day + 8 * HOUR, day + 18 * HOUR), (day + 32 * HOUR, day + 42 * HOUR)]
    for start, end in parts * 2:
        assert await cache.histograms(store, ["a"], start, end) == (
            await store.latency_histograms(["a"], start, end)
        )
    assert len(cache._days) == 2
    await store.ingest("eu-1", [row(day + 9 * HOUR + 1, True, "a", 900.0)], labels=None,
                       now_ms=NOW)  # fmt: skip
    after = await cache.histograms(store, ["a"], *parts[0])
    assert after == await store.latency_histograms(["a"], *parts[0])
    assert sum(after.values()) == 61


# ------------------------------------------------------------------------------------ windows


def test_report_windows_name_their_period() -> None:
    sla = Sla(id="x", name="x", checks=("a",), objective=99.0, timezone="Europe/Paris")
    assert report_window(sla, NOW)[1] == "2026-11"
    assert report_window(sla, NOW, period="2026-w47")[1] == "2026-W47"
    assert report_window(sla, NOW, period="2026-11-27")[1] == "2026-11-27"
    window, name = report_window(
        sla, NOW, from_text="2026-11-01T00:00:00Z", to_text="2026-11-02T00:00:00Z"
    )
    assert (window, name) == (Window(ms("2026-11-01T00:00:00Z"), ms("2026-11-02T00:00:00Z")), None)
    assert report_window(sla, NOW, period="2026-10")[0] == Window(
        ms("2026-09-30T22:00:00Z"), ms("2026-10-31T23:00:00Z")
    )


@pytest.mark.parametrize(
    ("asked", "says"),
    [
        (
            {"period": "2026-11", "from_text": "2026-11-01T00:00:00Z"},
            "either period or from and to",
        ),
        ({"from_text": "1969-12-31T00:00:00Z", "to_text": "1970-01-02T00:00:00Z"}, "1970 to 9998"),
        (
            {"from_text": "2000-01-01T00:00:00Z", "to_text": "2026-01-01T00:00:00Z"},
            "at most 3660 days",
        ),
        ({"period": " 2026-11-27 "}, "period: must be like"),
        ({"from_text": "2026-11-01", "to_text": "2026-11-02T00:00:00Z"}, "from: must be an RFC"),
    ],
)
def test_report_windows_refuse_what_cannot_be_answered(asked: dict, says: str) -> None:
    sla = Sla(id="x", name="x", checks=("a",), objective=99.0)
    with pytest.raises(ValueError, match=says):
        report_window(sla, NOW, **asked)


def test_maintenance_in_a_window_lists_config_and_declared_windows_by_start() -> None:
    sla = Sla(id="x", name="x", checks=("a",), objective=99.0,
              maintenance=(RecurringMaintenance("day", time(2, 0), 600.0, "nightly"),))  # fmt: skip
    window = Window(ms("2026-11-01T00:00:00Z"), ms("2026-11-03T00:00:00Z"))
    declared = [
        DeclaredMaintenance(
            7, ("x", "y"), ms("2026-11-01T12:00:00Z"), ms("2026-11-01T13:00:00Z"), "r", NOW
        ),
        DeclaredMaintenance(
            8, ("y",), ms("2026-11-01T12:00:00Z"), ms("2026-11-01T13:00:00Z"), "r", NOW
        ),
        DeclaredMaintenance(
            9, ("x",), ms("2026-11-05T12:00:00Z"), ms("2026-11-05T13:00:00Z"), "r", NOW
        ),
    ]
    items = maintenance_in(sla, window, declared)
    assert [(i.source, i.id, i.start_ms) for i in items] == [
        ("config", None, ms("2026-11-01T02:00:00Z")),
        ("declared", 7, ms("2026-11-01T12:00:00Z")),
        ("config", None, ms("2026-11-02T02:00:00Z")),
    ]


# ------------------------------------------------------------------------ store: maintenance


async def test_declared_maintenance_is_stored_listed_by_sla_and_range_and_deleted(
    store: Store,
) -> None:
    first = await store.add_maintenance(["b", "a", "a"], 1000, 2000, "one", created_ms=5)
    second = await store.add_maintenance(["b"], 3000, 4000, "", created_ms=6)
    assert (first.slas, first.reason, second.id > first.id) == (("a", "b"), "one", True)
    assert await store.declared_maintenance() == [first, second]
    assert await store.declared_maintenance(["a"]) == [first]
    assert await store.declared_maintenance(["b"], 2000, 3001) == [second]
    assert await store.declared_maintenance(["b"], 2000, 3000) == []
    assert await store.declared_maintenance([]) == []
    assert await store.delete_maintenance(first.id) is True
    assert await store.delete_maintenance(first.id) is False
    assert await store.declared_maintenance(["a", "b"]) == [second]
    third = await store.add_maintenance(["a"], 1000, 2000, "again", created_ms=7)
    assert third.id > second.id  # ids are never reused


async def test_a_readonly_store_reads_while_the_collector_writes_and_cannot_write(
    store: Store, tmp_path: Path
) -> None:
    await store.add_maintenance(["a"], 1000, 2000, "one", created_ms=5)
    reader = create_store(tmp_path / "collector.db")
    await reader.open_readonly()
    try:
        assert [d.reason for d in await reader.declared_maintenance()] == ["one"]
        await store.add_maintenance(["a"], 3000, 4000, "two", created_ms=6)
        assert [d.reason for d in await reader.declared_maintenance()] == ["one", "two"]
        with pytest.raises(RuntimeError, match="not open"):
            await reader.add_maintenance(["a"], 1, 2, "x", created_ms=1)
    finally:
        await reader.close()


async def test_a_readonly_store_refuses_what_is_not_its_database(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await create_store(tmp_path / "missing.db").open_readonly()
    assert not (tmp_path / "missing.db").exists()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        await create_store(garbage).open_readonly()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(sqlite3.DatabaseError, match="not a slawatch database"):
        await create_store(other).open_readonly()


async def test_the_summary_of_no_sla_is_empty(store: Store) -> None:
    assert await summaries(store, [], NOW) == []
