"""How the collectors of one database share the work: which one leads (evaluates alerts and
delivers notifications), and what the others ingested (so that caches follow).

A store that one process alone uses (SQLite) has `SoloCoordination`: always the leader, nobody
else ingests. A shared store (PostgreSQL) gives its own (`store.coordination()`): leadership
through an advisory lock held on a connection of its own, and what other collectors commit
through LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol

RemoteIngest = Callable[[str, int, frozenset[str] | None], None]
"""Called with (agent, accepted, checks) when another collector stored `accepted` new samples of
those checks (None: of too many to list, take them all)."""


class Coordination(Protocol):
    @property
    def shared(self) -> bool:
        """Whether other collectors may use the same database."""

    @property
    def is_leader(self) -> bool: ...

    async def start(self, on_remote_ingest: RemoteIngest) -> None:
        """Start competing for leadership and listening for the others' ingest."""

    async def stop(self) -> None:
        """Stop, giving up leadership."""

    async def leading(self) -> None:
        """Return once this collector leads."""

    async def lost(self) -> None:
        """Return once this collector no longer leads (or stops)."""


class SoloCoordination:
    """The one collector of its database: always the leader."""

    shared = False
    is_leader = True

    def __init__(self) -> None:
        self._stopped = asyncio.Event()

    async def start(self, on_remote_ingest: RemoteIngest) -> None:
        self._stopped.clear()

    async def stop(self) -> None:
        self._stopped.set()

    async def leading(self) -> None:
        return

    async def lost(self) -> None:
        await self._stopped.wait()


def coordination_of(store: object) -> Coordination:
    """The store's own coordination if it is shared, else a `SoloCoordination`."""
    make = getattr(store, "coordination", None)
    return make() if callable(make) else SoloCoordination()
