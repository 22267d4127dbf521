"""What an alert says, as data: one frozen dataclass per kind of notification (CONTRACT §3.2).

An event is what the rule evaluator decides; each channel module renders it in its service's
native format (`slawatch.collector.alerts.channels`). Every event carries the notification's `id`
(unique
per notification, the receivers' deduplication key, kept across retries) and `at`, the instant
the collector decided it. Instants are Unix seconds (UTC), durations seconds.

Events hold only what people need to read in chat at 3 a.m.: what is wrong, where, since when,
what the probes saw and a link. They never hold a channel's URL or secret.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar, Literal

EventKind = Literal[
    "down",
    "reminder",
    "resolved",
    "no_data",
    "agent_silent",
    "flapping",
    "flapping_ended",
    "burn_rate",
    "objective_breached",
    "grouped",
    "digest",
    "test",
]
AgentState = Literal["up", "down", "unknown"]

_ID_NAMESPACE = uuid.UUID("5b0c3d1e-6a53-4d6f-9a43-1f8f3c2d7a10")


def new_notification_id() -> str:
    """A random id, for notifications that are not tied to a run (tests, digests on demand)."""
    return str(uuid.uuid4())


def stable_notification_id(*parts: object) -> str:
    """The same id for the same parts, e.g. (channel, target, event, run start, reminder number).

    The evaluator can rebuild the id of a notification it already decided after a restart, so
    the outbox and the receivers both recognise it.
    """
    return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(str(part) for part in parts)))


@dataclass(frozen=True, slots=True)
class Subject:
    """What a check alert or an SLA alert is about."""

    kind: Literal["check", "sla"]
    id: str
    name: str | None = None
    """An SLA's display name; None for checks, or when it is the id."""
    customer: str | None = None


@dataclass(frozen=True, slots=True)
class AgentView:
    """One agent's latest state of a check, with the error it saw."""

    agent: str
    state: AgentState
    error: str | None = None


# ------------------------------------------------------------------------------- check and SLA


@dataclass(frozen=True, slots=True)
class Down:
    """The subject has been DOWN (quorum state for a check, service state for an SLA)."""

    kind: ClassVar[EventKind] = "down"
    id: str
    at: float
    subject: Subject
    since: float
    """The run's first failing sample."""
    error: str | None = None
    """The error of that first failing sample."""
    agents: tuple[AgentView, ...] = ()
    """Check alerts: every agent of the check and what it sees now."""
    checks: tuple[str, ...] = ()
    """SLA alerts: the checks that are DOWN."""
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Reminder:
    """Still DOWN, `repeat` after the previous message."""

    kind: ClassVar[EventKind] = "reminder"
    id: str
    at: float
    subject: Subject
    since: float
    error: str | None = None
    agents: tuple[AgentView, ...] = ()
    checks: tuple[str, ...] = ()
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Resolved:
    """Back UP. Also what a `down` still pending in the outbox becomes when its run ends, so the
    text always says the whole story ("was down 03:12–03:19")."""

    kind: ClassVar[EventKind] = "resolved"
    id: str
    at: float
    subject: Subject
    down_since: float
    duration_s: float
    """The outage as people lived it, from its first failing sample to the recovery: the run
    ended at `down_since + duration_s`. It includes `unknown_s`."""
    error: str | None = None
    """The error the outage started with."""
    checks: tuple[str, ...] = ()
    link: str | None = None
    unknown_s: float = 0.0
    """How much of `duration_s` had no data (every agent silent): not seen DOWN, not seen UP."""

    @property
    def up_since(self) -> float:
        return self.down_since + self.duration_s


@dataclass(frozen=True, slots=True)
class AgentClock:
    """An agent whose samples arrive stamped in the past: its clock is behind."""

    agent: str
    behind_s: float
    """About how far behind (at most one probe interval more than the truth)."""


@dataclass(frozen=True, slots=True)
class NoData:
    """Every agent of a check silent for 2 intervals: monitoring itself is broken."""

    kind: ClassVar[EventKind] = "no_data"
    id: str
    at: float
    subject: Subject
    last_sample: float | None
    """The newest sample of any agent; None if none ever arrived."""
    agents: tuple[str, ...] = ()
    """The agents expected to run the check."""
    interval_s: float | None = None
    link: str | None = None
    clocks_behind: tuple[AgentClock, ...] = ()
    """Agents that push on time samples stamped too far in the past: the silence is their
    clock's, not the check's."""


@dataclass(frozen=True, slots=True)
class AgentSilent:
    """An agent stopped pushing altogether."""

    kind: ClassVar[EventKind] = "agent_silent"
    id: str
    at: float
    agent: str
    last_seen: float | None
    checks: tuple[str, ...] = ()
    """The checks that agent runs, now unwatched from its location."""
    link: str | None = None


@dataclass(frozen=True, slots=True)
class Flapping:
    """Rapid DOWN/UP cycles turned into one message until the subject settles."""

    kind: ClassVar[EventKind] = "flapping"
    id: str
    at: float
    subject: Subject
    changes: int
    """State changes counted within `window_s`."""
    window_s: float
    state: AgentState
    """The state now."""
    since: float
    """The first change counted."""
    error: str | None = None
    """The latest error seen."""
    link: str | None = None


@dataclass(frozen=True, slots=True)
class FlappingEnded:
    """The subject stopped flapping: no change for the rule's `flapping.settle`. It is not a
    recovery: an outage open before the flapping began is resolved on its own (`Resolved`),
    by its real end."""

    kind: ClassVar[EventKind] = "flapping_ended"
    id: str
    at: float
    subject: Subject
    state: AgentState
    """The state it settled in."""
    since: float
    """When that state began (the last change)."""
    flapping_since: float
    """The first change of the episode (its `Flapping.since`)."""
    error: str | None = None
    """Settled DOWN: the error naming that outage."""
    link: str | None = None


# ----------------------------------------------------------------------------------- SLA budget


@dataclass(frozen=True, slots=True)
class BurnWindow:
    """One multiwindow condition of the SRE workbook: both windows must burn past `threshold`."""

    long_s: float
    short_s: float
    threshold: float
    long_rate: float
    short_rate: float


@dataclass(frozen=True, slots=True)
class BurnRate:
    """The SLA spends its error budget too fast (Google SRE workbook, multiwindow burn rate)."""

    kind: ClassVar[EventKind] = "burn_rate"
    id: str
    at: float
    subject: Subject
    severity: Literal["page", "ticket"]
    windows: tuple[BurnWindow, ...]
    """The conditions that fired, the most urgent first."""
    objective: float
    period: str
    """The SLA's current period, as a report names it: "2026-11", "2026-W47", "2026-11-27"."""
    budget_s: float
    budget_remaining_s: float
    link: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectiveBreached:
    """The SLA's current period can no longer meet its objective: its down time exceeds the
    error budget of the whole period (once a period)."""

    kind: ClassVar[EventKind] = "objective_breached"
    id: str
    at: float
    subject: Subject
    period: str
    availability: float
    """The period so far."""
    objective: float
    down_s: float
    budget_s: float
    """The error budget of the whole period, less than `down_s`."""
    credit_percent: float = 0.0
    """The credit already certain (of `projected_availability`, CONTRACT §4.8)."""
    link: str | None = None
    measured_s: float | None = None
    """Up + down time of the period so far, what `availability` stands on (None in an event
    stored before it was carried)."""
    projected_availability: float | None = None
    """The period's availability if the rest of it is up: the most it can end with."""


# --------------------------------------------------------------------------- several in one


StateChange = Down | Reminder | Resolved | NoData | AgentSilent | Flapping | FlappingEnded
"""What a storm groups."""


@dataclass(frozen=True, slots=True)
class Grouped:
    """A storm: the state changes of a short window, sent to a channel as one message."""

    kind: ClassVar[EventKind] = "grouped"
    id: str
    at: float
    events: tuple[StateChange, ...]
    link: str | None = None

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError("a grouped notification needs at least one event")


@dataclass(frozen=True, slots=True)
class DigestIncident:
    start: float
    end: float | None
    """None while it is going on."""
    duration_s: float
    checks: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DigestSla:
    """One SLA in the weekly review."""

    sla: str
    name: str
    objective: float
    period: str
    """The SLA's own period to date: "2026-11"."""
    week_availability: float | None
    """None when the week had no eligible time."""
    period_availability: float | None
    budget_s: float
    budget_remaining_s: float
    credit_percent: float = 0.0
    customer: str | None = None
    incidents: tuple[DigestIncident, ...] = ()
    """The week's incidents."""
    link: str | None = None
    period_verdict: str | None = None
    """The period's verdict (CONTRACT §4.8: met, on_track, at_risk, breached, no_data); None in a
    review stored before verdicts existed."""
    period_measured_s: float | None = None
    """Up + down time of the period so far, what `period_availability` stands on."""
    period_projected_availability: float | None = None
    """The period's availability if the rest of it is up."""
    period_complete: bool | None = None
    """Whether the period is over (then its credit is owed, else only certain so far)."""
    week_measured_s: float | None = None
    """Up + down time of the week, what `week_availability` stands on."""
    credit_amount: str | None = None
    """The credit as money (CONTRACT §7), exact ("45.00"); None without a `monthly_fee`."""
    currency: str | None = None

    @property
    def met(self) -> bool | None:
        if self.period_availability is None:
            return None
        return self.period_availability >= self.objective


@dataclass(frozen=True, slots=True)
class Digest:
    """The weekly SLA review: every SLA's week and period to date."""

    kind: ClassVar[EventKind] = "digest"
    id: str
    at: float
    week: str
    """The ISO week reviewed: "2026-W47"."""
    start: float
    end: float
    slas: tuple[DigestSla, ...]
    link: str | None = None
    timezone: str = "UTC"
    """The digest's timezone (`alerts.digest.timezone`): its week and times read in it."""


@dataclass(frozen=True, slots=True)
class Test:
    """`POST /api/v1/alerts/test`: proves a channel works end to end."""

    __test__: ClassVar[bool] = False  # not a pytest test class
    kind: ClassVar[EventKind] = "test"
    id: str
    at: float
    channel: str
    message: str = "Test notification: alerts from slawatch reach this channel."
    link: str | None = None


Event = (
    Down
    | Reminder
    | Resolved
    | NoData
    | AgentSilent
    | Flapping
    | FlappingEnded
    | BurnRate
    | ObjectiveBreached
    | Grouped
    | Digest
    | Test
)
