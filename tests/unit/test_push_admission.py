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


@pytest.mark.parametrize(("rate", "retry_after"), [(None, 1), (0.5, 4), (100.0, 1), (0.01, 10)])
async def test_retry_after_is_the_time_the_pushes_ahead_need(
    rate: float | None, retry_after: int
) -> None:
    """Two ahead (one at work, one in line) at `rate` pushes/s; 1 to 10 s."""
    admission = PushAdmission(max_active=1, max_waiting=1, max_wait_s=10.0)
    admission.rate = rate
    release = asyncio.Event()
    held = [asyncio.create_task(hold(admission, str(i), [], release)) for i in range(2)]
    await async_wait_until(lambda: admission.waiting == 1)
    with pytest.raises(PushShed) as shed:
        async with admission.turn():
            pass
    assert shed.value.retry_after == retry_after
    release.set()
    await asyncio.gather(*held)


async def test_the_rate_is_counted_once_a_period_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("slawatch.collector.ingest.admission.RATE_PERIOD_S", 0.1)
    admission = PushAdmission()
    release = asyncio.Event()
    release.set()
    await hold(admission, "first", [], release)
    assert admission.rate is None
    await asyncio.sleep(0.1)
    await hold(admission, "second", [], release)
    assert admission.rate is not None and 0 < admission.rate <= 2 / 0.1


async def news(admission: PushAdmission, name: str, order: list[str], release: asyncio.Event):
    async with admission.turn(state_change=True):
        order.append(name)
        await release.wait()


async def test_a_state_change_goes_ahead_on_turns_kept_for_it() -> None:
    admission = PushAdmission(max_active=1, max_waiting=1, max_wait_s=10.0)
    order: list[str] = []
    release = asyncio.Event()
    tasks = [asyncio.create_task(hold(admission, n, order, release)) for n in ("busy", "line")]
    await async_wait_until(lambda: admission.waiting == 1)
    with pytest.raises(PushShed):  # the line is full for an ordinary push
        async with admission.turn():
            pass
    tasks.append(asyncio.create_task(news(admission, "down", order, release)))
    await async_wait_until(lambda: order == ["busy", "down"])
    assert (admission.active, admission.waiting) == (2, 1), "a turn of its own, at once"
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["busy", "down", "line"]
    assert (admission.active, admission.waiting) == (0, 0)


async def test_when_even_the_kept_turns_are_taken_a_state_change_waits_first_in_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("slawatch.collector.ingest.admission.STATE_CHANGE_TURNS", 1)
    admission = PushAdmission(max_active=1, max_waiting=10, max_wait_s=10.0)
    order: list[str] = []
    releases = {name: asyncio.Event() for name in ("busy", "down-1", "line", "down-2")}
    tasks = []
    for name, task in (("busy", hold), ("down-1", news), ("line", hold), ("down-2", news)):
        tasks.append(asyncio.create_task(task(admission, name, order, releases[name])))
        await async_wait_until(lambda: admission.active + admission.waiting == len(tasks))
    assert order == ["busy", "down-1"] and admission.waiting == 2
    releases["busy"].set()
    await async_wait_until(lambda: len(order) == 3)
    assert order[-1] == "down-2", "the state change, though it came after"
    releases["down-1"].set()
    await asyncio.sleep(0.05)  # a kept turn came free: time for it to go wrongly to "line"
    assert len(order) == 3, "a turn kept for state changes is not given to an ordinary push"
    releases["down-2"].set()
    releases["line"].set()
    await asyncio.gather(*tasks)
    assert order == ["busy", "down-1", "down-2", "line"]
    assert (admission.active, admission.waiting) == (0, 0)
