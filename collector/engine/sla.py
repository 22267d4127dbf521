"""The SLA engine (CONTRACT §4): state runs + SLA + window + now → the report of §4.6.

Pure: no I/O, no clock, no globals; the caller passes `now_ms` and the data. Every instant is an
int of Unix milliseconds, so every total is exact; seconds appear only in `Report.to_json`.

How a report is made, in the order of §4:
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

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import itemgetter
from typing import Any, Literal

from slawatch.collector.engine.billing import credit_amount
from slawatch.collector.engine.hours import outside_hours
from slawatch.collector.engine.incidents import FailingRuns, Runs, Spans
from slawatch.collector.engine.latency import RankedLatencies
from slawatch.collector.engine.maintenance import (
    Interval,
    maintenance_intervals,
    merge,
    overlap_ms,
    seconds_to_ms,
    subtract,
)
from slawatch.collector.engine.periods import Window, format_instant
from slawatch.collector.engine.states import State, quorum_of, service_state
from slawatch.collector.engine.timeline import Run
from slawatch.collector.engine.verdict import Verdict, allowed_downtime_s, judge
from slawatch.config.schema import Quorum, Sla

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

REPORTED_PERCENTILES = (50, 95, 99)


# ------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class LatencySource:
    """The `latency_ms` of the ok samples `latency_plan` asked for: raw values and histograms."""

    values: Sequence[float] = ()
    """Raw latencies of the plan's `raw` ranges."""
    buckets: Mapping[int, int] = field(default_factory=dict)
    """Bucket (`slawatch.collector.engine.latency`) → count, merged over the plan's `hourly`
    ranges."""


@dataclass(frozen=True, slots=True)
class LatencyPlan:
    """Where the latencies of a report come from: raw values for `raw` ranges (partial hours at
    the edges and around maintenance), merged hourly histograms for `hourly` (whole UTC hours).
    Together they cover `[from, as_of)` outside maintenance, each instant once."""

    raw: tuple[Interval, ...]
    hourly: tuple[Interval, ...]


# ----------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Segment:
    start_ms: int
    end_ms: int
    state: State

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(frozen=True, slots=True)
class Timeline:
    """The service state over `[start_ms, end_ms)`, and when each check was DOWN."""

    segments: tuple[Segment, ...]
    """Cover the range exactly; neighbours differ in state."""
    check_down: Mapping[str, tuple[Interval, ...]]


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
class LatencySummary:
    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    objective_ms: float | None
    objective_percentile: float | None
    value_ms: float | None
    """The latency at `objective_percentile` (None without an objective or without samples)."""
    met: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "objective_ms": _plain(self.objective_ms),
            "objective_percentile": _plain(self.objective_percentile),
            "met": self.met,
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
            "objective": _plain(self.sla.objective),
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
            "credit_percent": _plain(self.credit_percent),
            "credit_amount": None if self.credit_amount is None else float(self.credit_amount),
            "currency": self.sla.monthly_fee.currency if self.sla.monthly_fee else None,
            "missing_checks": list(self.missing_checks),
            "complete": self.complete,
            "future_s": self.future_ms / 1000,
            "projected_availability": self.projected_availability,
            "verdict": self.verdict,
        }


def _plain(number: float | None) -> float | int | None:
    """Whole numbers as ints in JSON (`"objective_ms": 800`), others as they are."""
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


# ----------------------------------------------------------------------------- what to fetch


def history_range(sla: Sla, window: Window, now_ms: int) -> Interval:
    """The runs `compute_report` needs: those overlapping `[from − min_downtime, min(to +
    min_downtime, now))`. A DOWN run crossing an edge of the window is forgiven or not by its
    whole length; `min_downtime` of context on each side is enough to know which."""
    margin = seconds_to_ms(sla.min_downtime)
    start = window.from_ms - margin
    return Interval(start, max(start, min(window.to_ms + margin, now_ms)))


def latency_plan(
    sla: Sla,
    window: Window,
    now_ms: int,
    declared_maintenance: Sequence[Interval] = (),
    *,
    hourly: bool = True,
) -> LatencyPlan:
    """Which latencies to fetch: the window up to as_of, outside maintenance (§4.6). With
    `hourly`, whole UTC hours come from histograms and only the rest from raw samples."""
    as_of = window.as_of(now_ms)
    span = Interval(window.from_ms, as_of)
    holes, _ = removed_time(sla, span, declared_maintenance)
    eligible = subtract(span, holes)
    if not hourly:
        return LatencyPlan(tuple(eligible), ())
    raw: list[Interval] = []
    hours: list[Interval] = []
    for part in eligible:
        first_hour = -(-part.start_ms // HOUR_MS) * HOUR_MS
        last_hour = part.end_ms // HOUR_MS * HOUR_MS
        if first_hour >= last_hour:
            raw.append(part)
            continue
        raw.append(Interval(part.start_ms, first_hour))
        hours.append(Interval(first_hour, last_hour))
        raw.append(Interval(last_hour, part.end_ms))
    return LatencyPlan(tuple(merge(raw)), tuple(merge(hours)))


def removed_time(
    sla: Sla, span: Interval, declared_maintenance: Sequence[Interval] = ()
) -> tuple[list[Interval], list[Interval]]:
    """The time of `span` removed from the SLA (§4.4.2, §7): maintenance (config and declared)
    and time outside service hours, merged; and the part outside service hours alone."""
    maintenance = maintenance_intervals(sla.maintenance, sla.timezone, span, declared_maintenance)
    outside = outside_hours(sla, span)
    if not outside:
        return maintenance, outside
    return merge([*maintenance, *outside]), outside


# ---------------------------------------------------------------------------------- timeline


def service_timeline(sla: Sla, runs: Runs, start_ms: int, end_ms: int) -> Timeline:
    """The service state (§4.1–4.3) over `[start_ms, end_ms)`: runs are clipped to the range,
    so pass `end_ms <= now` to end the timeline at now (§4.7).

    One check seen by at most one agent (a single-location check, or a service state already
    reduced to one timeline, as the summaries pass it) is its runs with the gaps UNKNOWN: no
    sweep needed. Every other shape goes through `swept_timeline`.
    """
    checks = tuple(dict.fromkeys(sla.checks))
    if len(checks) == 1:
        by_agent = runs.get(checks[0], {})
        if len(by_agent) <= 1:
            return _one_view_timeline(checks[0], by_agent, sla.quorum, start_ms, end_ms)
    return swept_timeline(sla, runs, start_ms, end_ms)


def swept_timeline(sla: Sla, runs: Runs, start_ms: int, end_ms: int) -> Timeline:
    """`service_timeline` by the general sweep, whatever the number of checks and agents."""
    checks = tuple(dict.fromkeys(sla.checks))
    sweep = _Sweep(checks, sla.quorum, sla.require)
    known, down = sweep.known, sweep.down
    events = _events(checks, runs, start_ms, end_ms)
    segments: list[Segment] = []
    current, segment_start = sweep.current, start_ms
    touched: set[int] = set()
    index, count = 0, len(events)
    while index < count:
        instant = events[index][0]
        while index < count and events[index][0] == instant:
            _, check, known_delta, down_delta = events[index]
            known[check] += known_delta
            down[check] += down_delta
            touched.add(check)
            index += 1
        state = sweep.settle(instant, touched)
        touched.clear()
        if state != current:
            if instant > segment_start:
                segments.append(Segment(segment_start, instant, _STATES[current]))
            segment_start, current = instant, state
    if end_ms > segment_start:
        segments.append(Segment(segment_start, end_ms, _STATES[current]))
    return Timeline(tuple(segments), sweep.check_down(end_ms))


def _one_view_timeline(
    check: str, by_agent: Mapping[str, Sequence[Run]], quorum: Quorum, start_ms: int, end_ms: int
) -> Timeline:
    """The timeline of one check and at most one agent: with a single check the service is
    that check (under `require` all or any), and with a single agent the quorum decides the
    check from that agent's state alone."""
    states = {True: quorum_of(1, 0, quorum), False: quorum_of(1, 1, quorum)}
    segments: list[Segment] = []
    covered = start_ms
    for agent, agent_runs in by_agent.items():
        _check_sorted(check, agent, agent_runs)
        for run in agent_runs:
            start, end = max(run.start_ms, start_ms), min(run.end_ms, end_ms)
            if start >= end:
                continue
            state = states[run.ok]
            if start > covered:
                segments.append(Segment(covered, start, State.UNKNOWN))
            elif segments and segments[-1].state is state:
                segments[-1] = Segment(segments[-1].start_ms, end, state)
                covered = end
                continue
            segments.append(Segment(start, end, state))
            covered = end
    if end_ms > covered:
        segments.append(Segment(covered, end_ms, State.UNKNOWN))
    down = tuple(Interval(s.start_ms, s.end_ms) for s in segments if s.state is State.DOWN)
    return Timeline(tuple(segments), {check: down})


_STATES = (State.UNKNOWN, State.UP, State.DOWN)
"""The sweep's states are their index in this tuple (ints compare and index fast)."""
_UNKNOWN, _UP, _DOWN = range(3)
_CODES = {state: code for code, state in enumerate(_STATES)}


class _Sweep:
    """The state of every check and of the service as the sweep moves through time: per check
    the number of known and DOWN agents, per state the number of checks in it. States are
    codes (`_STATES`); the rules of §4.2 and §4.3 stay those of `slawatch.collector.engine.states`,
    tabulated."""

    def __init__(self, checks: Sequence[str], quorum: Quorum, require: str) -> None:
        self.checks, self.quorum = checks, quorum
        self.known = [0] * len(checks)
        self.down = [0] * len(checks)
        self.states = [_UNKNOWN] * len(checks)
        self.counts = [len(checks), 0, 0]
        self.down_since = [0] * len(checks)
        self.down_intervals: list[list[Interval]] = [[] for _ in checks]
        self._decided: dict[tuple[int, int], int] = {}
        """(known, DOWN agents) → the check's state under the quorum."""
        self._services = tuple(
            _CODES[service_state((_STATES[c] for c in range(3) if mask >> c & 1), require)]
            for mask in range(8)
        )
        """Which states some check is in (a bit per state) → the service's state."""
        self.current = self.service()

    def settle(self, instant: int, touched: Iterable[int]) -> int:
        """Apply the changes of the `touched` checks at `instant`; the service state from then
        on."""
        changed = False
        states, counts, decided = self.states, self.counts, self._decided
        for check in touched:
            key = (self.known[check], self.down[check])
            new = decided.get(key)
            if new is None:
                new = decided[key] = _CODES[quorum_of(key[0], key[1], self.quorum)]
            old = states[check]
            if new == old:
                continue
            changed = True
            counts[old] -= 1
            counts[new] += 1
            states[check] = new
            if new == _DOWN:
                self.down_since[check] = instant
            elif old == _DOWN:
                self.down_intervals[check].append(Interval(self.down_since[check], instant))
        if changed:
            self.current = self.service()
        return self.current

    def service(self) -> int:
        counts = self.counts
        return self._services[
            (counts[_UNKNOWN] > 0) | (counts[_UP] > 0) << 1 | (counts[_DOWN] > 0) << 2
        ]

    def check_down(self, end_ms: int) -> dict[str, tuple[Interval, ...]]:
        """When each check was DOWN, those still DOWN closed at `end_ms`."""
        found = {}
        for index, check in enumerate(self.checks):
            intervals = self.down_intervals[index]
            if self.states[index] == _DOWN:
                intervals = [*intervals, Interval(self.down_since[index], end_ms)]
            found[check] = tuple(intervals)
        return found


def _events(
    checks: Sequence[str], runs: Runs, start_ms: int, end_ms: int
) -> list[tuple[int, int, int, int]]:
    """(instant, check index, change of known agents, change of DOWN agents), sorted."""
    events: list[tuple[int, int, int, int]] = []
    append = events.append
    for index, check in enumerate(checks):
        for agent, agent_runs in runs.get(check, {}).items():
            _check_sorted(check, agent, agent_runs)
            for run in agent_runs:
                start, end = max(run.start_ms, start_ms), min(run.end_ms, end_ms)
                if start >= end:
                    continue
                is_down = 0 if run.ok else 1
                append((start, index, 1, is_down))
                append((end, index, -1, -is_down))
    events.sort(key=itemgetter(0))
    return events


def _check_sorted(check: str, agent: str, runs: Sequence[Run]) -> None:
    previous_end: int | None = None
    for run in runs:
        if run.end_ms < run.start_ms or (previous_end is not None and run.start_ms < previous_end):
            raise ValueError(
                f"runs of check {check!r} by agent {agent!r} overlap or are out of order "
                f"at {format_instant(run.start_ms)}"
            )
        previous_end = run.end_ms


def forgive(segments: Sequence[Segment], min_downtime_ms: int) -> list[Segment]:
    """Every DOWN segment shorter than `min_downtime_ms` becomes UP; neighbours merge (§4.4.1)."""
    judged: list[Segment] = []
    for segment in segments:
        state = segment.state
        if state is State.DOWN and segment.end_ms - segment.start_ms < min_downtime_ms:
            state = State.UP
        if judged and judged[-1].state is state and judged[-1].end_ms == segment.start_ms:
            judged[-1] = Segment(judged[-1].start_ms, segment.end_ms, state)
        elif state is segment.state:
            judged.append(segment)
        else:
            judged.append(Segment(segment.start_ms, segment.end_ms, state))
    return judged


def cut_out(segments: Sequence[Segment], holes: Sequence[Interval]) -> Iterator[Segment]:
    """The parts of `segments` outside the sorted disjoint `holes` (maintenance, §4.4.2)."""
    if not holes:
        yield from segments
        return
    first = 0
    for segment in segments:
        while first < len(holes) and holes[first].end_ms <= segment.start_ms:
            first += 1
        if first == len(holes) or holes[first].start_ms >= segment.end_ms:
            yield segment
            continue
        span = Interval(segment.start_ms, segment.end_ms)
        for part in subtract(span, holes[first : _holes_before(holes, first, segment.end_ms)]):
            yield Segment(part.start_ms, part.end_ms, segment.state)


def _holes_before(holes: Sequence[Interval], first: int, end_ms: int) -> int:
    last = first
    while last < len(holes) and holes[last].start_ms < end_ms:
        last += 1
    return last


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


# ----------------------------------------------------------------------------------- latency


def summarize_latency(sla: Sla, latency: LatencySource | None) -> LatencySummary:
    """Percentiles by nearest rank over raw values and histogram buckets (§4.6)."""
    ranked = _ranked(latency)

    def at(percentile: float) -> float | None:
        found = ranked.at(percentile)
        return None if found is None else found[0]

    objective = sla.latency
    value = at(objective.percentile) if objective else None
    objective_ms = round(objective.objective * 1000, 6) if objective else None
    return LatencySummary(
        count=ranked.count,
        p50_ms=at(REPORTED_PERCENTILES[0]),
        p95_ms=at(REPORTED_PERCENTILES[1]),
        p99_ms=at(REPORTED_PERCENTILES[2]),
        objective_ms=objective_ms,
        objective_percentile=objective.percentile if objective else None,
        value_ms=value,
        met=None if value is None or objective_ms is None else value <= objective_ms,
    )


def bucket_at_percentile(latency: LatencySource, percentile: float) -> int | None:
    """The histogram bucket that the `percentile`-th latency comes from; None when it is a raw
    value (or there are none). Its raw samples make that percentile exact (`reports`)."""
    found = _ranked(latency).at(percentile)
    return None if found is None else found[1]


def _ranked(latency: LatencySource | None) -> RankedLatencies:
    return RankedLatencies.of(latency.values, latency.buckets) if latency else _NO_LATENCIES


_NO_LATENCIES = RankedLatencies.of((), {})
