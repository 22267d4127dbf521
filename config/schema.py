"""The config file of CONTRACT §2 as frozen dataclasses.

Every duration is a float of seconds, every instant a float of Unix seconds, every path absolute.
The loader (`slawatch.config.loader`) builds these from YAML and is the only place that validates
them; the keys of each are declared in `slawatch.config.sections` and in the check type's or
channel's own module.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from slawatch.config import contract

Quorum = Literal["any", "majority", "all"] | int
"""How the states of several agents make one state (CONTRACT §4.2); an int is N."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A value that must never be printed: tokens, webhook URLs, signing secrets."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "***"


@dataclass(frozen=True, slots=True)
class TokenDigest:
    """What the collector keeps of a token: its SHA-256, compared in constant time."""

    sha256: bytes = field(repr=False)

    @classmethod
    def of(cls, token: str) -> TokenDigest:
        return cls(hashlib.sha256(token.encode()).digest())

    def matches(self, presented_sha256: bytes) -> bool:
        return hmac.compare_digest(self.sha256, presented_sha256)


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# ---------------------------------------------------------------------------------------- checks


@dataclass(frozen=True, slots=True)
class StatusRange:
    low: int
    high: int

    def __contains__(self, status: object) -> bool:
        return isinstance(status, int) and self.low <= status <= self.high

    def __str__(self) -> str:
        if self.low == self.high:
            return str(self.low)
        if self.low % 100 == 0 and self.high == self.low + 99:
            return f"{self.low // 100}xx"
        return f"{self.low}-{self.high}"


DEFAULT_STATUS = (StatusRange(200, 399),)


@dataclass(frozen=True, slots=True)
class HttpExpect:
    status: tuple[StatusRange, ...] = DEFAULT_STATUS
    body_contains: str | None = None
    body_regex: str | None = None
    max_latency: float | None = None
    tls_min_days: float | None = None


@dataclass(frozen=True, slots=True)
class HttpTarget:
    url: str
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: str | None = None
    follow_redirects: bool = False
    tls_skip_verify: bool = False
    expect: HttpExpect = HttpExpect()


@dataclass(frozen=True, slots=True)
class TcpExpect:
    banner_regex: str | None = None
    banner_contains: str | None = None
    max_latency: float | None = None
    tls_min_days: float | None = None


@dataclass(frozen=True, slots=True)
class TcpTarget:
    host: str
    port: int
    tls: bool = False
    tls_skip_verify: bool = False
    server_name: str | None = None
    send: str | None = None
    expect: TcpExpect = TcpExpect()


@dataclass(frozen=True, slots=True)
class Check:
    id: str
    type: str
    """The probe type, a key of the probe registry (`slawatch.agent.probes.CHECK_TYPES`)."""
    target: Any
    """The type's target (`HttpTarget`, `TcpTarget`…), built from the keys its module declares."""
    interval: float = 60.0
    timeout: float = 10.0
    agents: tuple[str, ...] | None = None
    """Only these agents run the check; None: every agent."""
    quorum: Quorum = "majority"
    no_data: float | None = None
    """Silence of every agent that raises `no_data`, in seconds; None disables it."""
    labels: Mapping[str, str] | None = None
    """Only agents with every one of these labels run the check; None: no condition."""
    source: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The check as the file wrote it (variables replaced): what the collector hands to agents
    that take their checks from it (CONTRACT §5)."""

    def runs_on(self, agent_id: str, labels: Mapping[str, str] | None = None) -> bool:
        """Whether the agent runs it: named by `agents` (if given), and holding every label of
        `labels` (if given; `labels` here are the agent's)."""
        if self.agents is not None and agent_id not in self.agents:
            return False
        if self.labels:
            held = labels or {}
            return all(held.get(name) == value for name, value in self.labels.items())
        return True


# ----------------------------------------------------------------------------------------- agent


@dataclass(frozen=True, slots=True)
class AgentConfig:
    id: str
    collector: str
    """Base URL of the (first) collector, without a trailing slash."""
    token: Secret | None
    spool: Path
    spool_max_samples: int = 1_000_000
    spool_max_age: float = 45 * 86_400.0
    metrics_listen: HostPort | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    concurrency: int = 256
    """Probes in flight at once, at most."""
    collectors: tuple[str, ...] = ()
    """Every collector's base URL in order of preference (CONTRACT §5); empty: `collector`."""
    checks_poll: float = 30.0
    """How often the agent asks the collector for its checks."""

    @property
    def collector_urls(self) -> tuple[str, ...]:
        return self.collectors or (self.collector,)

    @property
    def checks_cache(self) -> Path:
        """Where the collector's last answer of checks is kept: beside the spool."""
        return self.spool.with_name(self.spool.stem + "-checks.json")


# ------------------------------------------------------------------------------------- collector


@dataclass(frozen=True, slots=True)
class AgentCredential:
    id: str
    token: TokenDigest
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels the collector gives the agent for `checks[].labels` (over the agent's own)."""


@dataclass(frozen=True, slots=True)
class ReportTo:
    """Where a customer's reports go when a period closes (CONTRACT §7)."""

    email: tuple[str, ...] = ()
    webhook: Secret | None = None
    secret: Secret | None = None
    """The HMAC-SHA256 key of the webhook's signature (as an alert webhook's `secret`)."""


@dataclass(frozen=True, slots=True)
class Brand:
    """A customer's look on its status page and reports."""

    logo_url: str | None = None
    """http(s), a plain host: the pages' Content-Security-Policy names its origin."""
    accent: str | None = None
    """A CSS colour: `#0a7d5a`, `rgb(10 125 90)`, `hsl(…)`."""


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str
    token: TokenDigest | None = None
    public_status: bool = False
    report_to: ReportTo | None = None
    brand: Brand | None = None


@dataclass(frozen=True, slots=True)
class Retention:
    raw: float = contract.DEFAULT_MAX_SAMPLE_AGE_S + contract.RAW_RETENTION_MARGIN_S
    rollups: float = contract.DEFAULT_ROLLUP_RETENTION_S


@dataclass(frozen=True, slots=True)
class CollectorConfig:
    listen: HostPort
    database: Path | str
    """An SQLite file path, or a database URL as written (`postgresql://…`, CONTRACT §6)."""
    max_sample_age: float = 45 * 86_400.0
    admin_token: TokenDigest | None = None
    agents: tuple[AgentCredential, ...] = ()
    customers: tuple[Customer, ...] = ()
    retention: Retention = Retention()
    public_url: str | None = None
    """How people reach this collector (links in alerts); default http://<listen>."""
    provider: str | None = None
    """The provider's name shown on reports and status pages ("Example Hosting")."""
    metrics_token: TokenDigest | None = None
    """When set, `/metrics` needs it (or the admin token) as a bearer token."""
    max_connections: int | None = None
    """HTTP connections kept open at most; None: 10,000, lowered to what the open-file limit
    leaves room for (`slawatch.collector.connections`)."""
    evidence_key: Path | None = None
    """The evidence signing key's file; None: beside the SQLite database."""

    def customer(self, customer_id: str) -> Customer | None:
        return next((c for c in self.customers if c.id == customer_id), None)

    @property
    def provider_name(self) -> str:
        """`provider`, else the host of `public_url`, else "slawatch"."""
        if self.provider:
            return self.provider
        host = urlsplit(self.public_url).hostname if self.public_url else None
        return host or "slawatch"


# ------------------------------------------------------------------------------------------ slas


@dataclass(frozen=True, slots=True)
class OneOffMaintenance:
    start: float
    end: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RecurringMaintenance:
    """Every `every` (a weekday, or "day") at local time `at` in the SLA's timezone."""

    every: str
    at: time
    duration: float
    reason: str = ""


Maintenance = OneOffMaintenance | RecurringMaintenance


@dataclass(frozen=True, slots=True)
class LatencyObjective:
    objective: float
    """Seconds."""
    percentile: float = 95.0


@dataclass(frozen=True, slots=True)
class CreditTier:
    below: float
    percent: float


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekdays as `slas[].hours[].days` writes them, Monday first (`date.weekday()`)."""


@dataclass(frozen=True, slots=True)
class ServiceHours:
    """One line of `slas[].hours` (CONTRACT §7): on `days` (0 Monday … 6 Sunday), the local
    wall-clock time from `start_s` to `end_s` seconds after midnight (86400: "24:00")."""

    days: tuple[int, ...]
    start_s: int
    end_s: int

    def to_json(self) -> dict[str, Any]:
        """As the config file writes it: `{"days": ["mon", …], "from": "08:00", "to": "18:00"}`."""
        return {
            "days": [DAY_NAMES[day] for day in self.days],
            "from": clock_text(self.start_s),
            "to": clock_text(self.end_s),
        }


def clock_text(seconds: int) -> str:
    """`HH:MM`, or `HH:MM:SS` when the seconds are not 0; 86400 is "24:00"."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


@dataclass(frozen=True, slots=True)
class MonthlyFee:
    """`slas[].monthly_fee`: what the customer pays per month, in an ISO 4217 currency."""

    amount: Decimal
    currency: str

    def to_json(self) -> dict[str, Any]:
        return {"amount": str(self.amount), "currency": self.currency}


@dataclass(frozen=True, slots=True)
class Sla:
    id: str
    name: str
    checks: tuple[str, ...]
    objective: float
    customer: str | None = None
    require: Literal["all", "any"] = "all"
    period: Literal["month", "week", "day"] = "month"
    timezone: str = "UTC"
    quorum: Quorum = "majority"
    min_downtime: float = 0.0
    unknown: Literal["exclude", "up", "down"] = "exclude"
    latency: LatencyObjective | None = None
    maintenance: tuple[Maintenance, ...] = ()
    credits: tuple[CreditTier, ...] = ()
    hours: tuple[ServiceHours, ...] = ()
    """Service hours (CONTRACT §7); none: 24×7."""
    holidays: tuple[date, ...] = ()
    """Whole local days outside service hours (with or without `hours`)."""
    monthly_fee: MonthlyFee | None = None


# ---------------------------------------------------------------------------------------- alerts


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    type: str
    """A key of the collector's channel registry (slack, discord, webhook…)."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """The values of the keys its type declares (`ChannelSpec.keys`), by name; a secret's is a
    `Secret`. Keys absent from the file are absent here."""

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret of the channel: what a message about it must never show."""
        return tuple(value for value in self.settings.values() if isinstance(value, Secret))


ALERT_EVENTS = (
    "down",
    "reminder",
    "resolved",
    "no_data",
    "agent_silent",
    "flapping",
    "burn_rate",
    "objective_breached",
)
"""The kinds of notification a rule may send (its `events` filter); all by default."""


@dataclass(frozen=True, slots=True)
class BurnRateWindow:
    """One multiwindow burn-rate condition (Google SRE workbook): the error budget burns more
    than `factor` times the sustainable rate over both the `long` and the `short` window."""

    long: float
    short: float
    factor: float
    severity: Literal["page", "ticket"] = "page"


DEFAULT_BURN_RATE = (
    BurnRateWindow(3_600.0, 300.0, 14.4, "page"),
    BurnRateWindow(21_600.0, 1_800.0, 6.0, "page"),
    BurnRateWindow(259_200.0, 21_600.0, 1.0, "ticket"),
)
"""The SRE workbook's: 2 % of a 30-day budget in 1 h, 5 % in 6 h (page); 10 % in 3 d (ticket)."""


@dataclass(frozen=True, slots=True)
class FlappingSettings:
    """`changes` UP/DOWN changes within `window` make one "flapping" message; quiet then until
    the state has held for `settle`."""

    changes: int = 5
    window: float = 600.0
    settle: float = 600.0


@dataclass(frozen=True, slots=True)
class AlertRule:
    channels: tuple[str, ...]
    checks: tuple[str, ...] = ()
    """Globs on check ids."""
    slas: tuple[str, ...] = ()
    id: str | None = None
    """Keeps the rule's open alerts when its other keys are edited."""
    after: float = 0.0
    repeat: float = 0.0
    resolved: bool = True
    resolve_after: float = 0.0
    events: tuple[str, ...] = ALERT_EVENTS
    burn_rate: tuple[BurnRateWindow, ...] = DEFAULT_BURN_RATE
    """Empty: no burn-rate alerts."""
    flapping: FlappingSettings | None = FlappingSettings()
    """None: no flap detection."""
    only_in_hours: bool = field(default=False, repr=False)
    """Quiet outside the service hours of the SLAs covering the target (CONTRACT §7). Not in
    the repr: a rule's content hash (its open alerts' key) stays what it was before this key."""

    def sends(self, kind: str) -> bool:
        return kind in self.events and (kind != "resolved" or self.resolved)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `messages` state-change messages per channel within `per` seconds; the excess
    waits and goes out grouped."""

    messages: int
    per: float


DEFAULT_GROUP_WINDOW_S = 30.0
DEFAULT_RATE_LIMIT = RateLimit(20, 600.0)
DEFAULT_DIGEST_AT = time(9, 0)


@dataclass(frozen=True, slots=True)
class DigestSettings:
    """The weekly SLA review: sent to `channels` on `weekday` at `at`, local time in `timezone`."""

    channels: tuple[str, ...]
    weekday: str = "monday"
    at: time = DEFAULT_DIGEST_AT
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class AlertsConfig:
    channels: tuple[Channel, ...] = ()
    rules: tuple[AlertRule, ...] = ()
    max_age: float = 86_400.0
    group_window: float = DEFAULT_GROUP_WINDOW_S
    """State changes within this window go to a channel as one message; 0 sends at once."""
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT
    digest: DigestSettings | None = None

    def channel(self, channel_id: str) -> Channel | None:
        return next((c for c in self.channels if c.id == channel_id), None)


# --------------------------------------------------------------------------------------- reports


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """The SMTP server that mail leaves through (`email` alert channels, reports by e-mail)."""

    host: str
    sender: str
    """The `From:` of every message: an address, or `Name <address>`."""
    port: int = 587
    starttls: bool = True
    """Upgrade the connection with STARTTLS before anything is sent (the server must offer it)."""
    tls: bool = False
    """TLS from the first byte (port 465) instead of STARTTLS."""
    username: str | None = None
    password: Secret | None = None


@dataclass(frozen=True, slots=True)
class ReportsConfig:
    smtp: SmtpSettings | None = None
    delay: float = 3600.0
    """How long after a period ends its reports are sent (late samples still count)."""


# ------------------------------------------------------------------------------------------ file


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    """The file it was read from."""
    folder: Path
    """Where its relative paths start: the file's folder."""
    collector: CollectorConfig | None = None
    agent: AgentConfig | None = None
    checks: tuple[Check, ...] = ()
    slas: tuple[Sla, ...] = ()
    alerts: AlertsConfig = AlertsConfig()
    reports: ReportsConfig = ReportsConfig()

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def sla(self, sla_id: str) -> Sla | None:
        return next((s for s in self.slas if s.id == sla_id), None)

    def checks_for_agent(
        self, agent_id: str, labels: Mapping[str, str] | None = None
    ) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.runs_on(agent_id, labels))
