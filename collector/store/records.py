"""The values the stores take and give back, beside `SampleRow` (in) and `Run` (out): plain
frozen data, the same for every backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# ------------------------------------------------------------------ samples, runs and rollups


SAMPLE_COLUMNS = ("series", "ts_ms", "ok", "latency_ms", "interval_ms", "status_code", "error",
                  "dns_us", "connect_us", "tls_us", "ttfb_us", "transfer_us",
                  "tls_expires")  # fmt: skip
"""The columns of a stored sample, in both stores (and SQLite's `late_samples`)."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    accepted: int
    duplicates: int
    checks: frozenset[str]
    """The checks that got newly stored samples."""


RAW_SAMPLE_COLUMNS = (
    "check", "agent", "ts_ms", "ok", "latency_ms", "interval_ms", "status_code", "error",
)  # fmt: skip
"""The fields of a raw sample as `SampleStore.raw_samples` gives it, in order (`ok` 0 or 1):
what SLA numbers are made of (a sample's phases and certificate expiry are not)."""
RawSample = tuple[Any, ...]
"""A raw sample as `SampleStore.raw_samples` gives it: the fields of `RAW_SAMPLE_COLUMNS`."""


@dataclass(frozen=True, slots=True)
class CsvSampleRows:
    """Raw samples of one check and agent, by time, as `SampleStore.raw_sample_csv_rows` gives
    them: most of each line of a CSV of `RAW_SAMPLE_COLUMNS` rendered by the database already.

    Each row is `(ts_ms, ok, latency_ms, tail)`: `ok` 0 or 1, `latency_ms` a float or None,
    and `tail` the text of the line after `latency_ms`, i.e. `,interval_ms,status_code,error`
    and CRLF, as Python's `csv.writer` writes it (null as an empty field, `error` quoted where
    it holds a comma, a double quote, CR or LF). The latency stays a float: its text in the CSV
    is Python's `repr`, which no database writes the same."""

    check: str
    agent: str
    rows: Sequence[tuple[int, int, float | None, str]]


@dataclass(frozen=True, slots=True)
class LastSample:
    ts_ms: int
    ok: bool
    latency_ms: float | None
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class SeenCheck:
    id: str
    type: str | None
    interval_ms: int
    first_seen_ms: int
    last_seen_ms: int


@dataclass(frozen=True, slots=True)
class SeenAgent:
    id: str
    labels: Mapping[str, str]
    last_push_ms: int


# ---------------------------------------------------------------------------- maintenance


@dataclass(frozen=True, slots=True)
class DeclaredMaintenance:
    """A maintenance window declared at run time (`POST /api/v1/maintenance`)."""

    id: int
    slas: tuple[str, ...]
    """Every SLA it covers, sorted."""
    start_ms: int
    end_ms: int
    reason: str
    created_ms: int
    kind: WindowKind = "maintenance"
    """`exclusion`: time the contract excludes after the fact (CONTRACT §7); counts as
    maintenance, listed apart."""
    category: str | None = None
    """An exclusion's category (`EXCLUSION_CATEGORIES`); None for maintenance."""


WindowKind = Literal["maintenance", "exclusion"]
EXCLUSION_CATEGORIES = ("customer", "force_majeure", "third_party", "other")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log of declared windows (CONTRACT §7): who declared or deleted
    which window, when. Deleted windows stay here whole."""

    id: int
    at_ms: int
    action: Literal["declare", "delete"]
    principal_kind: str
    """The role of the token used (`admin`), never the token."""
    principal_id: str
    """The name of the token's holder (`admin`, a customer's id)."""
    window: DeclaredMaintenance


# --------------------------------------------------------------------------- alert outbox


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A rendered notification to store (see `slawatch.collector.alerts.outbox`)."""

    id: str
    channel: str
    kind: str
    event: str
    """The event as JSON, so that a storm can list it and the API can show it."""
    body: bytes
    headers: str
    """JSON object of the rendering's headers."""
    created_ms: int
    due_ms: int
    grouped: bool = False
    """A state change: held for the channel's group window (storms) first."""
    subject: str | None = None
    """What it is about ("check:web", "sla:shop", "agent:eu-1"), with `run_ms`: which
    notifications a later one may supersede."""
    run_ms: int | None = None
    supersedes: tuple[str, ...] = ()
    """Kinds of the same channel, subject and run that this one replaces while they wait."""


@dataclass(frozen=True, slots=True)
class Notification:
    """A stored notification. `status`: held (in its group window), pending (queued for
    delivery), sent, given_up (past max_age), merged (replaced by `merged_into`)."""

    seq: int
    id: str
    channel: str
    kind: str
    subject: str | None
    run_ms: int | None
    event: str
    body: bytes
    headers: str
    status: str
    grouped: bool
    created_ms: int
    due_ms: int
    released_ms: int | None
    attempts: int
    last_status: int | None
    last_error: str | None
    finished_ms: int | None
    merged_into: str | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> Notification:
        """From a row of `NOTIFICATION_COLUMNS`, as either backend gives it (SQLite: `grouped`
        as 0/1; PostgreSQL: `body` as a memoryview)."""
        return cls(
            row[0], row[1], row[2], row[3], row[4], row[5], row[6], bytes(row[7]), row[8],
            row[9], bool(row[10]), *row[11:],
        )  # fmt: skip


NOTIFICATION_COLUMNS = (
    "seq, id, channel, kind, subject, run_ms, event, body, headers, status, grouped,"
    " created_ms, due_ms, released_ms, attempts, last_status, last_error, finished_ms,"
    " merged_into"
)
"""The outbox's columns in `Notification`'s order, for `Notification.from_row`."""


@dataclass(frozen=True, slots=True)
class OpenAlert:
    """An alert of one rule about one subject, open until resolved; `state` is the evaluator's
    JSON."""

    rule: str
    subject: str
    topic: str
    state: str


@dataclass(frozen=True, slots=True)
class AlertChanges:
    notifications: Sequence[NewNotification] = ()
    opened: Sequence[OpenAlert] = ()
    """Open alerts created or changed."""
    closed: Sequence[tuple[str, str, str]] = ()
    """(rule, subject, topic) of the alerts closed."""
    marks: Sequence[tuple[str, int]] = ()
    """(key, at_ms): things decided once (a period's breach, a week's digest)."""

    def __bool__(self) -> bool:
        return bool(self.notifications or self.opened or self.closed or self.marks)


# ------------------------------------------------------------------- sessions and share links


@dataclass(frozen=True, slots=True)
class BrowserSession:
    """A browser signed in at `/login` (`slawatch.collector.pages.sessions`). The store keeps
    the SHA-256 of the cookie's value, never the value."""

    key_sha256: bytes
    kind: str
    """The principal's kind: "admin" or "customer"."""
    principal: str
    """The customer's id; "admin" for the admin."""
    csrf: str
    """The token every form of this session must send back."""
    created_ms: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class ShareLink:
    """Read access to one customer's status page, badges and reports for whoever holds the key
    (`POST /api/v1/share-links`). The store keeps the SHA-256 of the key, never the key."""

    id: str
    customer: str
    created_ms: int
    expires_ms: int
    revoked_ms: int | None = None
