"""Silent monitors (CONTRACT §3.2: "a silent monitor is the worst failure"): `no_data` when every
agent of a check has been silent for its `no_data` (default two intervals), `agent_silent` when
an agent has not pushed for max(2 × its shortest interval, 60 s).

- **Once per silence.** A silence is an open alert of `ALL_RULES` from its message until the
  check (the agent) is heard from *on time* again: told once however long it lasts, even after
  its notification is pruned, and not again for each late sample that arrives meanwhile.
- **Clock skew.** An agent whose clock is behind stamps its samples in the past: they arrive, on
  every push, already older than the silence threshold, and the check has no data *now* (§4.1).
  That is not a dead agent: the `no_data` names the agents whose samples arrive that late,
  and by how much (`NoData.clocks_behind`), so people fix the clock rather than the network.
- **A collector restart is no silence.** Silence is counted from the collector's start at the
  earliest, and until `START_GRACE_S` after it only what is heard from again is judged (a check
  all of whose agents have pushed since, an agent that has): agents that retried while the
  collector was away come back within their longest push backoff, and a storm of `no_data`
  for checks with short intervals would be false.
- Maintenance (every SLA covering the check) keeps a silence quiet, but it is still a silence.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping

from slawatch.collector.alerts.events import AgentClock, AgentSilent, NoData
from slawatch.collector.alerts.outbox import Decision, Pass, ms
from slawatch.collector.alerts.sweeps import SweepSchedule
from slawatch.collector.alerts.targets import Watch
from slawatch.collector.engine.timeline import Run
from slawatch.collector.store import OpenAlert, SeenAgent
from slawatch.config.contract import MAX_PUSH_BACKOFF_S

AGENT_SILENT_MIN_S = 60.0
PUSH_MARGIN_S = 15.0
"""What a push takes after its backoff (connect, send, commit), at most."""
START_GRACE_S = MAX_PUSH_BACKOFF_S + PUSH_MARGIN_S
"""After the collector starts, nothing is silent before this: every agent that kept retrying
while the collector was away has pushed again by then."""
NO_DATA = "no_data"
AGENT_SILENT = "agent_silent"
ALL_RULES = "*"
"""The rule of the open alerts of silences: one notification per channel, whichever rules
watch them (never a rule's key: ids cannot start with `*`)."""

OpenAlerts = Mapping[tuple[str, str, str], OpenAlert]
LastRuns = Mapping[str, Mapping[str, Run]]


class Silences:
    def __init__(self, watch: Watch, started_ms: int) -> None:
        self.watch = watch
        self.started_ms = started_ms
        self.sweeps = SweepSchedule()

    def due(
        self,
        now_ms: int,
        touched: Iterable[str],
        last_runs: LastRuns,
        open_alerts: OpenAlerts,
        seen: Iterable[SeenAgent],
    ) -> bool:
        """Whether a `sweep` may decide or close anything now (`sweeps`)."""
        return self.sweeps.due(
            now_ms,
            touched=touched,
            last_runs=last_runs,
            open_alerts=open_alerts,
            seen=seen,
            started_ms=self.started_ms,
            check_instant=lambda check: self._deadline_ms(check, last_runs.get(check, {})),
            agent_threshold=_agent_threshold_ms,
        )

    def sweep(
        self,
        work: Pass,
        last_runs: LastRuns,
        seen: Iterable[SeenAgent],
        maintenance: set[str],
        open_alerts: OpenAlerts,
    ) -> None:
        """`no_data` and `agent_silent`, noting when the next sweep is due."""
        seen = list(seen)
        self.sweeps.begin(work.now_ms)
        self.no_data(work, last_runs, seen, maintenance, open_alerts)
        self.agent_silent(work, last_runs, seen, maintenance, open_alerts)
        self.sweeps.end(last_runs)

    def _threshold(self, check_id: str, agents: Mapping[str, Run]) -> tuple[float, float] | None:
        """(`no_data` threshold, interval) of a check, in seconds; None: no `no_data` for it."""
        if not self.watch.channels_for(check_id, NO_DATA):
            return None
        configured = self.watch.checks.get(check_id)
        if configured is not None:
            threshold_s, interval_s = configured.no_data, configured.interval
        else:
            newest = max(agents.values(), key=lambda run: run.last_ts_ms)
            interval_s = newest.last_interval_ms / 1000
            threshold_s = 2 * interval_s
        return None if threshold_s is None else (threshold_s, interval_s)

    def _deadline_ms(self, check_id: str, agents: Mapping[str, Run]) -> int | None:
        """When the check falls silent without new samples (None: never); `_threshold`'s
        arithmetic inlined, as every pass asks it of each check touched."""
        if not self.watch.channels_for(check_id, NO_DATA):
            return None
        last_ms, interval_ms = 0, 0
        for run in agents.values():
            if run.last_ts_ms > last_ms:
                last_ms, interval_ms = run.last_ts_ms, run.last_interval_ms
        configured = self.watch.checks.get(check_id)
        if configured is not None:
            if configured.no_data is None:
                return None
            threshold_ms = ms(configured.no_data)
        elif not agents:
            return None
        else:
            threshold_ms = ms(2 * (interval_ms / 1000))
        return max(last_ms, self.started_ms) + threshold_ms

    def silent(self, now_ms: int, last_ms: int | None, threshold_ms: int, *, back: bool) -> bool:
        """Nothing since `last_ms` (None: ever) for `threshold_ms`, counted from the
        collector's start at the earliest; during the start's grace, only for what is `back`
        (heard from since the start)."""
        if not back and now_ms - self.started_ms < ms(START_GRACE_S):
            return False
        return now_ms - max(last_ms if last_ms is not None else 0, self.started_ms) >= threshold_ms

    def back(self, pushes: Iterable[int | None]) -> bool:
        """Every one of these agents' last pushes (None: never seen) came after the start."""
        return all(pushed is not None and pushed >= self.started_ms for pushed in pushes)

    def no_data(
        self,
        work: Pass,
        last_runs: LastRuns,
        seen: Iterable[SeenAgent],
        maintenance: set[str],
        open_alerts: OpenAlerts,
    ) -> None:
        """A `no_data` for each check whose every agent is silent (see the module)."""
        now_ms = work.now_ms
        pushes = {agent.id: agent.last_push_ms for agent in seen}
        newest_of_agent = _newest_sample_of_agents(last_runs)
        silent: set[str] = set()
        for check_id in self.watch.check_ids(last_runs):
            agents = last_runs.get(check_id, {})
            found = self._threshold(check_id, agents)
            if found is None:
                continue
            threshold_s, interval_s = found
            channels = self.watch.channels_for(check_id, NO_DATA)
            target = self.watch.check_target(check_id)
            configured = self.watch.checks.get(check_id)
            newest = max(agents.values(), key=lambda run: run.last_ts_ms, default=None)
            last_ms = newest.last_ts_ms if newest else None
            back = bool(agents) and self.back(pushes.get(agent) for agent in agents)
            if not self.silent(now_ms, last_ms, ms(threshold_s), back=back):
                self.sweeps.check_quiet_until(
                    check_id, max(last_ms or 0, self.started_ms) + ms(threshold_s)
                )
                continue
            silent.add(target.key)
            if target.silenced(maintenance):
                if (ALL_RULES, target.key, NO_DATA) not in open_alerts:
                    self.sweeps.silent_untold()  # told when the maintenance ends
                continue
            if not _opens_silence(work, open_alerts, (target.key, NO_DATA), {"last_ms": last_ms}):
                continue
            expected = sorted(agents) or list(configured.agents or () if configured else ())
            behind = _clocks_behind(sorted(agents), pushes, newest_of_agent, now_ms, threshold_s)
            event = NoData(
                id="",
                at=work.at,
                subject=target.subject,
                last_sample=None if last_ms is None else last_ms / 1000,
                agents=tuple(expected),
                interval_s=interval_s,
                link=self.watch.links.link(target.page, now_ms),
                clocks_behind=behind,
            )
            run = "never" if last_ms is None else last_ms
            work.decisions.append(
                Decision(event, (target.key, NO_DATA, run), channels, target.key, last_ms)
            )
        _close_silences(work, open_alerts, NO_DATA, silent)

    def agent_silent(
        self,
        work: Pass,
        last_runs: LastRuns,
        seen: Iterable[SeenAgent],
        maintenance: set[str],
        open_alerts: OpenAlerts,
    ) -> None:
        """An `agent_silent` for each agent that stopped pushing (see the module)."""
        now_ms = work.now_ms
        silent: set[str] = set()
        checks_of: dict[str, dict[str, Run]] = defaultdict(dict)
        for check, agents in last_runs.items():
            for agent_id, run in agents.items():
                checks_of[agent_id][check] = run
        for agent in seen:
            checks = checks_of.get(agent.id)
            if not checks:
                continue
            shortest_ms = min(run.last_interval_ms for run in checks.values())
            threshold_ms = _agent_threshold_ms(shortest_ms)
            back = self.back([agent.last_push_ms])
            if not self.silent(now_ms, agent.last_push_ms, threshold_ms, back=back):
                self.sweeps.agent_quiet(agent.id, threshold_ms)
                continue
            channels = tuple(
                dict.fromkeys(
                    c for check in checks for c in self.watch.channels_for(check, AGENT_SILENT)
                )
            )
            if not channels:
                continue
            subject = f"agent:{agent.id}"
            silent.add(subject)
            if all(self.watch.check_target(c).silenced(maintenance) for c in checks):
                if (ALL_RULES, subject, AGENT_SILENT) not in open_alerts:
                    self.sweeps.silent_untold()
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
            key = (subject, AGENT_SILENT, agent.last_push_ms)
            work.decisions.append(Decision(event, key, channels, subject, agent.last_push_ms))
        _close_silences(work, open_alerts, AGENT_SILENT, silent)


def _agent_threshold_ms(shortest_interval_ms: int) -> int:
    """An agent is silent after twice its shortest check interval, a minute at least."""
    return max(2 * shortest_interval_ms, ms(AGENT_SILENT_MIN_S))


def _newest_sample_of_agents(last_runs: LastRuns) -> dict[str, int]:
    """agent → the timestamp of its newest sample of any check."""
    newest: dict[str, int] = {}
    for agents in last_runs.values():
        for agent, run in agents.items():
            newest[agent] = max(newest.get(agent, run.last_ts_ms), run.last_ts_ms)
    return newest


def _clocks_behind(
    agents: Iterable[str],
    pushes: Mapping[str, int],
    newest_of_agent: Mapping[str, int],
    now_ms: int,
    threshold_s: float,
) -> tuple[AgentClock, ...]:
    """The agents of a silent check that still push on time but whose newest sample (of any
    check) was already older than the silence threshold when it arrived: their clock is behind,
    by about that much (an upper bound: the sample was probed at most an interval before its
    push)."""
    found = []
    for agent in agents:
        pushed_ms, newest_ms = pushes.get(agent), newest_of_agent.get(agent)
        if pushed_ms is None or newest_ms is None or now_ms - pushed_ms >= ms(threshold_s):
            continue
        behind_ms = pushed_ms - newest_ms
        if behind_ms >= ms(threshold_s):
            found.append(AgentClock(agent, behind_ms / 1000))
    return tuple(found)


def _opens_silence(
    work: Pass,
    open_alerts: OpenAlerts,
    subject_topic: tuple[str, str],
    identity: Mapping[str, int | None],
) -> bool:
    """Whether this silence is new (then it is recorded as open); False when told already,
    however its last sample moved since (late samples arriving do not end a silence)."""
    subject, topic = subject_topic
    if (ALL_RULES, subject, topic) in open_alerts:
        return False
    work.opened.append(OpenAlert(ALL_RULES, subject, topic, json.dumps(identity, sort_keys=True)))
    return True


def _close_silences(
    work: Pass, open_alerts: OpenAlerts, topic: str, still_silent: set[str]
) -> None:
    """Silences that ended (heard from on time again) or that no rule watches any more close
    quietly."""
    for rule, subject, found in open_alerts:
        if rule == ALL_RULES and found == topic and subject not in still_silent:
            work.closed.append((rule, subject, found))
