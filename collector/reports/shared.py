"""Reports of many SLAs from one read of the store: every SLA's summary (`GET /api/v1/slas`,
the SLA metrics), the daily reports of the status pages' bars, and reports of many SLAs over one
window (the status pages' incidents).

Their cost grows with the state changes of the checks, not with the number of SLAs times their
samples: the runs of every check are read once; each check's state under a quorum (§4.2) is
swept once, and each set of checks' service state under a quorum and `require` (§4.3) once,
shared by every SLA that needs it (`SharedTimelines`); each SLA then applies its own
forgiveness, maintenance, unknown time, window and objective to that one timeline. The figures
are exact (a state at an instant depends only on the states below it at that instant); an
incident's checks and error are not in a shared timeline, so a summary carries only the open
incident, taken from an exact computation on the agents' runs (`reports.build`, as is an SLA
whose history must grow).
"""

from __future__ import annotations

import asyncio
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal

from slawatch.collector.engine.incidents import Runs
from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import (
    Window,
    current_window,
    from_ms,
    local_midnight_ms,
    period_label,
    zone_of,
)
from slawatch.collector.engine.service_timeline import service_timeline
from slawatch.collector.engine.sla import Report, compute_report, history_range
from slawatch.collector.engine.states import State
from slawatch.collector.engine.timeline import Run
from slawatch.collector.reports.build import compute_from_store, declared_intervals
from slawatch.collector.store import DeclaredMaintenance, Store
from slawatch.config.schema import Quorum, Sla

YIELD_EVERY_SLAS = 25
"""Summaries compute ~1 ms per SLA; they hand the event loop back this often."""
_ONE_AGENT = "shared"
"""The agent name of a shared state (`SharedTimelines`), fed to the engine as one agent."""
_SERVICE = "service"
"""The check name of an SLA's service state fed to the engine as the state of one check."""


@dataclass(frozen=True, slots=True)
class SlaSummary:
    """An SLA's current period at a glance (`GET /api/v1/slas`)."""

    report: Report
    """Without latency, and of the incidents only the open one, if any."""
    period: str

    def to_json(self) -> dict[str, Any]:
        report, sla = self.report, self.report.sla
        incident = report.open_incident
        return {
            "id": sla.id,
            "name": sla.name,
            "customer": sla.customer,
            "period": self.period,
            **report.figures_json(),
            "error_budget_remaining_ratio": report.error_budget_remaining_ratio,
            "state": report.state.value,
            "open_incident": None if incident is None else incident.to_json(),
        }


# ---------------------------------------------------------------------------------- summaries


async def summaries(store: Store, slas: Sequence[Sla], now_ms: int) -> list[SlaSummary]:
    """The current period of every SLA of `slas`, in their order: a report without latency and
    with only the open incident, if any."""
    if not slas:
        return []
    windows = {sla.id: current_window(sla.period, sla.timezone, now_ms) for sla in slas}
    histories = {sla.id: history_range(sla, windows[sla.id], now_ms) for sla in slas}
    span, runs, declared = await _read_for(store, slas, histories)
    timelines = SharedTimelines(runs, span.start_ms, min(span.end_ms, now_ms))
    found = []
    for index, sla in enumerate(slas):
        if index % YIELD_EVERY_SLAS == YIELD_EVERY_SLAS - 1:
            await asyncio.sleep(0)  # let requests waiting on the event loop (ingest) through
        window, history = windows[sla.id], histories[sla.id]
        holes = declared_intervals(declared.get(sla.id, ()))
        report = shared_report(
            sla, timelines, window, now_ms, history=history, declared=holes, incidents="open"
        )
        if report.open_incident is not None or report.wider_history is not None:
            report = await compute_from_store(
                store, sla, window, now_ms, declared=holes, latency=False, incidents="open"
            )
        found.append(SlaSummary(report, period_label(sla.period, window.from_ms, sla.timezone)))
    return found


def shared_report(
    sla: Sla,
    timelines: SharedTimelines,
    window: Window,
    now_ms: int,
    *,
    history: Interval,
    declared: Sequence[Interval],
    incidents: Literal["all", "open"] = "all",
) -> Report:
    """The report of `sla` from the shared service timeline: every figure exact; its incidents'
    `checks` and `error` are not (the caller recomputes the incidents it shows). `incidents`:
    as `compute_report` takes it."""
    report = _service_report(
        sla, timelines, window, now_ms, history=history, declared=declared, incidents=incidents
    )
    end_ms = min(report.as_of_ms, now_ms)
    agents = _agents_with_data(sla, timelines.runs, window.from_ms, end_ms)
    missing = tuple(check for check, seen in agents.items() if not seen)
    return replace(report, missing_checks=missing, agents=agents)


def _service_report(
    sla: Sla,
    timelines: SharedTimelines,
    window: Window,
    now_ms: int,
    *,
    history: Interval,
    declared: Sequence[Interval],
    incidents: Literal["all", "open"],
) -> Report:
    """`compute_report` of the SLA's shared service timeline, as one pseudo-agent's runs of
    one pseudo-check, with the SLA put back in the report."""
    service = timelines.service(sla.checks, sla.quorum, sla.require, history)
    report = compute_report(
        replace(sla, checks=(_SERVICE,), quorum="any", require="all"),
        {_SERVICE: {_ONE_AGENT: service}},
        window,
        now_ms,
        declared_maintenance=declared,
        history=history,
        incidents=incidents,
    )
    return replace(report, sla=sla)


class SharedTimelines:
    """States swept once and shared by every SLA that needs them, as runs of one pseudo-agent:
    each check's under a quorum (§4.2), each set of checks' under a quorum and require (§4.3)."""

    def __init__(self, runs: Runs, start_ms: int, end_ms: int) -> None:
        """`runs`: the agents' runs overlapping `[start_ms, end_ms)`, which must cover the
        history of every SLA asked for; `end_ms` at most now."""
        self.runs, self._start_ms, self._end_ms = runs, start_ms, end_ms
        self._checks: dict[tuple[str, Quorum], list[Run]] = {}
        self._services: dict[tuple[tuple[str, ...], Quorum, str], tuple[list[Run], list[int]]] = {}

    def service(
        self, checks: Sequence[str], quorum: Quorum, require: str, within: Interval
    ) -> Sequence[Run]:
        """The service state of `checks` as runs, those overlapping `within`."""
        unique = tuple(dict.fromkeys(checks))
        key = (unique, quorum, require)
        if key not in self._services:
            states = {check: {_ONE_AGENT: self.check(check, quorum)} for check in unique}
            runs = self._sweep(states, unique, "any", require)
            self._services[key] = (runs, [run.end_ms for run in runs])
        runs, ends = self._services[key]
        first = bisect_right(ends, within.start_ms)
        last = bisect_left(ends, within.end_ms, lo=first)
        while last < len(runs) and runs[last].start_ms < within.end_ms:
            last += 1
        return runs[first:last]

    def check(self, check: str, quorum: Quorum) -> list[Run]:
        key = (check, quorum)
        if key not in self._checks:
            self._checks[key] = self._sweep(self.runs, (check,), quorum, "all")
        return self._checks[key]

    def _sweep(
        self, runs: Runs, checks: tuple[str, ...], quorum: Quorum, require: str
    ) -> list[Run]:
        alone = Sla(
            id="shared", name="shared", checks=checks, objective=100.0, quorum=quorum,
            require=require,  # type: ignore[arg-type]
        )  # fmt: skip
        timeline = service_timeline(alone, runs, self._start_ms, self._end_ms)
        return [
            Run(s.start_ms, s.end_ms, s.state is State.UP, None, s.start_ms, 0)
            for s in timeline.segments
            if s.state is not State.UNKNOWN
        ]


def _agents_with_data(
    sla: Sla, runs: Runs, start_ms: int, end_ms: int
) -> dict[str, tuple[str, ...]]:
    """Per check of the SLA, the agents with a run inside `[start_ms, end_ms)`, as the engine's
    `Report.agents`; a check without any is missing (§4.7)."""
    return {
        check: tuple(
            sorted(
                agent
                for agent, agent_runs in runs.get(check, {}).items()
                if start_ms < end_ms and _has_run_within(agent_runs, start_ms, end_ms)
            )
        )
        for check in sorted(set(sla.checks))
    }


def _has_run_within(runs: Sequence[Run], start_ms: int, end_ms: int) -> bool:
    """Whether one of an agent's sorted, disjoint `runs` lasts a while inside the range; found
    by bisection (the runs of every SLA's history are shared, a month of them for a day's SLA)."""
    index = bisect_right(runs, start_ms, key=_end_ms)
    while index < len(runs) and runs[index].start_ms < end_ms:
        if runs[index].start_ms < runs[index].end_ms:
            return True
        index += 1
    return False


def _end_ms(run: Run) -> int:
    return run.end_ms


async def _read_for(
    store: Store, slas: Sequence[Sla], histories: Mapping[str, Interval]
) -> tuple[Interval, Runs, dict[str, list[DeclaredMaintenance]]]:
    """One read for many SLAs: the span of their `histories`, the runs of all their checks over
    it, and each SLA's declared maintenance."""
    span = Interval(
        min(h.start_ms for h in histories.values()), max(h.end_ms for h in histories.values())
    )
    checks = sorted({check for sla in slas for check in sla.checks})
    runs = await store.runs(checks, span.start_ms, span.end_ms)
    declared = _by_sla(await store.declared_maintenance([sla.id for sla in slas]))
    return span, runs, declared


def _by_sla(declared: Iterable[DeclaredMaintenance]) -> dict[str, list[DeclaredMaintenance]]:
    found: dict[str, list[DeclaredMaintenance]] = defaultdict(list)
    for window in declared:
        for sla in window.slas:
            found[sla].append(window)
    return found


# ------------------------------------------------------------------------------ days (status)


def last_days(tz: str, now_ms: int, count: int) -> list[Window]:
    """The `count` calendar days in `tz` up to the one containing `now_ms`, oldest first (a DST
    day lasts 23 or 25 hours)."""
    zone = zone_of(tz)
    today = from_ms(now_ms, zone).date()
    days = [today - timedelta(days=back) for back in range(count - 1, -1, -1)]
    return [
        Window(local_midnight_ms(day, zone), local_midnight_ms(day + timedelta(days=1), zone))
        for day in days
    ]


async def daily_reports(
    store: Store, slas: Sequence[Sla], days: int, now_ms: int
) -> dict[str, list[Report]]:
    """Per SLA of `slas`, the reports of its last `days` calendar days in its timezone (today,
    to now, last): figures exact, the same as `compute_from_store` of each day gives; no latency
    and no incidents (their checks and errors are not in a shared timeline).

    One read of the runs for every SLA and day, and the shared timelines of `summaries`: each
    day's report then costs the state changes of its own day, not a sweep of all the agents.
    """
    if not slas or days <= 0:
        return {}
    windows = {sla.id: last_days(sla.timezone, now_ms, days) for sla in slas}
    histories = {
        sla.id: history_range(
            sla, Window(windows[sla.id][0].from_ms, windows[sla.id][-1].to_ms), now_ms
        )
        for sla in slas
    }
    span, runs, declared = await _read_for(store, slas, histories)
    timelines = SharedTimelines(runs, span.start_ms, min(span.end_ms, now_ms))
    found: dict[str, list[Report]] = {}
    for sla in slas:
        await asyncio.sleep(0)  # an SLA's days take a few ms: let waiting requests through
        holes = declared_intervals(declared.get(sla.id, ()))
        found[sla.id] = []
        for day in windows[sla.id]:
            history = history_range(sla, day, now_ms)
            report = _day_report(sla, timelines, day, now_ms, history=history, declared=holes)
            found[sla.id].append(report)
    return found


def _day_report(
    sla: Sla,
    timelines: SharedTimelines,
    window: Window,
    now_ms: int,
    *,
    history: Interval,
    declared: Sequence[Interval],
) -> Report:
    """`shared_report` without its incidents and missing checks (a status bar needs neither)."""
    report = _service_report(
        sla, timelines, window, now_ms, history=history, declared=declared, incidents="open"
    )
    return replace(report, incidents=(), missing_checks=(), agents={}, wider_history=None)


async def window_reports(
    store: Store, slas: Sequence[Sla], window: Window, now_ms: int
) -> dict[str, Report]:
    """Per SLA of `slas`, its report over `window` without latency, incidents exact (checks,
    first error): `compute_from_store` of each, from one read of the runs for all of them (an
    SLA whose incidents reach past that read is computed alone, reading further)."""
    if not slas:
        return {}
    histories = {sla.id: history_range(sla, window, now_ms) for sla in slas}
    _, runs, declared = await _read_for(store, slas, histories)
    found: dict[str, Report] = {}
    for sla in slas:
        await asyncio.sleep(0)
        holes = declared_intervals(declared.get(sla.id, ()))
        report = compute_report(
            sla, runs, window, now_ms, declared_maintenance=holes, history=histories[sla.id]
        )
        if report.wider_history is not None:
            report = await compute_from_store(
                store, sla, window, now_ms, declared=holes, latency=False
            )
        found[sla.id] = report
    return found
