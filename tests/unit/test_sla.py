"""The SLA engine, one rule of CONTRACT §4 at a time, with numbers computed by hand.

Traces are written as strings, one character per interval of 60 s from a start: `u` an ok
sample, `d` a failing one, `.` no sample. A sample covers until the next one, at most two
intervals (§4.1), so a single `.` is still covered and `..` leaves one interval UNKNOWN.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import pytest

from slawatch.collector.engine.latency import bucket_value
from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import Window, format_instant, window_for_period
from slawatch.collector.engine.report_latency import LatencySource, latency_plan, summarize_latency
from slawatch.collector.engine.sla import compute_report, history_range
from slawatch.collector.engine.states import State
from slawatch.collector.engine.timeline import Run, SampleState, build_runs
from slawatch.config.schema import CreditTier, LatencyObjective, OneOffMaintenance, Sla
from tests.support import ms

S = 1000
MIN = 60 * S
T0 = round(datetime.fromisoformat("2026-11-01T00:00:00Z").timestamp() * 1000)
"""The start of every window below, unless said otherwise."""
HOUR_MS = 3600 * S
HOUR_WINDOW = Window(T0, T0 + HOUR_MS)


def trace(start_s: int, pattern: str, error: str = "timeout", interval_s: int = 60) -> list[Run]:
    states = [
        SampleState(T0 + (start_s + n * interval_s) * S, char == "u", interval_s * S, error)
        for n, char in enumerate(pattern)
        if char != "."
    ]
    return build_runs(states)


def sla(**changes: object) -> Sla:
    fields: dict = {"id": "web", "name": "Web", "checks": ("web",), "objective": 99.9}
    fields.update(changes)
    return Sla(customer="acme", **fields)


def report(
    the_sla: Sla,
    runs: Mapping[str, Mapping[str, list[Run]]],
    now_s: int,
    window: Window = HOUR_WINDOW,
    **options: object,
):
    return compute_report(the_sla, runs, window, T0 + now_s * S, **options)


def one(pattern: str, start_s: int = 0, **kwargs: object) -> dict[str, dict[str, list[Run]]]:
    return {"web": {"eu": trace(start_s, pattern, **kwargs)}}


# --------------------------------------------------------------------------- 4.1 coverage


def test_a_sample_covers_until_the_next_but_at_most_two_intervals() -> None:
    # Samples at 0, 60 and 240 s. The one at 60 covers [60, 180) (2 intervals), so [180, 240)
    # is UNKNOWN; the one at 240 covers [240, 360). At now = 600: up = 60 + 120 + 120 = 300 s,
    # unknown = 600 - 300 = 300 s.
    result = report(sla(), one("uu..u"), now_s=600)
    assert (result.up_ms, result.down_ms, result.unknown_ms) == (300 * S, 0, 300 * S)
    assert result.availability == 100.0


def test_the_timeline_ends_at_now() -> None:
    # One sample at 0 (interval 60 s) would cover [0, 120); at now = 90 s it covers [0, 90).
    result = report(sla(), one("u"), now_s=90)
    assert (result.as_of_ms, result.up_ms, result.unknown_ms) == (T0 + 90 * S, 90 * S, 0)


def test_samples_from_the_future_count_for_nothing_yet() -> None:
    # The sample at 120 s is 30 s ahead of now = 90 s (agents may be slightly ahead).
    result = report(sla(), one("dud"), now_s=90)
    assert (result.up_ms, result.down_ms) == (30 * S, 60 * S)


# ----------------------------------------------------------------------------- 4.2 quorum


@pytest.mark.parametrize(
    ("quorum", "down_s"),
    [("any", 600), ("majority", 600), ("all", 0), (2, 600), (3, 0), (1, 600)],
)
def test_quorum_over_three_agents_two_of_them_down(quorum: object, down_s: int) -> None:
    # k = 3 agents, d = 2 DOWN for 600 s: any d ≥ 1; majority 2d = 4 > 3; all d = k? no;
    # N = 2: d ≥ min(2, 3); N = 3: d ≥ 3? no.
    runs = {"web": {"a": trace(0, "d" * 10), "b": trace(0, "d" * 10), "c": trace(0, "u" * 10)}}
    result = report(sla(quorum=quorum), runs, now_s=600)
    assert (result.down_ms, result.up_ms) == (down_s * S, (600 - down_s) * S)


@pytest.mark.parametrize(
    ("quorum", "down_s"),
    [("any", 600), ("majority", 0), ("all", 0), (2, 0), (3, 0), (1, 600)],
)
def test_quorum_counts_only_agents_that_know(quorum: object, down_s: int) -> None:
    # Agent c has no data: k = 2, d = 1. majority 2d = 2 > 2? no; all d = k? no;
    # N = 2: d ≥ min(2, 2)? no; N = 3: d ≥ min(3, 2) = 2? no; N = 1 and any: yes.
    runs = {"web": {"a": trace(0, "d" * 10), "b": trace(0, "u" * 10), "c": []}}
    result = report(sla(quorum=quorum), runs, now_s=600)
    assert (result.down_ms, result.up_ms) == (down_s * S, (600 - down_s) * S)


def test_all_agents_unknown_is_unknown() -> None:
    # Agent a covers [0, 120), agent b [300, 420); in between nobody knows.
    runs = {"web": {"a": trace(0, "d"), "b": trace(300, "d")}}
    result = report(sla(quorum="majority"), runs, now_s=600)
    assert (result.down_ms, result.unknown_ms) == (240 * S, 360 * S)


# ---------------------------------------------------------------------------- 4.3 require


@pytest.mark.parametrize(
    ("require", "db", "expected"),
    [
        # web is UP for [0, 600); db is DOWN, UNKNOWN (no data), or DOWN only for [0, 300).
        ("all", "dddddddddd", (0, 600, 0)),
        ("any", "dddddddddd", (600, 0, 0)),
        ("all", "", (0, 0, 600)),
        ("any", "", (600, 0, 0)),
        ("all", "ddddduuuuu", (300, 300, 0)),
    ],
)
def test_require_all_or_any(require: str, db: str, expected: tuple[int, int, int]) -> None:
    runs = {"web": {"eu": trace(0, "u" * 10)}, "db": {"eu": trace(0, db)}}
    result = report(sla(checks=("web", "db"), require=require), runs, now_s=600)
    assert (result.up_ms, result.down_ms, result.unknown_ms) == tuple(s * S for s in expected)


def test_require_any_is_down_only_when_no_check_is_up() -> None:
    # web DOWN [0, 600); db UNKNOWN [0, 300) then DOWN [300, 600): DOWN all along
    # (no check UP, one DOWN), so 600 s down.
    runs = {"web": {"eu": trace(0, "d" * 10)}, "db": {"eu": trace(300, "d" * 5)}}
    result = report(sla(checks=("web", "db"), require="any"), runs, now_s=600)
    assert (result.down_ms, result.unknown_ms) == (600 * S, 0)


# --------------------------------------------------------------------- 4.4 (1) min_downtime


@pytest.mark.parametrize(("min_downtime", "down_s"), [(119.999, 120), (120.0, 120), (120.001, 0)])
def test_down_runs_shorter_than_min_downtime_are_forgiven(min_downtime: float, down_s: int) -> None:
    # DOWN for [180, 300) = 120 s: kept when min_downtime ≤ 120 s, forgiven (UP) above.
    result = report(sla(min_downtime=min_downtime), one("uuudduuu"), now_s=480)
    assert (result.down_ms, result.up_ms) == (down_s * S, (480 - down_s) * S)
    assert len(result.incidents) == (1 if down_s else 0)


def test_min_downtime_measures_the_whole_run_not_the_part_in_the_window() -> None:
    # Samples every 60 s from T0 - 240 s: DOWN for [-120, 60) = 180 s ≥ 150 s, so the 60 s of
    # it inside the window count, though 60 s alone would be forgiven.
    runs = one("uuddduuuu", start_s=-240)
    result = report(sla(min_downtime=150.0), runs, now_s=240)
    assert (result.down_ms, result.up_ms) == (60 * S, 180 * S)
    (incident,) = result.incidents
    assert (incident.start_ms, incident.end_ms, incident.duration_ms) == (T0, T0 + 60 * S, 60 * S)
    assert (incident.run_start_ms, incident.run_end_ms) == (T0 - 120 * S, T0 + 60 * S)


@pytest.mark.parametrize(("now_s", "down_s"), [(539, 0), (540, 300), (541, 301)])
def test_an_ongoing_run_is_forgiven_only_until_it_reaches_min_downtime(
    now_s: int, down_s: int
) -> None:
    # DOWN from 240 s on (samples every 60 s up to 600 s); min_downtime 300 s. At now = 539 s
    # the run has lasted 299 s: forgiven. At 540 s it has lasted 300 s and counts whole.
    result = report(sla(min_downtime=300.0), one("uuuu" + "d" * 7), now_s=now_s)
    assert result.down_ms == down_s * S
    assert result.up_ms == (now_s - down_s) * S
    if down_s:
        (incident,) = result.incidents
        assert (incident.end_ms, incident.run_end_ms) == (None, None)
        assert incident.to_json()["end"] is None


def test_an_unknown_stretch_splits_down_runs() -> None:
    # DOWN [0, 180), UNKNOWN [180, 300), DOWN [300, 480): two runs of 180 s, not one of 360 s.
    runs = one("dd...dd")
    forgiven = report(sla(min_downtime=200.0), runs, now_s=480)
    assert (forgiven.up_ms, forgiven.down_ms, forgiven.unknown_ms) == (360 * S, 0, 120 * S)
    assert forgiven.incidents == ()
    kept = report(sla(min_downtime=180.0), runs, now_s=480)
    assert kept.down_ms == 360 * S
    assert [(i.start_ms, i.end_ms) for i in kept.incidents] == [
        (T0, T0 + 180 * S),
        (T0 + 300 * S, None),
    ]


# ---------------------------------------------------------------------- 4.4 (2) maintenance


def maintenance_at(start_s: int, end_s: int) -> OneOffMaintenance:
    return OneOffMaintenance((T0 + start_s * S) / 1000, (T0 + end_s * S) / 1000, "upgrade")


def test_maintenance_is_neither_up_down_nor_unknown_and_splits_incidents() -> None:
    # DOWN for [0, 600) with maintenance [120, 300): 420 s down, 180 s maintenance, and two
    # incidents: [0, 120) and [300, now) still going on. min_downtime 500 s is measured on the
    # whole 600 s run, before maintenance is cut out, so nothing is forgiven.
    the_sla = sla(min_downtime=500.0, maintenance=(maintenance_at(120, 300),))
    result = report(the_sla, one("d" * 10), now_s=600)
    assert (result.down_ms, result.maintenance_ms, result.unknown_ms) == (420 * S, 180 * S, 0)
    assert [(i.start_ms, i.end_ms, i.duration_ms) for i in result.incidents] == [
        (T0, T0 + 120 * S, 120 * S),
        (T0 + 300 * S, None, 300 * S),
    ]


def test_maintenance_also_removes_unknown_time_and_declared_windows_count() -> None:
    # No data at all; maintenance [0, 600) from config, [900, 1200) declared at run time.
    # Window up to now = 1800 s: 900 s maintenance, 900 s unknown.
    declared = [Interval(T0 + 900 * S, T0 + 1200 * S)]
    the_sla = sla(maintenance=(maintenance_at(0, 600),))
    result = report(the_sla, {}, now_s=1800, declared_maintenance=declared)
    assert (result.maintenance_ms, result.unknown_ms) == (900 * S, 900 * S)


# -------------------------------------------------------------------------- 4.4 (3) unknown


@pytest.mark.parametrize(
    ("mode", "up_s", "down_s", "unknown_s", "availability"),
    [
        # UP [0, 60), DOWN [60, 180), UNKNOWN [180, 300), UP [300, 420): 180 s up, 120 s
        # down, 120 s unknown, which `up` and `down` add to up or down.
        ("exclude", 180, 120, 120, 60.0),
        ("up", 300, 120, 0, 100 * 300 / 420),
        ("down", 180, 240, 0, 100 * 180 / 420),
    ],
)
def test_unknown_time_counts_as_the_sla_says(
    mode: str, up_s: int, down_s: int, unknown_s: int, availability: float
) -> None:
    result = report(sla(unknown=mode), one("ud...u"), now_s=420)
    assert (result.up_ms, result.down_ms, result.unknown_ms) == (
        up_s * S,
        down_s * S,
        unknown_s * S,
    )
    assert result.availability == availability
    # Incidents come before 4.4 (3): unknown time counted DOWN is no incident.
    assert [(i.start_ms, i.end_ms) for i in result.incidents] == [(T0 + 60 * S, T0 + 180 * S)]


# ------------------------------------------------------------------------------ 4.5 incidents


def test_an_incident_names_the_checks_down_and_the_first_error() -> None:
    # web/eu fails from 60 s ("timeout"), db/us from 120 s ("refused"); require all, quorum any:
    # the service is DOWN from 60 s to 300 s, both checks DOWN in it, the first error at 60 s.
    runs = {
        "web": {"eu": trace(0, "uddduuu", error="timeout"), "us": trace(0, "uuuuuuu")},
        "db": {"us": trace(0, "uuddduu", error="refused")},
    }
    result = report(sla(checks=("web", "db"), quorum="any"), runs, now_s=420)
    (incident,) = result.incidents
    assert incident.to_json() == {
        "start": "2026-11-01T00:01:00Z",
        "end": "2026-11-01T00:05:00Z",
        "duration_s": 240.0,
        "run_start": "2026-11-01T00:01:00Z",
        "run_end": "2026-11-01T00:05:00Z",
        "checks": ["db", "web"],
        "error": "timeout",
    }


def test_the_first_error_is_of_the_run_that_started_the_incident() -> None:
    # Quorum all: eu fails alone from 30 s ("eu is cut off"), us from 120 s ("503"): the check is
    # DOWN from 120 s, and the incident's earliest failing sample is us's at 120 s (eu's next one
    # is at 150 s). eu's stale error, from before the incident, does not name it.
    runs = {
        "web": {
            "eu": trace(30, "ddddd", error="eu is cut off"),
            "us": trace(0, "uuddd", error="503"),
        }
    }
    result = report(sla(quorum="all"), runs, now_s=300)
    (incident,) = result.incidents
    assert (incident.start_ms, incident.error) == (T0 + 120 * S, "503")


def test_without_a_run_starting_inside_the_error_is_of_the_earliest_overlapping_one() -> None:
    # Quorum majority of the agents that know: eu fails from 0 s; us is UP until its coverage
    # ends at 240 s (last sample at 120 s), then eu alone knows: DOWN from 240 s, no run starts
    # inside, and eu's failing run gives the error.
    runs = {
        "web": {
            "eu": trace(0, "ddddddd", error="eu saw it"),
            "us": trace(0, "uuu", error="unused"),
        }
    }
    result = report(sla(), runs, now_s=400)
    (incident,) = result.incidents
    assert (incident.start_ms, incident.error) == (T0 + 240 * S, "eu saw it")


def test_a_check_down_below_its_quorum_is_not_named() -> None:
    # db/eu fails but db/us and db/ap do not: db stays UP by majority; web is DOWN.
    runs = {
        "web": {"eu": trace(0, "ddd")},
        "db": {"eu": trace(0, "ddd"), "us": trace(0, "uuu"), "ap": trace(0, "uuu")},
    }
    result = report(sla(checks=("web", "db")), runs, now_s=180)
    assert [i.checks for i in result.incidents] == [("web",)]


def test_an_incident_across_the_end_of_a_past_window_is_clipped_and_still_open() -> None:
    # DOWN from 3000 s on, still at now = 5000 s; the window ends at 3600 s.
    runs = one("u" * 50 + "d" * 34)
    result = report(sla(), runs, now_s=5000)
    (incident,) = result.incidents
    assert (incident.start_ms, incident.end_ms, incident.duration_ms) == (
        T0 + 3000 * S,
        T0 + 3600 * S,
        600 * S,
    )
    assert (incident.run_start_ms, incident.run_end_ms) == (T0 + 3000 * S, None)


# ------------------------------------------------------------------------------ 4.6 report


def test_the_contract_example() -> None:
    # November 2026, as of the 27th at 10:00: 26 days 10 hours = 2,282,400 s elapsed, of which
    # 7,200 s maintenance (8th, 02:00-04:00) and 120 s DOWN. up = 2,282,400 - 7,200 - 120 =
    # 2,275,080 s; eligible 2,275,200 s; availability 100 · 2,275,080 / 2,275,200.
    # future = 30 days - elapsed = 2,592,000 - 2,282,400 = 309,600 s;
    # budget = 0.1 % of (2,275,200 + 309,600) = 2,584.8 s; remaining = 2,584.8 - 120 = 2,464.8 s.
    now = ms("2026-11-27T10:00:00Z")
    outage = ms("2026-11-20T13:00:00Z")
    runs = {
        "acme-web": {
            "eu-1": [
                Run(T0, outage, True, None, outage - 30 * S, 30 * S, 1000),
                Run(outage, outage + 120 * S, False, "HTTP 503", outage + 90 * S, 30 * S, 4),
                Run(outage + 120 * S, now + 30 * S, True, None, now - 30 * S, 30 * S, 1000),
            ]
        }
    }
    the_sla = Sla(
        id="acme-website",
        name="ACME website",
        customer="acme",
        checks=("acme-web",),
        objective=99.9,
        latency=LatencyObjective(0.8, 95.0),
        maintenance=(
            OneOffMaintenance(
                ms("2026-11-08T02:00:00Z") / 1000, ms("2026-11-08T04:00:00Z") / 1000, "kernel"
            ),
        ),
        credits=(CreditTier(99.9, 10.0), CreditTier(99.0, 25.0), CreditTier(95.0, 100.0)),
    )
    latencies = LatencySource([80.1] * 50 + [130.2] * 45 + [250.0] * 5)
    result = compute_report(
        the_sla, runs, window_for_period("2026-11", "UTC"), now, latency=latencies
    )
    assert result.to_json() == {
        "sla": "acme-website",
        "customer": "acme",
        "name": "ACME website",
        "from": "2026-11-01T00:00:00Z",
        "to": "2026-12-01T00:00:00Z",
        "as_of": "2026-11-27T10:00:00Z",
        "objective": 99.9,
        "up_s": 2275080.0,
        "down_s": 120.0,
        "unknown_s": 0.0,
        "maintenance_s": 7200.0,
        "outside_hours_s": 0.0,
        "eligible_s": 2275200.0,
        "availability": 99.99472573839662,
        "met": True,
        "error_budget_s": 2584.8,
        "error_budget_remaining_s": 2464.8,
        "credit_percent": 0,
        "credit_amount": None,
        "currency": None,
        "latency": {
            # Nearest rank of 100 values: p50 is the 50th (80.1), p95 the 95th (130.2),
            # p99 the 99th (250.0).
            "count": 100,
            "p50_ms": 80.1,
            "p95_ms": 130.2,
            "p99_ms": 250.0,
            "objective_ms": 800,
            "objective_percentile": 95,
            "met": True,
        },
        "incidents": [
            {
                "start": "2026-11-20T13:00:00Z",
                "end": "2026-11-20T13:02:00Z",
                "duration_s": 120.0,
                "run_start": "2026-11-20T13:00:00Z",
                "run_end": "2026-11-20T13:02:00Z",
                "checks": ["acme-web"],
                "error": "HTTP 503",
            }
        ],
        "missing_checks": [],
        # §4.8: 3 d 14 h of November are still to come; if they are up, 99.9954 %.
        "complete": False,
        "future_s": 309600.0,
        "projected_availability": 100 * (2275080 + 309600) / (2275200 + 309600),
        "verdict": "on_track",
    }
    assert (result.state, result.open_incident) == (State.UP, None)


@pytest.mark.parametrize(
    ("down_s", "credit"),
    # Of 1000 s: 1 s down → 99.9 % (not below 99.9); 2 s → 99.8 % (< 99.9: 10);
    # 10 s → 99.0 % (< 99.9 but not < 99.0: 10); 20 s → 98.0 % (25); 60 s → 94.0 % (100).
    [(0, 0), (1, 0), (2, 10), (10, 10), (20, 25), (60, 100)],
)
def test_credit_is_the_largest_tier_below(down_s: int, credit: float) -> None:
    tiers = (CreditTier(99.9, 10.0), CreditTier(99.0, 25.0), CreditTier(95.0, 100.0))
    runs = {"web": {"eu": [Run(T0, T0 + 1000 * S, True, None, T0, 1000 * S)]}}
    if down_s:
        runs = {
            "web": {
                "eu": [
                    Run(T0, T0 + down_s * S, False, "x", T0, 1000 * S),
                    Run(T0 + down_s * S, T0 + 1000 * S, True, None, T0, 1000 * S),
                ]
            }
        }
    result = report(sla(credits=tiers), runs, now_s=1000, window=Window(T0, T0 + 1000 * S))
    assert result.complete
    assert result.availability == 100 * (1000 - down_s) / 1000
    assert result.credit_percent == credit
    assert result.met == (down_s <= 1)


def test_without_eligible_time_availability_and_met_are_null() -> None:
    # No data: everything excluded as unknown; a past window, so no future budget either.
    result = report(sla(credits=(CreditTier(99.9, 10.0),)), {}, now_s=7200)
    body = result.to_json()
    assert (body["availability"], body["met"], body["credit_percent"]) == (None, None, 0)
    assert (body["eligible_s"], body["unknown_s"], body["error_budget_s"]) == (0.0, 3600.0, 0.0)
    assert body["missing_checks"] == ["web"]


def test_the_error_budget_is_of_the_whole_period_less_future_maintenance() -> None:
    # Window [0, 10000 s), now 1000 s: 970 s up, 30 s down. The future is 9000 s, 1000 s of
    # it under maintenance: 8000 s. Budget = 1 % of (1000 + 8000) = 90 s; remaining 60 s.
    window = Window(T0, T0 + 10_000 * S)
    the_sla = sla(objective=99.0, maintenance=(maintenance_at(5000, 6000),))
    runs = {
        "web": {
            "eu": [
                Run(T0, T0 + 970 * S, True, None, T0, 60 * S),
                Run(T0 + 970 * S, T0 + 1000 * S, False, "x", T0, 60 * S),
            ]
        }
    }
    result = report(the_sla, runs, now_s=1000, window=window)
    assert (result.future_ms, result.error_budget_s, result.error_budget_remaining_s) == (
        8000 * S,
        90.0,
        60.0,
    )
    assert result.error_budget_remaining_ratio == 60 / 90
    assert result.open_incident is not None
    assert result.state is State.DOWN
    perfect = report(sla(objective=100.0), runs, now_s=1000, window=window)
    assert (perfect.error_budget_s, perfect.error_budget_remaining_ratio) == (0.0, None)


def test_missing_checks_are_named_and_make_require_all_unknown() -> None:
    # db had data, but only before the window.
    runs = {"web": {"eu": trace(0, "u" * 10)}, "db": {"eu": trace(-600, "u")}}
    result = report(sla(checks=("web", "db")), runs, now_s=600)
    assert result.missing_checks == ("db",)
    assert (result.up_ms, result.unknown_ms, result.availability) == (0, 600 * S, None)


def test_times_carry_milliseconds_only_when_needed() -> None:
    window = Window(T0 + 1500, T0 + 3600 * S)
    body = report(sla(), one("dd"), now_s=100, window=window).to_json()
    assert (body["from"], body["as_of"]) == ("2026-11-01T00:00:01.500Z", "2026-11-01T00:01:40Z")
    assert body["down_s"] == 98.5
    assert body["incidents"][0]["start"] == "2026-11-01T00:00:01.500Z"


def test_a_dst_day_has_23_hours_to_be_up() -> None:
    # 29 March 2026 in Paris: from 23:00Z on the 28th to 22:00Z on the 29th, 82,800 s.
    window = window_for_period("2026-03-29", "Europe/Paris")
    runs = {
        "web": {"eu": [Run(window.from_ms - HOUR_MS, window.to_ms + HOUR_MS, True, None, 0, 1)]}
    }
    result = compute_report(sla(timezone="Europe/Paris"), runs, window, window.to_ms + 10 * HOUR_MS)
    assert result.to_json()["up_s"] == 82_800.0


def test_a_future_window_is_empty_but_has_its_budget() -> None:
    # The window starts 1000 s after now: nothing elapsed, all 3600 s ahead.
    window = Window(T0 + 1000 * S, T0 + 4600 * S)
    result = report(sla(objective=99.0), one("u" * 10), now_s=0, window=window)
    assert (result.as_of_ms, result.up_ms, result.unknown_ms) == (window.from_ms, 0, 0)
    assert result.error_budget_s == 36.0
    assert result.to_json()["as_of"] == format_instant(T0), "as §4.6 states it: min(to, now)"


# -------------------------------------------------------------------------------- latency


def test_percentiles_by_nearest_rank() -> None:
    # 1..100 ms: the p-th percentile is the ceil(p/100 · 100)-th value.
    values = [float(v) for v in range(100, 0, -1)]
    summary = summarize_latency(sla(latency=LatencyObjective(0.095, 95.0)), LatencySource(values))
    assert (summary.count, summary.p50_ms, summary.p95_ms, summary.p99_ms) == (
        100,
        50.0,
        95.0,
        99.0,
    )
    assert (summary.objective_ms, summary.met) == (95.0, True)
    stricter = summarize_latency(sla(latency=LatencyObjective(0.0949, 95.0)), LatencySource(values))
    assert stricter.met is False


def test_an_objective_percentile_of_99_9_needs_the_exact_rank() -> None:
    # 1000 values: rank ceil(99.9/100 · 1000) = 999 exactly (not 1000 by float error).
    values = [float(v) for v in range(1, 1001)]
    summary = summarize_latency(sla(latency=LatencyObjective(0.999, 99.9)), LatencySource(values))
    assert (summary.value_ms, summary.met) == (999.0, True)


def test_raw_values_and_histogram_buckets_merge_in_order() -> None:
    # Raw 10 and 30 ms, and 3 samples in the bucket of ~20 ms: ranks 1 = 10, 2..4 = the
    # bucket's value, 5 = 30. p50 is rank 3; p95 and p99 rank 5.
    bucket = 152  # 1.02^151 ≈ 19.8 < x ≤ 1.02^152 ≈ 20.2
    source = LatencySource([30.0, 10.0], {bucket: 3})
    summary = summarize_latency(sla(), source)
    assert summary.count == 5
    assert summary.p50_ms == bucket_value(bucket)
    assert 19.8 < summary.p50_ms < 20.2
    assert (summary.p95_ms, summary.p99_ms) == (30.0, 30.0)
    assert summarize_latency(sla(), LatencySource([], {bucket: 3, 10: 1})).p50_ms == bucket_value(
        bucket
    )


def test_latency_without_objective_or_samples() -> None:
    body = summarize_latency(sla(), None).to_json()
    assert body == {
        "count": 0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "objective_ms": None,
        "objective_percentile": None,
        "met": None,
    }
    with_objective = summarize_latency(sla(latency=LatencyObjective(0.8)), LatencySource([]))
    assert (with_objective.objective_ms, with_objective.met) == (800.0, None)


def test_the_latency_plan_reads_whole_hours_from_histograms() -> None:
    # Window 00:30 to 06:00, now 05:15, maintenance 02:10-02:20 (config) and 04:00-04:30
    # (declared): raw for the partial hours at the edges and around maintenance, histograms
    # for the whole hours.
    window = Window(ms("2026-11-01T00:30:00Z"), ms("2026-11-01T06:00:00Z"))
    the_sla = sla(
        maintenance=(
            OneOffMaintenance(ms("2026-11-01T02:10:00Z") / 1000, ms("2026-11-01T02:20:00Z") / 1000),
        )
    )
    declared = [Interval(ms("2026-11-01T04:00:00Z"), ms("2026-11-01T04:30:00Z"))]
    now = ms("2026-11-01T05:15:00Z")
    plan = latency_plan(the_sla, window, now, declared)

    def minutes(intervals: tuple[Interval, ...]) -> list[tuple[int, int]]:
        """In minutes after 00:00."""
        return [((i.start_ms - T0) // MIN, (i.end_ms - T0) // MIN) for i in intervals]

    assert minutes(plan.raw) == [(30, 60), (120, 130), (140, 180), (270, 315)]
    assert minutes(plan.hourly) == [(60, 120), (180, 240)]
    raw_only = latency_plan(the_sla, window, now, declared, hourly=False)
    assert minutes(raw_only.raw) == [(30, 130), (140, 240), (270, 315)]
    assert raw_only.hourly == ()


# ---------------------------------------------------------------------- what to fetch, errors


def test_history_is_min_downtime_around_the_window_up_to_now() -> None:
    the_sla = sla(min_downtime=300.0)
    assert history_range(the_sla, HOUR_WINDOW, T0 + 600 * S) == Interval(T0 - 300 * S, T0 + 600 * S)
    assert history_range(the_sla, HOUR_WINDOW, T0 + 9999 * S) == Interval(
        T0 - 300 * S, T0 + 3900 * S
    )


def test_a_short_history_asks_for_a_wider_one_until_the_incident_is_whole() -> None:
    # DOWN from -7200 s to 120 s: the incident's run starts long before the history range.
    runs = one("u" + "d" * 122 + "uu", start_s=-7260)
    the_sla = sla(min_downtime=60.0)
    history = history_range(the_sla, HOUR_WINDOW, T0 + 240 * S)
    # Each round grows the range by its length, at least a day: one round reaches -7200 s.
    for rounds in range(5):  # noqa: B007 (read after the loop)
        fetched = {
            "web": {
                "eu": [
                    r
                    for r in runs["web"]["eu"]
                    if r.start_ms < history.end_ms and r.end_ms > history.start_ms
                ]
            }
        }
        result = report(the_sla, fetched, now_s=240, history=history)
        if result.wider_history is None:
            break
        assert result.wider_history.start_ms < history.start_ms
        history = result.wider_history
    assert (rounds, result.wider_history) == (1, None)
    (incident,) = result.incidents
    assert (incident.run_start_ms, incident.run_end_ms) == (T0 - 7200 * S, T0 + 120 * S)
    assert result.to_json() == report(the_sla, runs, now_s=240).to_json()


def test_a_history_that_does_not_cover_the_window_is_refused() -> None:
    with pytest.raises(ValueError, match="does not cover"):
        report(sla(min_downtime=60.0), {}, now_s=600, history=Interval(T0, T0 + 600 * S))


def test_overlapping_runs_are_refused_with_where() -> None:
    runs = {"web": {"eu": [Run(T0, T0 + 120 * S, True, None, T0, 60 * S), *trace(60, "d")]}}
    with pytest.raises(ValueError, match=r"check 'web' by agent 'eu' overlap .*T00:01:00Z"):
        report(sla(), runs, now_s=600)
