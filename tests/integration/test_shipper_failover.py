"""The shipper with several collectors (CONTRACT §5): it pushes to the first that answers and
fails over in order; a 4xx other than 408/429 is an answer, not a failure."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from slawatch.agent.spool import Spool
from tests.collector_stub import CollectorStub, Reply
from tests.shipper_rig import (  # the fixtures among them are used by name
    fill,
    metrics,
    registry,
    spool,
    start_shipper,
    stub,
)
from tests.support import async_wait_until, free_port

__all__ = ["metrics", "registry", "spool", "start_shipper", "stub"]


@pytest.fixture
async def second() -> AsyncIterator[CollectorStub]:
    async with CollectorStub() as stub:
        yield stub


async def test_a_dead_first_collector_fails_over_to_the_second(
    spool: Spool, second: CollectorStub, start_shipper
) -> None:
    await fill(spool, 5)
    dead = f"http://127.0.0.1:{free_port()}"
    with capture_logs() as logs:
        shipper = await start_shipper(collector_url=[dead, second.url])
        await async_wait_until(lambda: len(second.samples) == 5)
    assert shipper.collector == second.url
    assert [e["to"] for e in logs if e["event"] == "collector_failover"] == [second.url]


@pytest.mark.parametrize("status", [429, 408, 500, 503])
async def test_not_now_answers_fail_over_at_once(
    spool: Spool, stub: CollectorStub, second: CollectorStub, start_shipper, status: int
) -> None:
    await fill(spool, 3)
    stub.default = Reply(status, {"error": "not now"})
    await start_shipper(collector_url=[stub.url, second.url])
    await async_wait_until(lambda: len(second.samples) == 3)
    assert len(stub.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_4xx_are_answers_and_the_next_collector_is_not_asked(
    spool: Spool, stub: CollectorStub, second: CollectorStub, start_shipper, status: int
) -> None:
    await fill(spool, 3)
    stub.default = Reply(status, {"error": "no"})
    await start_shipper(collector_url=[stub.url, second.url])
    # refused samples go to the dead letters; a refused token is retried, at the same collector
    await async_wait_until(lambda: spool.dead == 3 or len(stub.requests) >= 2)
    assert second.requests == []
