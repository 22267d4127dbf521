"""What the alert rules watch: targets (checks, SLAs' services) and which rules and channels
watch each one. The config does not change while a collector runs, so lookups are cached."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from fnmatch import fnmatchcase

from slawatch.collector.alerts.events import Subject
from slawatch.collector.alerts.pages import Links, Page
from slawatch.config.schema import AlertRule, Check, Config, Sla


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

    def silenced(self, maintenance: AbstractSet[str]) -> bool:
        """Every SLA that covers the target is in maintenance. A check that another SLA still
        counts is watched: that SLA's customer is not in maintenance. A check in no SLA is never
        silenced."""
        return bool(self.covering) and all(sla in maintenance for sla in self.covering)


def rule_key(rule: AlertRule) -> str:
    """The rule's id, or a hash of its content."""
    if rule.id:
        return rule.id
    return "sha256:" + hashlib.sha256(repr(rule).encode()).hexdigest()[:16]


class Watch:
    """The rules of `alerts.rules` (each with its key) and the targets they watch."""

    def __init__(self, config: Config, links: Links) -> None:
        self.config = config
        self.links = links
        self.rules = [(rule_key(rule), rule) for rule in config.alerts.rules]
        self.checks: Mapping[str, Check] = {check.id: check for check in config.checks}
        """The checks of the collector's `checks:` (others are known only from samples)."""
        self._check_targets: dict[str, Target] = {}
        self._watchers: dict[str, list[tuple[str, AlertRule]]] = {}
        """check id → the rules whose globs match it."""
        self._channels: dict[tuple[str, str], tuple[str, ...]] = {}
        self._seen: frozenset[str] | None = None
        self._check_ids: tuple[str, ...] = ()
        self._check_id_set: frozenset[str] = frozenset()

    def check_ids(self, last_runs: Mapping[str, object]) -> Sequence[str]:
        """The configured checks and those seen in samples, sorted (kept while the checks seen
        stay the same: every pass asks, and a fleet's checks seldom change)."""
        seen = self._seen
        if seen is None or len(seen) != len(last_runs) or not seen.issuperset(last_runs):
            self._seen = frozenset(last_runs)
            self._check_ids = tuple(sorted(self.checks.keys() | self._seen))
            self._check_id_set = frozenset(self._check_ids)
        return self._check_ids

    def check_id_set(self, last_runs: Mapping[str, object]) -> frozenset[str]:
        """`check_ids` as a set."""
        self.check_ids(last_runs)
        return self._check_id_set

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

    def watches(self, rule: str, target: str, check_ids: AbstractSet[str]) -> bool:
        """Whether `targets(check_ids)` has the rule keyed `rule` watching the target keyed
        `target`."""
        kind, _, name = target.partition(":")
        if kind == "check":
            return name in check_ids and any(key == rule for key, _ in self.watchers(name))
        return (
            kind == "sla"
            and self.config.sla(name) is not None
            and any(key == rule and name in r.slas for key, r in self.rules)
        )

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

    def channels_for(self, check_id: str, kind: str) -> tuple[str, ...]:
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

    def check_target(self, check_id: str) -> Target:
        target = self._check_targets.get(check_id)
        if target is None:
            target = self._check_targets[check_id] = self._new_check_target(check_id)
        return target

    def _new_check_target(self, check_id: str) -> Target:
        configured = self.checks.get(check_id)
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
