"""The SLA engine (CONTRACT §4): state runs + SLA + window + now → the report of §4.6.

Pure: no I/O, no clock, no globals; the caller passes `now_ms` and the data. Every instant is an
int of Unix milliseconds, so every total is exact; seconds appear only in `Report.to_json`.

How a report is made, in the order of §4 (steps 1 to 3 in `engine.service_timeline`, the
latency figures in `engine.report_latency`):
1. `service_timeline` sweeps the sorted boundaries of every agent's runs (§4.1, clamped at now,
   §4.7), keeping per check the number of known and DOWN agents (§4.2) and per SLA the number of
   checks in each state (§4.3). Its cost grows with the number of runs, not of samples; one
   check seen by one agent (a service state already reduced to one timeline) needs no sweep.
2. `forgive` turns every maximal DOWN run shorter than `min_downtime` into UP (§4.4.1). An
   UNKNOWN stretch ends a DOWN run (§4.7); so does now, so an ongoing run is forgiven only until
   it reaches `min_downtime`.
3. Maintenance and the time outside service hours (§7, `hours`) are cut out (§4.4.2); the DOWN
   pieces left are the incidents (§4.5). A DOWN run that crosses a maintenance window or the
   end of service hours is two incidents, one on each side.
4. Totals over `[from, as_of)`, then UNKNOWN time as `unknown:` says (§4.4.3), then the figures
   of §4.6.

What runs the caller must pass: `history_range(sla, window, now_ms)` is the range to fetch (runs
of the SLA's checks overlapping it, whole, per agent, as the store returns them); pass it as
`history`. Forgiveness needs `min_downtime` of context on each side of the window; an incident
that crosses the edge of that range needs more for its `run_start`/`run_end`, and then
`Report.wider_history` names a wider range to fetch and compute again (it is None once the data
suffices; each round doubles the range, so it ends in a few rounds):

    history = history_range(sla, window, now_ms)
    while True:
        runs = await store.runs(sla.checks, history.start_ms, history.end_ms)
        report = compute_report(sla, runs, window, now_ms, history=history, ...)
        if report.wider_history is None:
            break
        history = report.wider_history

Without `history`, the runs are taken as complete: all the data there is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from slawatch.collector.engine.billing import credit_amount
from slawatch.collector.engine.hours import removed_time
from slawatch.collector.engine.incidents import FailingRuns, Runs, Spans
from slawatch.collector.engine.maintenance import DAY_MS, Interval, overlap_ms, seconds_to_ms
from slawatch.collector.engine.periods import Window, format_instant
from slawatch.collector.engine.report_latency import (
    LatencySource,
    LatencySummary,
    plain_number,
    summarize_latency,
)
from slawatch.collector.engine.service_timeline import (
    Segment,
    Timeline,
    cut_out,
    forgive,
    service_timeline,
)
from slawatch.collector.engine.states import State
from slawatch.collector.engine.timeline import Run
from slawatch.collector.engine.verdict import Verdict, allowed_downtime_s, judge
from slawatch.config.schema import Sla

# ----------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Incident:
    """A maximal DOWN run after forgiveness and maintenance (§4.5), clipped to the report."""

    start_ms: int
    end_ms: int | None
    """None while the outage is going on at now."""
    duration_ms: int
    run_start_ms: int
    run_end_ms: int | None
    """The whole run, unclipped; None while it goes on."""
    checks: tuple[str, ...]
    error: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": format_instant(self.start_ms),
            "end": None if self.end_ms is None else format_instant(self.end_ms),
            "duration_s": self.duration_ms / 1000,
            "run_start": format_instant(self.run_start_ms),
            "run_end": None if self.run_end_ms is None else format_instant(self.run_end_ms),
            "checks": list(self.checks),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Report:
    sla: Sla
    window: Window
    now_ms: int
    as_of_ms: int
    up_ms: int
    down_ms: int
    unknown_ms: int
    maintenance_ms: int
    """Maintenance (and exclusions) inside service hours, up to `as_of`."""
    future_ms: int
    """The part of the window after `as_of`, less its maintenance and time outside hours."""
    availability: float | None
    projected_availability: float | None
    """The availability if the rest of the window is up (§4.8); `availability` once complete."""
    met: bool | None
    verdict: Verdict
    """§4.8, see `slawatch.collector.engine.verdict`."""
    error_budget_s: float
    error_budget_remaining_s: float
    credit_percent: float
    """Of `availability` once complete, else of `projected_availability` (§4.8)."""
    latency: LatencySummary
    incidents: tuple[Incident, ...]
    missing_checks: tuple[str, ...]
    state: State
    """The service state (§4.3, before forgiveness) in the last millisecond before `as_of`."""
    measured_from_ms: int | None = None
    """The first instant of the window with a measured (UP or DOWN) service state, outside
    maintenance; None when there is none up to `as_of`."""
    unmeasured_before_ms: int = 0
    """The time without data from `from` until `measured_from_ms` (until `as_of` when nothing
    was measured), maintenance left out: how much of the window passed before monitoring began.
    Counted as `unknown:` says, like any time without data."""
    agents: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per check of the SLA, the agents with data in the window up to `as_of` (by id)."""
    wider_history: Interval | None = None
    """Set when `history` was too short for an incident's run_start/run_end: fetch this range."""
    outside_hours_ms: int = 0
    """Time of the window up to `as_of` outside service hours (§7), maintenance or not."""

    @property
    def stated_as_of_ms(self) -> int:
        """`as_of` as §4.6 states it, `min(to, now)`: before `from` for a window yet to come
        (whose totals, stopped at `as_of_ms`, are all zero)."""
        return min(self.window.to_ms, self.now_ms)

    @property
    def eligible_ms(self) -> int:
        return self.up_ms + self.down_ms

    @property
    def complete(self) -> bool:
        """`as_of == to` (§4.8): the window is over; a window in progress is judged by its
        budget (`verdict`)."""
        return self.as_of_ms == self.window.to_ms

    @property
    def calendar_error_budget_s(self) -> float:
        """The error budget had every instant of the window outside maintenance been measured:
        what the calendar allows. `error_budget_s` is smaller by the unknown time excluded
        (before monitoring began, or while no agent reported)."""
        measurable = self.eligible_ms + self.unknown_ms + self.future_ms
        return float(allowed_downtime_s(self.sla.objective, measurable))

    @property
    def error_budget_remaining_ratio(self) -> float | None:
        """Remaining over budget (1: untouched, 0: spent, below 0: overspent); None without a
        budget (objective 100 %, or no time at all)."""
        if self.error_budget_s <= 0:
            return None
        return self.error_budget_remaining_s / self.error_budget_s

    @property
    def credit_amount(self) -> Decimal | None:
        """`credit_percent` of the monthly fee prorated to the window (§7); None without a fee."""
        return credit_amount(
            self.sla.monthly_fee, self.credit_percent, self.window, self.sla.timezone
        )

    @property
    def open_incident(self) -> Incident | None:
        return next((i for i in self.incidents if i.end_ms is None), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "sla": self.sla.id,
            "customer": self.sla.customer,
            "name": self.sla.name,
            **self.figures_json(),
            "latency": self.latency.to_json(),
            "incidents": [incident.to_json() for incident in self.incidents],
        }

    def figures_json(self) -> dict[str, Any]:
        """The window and its figures (§4.6): what a report and an SLA's summary share."""
        return {
            "from": format_instant(self.window.from_ms),
            "to": format_instant(self.window.to_ms),
            "as_of": format_instant(self.stated_as_of_ms),
            "objective": plain_number(self.sla.objective),
            "up_s": self.up_ms / 1000,
            "down_s": self.down_ms / 1000,
            "unknown_s": self.unknown_ms / 1000,
            "maintenance_s": self.maintenance_ms / 1000,
            "outside_hours_s": self.outside_hours_ms / 1000,
            "eligible_s": self.eligible_ms / 1000,
            "availability": self.availability,
            "met": self.met,
            "error_budget_s": self.error_budget_s,
            "error_budget_remaining_s": self.error_budget_remaining_s,
            "credit_percent": plain_number(self.credit_percent),
            "credit_amount": None if self.credit_amount is None else float(self.credit_amount),
            "currency": self.sla.monthly_fee.currency if self.sla.monthly_fee else None,
            "missing_checks": list(self.missing_checks),
            "complete": self.complete,
            "future_s": self.future_ms / 1000,
            "projected_availability": self.projected_availability,
            "verdict": self.verdict,
        }


# ----------------------------------------------------------------------------- what to fetch


def history_range(sla: Sla, window: Window, now_ms: int) -> Interval:
    """The runs `compute_report` needs: those overlapping `[from − min_downtime, min(to +
    min_downtime, now))`. A DOWN run crossing an edge of the window is forgiven or not by its
    whole length; `min_downtime` of context on each side is enough to know which."""
    margin = seconds_to_ms(sla.min_downtime)
    start = window.from_ms - margin
    return Interval(start, max(start, min(window.to_ms + margin, now_ms)))


# ------------------------------------------------------------------------------------ report


def compute_report(
    sla: Sla,
    runs: Runs,
    window: Window,
    now_ms: int,
    *,
    declared_maintenance: Sequence[Interval] = (),
    latency: LatencySource | None = None,
    history: Interval | None = None,
    incidents: Literal["all", "open"] = "all",
) -> Report:
    """The report of §4.6 of `sla` over `window` as known at `now_ms`.

    `runs`: per check and agent, the runs overlapping `history` (see `history_range`), or all
    runs when `history` is None. `declared_maintenance`: windows declared at run time (the SLA's
    config windows are expanded here). `latency`: what `latency_plan` asked for. `incidents`:
    "open" lists only the incident going on at now, if any (what a summary shows); every
    figure and `wider_history` are the same either way.
    """
    as_of = window.as_of(now_ms)
    start, end = _domain(sla, runs, window, now_ms, history)
    timeline = service_timeline(sla, runs, start, end)
    judged = forgive(timeline.segments, seconds_to_ms(sla.min_downtime))
    span = Interval(min(start, window.from_ms), max(end, window.to_ms))
    holes, outside = removed_time(sla, span, declared_maintenance)
    pieces = list(cut_out(judged, holes))

    up, down = _up_and_down(pieces, window.from_ms, as_of)
    outside_ms = overlap_ms(outside, window.from_ms, as_of)
    maintenance = overlap_ms(holes, window.from_ms, as_of) - outside_ms
    unknown = (as_of - window.from_ms) - up - down - maintenance - outside_ms
    if sla.unknown == "up":
        up, unknown = up + unknown, 0
    elif sla.unknown == "down":
        down, unknown = down + unknown, 0
    future = (window.to_ms - as_of) - overlap_ms(holes, as_of, window.to_ms)
    judged_figures = judge(sla, up, down, future, complete=as_of == window.to_ms)
    measured_from, unmeasured_before = _measured_from(pieces, window.from_ms, as_of)
    agents = _agents_with_data(sla, runs, window.from_ms, min(as_of, now_ms))
    outages = _outages(pieces, window.from_ms, as_of)
    if incidents == "open":
        outages_shown = [p for p in outages if p.end_ms == now_ms and as_of == now_ms]
    else:
        outages_shown = outages
    listed = _incidents(sla, runs, outages_shown, window, as_of, now_ms=now_ms, timeline=timeline)
    return Report(
        sla=sla,
        window=window,
        now_ms=now_ms,
        as_of_ms=as_of,
        up_ms=up,
        down_ms=down,
        unknown_ms=unknown,
        maintenance_ms=maintenance,
        future_ms=future,
        availability=judged_figures.availability,
        projected_availability=judged_figures.projected_availability,
        met=judged_figures.met,
        verdict=judged_figures.verdict,
        error_budget_s=float(judged_figures.error_budget_s),
        error_budget_remaining_s=float(judged_figures.error_budget_remaining_s),
        credit_percent=judged_figures.credit_percent,
        latency=summarize_latency(sla, latency),
        incidents=tuple(listed),
        missing_checks=tuple(sorted(check for check, seen in agents.items() if not seen)),
        state=_state_before(timeline.segments, as_of),
        measured_from_ms=measured_from,
        unmeasured_before_ms=unmeasured_before,
        agents=agents,
        wider_history=_wider_history(history, outages, start, end, now_ms),
        outside_hours_ms=outside_ms,
    )


def _domain(
    sla: Sla, runs: Runs, window: Window, now_ms: int, history: Interval | None
) -> tuple[int, int]:
    """The range the timeline is computed over: the history given, or all the runs; to now."""
    if history is None:
        starts = (
            run.start_ms
            for check in sla.checks
            for agent_runs in runs.get(check, {}).values()
            for run in agent_runs[:1]
        )
        start = min(starts, default=window.from_ms)
        start = min(start, window.from_ms)
        return start, max(start, now_ms)
    needed = history_range(sla, window, now_ms)
    if history.start_ms > needed.start_ms or history.end_ms < needed.end_ms:
        raise ValueError(
            f"history {format_instant(history.start_ms)}–{format_instant(history.end_ms)} "
            f"does not cover {format_instant(needed.start_ms)}–{format_instant(needed.end_ms)}"
        )
    return history.start_ms, max(history.start_ms, min(history.end_ms, now_ms))


def _up_and_down(segments: Sequence[Segment], start_ms: int, end_ms: int) -> tuple[int, int]:
    """The UP and the DOWN time of `segments` inside `[start_ms, end_ms)`."""
    up = down = 0
    for segment in segments:
        if segment.end_ms <= start_ms or segment.start_ms >= end_ms:
            continue
        inside = min(segment.end_ms, end_ms) - max(segment.start_ms, start_ms)
        if segment.state is State.UP:
            up += inside
        elif segment.state is State.DOWN:
            down += inside
    return up, down


def _state_before(segments: Sequence[Segment], instant_ms: int) -> State:
    for segment in segments:
        if segment.start_ms < instant_ms <= segment.end_ms:
            return segment.state
    return State.UNKNOWN


def _agents_with_data(
    sla: Sla, runs: Runs, start_ms: int, end_ms: int
) -> dict[str, tuple[str, ...]]:
    """Per check of the SLA, the agents with a run lasting a while inside `[start_ms, end_ms)`;
    a check without any is a missing check (§4.7)."""

    def has_data(agent_runs: Sequence[Run]) -> bool:
        return start_ms < end_ms and any(
            run.start_ms < end_ms and run.end_ms > start_ms and run.start_ms < run.end_ms
            for run in agent_runs
        )

    return {
        check: tuple(
            sorted(a for a, agent_runs in runs.get(check, {}).items() if has_data(agent_runs))
        )
        for check in sorted(set(sla.checks))
    }


def _measured_from(pieces: Sequence[Segment], start_ms: int, end_ms: int) -> tuple[int | None, int]:
    """The first instant of `[start_ms, end_ms)` in an UP or DOWN piece (None if none), and the
    UNKNOWN time of the pieces before it (maintenance is not in `pieces`)."""
    unknown = 0
    for piece in pieces:
        if piece.end_ms <= start_ms or piece.start_ms >= end_ms:
            continue
        begin = max(piece.start_ms, start_ms)
        if piece.state is not State.UNKNOWN:
            return begin, unknown
        unknown += min(piece.end_ms, end_ms) - begin
    return None, unknown


# --------------------------------------------------------------------------------- incidents


def _outages(pieces: Sequence[Segment], start_ms: int, end_ms: int) -> list[Segment]:
    """The DOWN pieces overlapping `[start_ms, end_ms)`: the incidents, unclipped."""
    return [
        piece
        for piece in pieces
        if piece.state is State.DOWN and max(piece.start_ms, start_ms) < min(piece.end_ms, end_ms)
    ]


def _incidents(
    sla: Sla,
    runs: Runs,
    outages: Sequence[Segment],
    window: Window,
    as_of: int,
    *,
    now_ms: int,
    timeline: Timeline,
) -> list[Incident]:
    """The incidents of `outages` (see `_outages`); one that reaches now is going on."""
    if not outages:
        return []
    check_down = {check: Spans.of(down) for check, down in sorted(timeline.check_down.items())}
    failing = FailingRuns.of(runs, sla.checks)
    incidents: list[Incident] = []
    for piece in outages:
        start, end = max(piece.start_ms, window.from_ms), min(piece.end_ms, as_of)
        ongoing = piece.end_ms == now_ms
        checks = tuple(
            check
            for check, down in check_down.items()
            if down.first_overlapping(piece.start_ms, piece.end_ms)
        )
        incidents.append(
            Incident(
                start_ms=start,
                end_ms=None if ongoing and as_of == now_ms else end,
                duration_ms=end - start,
                run_start_ms=piece.start_ms,
                run_end_ms=None if ongoing else piece.end_ms,
                checks=checks,
                error=failing.first_error(checks, piece.start_ms, piece.end_ms),
            )
        )
    return incidents


def _wider_history(
    history: Interval | None,
    outages: Sequence[Segment],
    start_ms: int,
    end_ms: int,
    now_ms: int,
) -> Interval | None:
    """A wider range when an incident's run (an outage, see `_outages`) is cut by the edge of
    the history given; one going on at now has no end to find."""
    if history is None:
        return None
    before = any(piece.start_ms <= start_ms for piece in outages)
    after = end_ms < now_ms and any(
        piece.end_ms != now_ms and piece.end_ms >= end_ms for piece in outages
    )
    if not (before or after):
        return None
    grow = max(history.duration_ms, DAY_MS)
    return Interval(
        history.start_ms - grow if before else history.start_ms,
        min(history.end_ms + grow, now_ms) if after else history.end_ms,
    )
