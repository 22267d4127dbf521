"""`PushAdmission` on its own: turns in order, a cancelled push passes its turn on, the line's
bounds, and the Retry-After it gives."""

from __future__ import annotations

import asyncio

import pytest

from slawatch.collector.ingest.admission import MAX_RETRY_AFTER_S, PushAdmission, PushShed
from tests.support import async_wait_until


async def hold(admission: PushAdmission, name: str, order: list[str], release: asyncio.Event):
    async with admission.turn():
        order.append(name)
        await release.wait()


async def test_turns_are_given_first_come_first_served() -> None:
    admission = PushAdmission(max_active=1, max_waiting=10, max_wait_s=10.0)
    order: list[str] = []
    releases = {name: asyncio.Event() for name in "abcd"}
    tasks = []
    for name in "abcd":
        tasks.append(asyncio.create_task(hold(admission, name, order, releases[name])))
        await async_wait_until(lambda: admission.active + admission.waiting == len(tasks))
    for turns, name in enumerate("abcd", start=1):
        await async_wait_until(lambda turns=turns: len(order) == turns)
        releases[name].set()
    await asyncio.gather(*tasks)
    assert order == list("abcd")
    assert (admission.active, admission.waiting) == (0, 0)


async def test_a_push_cancelled_while_waiting_leaves_the_line() -> None:
    admission = PushAdmission(max_active=1, max_waiting=10, max_wait_s=10.0)
    order: list[str] = []
    release = asyncio.Event()
    first = asyncio.create_task(hold(admission, "first", order, release))
    await async_wait_until(lambda: admission.active == 1)
    gone = asyncio.create_task(hold(admission, "gone", order, release))
    last = asyncio.create_task(hold(admission, "last", order, release))
    await async_wait_until(lambda: admission.waiting == 2)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    assert admission.waiting == 1
    release.set()
    await asyncio.gather(first, last)
    assert order == ["first", "last"]
    assert (admission.active, admission.waiting) == (0, 0)


async def test_a_full_line_sheds_at_once() -> None:
    admission = PushAdmission(max_active=1, max_waiting=1, max_wait_s=10.0)
    release = asyncio.Event()
    held = [asyncio.create_task(hold(admission, str(i), [], release)) for i in range(2)]
    await async_wait_until(lambda: admission.waiting == 1)
    with pytest.raises(PushShed) as shed:
        async with admission.turn():
            pass
    assert 1 <= shed.value.retry_after <= MAX_RETRY_AFTER_S
    assert admission.shed == 1
    release.set()
    await asyncio.gather(*held)


async def test_a_push_that_could_not_get_its_turn_in_time_is_shed_without_waiting() -> None:
    """When pushes took long lately, joining a line that cannot drain in time is pointless."""
    admission = PushAdmission(max_active=1, max_waiting=100, max_wait_s=0.5)
    for _ in range(60):  # pushes that held their turn 2 s each
        admission._service_s += 0.1 * (2.0 - admission._service_s)
    release = asyncio.Event()
    holder = asyncio.create_task(hold(admission, "slow", [], release))
    await async_wait_until(lambda: admission.active == 1)
    with pytest.raises(PushShed) as shed:
        async with admission.turn():
            pass
    assert shed.value.retry_after == 2, "the time the collector needs for what it holds"
    assert admission.waiting == 0
    release.set()
    await holder
