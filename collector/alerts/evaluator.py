"""What triggers an alert (CONTRACT §3.2, issue 5): the state of every watched target now,
judged against the rules, decided into notifications for the outbox.

Targets (`targets`). A check is judged by its quorum state under its own `quorum` (§4.2); an SLA
by its service state (§4.3) under its settings. Both come from the stored runs through the SLA
engine's own sweep (`facts`), so a state here is the state a report shows, and an outage is
named by the error its report incident names (`slawatch.collector.engine.incidents`).
Everything is evaluated *at now* (the injected clock), on ingest and on a timer: an outage that
had already ended when its late samples arrived is never DOWN at now, so it sends nothing.

Per rule and target, an open alert (stored, so restarts and rule edits keep it) is an outage, a
flapping episode, or both:
- DOWN for `after` (measured from the first failing sample of the DOWN run) opens an outage:
  `down`. Still DOWN `repeat` after the last message: `reminder`.
- The outage ends at the first UP stretch after it that lasts `resolve_after`: `resolved`, with
  the outage's start and that end, and how much of it had no data (`unknown_s`). UP for less and
  DOWN again is the same outage. UNKNOWN (no data) neither opens nor closes anything. So every
  `resolved` tells a stretch during which the target was DOWN (or without data), never UP for
  `resolve_after`.
- `flapping.changes` UP/DOWN changes within `flapping.window`: one `flapping` message, then quiet
  (no `down`, no reminder) until no change for `flapping.settle`: then `flapping_ended`, with the
  state it settled in, and `down` if it settled DOWN for `after`. The end of an episode is never
  a `resolved`: only an outage that a `down` opened is resolved, by its own end (even while the
  flapping goes on).
A rule with an `id` keys its open alerts by it, so editing the rule keeps them; otherwise by a
hash of its content (an edited rule starts afresh). Open alerts of rules or targets no longer
configured close quietly.

Also silent monitors (`silences`: `no_data`, `agent_silent`) and, on a slower pace
(`SLA_EVERY_S`), the budget alerts and the weekly digest (`budgets`). Maintenance (the SLA's
config windows and those declared at run time) silences what it covers: a check is covered when
every SLA containing it is in maintenance.

A pass holds the event loop only to read its inputs and to record and commit what it decided:
which targets to judge, the silences, and the judging itself run in a worker thread on what that
pass alone holds. An incremental evaluator (the collector's) judges only the targets whose
inputs changed since they were last judged or whose time came (`schedule`): the same decisions
as judging them all, for a fraction of the work.

Notification ids are stable per (channel, target, event, run[, reminder]) (see
`Outbox.notifications`), and the outbox stores a notification once per channel and id: one
notification per (channel, target, event, run) however many rules match.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

import structlog

from slawatch.collector.alerts import flapping
from slawatch.collector.alerts.budgets import BudgetAlerts
from slawatch.collector.alerts.events import (
    Down,
    Flapping,
    FlappingEnded,
    Reminder,
    Resolved,
)
from slawatch.collector.alerts.facts import Facts, facts_of
from slawatch.collector.alerts.judging import AlertState, Judgement, judge
from slawatch.collector.alerts.outbox import Decision, Outbox, Pass, ms
from slawatch.collector.alerts.pages import Links
from slawatch.collector.alerts.schedule import Schedule, next_look_ms
from slawatch.collector.alerts.silences import ALL_RULES, Silences
from slawatch.collector.alerts.targets import Target, Watch
from slawatch.collector.engine.hours import outside_hours
from slawatch.collector.engine.incidents import Runs
from slawatch.collector.engine.maintenance import Interval, maintenance_intervals
from slawatch.collector.engine.states import State
from slawatch.collector.engine.timeline import Run
from slawatch.collector.store import AlertChanges, OpenAlert, SeenAgent, Store
from slawatch.config.contract import MAX_FUTURE_S
from slawatch.config.schema import AlertRule, Config

log = structlog.get_logger()

SLA_EVERY_S = 30.0
"""Burn rates, breaches and the digest are evaluated at most this often (they read days)."""
LOOKBACK_MIN_S = 900.0
"""Runs read for each target at least this far back (flap windows may ask for more)."""
MAX_LOOKBACK_S = 400 * 86_400.0
STATE = "state"
SUPERSEDED_BY_RESOLVED = ("down", "reminder")
"""What a `resolved` replaces while it still waits in a chat channel's queue (`Outbox`)."""


Entry = tuple[str, AlertRule, AlertState | None]
"""A rule watching a target: its key, the rule, its open alert about the target."""


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What a pass reads from the store (and the checks the ingest touched), before judging."""

    now_ms: int
    open_alerts: Sequence[OpenAlert]
    last_runs: Mapping[str, Mapping[str, Run]]
    maintenance: frozenset[str]
    """The SLAs in maintenance now."""
    seen: Sequence[SeenAgent]
    touched: set[str]
    outside_hours: frozenset[str] = frozenset()
    """The SLAs outside their service hours now (CONTRACT §7): rules with `only_in_hours` are
    quiet about the targets only they count."""


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a pass judges (`Evaluator._plan`), and the silences it found."""

    check_ids: AbstractSet[str]
    open_alerts: Mapping[tuple[str, str, str], OpenAlert]
    needed: Sequence[Target]
    """The targets to judge now."""
    by_target: Mapping[str, Sequence[Entry]]
    silences: Pass


class Evaluator:
    def __init__(
        self,
        store: Store,
        config: Config,
        outbox: Outbox,
        *,
        clock: Callable[[], float] = time.time,
        incremental: bool = False,
    ) -> None:
        """`incremental`: each pass judges only the targets whose inputs changed or whose time
        came (`schedule`); the collector tells it which checks got samples (`touch`)."""
        self.store = store
        self.config = config
        self.outbox = outbox
        self.clock = clock
        self.started_ms = ms(clock())
        self.links = Links(config)
        """Its signer's key is loaded from the store on the first evaluation."""
        self.watch = Watch(config, self.links)
        self.silences = Silences(self.watch, self.started_ms)
        self.budget_alerts = BudgetAlerts(store, config, self.watch)
        self._budgets_at_ms: int | None = None
        self._lock = asyncio.Lock()
        windows = [
            max(r.flapping.window, r.flapping.settle) for r in config.alerts.rules if r.flapping
        ]
        self.lookback_ms = ms(max([LOOKBACK_MIN_S, *windows]))
        self.schedule = Schedule() if incremental else None

    def touch(
        self, checks: Iterable[str], oldest: Mapping[tuple[str, str], int] | None = None
    ) -> None:
        """These checks got new samples (the collector's ingest says so); `oldest`: (check,
        agent) → the oldest sample of them, when known (`Schedule.touch`)."""
        if self.schedule is not None:
            self.schedule.touch(checks, oldest)

    async def evaluate(
        self, *, budgets: bool | None = None, read_ahead: Callable[[], None] | None = None
    ) -> AlertChanges:
        """Judge every target now (incremental: those whose inputs changed or whose time
        came, which decides the same), commit what that decides; returns it.

        `budgets`: also burn rates, breaches and the digest (default: if `SLA_EVERY_S` passed
        since they last were). `read_ahead`: the state alerts read without waiting for a merge
        of late samples the store has due (`Store.ahead_of_merge`); once it has ended, the
        checks this pass judged are touched again and `read_ahead` is called (to pass again).
        One pass at a time.
        """
        async with self._lock:
            try:
                changes = await self._evaluate(budgets, read_ahead)
            except BaseException:
                if self.schedule is not None:  # nothing of it was committed: judge all again
                    self.schedule = Schedule()
                raise
            if self.schedule is not None:
                self.schedule.committed(changes.opened, changes.closed)
            return changes

    async def _evaluate(
        self, budgets: bool | None, read_ahead: Callable[[], None] | None
    ) -> AlertChanges:
        await self.links.signer.load(self.store)
        now_ms = ms(self.clock())
        if budgets is None:
            last = self._budgets_at_ms
            budgets = last is None or now_ms - last >= ms(SLA_EVERY_S)
        work = Pass(now_ms)
        ahead = self.store.ahead_of_merge() if read_ahead else contextlib.nullcontext()
        with ahead as merged:
            # Taken before reading: whatever the ingest touches from now on, the next pass judges
            touched = self.schedule.take_touched() if self.schedule is not None else set()
            inputs = _Inputs(
                now_ms,
                await self.store.open_alerts(),
                await self.store.last_runs(),
                frozenset(await self._in_maintenance(now_ms)),
                await self.store.seen_agents(),
                touched,
                frozenset(self._outside_hours(now_ms)),
            )
            plan = await asyncio.to_thread(self._plan, inputs)
            await self._state_alerts(work, plan, inputs.maintenance, inputs.outside_hours)
        if merged is not None and read_ahead is not None:
            merged.add_done_callback(lambda _: self._merged(touched, read_ahead))
        work.decisions.extend(plan.silences.decisions)  # after the state changes, as before
        work.opened.extend(plan.silences.opened)
        work.closed.extend(plan.silences.closed)
        open_alerts = plan.open_alerts
        if budgets:
            self._budgets_at_ms = now_ms
            try:
                await self.budget_alerts.budgets(work, open_alerts)
            except (ValueError, RuntimeError) as error:  # the state alerts still go out
                log.error("alert_budgets_failed", error=str(error))
            try:
                await self.budget_alerts.weekly_digest(work)
            except (ValueError, RuntimeError) as error:
                log.error("alert_digest_failed", error=str(error))
        self._close_orphans(work, plan.check_ids, open_alerts)
        notifications = [n for d in work.decisions for n in self.outbox.notifications(d, now_ms)]
        changes = AlertChanges(notifications, work.opened, work.closed, work.marks)
        await self.outbox.commit(changes)
        return changes

    def _merged(self, checks: set[str], read_ahead: Callable[[], None]) -> None:
        """The merge a pass went ahead of has ended: its checks are judged again, whole."""
        self.touch(checks)
        read_ahead()

    def _outside_hours(self, now_ms: int) -> set[str]:
        """The SLAs outside their service hours now (§7)."""
        now = Interval(now_ms, now_ms + 1)
        return {sla.id for sla in self.config.slas if outside_hours(sla, now)}

    async def _in_maintenance(self, now_ms: int) -> set[str]:
        """The SLAs in maintenance now, config windows and declared ones."""
        now = Interval(now_ms, now_ms + 1)
        declared = await self.store.declared_maintenance(None, now_ms, now_ms + 1)
        found = set()
        for sla in self.config.slas:
            mine = [Interval(d.start_ms, d.end_ms) for d in declared if sla.id in d.slas]
            if maintenance_intervals(sla.maintenance, sla.timezone, now, mine):
                found.add(sla.id)
        return found

    # ------------------------------------------------------------------------- state alerts

    def _plan(self, inputs: _Inputs) -> _Plan:
        """What this pass judges, and the silences; in a worker thread, on inputs that only
        this pass holds (the Watch's caches are the evaluator's: one pass at a time)."""
        now_ms = inputs.now_ms
        open_alerts = {(a.rule, a.subject, a.topic): a for a in inputs.open_alerts}
        check_ids = self.watch.check_ids(inputs.last_runs)
        known = self.watch.check_id_set(inputs.last_runs)
        changed = None
        if self.schedule is not None:
            changed = self.schedule.changes(
                inputs.touched,
                inputs.last_runs,
                inputs.open_alerts,
                # service hours opening or closing silence and unsilence like maintenance
                inputs.maintenance | {f"hours:{sla}" for sla in inputs.outside_hours},
                now_ms,
            )
        if changed is None:
            watched = self.watch.targets(check_ids)
        else:
            watched = self._changed_targets(known, *changed)
        by_target: dict[str, list[Entry]] = defaultdict(list)
        targets: dict[str, Target] = {}
        for key, rule, target in watched:
            row = open_alerts.get((key, target.key, STATE))
            alert = AlertState.from_json(row.state) if row else None
            by_target[target.key].append((key, rule, alert))
            targets[target.key] = target
        maintenance = set(inputs.maintenance)
        needed = []
        for target in targets.values():
            entries = by_target[target.key]
            quiet_before = now_ms - self.lookback_ms if _flap_rules(entries) else now_ms
            if any(alert for _, _, alert in entries) or not (
                target.silenced(maintenance)
                or all(
                    _quiet(inputs.last_runs.get(c, {}), quiet_before) for c in target.sweep.checks
                )
            ):
                needed.append(target)
            elif self.schedule is not None:  # nothing to judge until its inputs change
                self.schedule.judged(target.key, None)
        silences = Pass(now_ms)
        if self.schedule is None or self.silences.due(
            now_ms, inputs.touched, inputs.last_runs, open_alerts, inputs.seen
        ):
            self.silences.sweep(silences, inputs.last_runs, inputs.seen, maintenance, open_alerts)
        return _Plan(known, open_alerts, needed, by_target, silences)

    def _changed_targets(
        self, known: AbstractSet[str], checks: set[str], keys: set[str], extended: set[str]
    ) -> list[tuple[str, AlertRule, Target]]:
        """The watched (rule key, rule, target) whose checks changed or whose key is in `keys`;
        SLA targets also when a check of theirs was only `extended` (`Schedule.changes`)."""
        due = {c for c in checks if c in known}
        due.update(k[len("check:") :] for k in keys if k.startswith("check:"))
        return [
            (key, rule, target)
            for key, rule, target in self.watch.targets(sorted(due & known))
            if target.subject.kind == "check"
            or target.key in keys
            or not checks.isdisjoint(target.sweep.checks)
            or (target.subject.kind == "sla" and not extended.isdisjoint(target.sweep.checks))
        ]

    async def _state_alerts(
        self,
        work: Pass,
        plan: _Plan,
        maintenance: frozenset[str],
        closed: frozenset[str] = frozenset(),
    ) -> None:
        now_ms = work.now_ms
        needed, by_target = plan.needed, plan.by_target
        checks = sorted({c for t in needed for c in t.sweep.checks})
        start_ms = now_ms - self.lookback_ms
        runs = await self.store.runs(checks, start_ms, now_ms + ms(MAX_FUTURE_S) + 1)
        judged = await asyncio.to_thread(
            self._judge_targets,
            needed,
            by_target,
            runs,
            (start_ms, now_ms),
            maintenance,
            closed=closed,
        )
        known: Runs | None = None
        for target, short, short_judgements in judged:
            entries = by_target[target.key]
            if short is not None:
                facts, judgements = short, short_judgements
            else:  # its facts need runs from further back
                known = _until(runs, now_ms) if known is None else known
                further = await self._judged_from_further(
                    target, known, (start_ms, now_ms), entries, set(maintenance), closed=closed
                )
                if further is None:
                    self._look_again(target, runs, None, [], now_ms)
                    continue
                facts, judgements = further
                after = [(r, j.after) for (_, r, _), j in zip(entries, judgements, strict=True)]
                self._look_again(target, runs, facts, after, now_ms)
            for (key, rule, alert), judgement in zip(entries, judgements, strict=True):
                self._record(work, (key, rule, target), alert, judgement, facts)

    async def _judged_from_further(
        self,
        target: Target,
        runs: Runs,
        read: tuple[int, int],
        entries: Sequence[Entry],
        maintenance: set[str],
        *,
        closed: frozenset[str] = frozenset(),
    ) -> tuple[Facts, list[Judgement]] | None:
        """`_judge_targets` for one target whose facts need runs from further back; None when
        the engine refuses its runs (logged: the others are judged)."""
        try:
            facts = await self._target_facts(target, runs, read, entries, maintenance)
        except ValueError as error:
            log.error("alert_target_failed", target=target.key, error=str(error))
            return None
        return facts, _judge_rules(
            entries, facts, read[1], target.silenced(maintenance), target.silenced(set(closed))
        )

    def _judge_targets(
        self,
        needed: Sequence[Target],
        by_target: Mapping[str, Sequence[Entry]],
        runs: Runs,
        read: tuple[int, int],
        maintenance: frozenset[str],
        *,
        closed: frozenset[str] = frozenset(),
    ) -> list[tuple[Target, Facts | None, list[Judgement]]]:
        """The facts and the rules' judgements of the targets whose judgement changes something
        (and when to judge each target again); in a worker thread, on inputs that only this pass
        holds. Facts None: they need runs from further back (the caller reads them), or the
        engine refused the runs (the caller logs it)."""
        now_ms = read[1]
        known = _until(runs, now_ms)
        found: list[tuple[Target, Facts | None, list[Judgement]]] = []
        for target in needed:
            entries = by_target[target.key]
            try:
                facts = self._short_facts(target, known, read, entries, maintenance)
            except ValueError:  # the caller logs it
                found.append((target, None, []))
                continue
            if facts is None:
                found.append((target, None, []))
                continue
            judgements = _judge_rules(
                entries, facts, now_ms, target.silenced(maintenance), target.silenced(set(closed))
            )
            after = [(r, j.after) for (_, r, _), j in zip(entries, judgements, strict=True)]
            self._look_again(target, runs, facts, after, now_ms)
            if any(
                j.decided or j.after != alert
                for (_, _, alert), j in zip(entries, judgements, strict=True)
            ):
                found.append((target, facts, judgements))
        return found

    def _short_facts(
        self,
        target: Target,
        runs: Runs,
        read: tuple[int, int],
        entries: Sequence[Entry],
        maintenance: frozenset[str],
    ) -> Facts | None:
        """`_target_facts` from the runs read; None when they need runs from further back."""
        start_ms, now_ms = read
        facts = facts_of(target, runs, start_ms, now_ms)
        if facts.since_ms <= start_ms and self._needs_since(
            facts, entries, target, set(maintenance)
        ):
            return None
        outages = [(a.run_ms, rule) for _, rule, a in entries if a is not None and a.outage]
        if outages:
            opened_ms = min(run_ms for run_ms, _ in outages)
            quickest_ms = min(ms(rule.resolve_after) for _, rule in outages)
            if (
                opened_ms < facts.read_from_ms
                and facts.recovery_ms(opened_ms, quickest_ms) is not None
            ):
                return None
        return facts

    def _look_again(
        self,
        target: Target,
        runs: Runs,
        facts: Facts | None,
        alerts: Sequence[tuple[AlertRule, AlertState | None]],
        now_ms: int,
    ) -> None:
        """When the schedule judges `target` again if nothing changes (see `schedule`)."""
        if self.schedule is None:
            return
        if facts is None:  # not judged: at the next pass
            self.schedule.judged(target.key, now_ms)
            return
        mine = {c: runs[c] for c in target.sweep.checks if c in runs}
        look_at_ms, others_ms = next_look_ms(mine, facts, alerts, now_ms)
        own = target.subject.kind == "check"  # SLA targets: judged whenever a check changes
        self.schedule.judged(target.key, look_at_ms, others_ms if own else None)

    async def _target_facts(
        self,
        target: Target,
        runs: Runs,
        read: tuple[int, int],
        entries: Sequence[Entry],
        maintenance: set[str],
    ) -> Facts:
        """The target's facts from the runs `read` (start, now), or from further back when the
        start of its current state, or of an open outage that may have ended, lies before."""
        start_ms, now_ms = read
        facts = facts_of(target, runs, start_ms, now_ms)
        if facts.since_ms <= start_ms and self._needs_since(facts, entries, target, maintenance):
            facts = await self._longer_facts(target, now_ms)
        outages = [(a.run_ms, rule) for _, rule, a in entries if a is not None and a.outage]
        if not outages:
            return facts
        opened_ms = min(run_ms for run_ms, _ in outages)
        quickest_ms = min(ms(rule.resolve_after) for _, rule in outages)
        if (
            opened_ms < facts.read_from_ms and facts.recovery_ms(opened_ms, quickest_ms) is not None
        ):  # a recovery: read the whole outage, for its time without data
            facts = await self._facts_from(target, opened_ms, now_ms)
        return facts

    def _needs_since(
        self, facts: Facts, entries: Sequence[Entry], target: Target, maintenance: set[str]
    ) -> bool:
        """Whether the start of the current state matters to some rule now."""
        if facts.state is State.DOWN:
            if any(alert is None for _, _, alert in entries):
                return not target.silenced(maintenance)
            return any(alert and alert.flapping_since_ms is not None for _, _, alert in entries)
        return facts.state is State.UP and any(alert for _, _, alert in entries)

    async def _longer_facts(self, target: Target, now_ms: int) -> Facts:
        """Facts from runs read further back, until the current state's start is inside."""
        lookback = self.lookback_ms * 4
        while True:
            facts = await self._facts_from(target, now_ms - lookback, now_ms)
            if facts.since_ms > facts.read_from_ms or lookback >= ms(MAX_LOOKBACK_S):
                return facts
            lookback *= 4

    async def _facts_from(self, target: Target, start_ms: int, now_ms: int) -> Facts:
        runs = await self.store.runs(list(target.sweep.checks), start_ms, now_ms + 1)
        return facts_of(target, runs, start_ms, now_ms)

    def _record(
        self,
        work: Pass,
        watch: tuple[str, AlertRule, Target],
        before: AlertState | None,
        judged: Judgement,
        facts: Facts,
    ) -> None:
        """The open alert as `judge` left it, and the notifications it decided (each about the
        alert as it stood when it was decided)."""
        key, rule, target = watch
        if judged.after is None and before is not None:
            work.closed.append((key, target.key, STATE))
        elif judged.after is not None and judged.after != before:
            work.opened.append(OpenAlert(key, target.key, STATE, judged.after.to_json()))
        for kind, about in judged.decided:
            if rule.sends("flapping" if kind == "flapping_ended" else kind):
                decision = self._decision(work, kind, watch, facts, about, flap=judged.flap)
                work.decisions.append(decision)

    def _decision(
        self,
        work: Pass,
        kind: str,
        watch: tuple[str, AlertRule, Target],
        facts: Facts,
        current: AlertState,
        *,
        flap: flapping.Flap | None,
    ) -> Decision:
        """The notification of `kind` about the alert `current`."""
        _, rule, target = watch
        run_ms = current.run_ms
        link = self.links.link(target.page, work.now_ms)
        common: dict[str, Any] = {"id": "", "at": work.at, "subject": target.subject, "link": link}
        event: Any
        supersedes: tuple[str, ...] = ()
        key: tuple[object, ...] = (target.key, kind, run_ms)
        if kind == "down":
            event = Down(
                **common,
                since=run_ms / 1000,
                error=current.error,
                agents=facts.agents,
                checks=facts.down_checks,
            )
        elif kind == "reminder":
            event = Reminder(
                **common,
                since=run_ms / 1000,
                error=current.error,
                agents=facts.agents,
                checks=facts.down_checks,
            )
            key = (*key, current.reminders)
        elif kind == "resolved":
            up_ms = facts.recovery_ms(run_ms, ms(rule.resolve_after))
            assert up_ms is not None
            event = Resolved(
                **common,
                down_since=run_ms / 1000,
                duration_s=(up_ms - run_ms) / 1000,
                error=current.error,
                unknown_s=facts.unknown_ms(run_ms, up_ms) / 1000,
            )
            supersedes = SUPERSEDED_BY_RESOLVED
        elif kind == "flapping_ended":
            assert current.flapping_since_ms is not None
            event = FlappingEnded(
                **common,
                state=facts.state.value,
                since=facts.since_ms / 1000,
                flapping_since=current.flapping_since_ms / 1000,
                error=facts.error,
            )
            key = (*key, current.flapping_since_ms)
        else:
            assert flap is not None and rule.flapping is not None
            event = Flapping(
                **common,
                changes=flap.changes,
                window_s=rule.flapping.window,
                state=facts.state.value,
                since=flap.since_ms / 1000,
                error=facts.error or current.error,
            )
            key = (*key, flap.since_ms)
        return Decision(event, key, rule.channels, target.key, run_ms, supersedes)

    # ----------------------------------------------------------------------------- orphans

    def _close_orphans(
        self,
        work: Pass,
        known: AbstractSet[str],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    ) -> None:
        """Open alerts whose rule or target is no longer configured close without a message."""
        for rule, subject, topic in open_alerts:
            if rule != ALL_RULES and not self.watch.watches(rule, subject, known):
                work.closed.append((rule, subject, topic))
                log.info("alert_forgotten", rule=rule, subject=subject, topic=topic)


def _judge_rules(
    entries: Sequence[Entry], facts: Facts, now_ms: int, silenced: bool, closed: bool = False
) -> list[Judgement]:
    """Each rule's judgement; `closed`: the target is outside service hours, where rules with
    `only_in_hours` are quiet (CONTRACT §7)."""
    return [
        judge(rule, facts, alert, now_ms, silenced=silenced or (closed and rule.only_in_hours))
        for _, rule, alert in entries
    ]


def _until(runs: Runs, now_ms: int) -> Runs:
    """The runs begun by now (those read may reach into the future)."""
    found: dict[str, dict[str, list[Run]]] = {}
    for check, agents in runs.items():
        for agent, agent_runs in agents.items():
            begun = [run for run in agent_runs if run.start_ms <= now_ms]
            if begun:
                found.setdefault(check, {})[agent] = begun
    return found


def _quiet(agents: Mapping[str, Run], before_ms: int) -> bool:
    """No agent's last run is DOWN or began after `before_ms`: the target was UP or UNKNOWN
    throughout since then, with no change."""
    return all(run.ok and run.start_ms <= before_ms for run in agents.values())


def _flap_rules(entries: Sequence[Entry]) -> bool:
    """Whether a rule of these watches for flapping: only such a rule needs the changes of the
    lookback. Without an open alert, the others decide something only about a target DOWN now
    (a `down`), and one whose every agent's last run is UP and begun by now is UP or UNKNOWN
    now (issue 15: a fleet that just started, every check UP, is not judged every pass)."""
    return any(rule.flapping is not None and rule.sends("flapping") for _, rule, _ in entries)
