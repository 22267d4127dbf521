"""Which targets an evaluation pass must judge (issue 15): those whose inputs changed since they
were last judged, and those whose time has come. Pure, no I/O.

A target's judgement (`evaluator.judge` over `facts.facts_of`) depends on the runs of its checks,
its open alerts, the maintenance in force, and the clock. Between passes:
- **runs** change by ingest: the collector's ingest tells which checks got samples (`touch`),
  and a check whose newest run per agent differs from the last pass's is changed too, however
  its samples came;
- **open alerts** are written by the evaluator itself; any other difference from what the last
  pass left makes their targets changed;
- **maintenance** starting or ending anywhere makes every target changed (rare);
- **the clock** alone changes a judgement only at instants known when it was made
  (`next_look_ms`): a run's coverage starting or ending (an agent going silent changes the
  quorum), `after` reached, a `repeat` due, an UP stretch lasting `resolve_after`, a flapping
  change leaving the window or the settle time passing. A target is judged again at the first
  of them, and at the latest `LOOK_AGAIN_S` after it was last judged.
So a pass judges the changed and the due targets and leaves the others as a full pass would
leave them: judging them would decide nothing. A check whose runs only grew by newer samples
(same start, state and error: an UP check being probed) changes nothing of its own target but
the ends of those runs, which move later: its target is judged when its other instants come,
not on every push (`Schedule.changes`; the ingest tells each check's oldest new sample).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from slawatch.collector.alerts.facts import Facts
from slawatch.collector.engine.incidents import Runs
from slawatch.collector.engine.timeline import Run
from slawatch.collector.store import OpenAlert
from slawatch.config.schema import AlertRule

if TYPE_CHECKING:
    from slawatch.collector.alerts.judging import AlertState

LOOK_AGAIN_S = 60.0
"""A target is judged at least this often while it is watched (a safety net, not a rule)."""


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


class Schedule:
    """What changed since the last pass, and when each judged target must be looked at again."""

    def __init__(self) -> None:
        self._touched: set[str] = set()
        self._oldest: dict[tuple[str, str], int] = {}
        """(check, agent) → the oldest sample touched since the last `take_touched`."""
        self._unsaid: set[str] = set()
        """Checks touched without saying what samples they got."""
        self._taken: tuple[dict[tuple[str, str], int], set[str]] = ({}, set())
        self._look_at: dict[str, int] = {}
        """Target key → when to judge it again without a change; absent: when it changes."""
        self._others: dict[str, int] = {}
        """Check target key → its `_look_at` but for the ends of its agents' last runs."""
        self._last_runs: Mapping[str, Mapping[str, Run]] | None = None
        self._open: dict[tuple[str, str, str], str] | None = None
        self._maintenance: frozenset[str] | None = None
        self._passed_ms: int | None = None
        """When the last pass judged."""

    def touch(
        self, checks: Iterable[str], oldest: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        """These checks got new samples; `oldest`: (check, agent) → the oldest of them, when
        known (a check whose runs only grew by newer samples need not be judged again)."""
        checks = set(checks)
        self._touched |= checks
        if oldest is None:
            self._unsaid |= checks
            return
        for key, ts_ms in oldest.items():
            known = self._oldest.get(key)
            if known is None or ts_ms < known:
                self._oldest[key] = ts_ms

    def take_touched(self) -> set[str]:
        """The checks touched since the last call (on the event loop, where `touch` is)."""
        touched, self._touched = self._touched, set()
        self._taken = (self._oldest, self._unsaid)
        self._oldest, self._unsaid = {}, set()
        return touched

    def changes(
        self,
        touched: set[str],
        last_runs: Mapping[str, Mapping[str, Run]],
        open_alerts: Iterable[OpenAlert],
        maintenance: frozenset[str],
        now_ms: int,
    ) -> tuple[set[str], set[str], set[str]] | None:
        """(changed checks, target keys changed or due, checks only extended) since the last
        call (`touched`: the checks the ingest touched meanwhile); None: judge every target (the
        first pass, or maintenance changed). The caller judges them, then records each with
        `judged`. A check whose every agent's last run only grew by samples newer than it
        held (same start, state and error, begun by now) is only extended: its own target
        decides nothing new (its instants, but for those runs' ends, which moved, are kept), so
        it is judged only when one of them comes; SLA targets are judged (`_changed_targets`)."""
        previous_runs, self._last_runs = self._last_runs, last_runs
        previous_open = self._open
        self._open = {(a.rule, a.subject, a.topic): a.state for a in open_alerts}
        previous_maintenance, self._maintenance = self._maintenance, maintenance
        passed_ms, self._passed_ms = self._passed_ms, now_ms
        if (
            previous_runs is None
            or previous_open is None
            or previous_maintenance != maintenance
            or passed_ms is None
        ):
            self._look_at.clear()
            return None
        checks = {check for check in touched if check in last_runs}
        checks.update(
            check for check, agents in last_runs.items() if previous_runs.get(check) != agents
        )
        oldest, unsaid = self._taken
        extended = {
            check
            for check in checks
            if check not in unsaid
            and _extended(check, previous_runs.get(check), last_runs[check], oldest, now_ms)
        }
        checks -= extended
        for check in extended:
            target = f"check:{check}"
            others = self._others.get(target)
            if others is not None:
                ends = _ends_look_ms(last_runs[check], passed_ms, now_ms)
                self._look_at[target] = min(others, ends)
        targets = {key for key, at_ms in self._look_at.items() if at_ms <= now_ms}
        for key in previous_open.keys() ^ self._open.keys():
            targets.add(key[1])
        for key, state in self._open.items():
            if previous_open.get(key, state) != state:
                targets.add(key[1])
        return checks, targets, extended

    def committed(
        self, opened: Iterable[OpenAlert], closed: Iterable[tuple[str, str, str]]
    ) -> None:
        """What the pass itself committed: no change for the next one."""
        if self._open is None:
            return
        for alert in opened:
            self._open[(alert.rule, alert.subject, alert.topic)] = alert.state
        for key in closed:
            self._open.pop(key, None)

    def judged(self, target: str, look_at_ms: int | None, others_ms: int | None = None) -> None:
        """`target` judged: look at it again at `look_at_ms` (None: when it changes);
        `others_ms`: the same but for the ends of its agents' last runs (check targets)."""
        if look_at_ms is None:
            self._look_at.pop(target, None)
        else:
            self._look_at[target] = look_at_ms
        if others_ms is None:
            self._others.pop(target, None)
        else:
            self._others[target] = others_ms


def _extended(
    check: str,
    before: Mapping[str, Run] | None,
    now: Mapping[str, Run],
    oldest: Mapping[tuple[str, str], int],
    now_ms: int,
) -> bool:
    """Whether the check's last runs only grew, by samples newer than they held, since
    `before` (see `Schedule.changes`)."""
    if before is None or before.keys() != now.keys():
        return False
    for agent, run in now.items():
        was = before[agent]
        if run == was:
            continue
        first_new = oldest.get((check, agent))
        if (
            first_new is None
            or first_new <= was.last_ts_ms
            or run.start_ms != was.start_ms
            or run.ok != was.ok
            or run.error != was.error
            or run.start_ms > now_ms
        ):
            return False
    return True


def _ends_look_ms(agents: Mapping[str, Run], passed_ms: int, now_ms: int) -> int:
    """The first instant after the last pass (`passed_ms`) at which one of these runs' coverage
    ends (each taken with the next millisecond, as in `next_look_ms`): one that came since is
    due now (an agent that went silent between two passes while the others' runs only grew);
    far away if none."""
    found = [at for run in agents.values() for at in (run.end_ms, run.end_ms + 1) if at > passed_ms]
    return min(found, default=now_ms + _ms(LOOK_AGAIN_S))


def next_look_ms(
    runs: Runs,
    facts: Facts,
    alerts: Sequence[tuple[AlertRule, AlertState | None]],
    now_ms: int,
) -> tuple[int, int]:
    """The first instant after `now_ms` at which the clock alone may change the judgement of a
    target whose runs (those read, future ones included), facts and open alerts (after this
    judgement, per rule) are these (see the module), and the first such instant but for the
    ends of each agent's last run (see `Schedule.changes`). Each instant is taken with the
    next millisecond: some conditions hold from an instant on, others only past it."""
    instants: list[int] = [now_ms + _ms(LOOK_AGAIN_S)]
    ends: list[int] = []
    for agents in runs.values():
        for agent_runs in agents.values():
            for run in agent_runs:
                instants.append(run.start_ms)
                instants.append(run.end_ms)
            if agent_runs:
                ends.append(instants.pop())
    last = facts.segments[-1] if facts.segments else None
    for rule, alert in alerts:
        instants.append(facts.since_ms + _ms(rule.after))
        if last is not None:
            instants.append(last.start_ms + max(1, _ms(rule.resolve_after)))
        if rule.flapping is not None:
            window, settle = _ms(rule.flapping.window), _ms(rule.flapping.settle)
            for change in facts.changes:
                instants.append(change + window)
                instants.append(change + settle)
        if alert is not None and rule.repeat > 0:
            instants.append(alert.last_sent_ms + _ms(rule.repeat))
    others = min(at for instant in instants for at in (instant, instant + 1) if at > now_ms)
    first_end = min(
        (at for instant in ends for at in (instant, instant + 1) if at > now_ms), default=others
    )
    return min(others, first_end), others
