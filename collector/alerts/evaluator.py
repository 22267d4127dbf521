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

Notification ids are stable per (channel, target, event, run[, reminder]) (see
`Outbox.notifications`), and the outbox stores a notification once per channel and id: one
notification per (channel, target, event, run) however many rules match.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
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
from slawatch.collector.alerts.outbox import Decision, Outbox, Pass, ms
from slawatch.collector.alerts.pages import Links
from slawatch.collector.alerts.silences import ALL_RULES, Silences
from slawatch.collector.alerts.targets import Target, Watch
from slawatch.collector.engine.hours import outside_hours
from slawatch.collector.engine.incidents import Runs
from slawatch.collector.engine.maintenance import Interval, maintenance_intervals
from slawatch.collector.engine.states import State
from slawatch.collector.engine.timeline import Run
from slawatch.collector.store import AlertChanges, OpenAlert, Store
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


@dataclass(slots=True)
class AlertState:
    """An open alert of one rule about one target (stored as JSON)."""

    run_ms: int
    """The identity of its notifications: the outage's start, or, for a flapping episode that
    began with no outage open, the episode's first change."""
    last_sent_ms: int
    """When the last down, reminder or flapping message was decided (`repeat` counts from it)."""
    error: str | None = None
    reminders: int = 0
    flapping_since_ms: int | None = None
    """Set while flapping: quiet until the target settles."""
    outage: bool = True
    """An outage is open (a `down` was decided for it): only its recovery closes it, with a
    `resolved`. False for a flapping episode alone."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AlertState:
        fields = json.loads(text)
        if "outage" not in fields:  # stored before episodes and outages were told apart
            episode = fields.get("flapping_since_ms")
            fields["outage"] = episode is None or episode != fields["run_ms"]
        return cls(**fields)


Entry = tuple[str, AlertRule, AlertState | None]
"""A rule watching a target: its key, the rule, its open alert about the target."""


class Evaluator:
    def __init__(
        self,
        store: Store,
        config: Config,
        outbox: Outbox,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
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

    async def evaluate(self, *, budgets: bool | None = None) -> AlertChanges:
        """Judge every target now, commit what that decides; returns it.

        `budgets`: also burn rates, breaches and the digest (default: if `SLA_EVERY_S` passed
        since they last were). One pass at a time.
        """
        async with self._lock:
            return await self._evaluate(budgets)

    async def _evaluate(self, budgets: bool | None) -> AlertChanges:
        await self.links.signer.load(self.store)
        now_ms = ms(self.clock())
        if budgets is None:
            last = self._budgets_at_ms
            budgets = last is None or now_ms - last >= ms(SLA_EVERY_S)
        work = Pass(now_ms)
        open_alerts = {(a.rule, a.subject, a.topic): a for a in await self.store.open_alerts()}
        last_runs = await self.store.last_runs()
        maintenance = await self._in_maintenance(now_ms)
        watched = self.watch.targets(self.watch.check_ids(last_runs))
        await self._state_alerts(work, watched, open_alerts, last_runs, maintenance)
        seen = await self.store.seen_agents()
        self.silences.no_data(work, last_runs, seen, maintenance, open_alerts)
        self.silences.agent_silent(work, last_runs, seen, maintenance, open_alerts)
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
        self._close_orphans(work, watched, open_alerts)
        notifications = [n for d in work.decisions for n in self.outbox.notifications(d, now_ms)]
        changes = AlertChanges(notifications, work.opened, work.closed, work.marks)
        await self.outbox.commit(changes)
        return changes

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

    def _outside_hours(self, now_ms: int) -> set[str]:
        """The SLAs outside their service hours now (§7): rules with `only_in_hours` are quiet
        about what only they cover."""
        now = Interval(now_ms, now_ms + 1)
        return {sla.id for sla in self.config.slas if outside_hours(sla, now)}

    # ------------------------------------------------------------------------- state alerts

    async def _state_alerts(
        self,
        work: Pass,
        watched: Sequence[tuple[str, AlertRule, Target]],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
        last_runs: Mapping[str, Mapping[str, Run]],
        maintenance: set[str],
    ) -> None:
        now_ms = work.now_ms
        by_target: dict[str, list[Entry]] = defaultdict(list)
        targets: dict[str, Target] = {}
        for key, rule, target in watched:
            row = open_alerts.get((key, target.key, STATE))
            alert = AlertState.from_json(row.state) if row else None
            by_target[target.key].append((key, rule, alert))
            targets[target.key] = target
        quiet_before = now_ms - self.lookback_ms
        outside_hours = self._outside_hours(now_ms)
        needed = [
            target
            for target in targets.values()
            if any(alert for _, _, alert in by_target[target.key])
            or not (
                target.silenced(maintenance)
                or all(_quiet(last_runs.get(c, {}), quiet_before) for c in target.sweep.checks)
            )
        ]
        checks = sorted({c for t in needed for c in t.sweep.checks})
        start_ms = now_ms - self.lookback_ms
        runs = await self.store.runs(checks, start_ms, now_ms + 1)
        for target in needed:
            entries = by_target[target.key]
            try:
                facts = await self._target_facts(
                    target, runs, (start_ms, now_ms), entries, maintenance
                )
            except ValueError as error:  # runs the engine refuses: judge the others
                log.error("alert_target_failed", target=target.key, error=str(error))
                continue
            silenced = target.silenced(maintenance)
            closed = target.silenced(outside_hours)
            for key, rule, alert in entries:
                quiet = silenced or (rule.only_in_hours and closed)
                judged = judge(rule, facts, alert, now_ms, silenced=quiet)
                self._record(work, (key, rule, target), alert, judged, facts)

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
        common = {"id": "", "at": work.at, "subject": target.subject, "link": link}
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
        watched: Sequence[tuple[str, AlertRule, Target]],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    ) -> None:
        """Open alerts whose rule or target is no longer configured close without a message."""
        keys = {(key, target.key) for key, _, target in watched}
        for rule, subject, topic in open_alerts:
            if rule != ALL_RULES and (rule, subject) not in keys:
                work.closed.append((rule, subject, topic))
                log.info("alert_forgotten", rule=rule, subject=subject, topic=topic)


@dataclass(frozen=True, slots=True)
class Judgement:
    after: AlertState | None
    """The open alert after this evaluation (None: closed, or none opened)."""
    decided: tuple[tuple[str, AlertState], ...]
    """The notifications decided, in order: (kind, the alert they are about)."""
    flap: flapping.Flap | None


def judge(
    rule: AlertRule, facts: Facts, alert: AlertState | None, now_ms: int, *, silenced: bool
) -> Judgement:
    """One rule's view of one target: the state machine of the module's docstring."""
    flap = (
        flapping.detect(facts.changes, now_ms, rule.flapping)
        if rule.flapping and rule.sends("flapping")
        else None
    )
    decided: list[tuple[str, AlertState]] = []
    after = alert
    resolve_after_ms = ms(rule.resolve_after)
    if (
        after is not None
        and after.outage
        and facts.recovery_ms(after.run_ms, resolve_after_ms) is not None
    ):
        decided.append(("resolved", after))
        flapping_on = after.flapping_since_ms is not None
        after = dataclasses.replace(after, outage=False) if flapping_on else None
    if after is not None and after.flapping_since_ms is not None:
        settings = rule.flapping
        if facts.state is State.UNKNOWN or (
            settings is not None and not flapping.settled(facts.changes, now_ms, settings)
        ):
            return Judgement(after, tuple(decided), flap)  # quiet while it flaps
        decided.append(("flapping_ended", after))
        after = dataclasses.replace(after, flapping_since_ms=None) if after.outage else None
    if after is None and not silenced and facts.state is not State.UNKNOWN:
        if flap is not None:
            after = AlertState(flap.since_ms, now_ms, facts.error, 0, flap.since_ms, outage=False)
            decided.append(("flapping", after))
        elif facts.state is State.DOWN and now_ms - facts.since_ms >= ms(rule.after):
            after = AlertState(facts.since_ms, now_ms, facts.error)
            decided.append(("down", after))
    elif after is not None and after.flapping_since_ms is None and not silenced:
        if flap is not None:
            after = dataclasses.replace(after, flapping_since_ms=flap.since_ms)
            decided.append(("flapping", after))
        elif (
            facts.state is State.DOWN
            and rule.repeat > 0
            and now_ms - after.last_sent_ms >= ms(rule.repeat)
        ):
            after = dataclasses.replace(after, reminders=after.reminders + 1, last_sent_ms=now_ms)
            decided.append(("reminder", after))
    return Judgement(after, tuple(decided), flap)


def _quiet(agents: Mapping[str, Run], before_ms: int) -> bool:
    """No agent's last run is DOWN or began after `before_ms`: the target was UP or UNKNOWN
    throughout since then, with no change."""
    return all(run.ok and run.start_ms <= before_ms for run in agents.values())
