"""The store contract suite: every test here runs on every backend (`tests.stores`), through
the Protocols of `slawatch.collector.store` only (backend-specific tests live beside it, named
for their backend)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from slawatch.collector.store import Store
from tests.stores import StoreFactory


@pytest.fixture
async def store(store_factory: StoreFactory) -> AsyncIterator[Store]:
    """An open store on a new database, of each backend in turn."""
    async with store_factory.opened() as opened:
        yield opened
