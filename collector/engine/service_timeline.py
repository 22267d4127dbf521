"""The service's timeline (CONTRACT §4.1–4.4.2): state runs of every check and agent → the
state of the service over a range, as segments; then forgiveness of short DOWN runs and the
removal of maintenance and of time outside service hours.

`service_timeline` sweeps the sorted boundaries of every agent's runs (§4.1, clamped at now,
§4.7), keeping per check the number of known and DOWN agents (§4.2) and per SLA the number of
checks in each state (§4.3). Its cost grows with the number of runs, not of samples; one check
seen by one agent (a service state already reduced to one timeline) needs no sweep. `forgive`
and `cut_out` are the next steps of `slawatch.collector.engine.sla.compute_report`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter

from slawatch.collector.engine.incidents import Runs
from slawatch.collector.engine.maintenance import Interval, subtract
from slawatch.collector.engine.periods import format_instant
from slawatch.collector.engine.states import State, quorum_of, service_state
from slawatch.collector.engine.timeline import Run
from slawatch.config.schema import Quorum, Sla


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
