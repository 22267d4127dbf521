"""When the silent monitors (`silences`) must look at every check and agent again (issue 15): a
fleet of 20,000 checks is not swept every second to find that none of them is silent. Pure.

A sweep notes, for each check and agent it did not find silent, the first instant it could be
without news: its newest sample (push) plus its threshold, counted from the collector's start
at the earliest. Between sweeps, news only moves those instants later, with one exception: a
check known only from samples takes its threshold from its newest sample's interval, which may
be shorter (and so may an agent's shortest interval). So before each pass:
- a check touched since is looked at again: one the sweep did not know, or whose silence (or
  its agent's) was told already and may now end, means a sweep; otherwise its instant is noted
  again if it came earlier;
- checks whose noted instant has come are looked at again (their instant may have moved): one
  still due means a sweep; the others are noted at their new instant;
- an agent whose instant has come (by its last push) means a sweep;
- something silent and not told (under maintenance, or during the start's grace) means a sweep
  every pass: it may be told as soon as that ends;
- and a sweep at least every `SWEEP_AT_LEAST_S` anyway, a safety net.
So the sweeps decide exactly what a sweep every pass would (`tests/unit/test_alert_fleet_passes`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping

from slawatch.collector.engine.timeline import Run
from slawatch.collector.store import OpenAlert, SeenAgent

SWEEP_AT_LEAST_S = 60.0
ALL_RULES = "*"
"""The rule of the open alerts of silences (`silences.ALL_RULES`)."""


class SweepSchedule:
    def __init__(self) -> None:
        self._next_ms: int | None = None
        """The next sweep at the latest; None: at the next pass."""
        self._checks: list[tuple[int, str]] = []
        """(instant, check): a heap, an instant per check at most as late as its own."""
        self._noted: dict[str, int] = {}
        """The instant of each check in the heap (the earliest, if several)."""
        self._agents: dict[str, int] = {}
        """Agent → its threshold (ms), for those found not silent."""
        self._swept: frozenset[str] = frozenset()
        self._recording: int | None = None

    # -------------------------------------------------------------------- during a sweep

    def begin(self, now_ms: int) -> None:
        self._checks, self._noted, self._agents = [], {}, {}
        self._recording = now_ms + round(SWEEP_AT_LEAST_S * 1000)

    def check_quiet_until(self, check_id: str, at_ms: int) -> None:
        self._note(check_id, at_ms)

    def agent_quiet(self, agent: str, threshold_ms: int) -> None:
        self._agents[agent] = threshold_ms

    def silent_untold(self) -> None:
        """Something is silent and could not be told: sweep again at the next pass."""
        self._recording = None

    def end(self, checks: Iterable[str]) -> None:
        self._swept = frozenset(checks)
        self._next_ms = self._recording

    # -------------------------------------------------------------------- before a pass

    def due(
        self,
        now_ms: int,
        *,
        touched: Iterable[str],
        last_runs: Mapping[str, Mapping[str, Run]],
        open_alerts: Iterable[tuple[str, str, str]] | Mapping[tuple[str, str, str], OpenAlert],
        seen: Iterable[SeenAgent],
        started_ms: int,
        check_instant: Callable[[str], int | None],
        agent_threshold: Callable[[int], int],
    ) -> bool:
        """Whether a sweep may decide or close anything now (see the module).
        `check_instant(check)`: when the check falls silent without news (None: never);
        `agent_threshold(interval_ms)`: an agent's threshold for a check of that interval."""
        if self._next_ms is None or now_ms >= self._next_ms:
            return True
        told = {subject for rule, subject, _ in open_alerts if rule == ALL_RULES}
        for check_id in touched:
            if check_id not in self._swept:
                return True
            agents = last_runs.get(check_id, {})
            if told and (
                f"check:{check_id}" in told or any(f"agent:{agent}" in told for agent in agents)
            ):
                return True  # heard from again: the silence may end
            at_ms = check_instant(check_id)
            if at_ms is not None:
                self._note(check_id, at_ms)
            for agent, run in agents.items():
                known = self._agents.get(agent)
                if known is not None:
                    self._agents[agent] = min(known, agent_threshold(run.last_interval_ms))
        while self._checks and self._checks[0][0] <= now_ms:
            _, check_id = heapq.heappop(self._checks)
            self._noted.pop(check_id, None)
            at_ms = check_instant(check_id)
            if at_ms is not None:
                self._note(check_id, at_ms)
                if at_ms <= now_ms:
                    return True
        for pushing in seen:
            threshold_ms = self._agents.get(pushing.id)
            if threshold_ms is None or f"agent:{pushing.id}" in told:
                continue
            if max(pushing.last_push_ms, started_ms) + threshold_ms <= now_ms:
                return True
        return False

    def _note(self, check_id: str, at_ms: int) -> None:
        noted = self._noted.get(check_id)
        if noted is None or at_ms < noted:
            self._noted[check_id] = at_ms
            heapq.heappush(self._checks, (at_ms, check_id))
