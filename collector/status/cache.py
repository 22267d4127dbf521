"""Computed statuses kept a few seconds per customer, so that a busy page costs little.

A computed status (and its page and JSON as rendered) is kept per customer for `CACHE_S` of
the collector's clock; dropped at once when the customer's declared maintenance changes, and
when samples of its checks are stored as soon as it is `FRESH_S` old. Concurrent requests for
one customer wait for one computation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from slawatch.collector.ingest.batch import Batch
from slawatch.collector.status.model import CustomerStatus, customer_slas, customer_status
from slawatch.collector.store import DeclaredMaintenance, IngestResult, Store
from slawatch.config.schema import Config, Customer, Sla

CACHE_S = 10.0
FRESH_S = 2.0
"""New samples show on a page once its cached status is this old (see `StatusCache`)."""


# -------------------------------------------------------------------------------------- cache


@dataclass(slots=True)
class CachedStatus:
    status: CustomerStatus
    generation: int
    """`StatusCache.generation` when it was computed."""
    declared: tuple[DeclaredMaintenance, ...]
    """The customer's declared maintenance it was computed with."""
    outputs: dict[tuple[str, bool], str] = field(default_factory=dict)
    """The page and the JSON document as rendered, per kind and viewer (report links or not)."""

    def output(self, kind: str, privileged: bool, render: Callable[[], str]) -> str:
        key = (kind, privileged)
        if key not in self.outputs:
            self.outputs[key] = render()
        return self.outputs[key]


@dataclass(slots=True)
class StatusCache:
    """Computed statuses per customer, kept `CACHE_S` of the collector's clock. Dropped at
    once when the customer's declared maintenance changes; when samples of one of its checks
    are stored (`samples_stored`), as soon as it is `FRESH_S` old, so that agents pushing all
    the time cannot make every view of a busy page a computation."""

    generation: int = 0
    """Moves on every `samples_stored`."""
    _changed: dict[str, int] = field(default_factory=dict)
    """Check id → the generation at which samples of it were last stored."""
    _entries: dict[str, CachedStatus] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def samples_stored(self, checks: Iterable[str]) -> None:
        self.generation += 1
        for check in checks:
            self._changed[check] = self.generation

    def clear(self) -> None:
        self._entries.clear()

    async def get(
        self, store: Store, config: Config, customer: Customer, now_ms: int
    ) -> CachedStatus:
        slas = customer_slas(config, customer)
        lock = self._locks.setdefault(customer.id, asyncio.Lock())
        async with lock:
            declared = tuple(await store.declared_maintenance([sla.id for sla in slas]))
            entry = self._entries.get(customer.id)
            if entry is not None and self._current(entry, slas, declared, now_ms):
                return entry
            generation = self.generation
            status = await customer_status(store, config, customer, now_ms)
            entry = CachedStatus(status, generation, declared)
            self._entries[customer.id] = entry
            return entry

    def _current(
        self,
        entry: CachedStatus,
        slas: Sequence[Sla],
        declared: tuple[DeclaredMaintenance, ...],
        now_ms: int,
    ) -> bool:
        age_ms = now_ms - entry.status.now_ms
        if entry.declared != declared or not 0 <= age_ms < CACHE_S * 1000:
            return False
        changed = max((self._changed.get(c, 0) for s in slas for c in s.checks), default=0)
        return changed <= entry.generation or age_ms < FRESH_S * 1000


STATUS_CACHE = web.AppKey("status_cache", StatusCache)


async def on_ingest(app: web.Application, batch: Batch, result: IngestResult) -> None:
    if result.checks:
        app[STATUS_CACHE].samples_stored(result.checks)
