"""A target's facts at now, as the alert rules need them: its state and since when, the recent
UP/DOWN changes (flapping), what each agent sees, and the error naming the outage. Pure: from the
stored runs through the SLA engine's own sweep (`service_timeline`), so a state here is the state
a report shows, and the error is the one the report's incident names
(`slawatch.collector.engine.incidents`)."""

from __future__ import annotations

from dataclasses import dataclass

from slawatch.collector.alerts import flapping
from slawatch.collector.alerts.events import AgentView
from slawatch.collector.alerts.targets import Target
from slawatch.collector.engine.incidents import Runs, first_error
from slawatch.collector.engine.service_timeline import Segment, service_timeline
from slawatch.collector.engine.states import State


@dataclass(frozen=True, slots=True)
class Facts:
    """A target's state at now and the recent history that matters to alerts."""

    state: State
    since_ms: int
    """When the current state began (or the start of the runs read, if earlier)."""
    changes: tuple[int, ...]
    """Instants of UP/DOWN changes within the runs read (see `flapping.changes`)."""
    error: str | None = None
    """DOWN: the error naming the outage going on (`engine.incidents`)."""
    agents: tuple[AgentView, ...] = ()
    """Check targets: what each agent sees now."""
    down_checks: tuple[str, ...] = ()
    """SLA targets: the checks DOWN now."""
    read_from_ms: int = 0
    """Where the runs read start: nothing before it is known here."""
    segments: tuple[Segment, ...] = ()
    """The target's states from `read_from_ms` to now."""

    def unknown_ms(self, start_ms: int, end_ms: int) -> int:
        """Time without data within [start_ms, end_ms)."""
        return sum(
            max(0, min(s.end_ms, end_ms) - max(s.start_ms, start_ms))
            for s in self.segments
            if s.state is State.UNKNOWN
        )

    def recovery_ms(self, down_since_ms: int, resolve_after_ms: int) -> int | None:
        """When the outage that began at `down_since_ms` ended: the start of the first UP
        stretch after it that lasted `resolve_after_ms` (the current one: up to now). None while
        it goes on. UP for less, then DOWN again, is the same outage; UNKNOWN neither ends nor
        extends it. Only what was read is known: an outage that began before `read_from_ms` is
        looked at from there."""
        for segment in self.segments:
            if (
                segment.state is State.UP
                and segment.start_ms > down_since_ms
                and segment.duration_ms >= max(1, resolve_after_ms)
            ):
                return segment.start_ms
        return None


def facts_of(target: Target, runs: Runs, start_ms: int, now_ms: int) -> Facts:
    """The facts of `target` from `runs` read over [start_ms, now_ms]."""
    timeline = service_timeline(target.sweep, runs, start_ms, now_ms)
    segments = timeline.segments
    if not segments:
        return Facts(State.UNKNOWN, start_ms, (), read_from_ms=start_ms)
    current = segments[-1]
    changes = tuple(flapping.changes(segments))
    agents = _agents(target, runs, now_ms)
    if current.state is not State.DOWN:
        return Facts(
            current.state,
            current.start_ms,
            changes,
            agents=agents,
            read_from_ms=start_ms,
            segments=segments,
        )
    in_outage = tuple(
        check
        for check, intervals in timeline.check_down.items()
        if any(i.end_ms > current.start_ms for i in intervals)
    )
    down_now = tuple(
        check
        for check, intervals in timeline.check_down.items()
        if intervals and intervals[-1].end_ms >= now_ms
    )
    return Facts(
        State.DOWN,
        current.start_ms,
        changes,
        error=first_error(runs, in_outage, current.start_ms, now_ms),
        agents=agents,
        down_checks=down_now if target.subject.kind == "sla" else (),
        read_from_ms=start_ms,
        segments=segments,
    )


def _agents(target: Target, runs: Runs, now_ms: int) -> tuple[AgentView, ...]:
    """What each agent of a check target sees now (SLA targets list checks instead)."""
    if target.subject.kind != "check":
        return ()
    views = []
    for agent, agent_runs in sorted(runs.get(target.subject.id, {}).items()):
        run = next((r for r in agent_runs if r.start_ms < now_ms <= r.end_ms), None)
        if run is None:
            views.append(AgentView(agent, "unknown"))
        else:
            views.append(AgentView(agent, "up" if run.ok else "down", run.error))
    return tuple(views)
