"""What triggers an alert (CONTRACT §3.2, issue 5): the state of every watched target now,
judged against the rules, decided into notifications for the outbox.

Targets. A check is judged by its quorum state under its own `quorum` (§4.2); an SLA by its
service state (§4.3) under its settings. Both come from the stored runs through the SLA engine's
own sweep (`slawatch.collector.engine.sla.service_timeline`), so a state here is the state a report
shows.
Everything is evaluated *at now* (the injected clock), on ingest and on a timer: an outage that
had already ended when its late samples arrived is never DOWN at now, so it sends nothing.

Per rule and target, an open alert (stored, so restarts and rule edits keep it):
- DOWN for `after` (measured from the first failing sample of the DOWN run) opens it: `down`.
- Still DOWN `repeat` after the last message: `reminder`.
- UP for `resolve_after` closes it: `resolved`, with the outage's start and length, and how much
  of that length had no data (`unknown_s`). UP for less and DOWN again is the same outage.
  UNKNOWN (no data) neither opens nor closes anything.
- `flapping.changes` UP/DOWN changes within `flapping.window`: one `flapping` message, then
  quiet until no change for `flapping.settle`; then `down` or `resolved` as the state is.
A rule with an `id` keys its open alerts by it, so editing the rule keeps them; otherwise by a
hash of its content (an edited rule starts afresh). Open alerts of rules or targets no longer
configured close quietly.

Also: `no_data` when every agent of a check has been silent for its `no_data` (default two
intervals); `agent_silent` when an agent has not pushed for max(2 × its shortest interval,
60 s) — both counted from the collector's own start at the earliest, so a collector restart
does not read as silence, and each told once per silence (an open alert of `ALL_RULES` until
data returns). Maintenance (the SLA's config windows and those declared at run
time) silences what it covers: a check is covered when every SLA containing it is in
maintenance.
On the slower budget pace (`SLA_EVERY_S`): burn rate (`burn`) and "objective breached" per
SLA, and the weekly digest (`digest`). Breached is the report's verdict (§4.8,
`slawatch.collector.engine.verdict`): the period can no longer meet its objective, its down time
exceeding the error budget of the whole period, whatever the availability so far; once per
period.

Notification ids are stable per (channel, target, event, run[, reminder]) (see
`Outbox.notifications`), and the outbox stores a notification once per channel and id: one
notification per (channel, target, event, run) however many rules match.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from ipaddress import ip_address
from typing import Any
from urllib.parse import quote, urlencode

import structlog

from slawatch.collector.alerts import burn, digest, flapping
from slawatch.collector.alerts.events import (
    AgentSilent,
    AgentView,
    BurnRate,
    Down,
    Flapping,
    NoData,
    ObjectiveBreached,
    Reminder,
    Resolved,
    Subject,
)
from slawatch.collector.alerts.outbox import Decision, Outbox, ms
from slawatch.collector.engine.maintenance import Interval, maintenance_intervals
from slawatch.collector.engine.periods import current_window, period_label
from slawatch.collector.engine.sla import Report, service_timeline
from slawatch.collector.engine.states import State
from slawatch.collector.engine.timeline import Run
from slawatch.collector.links import LinkSigner
from slawatch.collector.reports.build import summaries
from slawatch.collector.store import AlertChanges, OpenAlert, Store
from slawatch.config.schema import AlertRule, Config, HostPort, Sla

log = structlog.get_logger()

SLA_EVERY_S = 30.0
"""Burn rates, breaches and the digest are evaluated at most this often (they read days)."""
LOOKBACK_MIN_S = 900.0
"""Runs read for each target at least this far back (flap windows may ask for more)."""
MAX_LOOKBACK_S = 400 * 86_400.0
AGENT_SILENT_MIN_S = 60.0
STATE = "state"
BURN = "burn"
NO_DATA = "no_data"
AGENT_SILENT = "agent_silent"
ALL_RULES = "*"
"""The rule of the open alerts of silences: one notification per channel, whichever rules
watch them (never a rule's key: ids cannot start with `*`)."""
SUPERSEDED_BY_RESOLVED = ("down", "reminder", "flapping")


# ------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True, slots=True)
class Target:
    """Something with an UP/DOWN state that rules watch: a check, or an SLA's service."""

    key: str
    """"check:web" or "sla:shop": the subject of its notifications."""
    subject: Subject
    sweep: Sla
    """What `service_timeline` sweeps: the SLA itself, or a one-check SLA under the check's
    quorum."""
    covering: tuple[str, ...]
    """The SLAs whose maintenance, all together, silences it."""
    page: Page | None
    """What its messages link to."""


@dataclass(frozen=True, slots=True)
class Facts:
    """A target's state at now and the recent history that matters to alerts."""

    state: State
    since_ms: int
    """When the current state began (or the start of the runs read, if earlier)."""
    changes: tuple[int, ...]
    """Instants of UP/DOWN changes within the runs read (see `flapping.changes`)."""
    error: str | None = None
    """DOWN: the error of the run's first failing sample."""
    agents: tuple[AgentView, ...] = ()
    """Check targets: what each agent sees now."""
    down_checks: tuple[str, ...] = ()
    """SLA targets: the checks DOWN now."""
    read_from_ms: int = 0
    """Where the runs read start: nothing before it is known here."""
    unknown: tuple[tuple[int, int], ...] = ()
    """The UNKNOWN stretches (start, end) from `read_from_ms` to now."""

    def unknown_ms(self, start_ms: int, end_ms: int) -> int:
        """Time without data within [start_ms, end_ms)."""
        return sum(max(0, min(end, end_ms) - max(start, start_ms)) for start, end in self.unknown)


@dataclass(slots=True)
class AlertState:
    """An open alert of one rule about one target (stored as JSON)."""

    run_ms: int
    """The outage's start: the identity of its notifications."""
    last_sent_ms: int
    """When the last down, reminder or flapping message was decided (`repeat` counts from it)."""
    error: str | None = None
    reminders: int = 0
    flapping_since_ms: int | None = None
    """Set while flapping: quiet until the target settles."""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AlertState:
        return cls(**json.loads(text))


@dataclass(slots=True)
class _Pass:
    """What one evaluation decides, committed at its end in one transaction."""

    now_ms: int
    decisions: list[Decision] = field(default_factory=list)
    opened: list[OpenAlert] = field(default_factory=list)
    closed: list[tuple[str, str, str]] = field(default_factory=list)
    marks: list[tuple[str, int]] = field(default_factory=list)

    @property
    def at(self) -> float:
        return self.now_ms / 1000


def rule_key(rule: AlertRule) -> str:
    """The rule's id, or a hash of its content."""
    if rule.id:
        return rule.id
    return "sha256:" + hashlib.sha256(repr(rule).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the collector a message links to."""

    path: str
    query: tuple[tuple[str, str], ...] = ()
    public: bool = False
    """Readable without a token (a public status page): linked without a signature."""


class Links:
    """Where messages point, as links that open with a click (`slawatch.collector.links`): the
    status page of the target's customer, else the SLA's HTML report; signed for `links.VALID_S`
    unless the page is public. Never an admin-only page: a check no customer's SLA uses links
    to its SLA's report, and a check in no SLA (or an agent) to nothing.

    Without `collector.public_url`, links use `collector.listen`, with 127.0.0.1 (or [::1])
    for a wildcard address (`guessed`: the service warns at start)."""

    def __init__(self, config: Config, signer: LinkSigner | None = None) -> None:
        self.signer = signer if signer is not None else LinkSigner()
        collector = config.collector
        self.guessed = False
        if collector is None:
            self.base = ""
        elif collector.public_url:
            self.base = collector.public_url.rstrip("/")
        else:
            host = collector.listen.host
            if _unspecified(host):
                self.guessed = True
                host = "::1" if ":" in host else "127.0.0.1"
            self.base = f"http://{HostPort(host, collector.listen.port)}"
        customers = collector.customers if collector else ()
        self._public = {c.id for c in customers if c.public_status}
        self._slas_of: dict[str, list[Sla]] = defaultdict(list)
        for sla in config.slas:
            for check in sla.checks:
                self._slas_of[check].append(sla)

    def url(self, page: Page, now_ms: int) -> str:
        if page.public:
            query = f"?{urlencode(page.query)}" if page.query else ""
            return f"{self.base}{page.path}{query}"
        return self.base + self.signer.sign(page.path, page.query, now=now_ms / 1000)

    def link(self, page: Page | None, now_ms: int) -> str | None:
        return None if page is None else self.url(page, now_ms)

    def sla(self, sla: Sla) -> Page:
        return self.status(sla.customer) if sla.customer else self.report(sla.id)

    def check(self, check_id: str) -> Page | None:
        slas = self._slas_of.get(check_id, [])
        customer = next((s.customer for s in slas if s.customer), None)
        if customer:
            return self.status(customer)
        return self.report(slas[0].id) if slas else None

    def status(self, customer: str) -> Page:
        return Page(f"/status/{quote(customer)}", public=customer in self._public)

    def report(self, sla_id: str, period: str | None = None) -> Page:
        query = [("format", "html")] + ([("period", period)] if period else [])
        return Page(f"/api/v1/slas/{quote(sla_id)}/report", tuple(query))

    def report_url(self, sla_id: str, period: str, now_ms: int) -> str:
        """The link to the SLA's printable report of `period`."""
        return self.url(self.report(sla_id, period), now_ms)

    def health(self) -> str:
        """Where a test message points: it proves the links' base reaches this collector."""
        return f"{self.base}/healthz"


# --------------------------------------------------------------------------------- evaluator


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
        self.rules = [(rule_key(rule), rule) for rule in config.alerts.rules]
        self._budgets_at_ms: int | None = None
        self._lock = asyncio.Lock()
        self._checks = {check.id: check for check in config.checks}
        self._check_targets: dict[str, Target] = {}
        self._watchers: dict[str, list[tuple[str, AlertRule]]] = {}
        """check id → the rules whose globs match it (the config does not change)."""
        self._channels: dict[tuple[str, str], tuple[str, ...]] = {}
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
        work = _Pass(now_ms)
        open_alerts = {(a.rule, a.subject, a.topic): a for a in await self.store.open_alerts()}
        last_runs = await self.store.last_runs()
        maintenance = await self._in_maintenance(now_ms)
        watched = self.targets(self.check_ids(last_runs))
        await self._state_alerts(work, watched, open_alerts, last_runs, maintenance)
        self._no_data(work, last_runs, maintenance, open_alerts)
        await self._agent_silent(work, last_runs, maintenance, open_alerts)
        if budgets:
            self._budgets_at_ms = now_ms
            try:
                await self._budgets(work, open_alerts)
            except (ValueError, RuntimeError) as error:  # the state alerts still go out
                log.error("alert_budgets_failed", error=str(error))
            try:
                await self._digest(work)
            except (ValueError, RuntimeError) as error:
                log.error("alert_digest_failed", error=str(error))
        self._close_orphans(work, watched, open_alerts)
        notifications = [n for d in work.decisions for n in self.outbox.notifications(d, now_ms)]
        changes = AlertChanges(notifications, work.opened, work.closed, work.marks)
        await self.outbox.commit(changes)
        return changes

    # ------------------------------------------------------------------------------ targets

    def check_ids(self, last_runs: Mapping[str, object]) -> list[str]:
        return sorted(self._checks.keys() | set(last_runs))

    def targets(self, check_ids: Iterable[str]) -> list[tuple[str, AlertRule, Target]]:
        """Every (rule key, rule, target) the rules watch."""
        found = [
            (key, rule, self.check_target(check))
            for check in check_ids
            for key, rule in self.watchers(check)
        ]
        for key, rule in self.rules:
            for sla_id in rule.slas:
                sla = self.config.sla(sla_id)
                if sla is not None:
                    found.append((key, rule, self.sla_target(sla)))
        return found

    def watchers(self, check_id: str) -> list[tuple[str, AlertRule]]:
        """The rules (key, rule) whose globs match the check."""
        found = self._watchers.get(check_id)
        if found is None:
            found = [
                (key, rule)
                for key, rule in self.rules
                if any(fnmatchcase(check_id, glob) for glob in rule.checks)
            ]
            self._watchers[check_id] = found
        return found

    def check_target(self, check_id: str) -> Target:
        target = self._check_targets.get(check_id)
        if target is None:
            target = self._check_targets[check_id] = self._new_check_target(check_id)
        return target

    def _new_check_target(self, check_id: str) -> Target:
        configured = self._checks.get(check_id)
        quorum = configured.quorum if configured else "majority"
        sweep = Sla(id=check_id, name=check_id, checks=(check_id,), objective=100.0, quorum=quorum)
        covering = tuple(s.id for s in self.config.slas if check_id in s.checks)
        return Target(
            f"check:{check_id}",
            Subject("check", check_id),
            sweep,
            covering,
            self.links.check(check_id),
        )

    def sla_target(self, sla: Sla) -> Target:
        name = sla.name if sla.name != sla.id else None
        return Target(
            f"sla:{sla.id}",
            Subject("sla", sla.id, name, sla.customer),
            sla,
            (sla.id,),
            self.links.sla(sla),
        )

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

    async def _state_alerts(
        self,
        work: _Pass,
        watched: Sequence[tuple[str, AlertRule, Target]],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
        last_runs: Mapping[str, Mapping[str, Run]],
        maintenance: set[str],
    ) -> None:
        now_ms = work.now_ms
        by_target: dict[str, list[tuple[str, AlertRule, AlertState | None]]] = defaultdict(list)
        targets: dict[str, Target] = {}
        for key, rule, target in watched:
            row = open_alerts.get((key, target.key, STATE))
            alert = AlertState.from_json(row.state) if row else None
            by_target[target.key].append((key, rule, alert))
            targets[target.key] = target
        quiet_before = now_ms - self.lookback_ms
        needed = [
            target
            for target in targets.values()
            if any(alert for _, _, alert in by_target[target.key])
            or not (
                _silenced(target, maintenance)
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
            silenced = _silenced(target, maintenance)
            for key, rule, alert in entries:
                self._judge(work, (key, rule, target), facts, alert, silenced=silenced)

    async def _target_facts(
        self,
        target: Target,
        runs: Mapping[str, Mapping[str, Sequence[Run]]],
        read: tuple[int, int],
        entries: Sequence[tuple[str, AlertRule, AlertState | None]],
        maintenance: set[str],
    ) -> Facts:
        """The target's facts from the runs `read` (start, now), or from further back when the
        start of its current state, or of the outage a recovery may resolve, lies before."""
        start_ms, now_ms = read
        facts = _facts(target, runs, start_ms, now_ms)
        if facts.since_ms <= start_ms and self._needs_since(facts, entries, target, maintenance):
            facts = await self._longer_facts(target, now_ms)
        opened_ms = min((a.run_ms for _, _, a in entries if a is not None), default=None)
        if facts.state is State.UP and opened_ms is not None and opened_ms < facts.read_from_ms:
            facts = await self._facts_from(target, opened_ms, now_ms)  # its time without data
        return facts

    def _needs_since(
        self,
        facts: Facts,
        entries: Sequence[tuple[str, AlertRule, AlertState | None]],
        target: Target,
        maintenance: set[str],
    ) -> bool:
        """Whether the start of the current state matters to some rule now."""
        if facts.state is State.DOWN:
            if any(alert is None for _, _, alert in entries):
                return not _silenced(target, maintenance)
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
        return _facts(target, runs, start_ms, now_ms)

    def _judge(
        self,
        work: _Pass,
        watch: tuple[str, AlertRule, Target],
        facts: Facts,
        alert: AlertState | None,
        *,
        silenced: bool,
    ) -> None:
        """One rule's view of one target: the state machine of the module's docstring."""
        key, rule, target = watch
        now_ms = work.now_ms
        flap = (
            flapping.detect(facts.changes, now_ms, rule.flapping)
            if rule.flapping and rule.sends("flapping")
            else None
        )
        sends: list[str] = []
        after = alert
        if alert is None:
            if silenced or facts.state is State.UNKNOWN:
                return
            if flap is not None:
                after = AlertState(flap.since_ms, now_ms, facts.error, 0, flap.since_ms)
                sends.append("flapping")
            elif facts.state is State.DOWN and now_ms - facts.since_ms >= ms(rule.after):
                after = AlertState(facts.since_ms, now_ms, facts.error)
                sends.append("down")
        elif alert.flapping_since_ms is not None:
            settings = rule.flapping
            if settings is not None and not flapping.settled(facts.changes, now_ms, settings):
                return
            if facts.state is State.DOWN and not silenced:
                after = AlertState(facts.since_ms, now_ms, facts.error)
                sends.append("down")
            elif facts.state is State.UP and now_ms - facts.since_ms >= ms(rule.resolve_after):
                after = None
                sends.append("resolved")
        elif facts.state is State.DOWN:
            if flap is not None and not silenced:
                after = dataclasses.replace(alert, flapping_since_ms=flap.since_ms)
                sends.append("flapping")
            elif (
                rule.repeat > 0 and not silenced and now_ms - alert.last_sent_ms >= ms(rule.repeat)
            ):
                after = dataclasses.replace(
                    alert, reminders=alert.reminders + 1, last_sent_ms=now_ms
                )
                sends.append("reminder")
        elif facts.state is State.UP:
            if flap is not None and not silenced:
                after = dataclasses.replace(alert, flapping_since_ms=flap.since_ms)
                sends.append("flapping")
            elif now_ms - facts.since_ms >= ms(rule.resolve_after):
                after = None
                sends.append("resolved")
        if after is None and alert is not None:
            work.closed.append((key, target.key, STATE))
        elif after is not None and after != alert:
            work.opened.append(OpenAlert(key, target.key, STATE, after.to_json()))
        for kind in sends:
            if rule.sends(kind):
                current = after if after is not None else alert
                assert current is not None
                work.decisions.append(
                    self._state_decision(work, kind, watch, facts, current, flap=flap)
                )

    def _state_decision(
        self,
        work: _Pass,
        kind: str,
        watch: tuple[str, AlertRule, Target],
        facts: Facts,
        current: AlertState,
        *,
        flap: flapping.Flap | None,
    ) -> Decision:
        """The notification of `kind` about the alert `current` (after this evaluation)."""
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
            event = Resolved(
                **common,
                down_since=run_ms / 1000,
                duration_s=max(0, facts.since_ms - run_ms) / 1000,
                error=current.error,
                unknown_s=facts.unknown_ms(run_ms, facts.since_ms) / 1000,
            )
            supersedes = SUPERSEDED_BY_RESOLVED
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

    # --------------------------------------------------------------------- silent monitors

    def _no_data(
        self,
        work: _Pass,
        last_runs: Mapping[str, Mapping[str, Run]],
        maintenance: set[str],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    ) -> None:
        """Every agent of a check silent for the check's `no_data` (default 2 intervals).

        A silence is an open alert (keyed by the last sample) from the message until data
        returns: told once however long it lasts, even after its notification is pruned."""
        now_ms = work.now_ms
        silent: set[str] = set()
        for check_id in self.check_ids(last_runs):
            channels = self._channels_for(check_id, "no_data")
            if not channels:
                continue
            target = self.check_target(check_id)
            configured = self._checks.get(check_id)
            agents = last_runs.get(check_id, {})
            newest = max(agents.values(), key=lambda run: run.last_ts_ms, default=None)
            if configured is not None:
                threshold_s, interval_s = configured.no_data, configured.interval
            else:
                assert newest is not None
                interval_s = newest.last_interval_ms / 1000
                threshold_s = 2 * interval_s
            if threshold_s is None:
                continue
            last_ms = newest.last_ts_ms if newest else None
            silent_since = max(last_ms if last_ms is not None else 0, self.started_ms)
            if now_ms - silent_since < ms(threshold_s):
                continue
            silent.add(target.key)
            if _silenced(target, maintenance) or not _opens_silence(
                work, open_alerts, (target.key, NO_DATA), {"last_ms": last_ms}
            ):
                continue
            expected = sorted(agents) or list(configured.agents or () if configured else ())
            event = NoData(
                id="",
                at=work.at,
                subject=target.subject,
                last_sample=None if last_ms is None else last_ms / 1000,
                agents=tuple(expected),
                interval_s=interval_s,
                link=self.links.link(target.page, now_ms),
            )
            run = "never" if last_ms is None else last_ms
            work.decisions.append(
                Decision(event, (target.key, "no_data", run), channels, target.key, last_ms)
            )
        _close_silences(work, open_alerts, NO_DATA, silent)

    async def _agent_silent(
        self,
        work: _Pass,
        last_runs: Mapping[str, Mapping[str, Run]],
        maintenance: set[str],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    ) -> None:
        """An agent that stopped pushing: nothing for max(2 × its shortest interval, 60 s);
        told once per silence, as `no_data`."""
        now_ms = work.now_ms
        silent: set[str] = set()
        checks_of: dict[str, dict[str, Run]] = defaultdict(dict)
        for check, agents in last_runs.items():
            for agent, run in agents.items():
                checks_of[agent][check] = run
        for agent in await self.store.seen_agents():
            checks = checks_of.get(agent.id)
            if not checks:
                continue
            shortest_ms = min(run.last_interval_ms for run in checks.values())
            threshold_ms = max(2 * shortest_ms, ms(AGENT_SILENT_MIN_S))
            if now_ms - max(agent.last_push_ms, self.started_ms) < threshold_ms:
                continue
            channels = tuple(
                dict.fromkeys(
                    c for check in checks for c in self._channels_for(check, "agent_silent")
                )
            )
            if not channels:
                continue
            subject = f"agent:{agent.id}"
            silent.add(subject)
            if all(_silenced(self.check_target(c), maintenance) for c in checks):
                continue
            if not _opens_silence(
                work, open_alerts, (subject, AGENT_SILENT), {"last_push_ms": agent.last_push_ms}
            ):
                continue
            event = AgentSilent(
                id="",
                at=work.at,
                agent=agent.id,
                last_seen=agent.last_push_ms / 1000,
                checks=tuple(sorted(checks)),
            )
            key = (subject, "agent_silent", agent.last_push_ms)
            work.decisions.append(Decision(event, key, channels, subject, agent.last_push_ms))
        _close_silences(work, open_alerts, AGENT_SILENT, silent)

    def _channels_for(self, check_id: str, kind: str) -> tuple[str, ...]:
        """The channels of the rules that watch the check and send `kind`."""
        found = self._channels.get((check_id, kind))
        if found is None:
            channels = (
                channel
                for _, rule in self.watchers(check_id)
                if rule.sends(kind)
                for channel in rule.channels
            )
            found = self._channels[(check_id, kind)] = tuple(dict.fromkeys(channels))
        return found

    # ----------------------------------------------------------------------------- budgets

    async def _budgets(
        self, work: _Pass, open_alerts: Mapping[tuple[str, str, str], OpenAlert]
    ) -> None:
        """Burn rate and "objective breached" of every SLA a rule watches."""
        now_ms = work.now_ms
        watched = {
            sla.id: sla
            for _, rule in self.rules
            for sla in map(self.config.sla, rule.slas)
            if sla is not None
        }
        periods = {
            found.report.sla.id: (found.period, found.report)
            for found in await summaries(self.store, list(watched.values()), now_ms)
        }
        breach_keys = {
            sla_id: f"breached:{sla_id}:{label}" for sla_id, (label, _) in periods.items()
        }
        for key, rule in self.rules:
            for sla_id in rule.slas:
                sla = watched.get(sla_id)
                if sla is None:
                    continue
                if rule.burn_rate and rule.sends("burn_rate"):
                    await self._burn(work, (key, rule, sla), periods[sla.id], open_alerts)
                elif (key, f"sla:{sla.id}", BURN) in open_alerts:
                    work.closed.append((key, f"sla:{sla.id}", BURN))
        marked = await self.store.alert_marks(breach_keys.values())
        for _, rule in self.rules:
            for sla_id in rule.slas:
                if sla_id not in periods or breach_keys[sla_id] in marked:
                    continue
                label, report = periods[sla_id]
                if report.verdict != "breached":
                    continue
                sla = report.sla
                work.marks.append((breach_keys[sla_id], now_ms))
                if not rule.sends("objective_breached"):
                    continue
                event = ObjectiveBreached(
                    id="",
                    at=work.at,
                    subject=self.sla_target(sla).subject,
                    period=label,
                    availability=report.availability,
                    objective=sla.objective,
                    down_s=report.down_ms / 1000,
                    budget_s=report.error_budget_s,
                    credit_percent=float(report.credit_percent),
                    link=self.links.report_url(sla.id, label, now_ms),
                    measured_s=report.eligible_ms / 1000,
                    projected_availability=report.projected_availability,
                )
                subject = f"sla:{sla.id}"
                work.decisions.append(
                    Decision(event, (subject, "objective_breached", label), rule.channels, subject)
                )

    async def _burn(
        self,
        work: _Pass,
        watch: tuple[str, AlertRule, Sla],
        period_report: tuple[str, Report],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    ) -> None:
        key, rule, sla = watch
        label, period = period_report
        subject = f"sla:{sla.id}"
        declared = await self.store.declared_maintenance([sla.id])
        intervals = [Interval(d.start_ms, d.end_ms) for d in declared]
        rates = await burn.rates(self.store, sla, rule.burn_rate, work.now_ms, intervals)
        check = burn.judge(rule.burn_rate, rates)
        row = open_alerts.get((key, subject, BURN))
        alert = burn.BurnAlert(**json.loads(row.state)) if row else None
        after, severity = burn.step(alert, check, work.now_ms)
        if after is None and row is not None:
            work.closed.append((key, subject, BURN))
        elif after is not None and after != alert:
            state = json.dumps(dataclasses.asdict(after), sort_keys=True)
            work.opened.append(OpenAlert(key, subject, BURN, state))
        if severity is None or after is None:
            return
        event = BurnRate(
            id="",
            at=work.at,
            subject=self.sla_target(sla).subject,
            severity=severity,
            windows=check.windows,
            objective=sla.objective,
            period=label,
            budget_s=period.error_budget_s,
            budget_remaining_s=period.error_budget_remaining_s,
            link=self.links.report_url(sla.id, label, work.now_ms),
        )
        opened_ms = after.page_ms if severity == "page" else after.ticket_ms
        decision_key = (subject, "burn_rate", severity, opened_ms)
        work.decisions.append(Decision(event, decision_key, rule.channels, subject))

    async def _digest(self, work: _Pass) -> None:
        settings = self.config.alerts.digest
        if settings is None or not self.config.slas:
            return
        found = digest.due(settings, work.now_ms)
        if found is None:
            return
        week, window = found
        mark = f"digest:{week}"
        if await self.store.alert_marks([mark]):
            return
        links = {}
        for sla in self.config.slas:
            period = current_window(sla.period, sla.timezone, work.now_ms)
            label = period_label(sla.period, period.from_ms, sla.timezone)
            links[sla.id] = self.links.report_url(sla.id, label, work.now_ms)
        event = await digest.build(
            self.store,
            self.config.slas,
            week,
            window,
            work.now_ms,
            report_link=links,
            link=None,
            timezone=settings.timezone,
        )
        work.marks.append((mark, work.now_ms))
        work.decisions.append(Decision(event, ("digest", week), settings.channels, "digest"))

    # ----------------------------------------------------------------------------- orphans

    def _close_orphans(
        self,
        work: _Pass,
        watched: Sequence[tuple[str, AlertRule, Target]],
        open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    ) -> None:
        """Open alerts whose rule or target is no longer configured close without a message."""
        keys = {(key, target.key) for key, _, target in watched}
        for rule, subject, topic in open_alerts:
            if rule != ALL_RULES and (rule, subject) not in keys:
                work.closed.append((rule, subject, topic))
                log.info("alert_forgotten", rule=rule, subject=subject, topic=topic)


# ---------------------------------------------------------------------------------- helpers


def _unspecified(host: str) -> bool:
    """0.0.0.0, ::: every interface, nobody's address to click."""
    try:
        return ip_address(host).is_unspecified
    except ValueError:
        return False


def _opens_silence(
    work: _Pass,
    open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    subject_topic: tuple[str, str],
    identity: Mapping[str, int | None],
) -> bool:
    """Whether this silence is new (then it is recorded as open); False when told already."""
    subject, topic = subject_topic
    state = json.dumps(identity, sort_keys=True)
    found = open_alerts.get((ALL_RULES, subject, topic))
    if found is not None and found.state == state:
        return False
    work.opened.append(OpenAlert(ALL_RULES, subject, topic, state))
    return True


def _close_silences(
    work: _Pass,
    open_alerts: Mapping[tuple[str, str, str], OpenAlert],
    topic: str,
    still_silent: set[str],
) -> None:
    """Silences that ended (data is back) or that no rule watches any more close quietly."""
    for rule, subject, found in open_alerts:
        if rule == ALL_RULES and found == topic and subject not in still_silent:
            work.closed.append((rule, subject, found))


def _silenced(target: Target, maintenance: set[str]) -> bool:
    """Every SLA that covers the target is in maintenance. A check that another SLA still
    counts is watched: that SLA's customer is not in maintenance. A check in no SLA is never
    silenced."""
    return bool(target.covering) and all(sla in maintenance for sla in target.covering)


def _quiet(agents: Mapping[str, Run], before_ms: int) -> bool:
    """No agent's last run is DOWN or began after `before_ms`: the target was UP or UNKNOWN
    throughout since then, with no change."""
    return all(run.ok and run.start_ms <= before_ms for run in agents.values())


def _facts(
    target: Target,
    runs: Mapping[str, Mapping[str, Sequence[Run]]],
    start_ms: int,
    now_ms: int,
) -> Facts:
    timeline = service_timeline(target.sweep, runs, start_ms, now_ms)
    segments = timeline.segments
    if not segments:
        return Facts(State.UNKNOWN, start_ms, (), read_from_ms=start_ms)
    current = segments[-1]
    changes = tuple(flapping.changes(segments))
    unknown = tuple((s.start_ms, s.end_ms) for s in segments if s.state is State.UNKNOWN)
    if current.state is not State.DOWN:
        agents = _agents(target, runs, now_ms)
        return Facts(
            current.state,
            current.start_ms,
            changes,
            agents=agents,
            read_from_ms=start_ms,
            unknown=unknown,
        )
    down_checks = tuple(
        check
        for check, intervals in timeline.check_down.items()
        if intervals and intervals[-1].end_ms >= now_ms
    )
    return Facts(
        State.DOWN,
        current.start_ms,
        changes,
        error=_first_error(runs, down_checks, current.start_ms, now_ms),
        agents=_agents(target, runs, now_ms),
        down_checks=down_checks if target.subject.kind == "sla" else (),
        read_from_ms=start_ms,
        unknown=unknown,
    )


def _agents(
    target: Target, runs: Mapping[str, Mapping[str, Sequence[Run]]], now_ms: int
) -> tuple[AgentView, ...]:
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


def _first_error(
    runs: Mapping[str, Mapping[str, Sequence[Run]]],
    checks: Sequence[str],
    start_ms: int,
    end_ms: int,
) -> str | None:
    """The error of the earliest failing sample among the DOWN runs overlapping the outage."""
    first: tuple[int, str, str, str | None] | None = None
    for check in checks:
        for agent, agent_runs in sorted(runs.get(check, {}).items()):
            for run in agent_runs:
                if run.ok or run.end_ms <= start_ms or run.start_ms >= end_ms:
                    continue
                candidate = (run.start_ms, check, agent, run.error)
                if first is None or candidate[:3] < first[:3]:
                    first = candidate
    return None if first is None else first[3]
