"""Which error names an outage (CONTRACT §4.5, §4.6): the one rule that the report's incidents,
the `down`/`resolved` alerts, the status page and the digest all follow. Pure.

An outage (a DOWN run of a check or of an SLA's service) is named by the first failing sample of
the agents' DOWN run, among its checks, that starts first *inside* it; only when none starts
inside it, by the earliest one overlapping it. So an agent failing alone since before the outage
(cut off from the network while the others still saw the target up) does not name it: the
samples that made the quorum turn do. Ties go to the check, then the agent, by id.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.timeline import Run

Runs = Mapping[str, Mapping[str, Sequence[Run]]]
"""check id → agent id → that agent's runs of that check, sorted, not overlapping."""

SpanT = TypeVar("SpanT", Run, Interval)


@dataclass(frozen=True, slots=True)
class Spans(Generic[SpanT]):
    """Sorted, disjoint spans (runs, intervals), found by bisection on their ends."""

    items: tuple[SpanT, ...]
    ends: tuple[int, ...]

    @classmethod
    def of(cls, items: Iterable[SpanT]) -> Spans[SpanT]:
        items = tuple(items)
        return cls(items, tuple(item.end_ms for item in items))

    def first_overlapping(self, start_ms: int, end_ms: int) -> SpanT | None:
        index = bisect_right(self.ends, start_ms)
        if index < len(self.items) and self.items[index].start_ms < end_ms:
            return self.items[index]
        return None


@dataclass(frozen=True, slots=True)
class FailingRuns:
    """Every agent's DOWN runs of some checks, ready to name any number of outages."""

    by_check: Mapping[str, tuple[tuple[str, Spans[Run]], ...]]
    """check → (agent, its DOWN runs), agents by id."""

    @classmethod
    def of(cls, runs: Runs, checks: Iterable[str]) -> FailingRuns:
        return cls(
            {
                check: tuple(
                    (agent, Spans.of(run for run in agent_runs if not run.ok))
                    for agent, agent_runs in sorted(runs.get(check, {}).items())
                )
                for check in dict.fromkeys(checks)
            }
        )

    def first_error(self, checks: Iterable[str], start_ms: int, end_ms: int) -> str | None:
        """The error naming the outage `[start_ms, end_ms)` of `checks` (see the module)."""
        first: tuple[bool, int, str, str, str | None] | None = None
        for check in checks:
            for agent, agent_down in self.by_check.get(check, ()):
                run = agent_down.first_overlapping(start_ms, end_ms)
                if run is None:
                    continue
                if run.start_ms < start_ms:  # the agent's next DOWN run, if inside
                    run = agent_down.first_overlapping(run.end_ms, end_ms) or run
                candidate = (run.start_ms < start_ms, run.start_ms, check, agent, run.error)
                if first is None or candidate[:4] < first[:4]:
                    first = candidate
        return None if first is None else first[4]


def first_error(runs: Runs, checks: Sequence[str], start_ms: int, end_ms: int) -> str | None:
    """The error naming the outage `[start_ms, end_ms)` of `checks`, from their runs."""
    return FailingRuns.of(runs, checks).first_error(checks, start_ms, end_ms)
