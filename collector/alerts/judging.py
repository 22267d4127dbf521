"""The state machine of one rule about one target (see `slawatch.collector.alerts.evaluator`):
an open alert and the target's facts now in, the open alert after and the notifications decided
out. Pure."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from slawatch.collector.alerts import flapping
from slawatch.collector.alerts.facts import Facts
from slawatch.collector.alerts.outbox import ms
from slawatch.collector.engine.states import State
from slawatch.config.schema import AlertRule


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
    """One rule's view of one target: the state machine of `evaluator`'s docstring."""
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
