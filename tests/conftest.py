from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from slawatch.collector.store import Store, create_store
from tests.chat_services import ChatServices, running_chat_services
from tests.postgres_cluster import Cluster, PostgresMissing, running_cluster
from tests.stores import BACKENDS, StoreFactory, store_factory_for


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a YAML config file in tmp_path and return its path."""

    def write(text: str, name: str = "slawatch.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """The session's throwaway PostgreSQL cluster (`tests.postgres_cluster`), started when a
    test first needs it; skipped without a PostgreSQL server, except under CI=true."""
    try:
        with running_cluster() as cluster:
            yield cluster
    except PostgresMissing as missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"CI must run the PostgreSQL tests: {missing}")
        pytest.skip(str(missing))


@pytest.fixture(scope="session", params=BACKENDS)
def store_factory(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> StoreFactory:
    """Stores of each backend in turn (`tests.stores`): a test that uses it runs on every one."""
    return store_factory_for(
        request.param,
        tmp_path_factory.mktemp(f"stores-{request.param}"),
        lambda: request.getfixturevalue("postgres_cluster"),
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A collector store (the default backend, SQLite), opened on a fresh file in tmp_path."""
    store = create_store(tmp_path / "collector.db")
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def services() -> AsyncIterator[ChatServices]:
    """Local stand-ins for every chat service, recording what they receive."""
    async with running_chat_services() as running:
        yield running
