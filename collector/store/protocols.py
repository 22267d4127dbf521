"""What the collector asks of a store, by table family: the one seam between the collector and
a database (like httpx's `BaseTransport`, where a 37-method concrete class stood).

Features type their store with the narrowest Protocol they use (`OutboxStore` for the alert
outbox, `KeyStore` for the link key…), or `Store`, all of them. A backend is a package beside
`sqlite/` implementing `Store`, chosen by `slawatch.collector.store.create_store`, and passes the
store contract suite (`tests/store/`). The docstrings here are the contract; an implementation's
own say how it keeps it.

Every instant is an int of Unix milliseconds. Reads see every committed write (but in
`SampleStore.ahead_of_merge`); a method that writes returns once its write is durable
(committed, and on disk).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from slawatch.collector.engine.timeline import FOREVER_MS, Run
from slawatch.collector.samples import SampleRow
from slawatch.collector.store.records import (
    AlertChanges,
    AuditEntry,
    BrowserSession,
    CsvSampleRows,
    DeclaredMaintenance,
    IngestResult,
    LastSample,
    NewNotification,
    Notification,
    OpenAlert,
    RawSample,
    SeenAgent,
    SeenCheck,
    ShareLink,
    WindowKind,
)


class StoreLifecycle(Protocol):
    """Opening, closing and the health of the database."""

    @property
    def path(self) -> Path | str:
        """The database as logs and errors may name it: an SQLite file, or a database URL
        without its password."""

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """What the database raises when it fails (a disk full, a database unreachable or
        corrupt, a value it cannot store): what callers catch, to say so and go on, without
        naming a driver."""

    async def open(self) -> None:
        """Open for reading and writing, creating the database if missing and applying pending
        migrations; refuse a database of a newer schema (RuntimeError)."""

    async def open_readonly(self) -> None:
        """Open an existing database for reading only (`slawatch report`, while a collector may
        be writing it): nothing is created or migrated, and no write method works.

        FileNotFoundError if there is no such database; an error of the backend if it is not a
        database this slawatch can read (not slawatch's, or of another schema version).
        """

    async def close(self) -> None:
        """Close, once the writes under way are committed."""

    async def schema_version(self) -> int:
        """The number of migrations applied."""

    async def probe_write(self, now_ms: int) -> None:
        """Write and commit one row, durably: raises the database's error while it cannot take a
        write (a disk full, an I/O error). `slawatch.collector.health` probes with it."""

    async def size_bytes(self) -> int:
        """Bytes the database takes (`slawatch_database_size_bytes`)."""


class SampleStore(Protocol):
    """Raw samples, the runs of state derived from them (§4.1), hourly rollups, and the checks
    and agents seen. Runs and rollups are exactly those of all the stored samples, whatever the
    arrival order, duplicates included (see `raw_horizon_ms` for the one exception)."""

    @property
    def raw_horizon_ms(self) -> int:
        """Raw samples before this time may have been pruned (retention); runs and rollups
        remain. A late sample inside a run that starts before it counts in that run if it has its
        state, and otherwise leaves the run as it is (the run keeps its boundaries)."""

    async def ingest(
        self,
        agent: str,
        samples: Sequence[SampleRow],
        *,
        labels: Mapping[str, str] | None,
        now_ms: int,
    ) -> IngestResult:
        """Store a validated batch, whole or not at all; returns once it is durable.

        A sample already stored, or met earlier in the same batch, is a duplicate: the first
        stored copy wins. `labels` None keeps the agent's stored labels; the agent is seen at
        `now_ms` even with no samples. A caller cancelled meanwhile may find its batch stored all
        the same (whole, never in part): a push is idempotent.
        """

    def ahead_of_merge(self) -> AbstractContextManager[asyncio.Future[None] | None]:
        """A block whose reads of samples, runs and rollups (by this task) may miss late samples
        stored: those set aside for a merge this collector has due, within `SETTLE_AFTER_S`
        (`slawatch.collector.store.settling`; a merge under way makes the next one due). Yields
        a future done once a merge that began after those reads has ended (then they would see
        them); None when no merge is due nor under way, and reads see every committed write as
        always. The alert evaluator's passes read so."""

    async def runs(
        self, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> dict[str, dict[str, list[Run]]]:
        """check → agent → runs overlapping [start_ms, end_ms), sorted by start.

        The last run of a series ends where its last sample's coverage ends (ts + 2·interval):
        the caller clamps it to now (§4.7).
        """

    async def runs_at(self, at_ms: int) -> dict[str, dict[str, Run]]:
        """check → agent → the run covering the instant `at_ms`; agents with none left out."""

    async def last_runs(self) -> dict[str, dict[str, Run]]:
        """check → agent → the run of its newest sample."""

    async def latency_values(
        self, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> list[float]:
        """The `latency_ms` of every ok sample of `checks` (all agents) in [start_ms, end_ms).

        Raw samples only exist for `retention.raw`; older windows use `latency_histograms`.
        """

    def raw_samples(
        self, checks: Sequence[str], start_ms: int, end_ms: int, *, chunk: int = 5000
    ) -> AsyncIterator[list[RawSample]]:
        """Every raw sample of `checks` (all agents) with `ts_ms` in [start_ms, end_ms), in
        lists of at most `chunk`, by check, agent and time, each a tuple of
        `records.RAW_SAMPLE_COLUMNS`: streamed, so that a month of samples (evidence bundles)
        never sits whole in memory."""

    def raw_sample_csv_rows(
        self, checks: Sequence[str], start_ms: int, end_ms: int, *, chunk: int = 20_000
    ) -> AsyncIterator[CsvSampleRows]:
        """The samples of `raw_samples`, in the same order and chunks of at most `chunk` rows
        of one check and agent, with most of their CSV text made by the database (see
        `records.CsvSampleRows`): an evidence bundle's samples.csv, written at the speed of
        reading."""

    async def bucket_latencies(
        self, checks: Sequence[str], start_ms: int, end_ms: int, bucket: int
    ) -> list[float]:
        """The raw latencies that histogram `bucket` counts for `checks` in [start_ms, end_ms):
        the exact values behind one bucket of `latency_histograms` (while raw samples last)."""

    async def latency_histograms(
        self, checks: Sequence[str], hour_start_ms: int, hour_end_ms: int
    ) -> dict[int, int]:
        """Merged latency bucket counts (`slawatch.collector.engine.latency`) of the ok samples
        of the whole hours in [start, end)."""

    async def hourly_counts(
        self, checks: Sequence[str], hour_start_ms: int, hour_end_ms: int
    ) -> dict[str, dict[int, tuple[int, int]]]:
        """check → hour → (samples, ok samples), summed over agents."""

    async def rollup_day_marks(
        self, checks: Sequence[str], day_start_ms: int, day_end_ms: int
    ) -> dict[int, tuple[int, int]]:
        """UTC day → (hourly rollups, samples in them) of `checks` (all agents), for the days
        starting in [day_start_ms, day_end_ms). Rollups only grow (a new sample adds to its
        hour) or go (pruning): a day whose marks are unchanged has the same histograms, so a
        merged day can be cached against them."""

    async def seen_checks(self) -> list[SeenCheck]:
        """Every check with samples, by id: its type and interval as of its newest sample."""

    async def seen_agents(self) -> list[SeenAgent]:
        """Every agent that pushed, by id, with its latest labels."""

    async def last_samples(self) -> dict[str, dict[str, LastSample]]:
        """check → agent → its newest stored sample."""

    async def check_samples(
        self, check: str, start_ms: int, end_ms: int, limit: int
    ) -> list[tuple[str, SampleRow]]:
        """(agent, sample) of the raw samples of one check in [start_ms, end_ms), newest first,
        at most `limit` (a check's page: its latencies and phases). The rows' `type` is None."""

    async def sample_count(self) -> int:
        """How many raw samples are stored."""

    async def prune(self, now_ms: int, *, raw_retention_ms: int, rollup_retention_ms: int) -> int:
        """Delete raw samples older than `raw_retention_ms`, and runs and rollups older than
        `rollup_retention_ms`, without holding up ingest for long; returns how many raw samples
        were deleted."""


class MaintenanceStore(Protocol):
    """Windows declared at run time (`POST /api/v1/maintenance`): maintenance, and exclusions
    after the fact (CONTRACT §7), with the audit log of every declaration and deletion."""

    async def add_maintenance(
        self,
        slas: Sequence[str],
        start_ms: int,
        end_ms: int,
        reason: str,
        *,
        created_ms: int,
        kind: WindowKind = "maintenance",
        category: str | None = None,
        principal: tuple[str, str] = ("admin", "admin"),
    ) -> DeclaredMaintenance:
        """Store a window covering `slas` (validated by the caller) and its audit line
        (`declare` by `principal`, (role, name), at `created_ms`) in one transaction; returns
        it with its id."""

    async def delete_maintenance(
        self,
        maintenance_id: int,
        *,
        at_ms: int | None = None,
        principal: tuple[str, str] = ("admin", "admin"),
    ) -> bool:
        """Remove a declared window and log its deletion (the window whole); False if there
        was none with that id (nothing logged)."""

    async def declared_maintenance(
        self,
        slas: Sequence[str] | None = None,
        start_ms: int = -FOREVER_MS,
        end_ms: int = FOREVER_MS,
    ) -> list[DeclaredMaintenance]:
        """Declared windows covering any of `slas` (every window with None) that overlap
        [start_ms, end_ms), by start."""

    async def audit_log(
        self, slas: Sequence[str] | None = None, *, limit: int = 1000
    ) -> list[AuditEntry]:
        """The newest `limit` audit lines about windows covering any of `slas` (all with None),
        newest first."""


class OutboxStore(Protocol):
    """The durable outbox of notifications, the open alerts and the things decided once
    (`slawatch.collector.alerts.outbox` tells the story)."""

    async def commit_alerts(self, changes: AlertChanges, *, busy: Iterable[int] = ()) -> list[str]:
        """Store what one evaluation decided, in one transaction, and return the ids of the
        notifications newly stored.

        A notification already stored (same channel and id) is left as it is: that is what makes
        one notification per (channel, target, event, run). A new one that `supersedes` kinds
        takes the place of those still waiting for the same channel, subject and run (but not
        of those in `busy`, being sent right now): they become `merged` into it.
        """

    async def open_alerts(self) -> list[OpenAlert]:
        """Every open alert, by rule, subject and topic."""

    async def alert_marks(self, keys: Iterable[str]) -> set[str]:
        """Which of `keys` are marked (a period's breach, a week's digest… already decided)."""

    async def held_notifications(self, channel: str) -> list[Notification]:
        """The channel's state changes waiting for their group window, oldest first."""

    async def next_notification(self, channel: str) -> Notification | None:
        """The head of the channel's queue: its oldest notification not delivered yet, by when
        it was decided (a storm's message keeps its first change's place). It may be held: then
        nothing of the channel may leave before it is released."""

    async def released_since(self, channel: str, since_ms: int) -> list[int]:
        """When the channel's grouped messages (state changes, alone or as a storm) went into
        its queue, from `since_ms` on, in order: what the rate limit counts."""

    async def release_notifications(
        self, channel: str, seqs: Sequence[int], now_ms: int, group: NewNotification | None
    ) -> None:
        """Held notifications leave their group window: queued as they are, or, with `group`,
        replaced by that one message listing them (they become `merged` into it)."""

    async def notification_sent(
        self, seq: int, now_ms: int, *, attempts: int, status: int | None
    ) -> None:
        """Delivered: `sent` at `now_ms`."""

    async def notification_failed(
        self, seq: int, *, attempts: int, due_ms: int, status: int | None, error: str | None
    ) -> None:
        """An attempt failed: try again at `due_ms` (unless it was merged meanwhile)."""

    async def notification_given_up(
        self, seq: int, now_ms: int, *, attempts: int, error: str | None
    ) -> None:
        """No more attempts (past max_age): `given_up`, unless it was sent or merged."""

    async def notifications(
        self,
        *,
        statuses: Sequence[str] | None = None,
        channel: str | None = None,
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Notification]:
        """Stored notifications, newest first, for the notifications API."""

    async def notification_counts(self) -> dict[tuple[str, str], int]:
        """(channel, status) → how many notifications."""

    async def prune_notifications(self, before_ms: int, *, marks_before_ms: int) -> int:
        """Forget notifications finished (sent, given up, merged) before `before_ms`, and marks
        set before `marks_before_ms` (keep them longer than the longest period they mark);
        returns how many notifications went."""


class KeyStore(Protocol):
    """Keys the collector generates once and keeps."""

    async def link_key(self) -> bytes:
        """The key that signs links in alerts (`slawatch.collector.links`): random, generated on
        first use and kept, so links stay valid across restarts; the same for every process of
        one database."""


class SessionStore(Protocol):
    """Browser sessions (`/login`) and share links (`/api/v1/share-links`): both found by the
    SHA-256 of a random secret that only its holder has; the secret itself is never stored."""

    async def add_session(self, session: BrowserSession) -> None:
        """Store a new session."""

    async def session(self, key_sha256: bytes, now_ms: int) -> BrowserSession | None:
        """The session of this digest, None when there is none or it expired by `now_ms`."""

    async def delete_session(self, key_sha256: bytes) -> bool:
        """End one session (sign-out); False if there was none."""

    async def delete_sessions(self, kind: str, principal: str) -> int:
        """End every session of one principal (revocation); how many there were."""

    async def prune_sessions(self, now_ms: int) -> int:
        """Forget the sessions expired by `now_ms`; how many."""

    async def add_share_link(self, link: ShareLink, key_sha256: bytes) -> None:
        """Store a new share link opened by the key of this digest."""

    async def share_link(self, key_sha256: bytes, now_ms: int) -> ShareLink | None:
        """The link of this key's digest while it is valid at `now_ms` (not expired, not
        revoked); else None."""

    async def share_links(self) -> list[ShareLink]:
        """Every share link not revoked, newest first (expired ones included)."""

    async def revoke_share_link(self, link_id: str, now_ms: int) -> bool:
        """Revoke a link; False if there was none with that id or it was revoked already."""


class Store(
    StoreLifecycle, SampleStore, MaintenanceStore, OutboxStore, KeyStore, SessionStore, Protocol
):
    """Everything a collector asks of its database."""
