"""The shipper against a stub collector on 127.0.0.1, with a real spool file: what it does with
each answer."""

from __future__ import annotations

import asyncio
import time
from email.utils import formatdate

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from slawatch.agent.pacing import Backoff, Pacing
from slawatch.agent.shipper import _retry_after
from slawatch.agent.spool import Spool
from tests.collector_stub import CollectorStub, Reply
from tests.shipper_rig import (  # the fixtures among them are used by name
    FAST_BACKOFF,
    NOW,
    fill,
    metrics,
    registry,
    sample,
    spool,
    start_shipper,
    stub,
)
from tests.support import async_wait_until

__all__ = ["metrics", "registry", "spool", "start_shipper", "stub"]
"""The fixtures, so that no linter takes their import for unused."""


async def test_batches_arrive_gzipped_with_the_token_newest_first_and_leave_the_spool(
    spool: Spool, stub: CollectorStub, start_shipper, registry: CollectorRegistry
) -> None:
    stamps = await fill(spool, 2500)
    await start_shipper()
    await async_wait_until(
        lambda: registry.get_sample_value("slawatch_samples_pushed_total") == 2500
    )
    assert spool.queued == 0
    assert [len(b["samples"]) for b in stub.batches] == [1000, 1000, 500]
    assert all(r.gzipped for r in stub.requests)
    assert [s["ts"] for s in stub.samples] == sorted(stamps, reverse=True)
    assert stub.batches[0]["agent"] == "eu-1" and stub.batches[0]["labels"] == {"region": "eu"}
    assert stub.samples[0] == sample(stamps[-1]).to_json()


async def test_new_samples_wake_the_shipper(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    await start_shipper(pacing=Pacing(window=0.0, backoff=FAST_BACKOFF))
    await spool.add(sample(NOW))
    await async_wait_until(lambda: len(stub.samples) == 1)
    await spool.add(sample(NOW + 1))
    await async_wait_until(lambda: len(stub.samples) == 2)
    assert len(stub.requests) == 2


async def test_collector_down_keeps_the_samples_until_it_comes_back(
    spool: Spool, stub: CollectorStub, start_shipper, registry: CollectorRegistry
) -> None:
    await stub.go_down()
    stamps = await fill(spool, 30)
    with capture_logs() as logs:
        await start_shipper()
        failures = {"reason": "network"}
        await async_wait_until(
            lambda: (registry.get_sample_value("slawatch_push_failures_total", failures) or 0) >= 3
        )
    assert spool.queued == 30
    failed = [e for e in logs if e["event"] == "push_failed"]
    assert failed and failed[0]["reason"] == "network"
    assert all(stub.token not in str(e) for e in logs), "the token is never logged"
    await stub.go_up()
    await async_wait_until(lambda: spool.queued == 0)
    assert sorted(s["ts"] for s in stub.samples) == stamps


@pytest.mark.parametrize(
    "reply",
    [
        Reply(500, {"error": "database is locked"}),
        Reply(503, {"error": "starting"}),
        Reply(429, {"error": "slow down"}, {"Retry-After": "0"}),
        Reply(401, {"error": "bad token"}),
        Reply(403, {"error": "not your agent"}),
        Reply(408, {"error": "request timeout"}),
        Reply(302, {}, {"Location": "https://collector.example/api/v1/samples"}),
        Reply(204, {}),
    ],
    ids=lambda r: str(r.status),
)
async def test_passing_failures_are_retried_and_lose_nothing(
    spool: Spool, stub: CollectorStub, start_shipper, registry: CollectorRegistry, reply: Reply
) -> None:
    stub.script = [reply, reply]
    stamps = await fill(spool, 10)
    await start_shipper()
    await async_wait_until(lambda: spool.queued == 0)
    assert [r.status for r in stub.requests] == [reply.status, reply.status, 200]
    assert sorted(s["ts"] for s in stub.samples) == stamps
    assert spool.dead == 0
    reason = {"reason": f"http_{reply.status}"}
    assert registry.get_sample_value("slawatch_push_failures_total", reason) == 2


async def test_retry_after_is_honoured(spool: Spool, stub: CollectorStub, start_shipper) -> None:
    stub.script = [Reply(429, {"error": "slow down"}, {"Retry-After": "30"})]
    await fill(spool, 3)
    with capture_logs() as logs:
        await start_shipper()  # its own backoff is at most 50 ms
        failed = await async_wait_until(lambda: [e for e in logs if e["event"] == "push_failed"])
    assert 30.0 <= failed[0]["retry_in_s"] <= 45.0, "never sooner, spread up to half later"
    assert len(stub.requests) == 1
    assert spool.queued == 3


def test_retry_after_parsing() -> None:
    assert _retry_after("7") == 7.0
    assert _retry_after("86400") == 600.0, "capped"
    assert _retry_after("-3") == 0.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    in_20s = _retry_after(formatdate(time.time() + 20, usegmt=True))
    assert in_20s is not None and 15 < in_20s <= 20


async def test_samples_named_in_a_400_become_dead_letters_and_the_rest_is_delivered(
    spool: Spool, stub: CollectorStub, start_shipper, registry: CollectorRegistry
) -> None:
    stub.refuse = lambda s: "unknown check" if s["check"] == "bad" else None
    await fill(spool, 20, check="good")
    await fill(spool, 5, check="bad")
    with capture_logs() as logs:
        await start_shipper()
        await async_wait_until(lambda: spool.queued == 0)
    assert sorted({s["check"] for s in stub.samples}) == ["good"]
    assert len(stub.samples) == 20
    dead = await spool.dead_letters()
    assert len(dead) == 5 and spool.dead == 5
    assert {d.reason for d in dead} == {"check: unknown check"}
    assert registry.get_sample_value("slawatch_dead_lettered_samples_total") == 5
    assert registry.get_sample_value("slawatch_spool_dead_letter_samples") == 5
    assert any(e["event"] == "push_refused" for e in logs)

    stub.refuse = lambda s: None  # the collector's config is fixed: replay the dead letters
    assert await spool.replay_dead() == 5
    await async_wait_until(lambda: spool.queued == 0 and len(stub.samples) == 25)
    assert sorted({s["check"] for s in stub.samples}) == ["bad", "good"]


async def test_a_400_naming_no_sample_moves_the_whole_batch_aside(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    stub.script = [Reply(400, {"error": "agent field missing", "details": []})]
    await fill(spool, 4)
    await start_shipper()
    await async_wait_until(lambda: spool.dead == 4)
    assert spool.queued == 0 and stub.samples == []
    reasons = {letter.reason for letter in await spool.dead_letters()}
    assert reasons == {"HTTP 400: agent field missing"}, "the collector's own words are kept"
    await spool.add(sample(NOW))
    await async_wait_until(lambda: len(stub.samples) == 1)  # the spool is not blocked


@pytest.mark.parametrize(
    "body",
    [
        {"status": "ok"},
        {"accepted": 2, "duplicates": 0},
        {"accepted": "3", "duplicates": 0},
        {"accepted": True, "duplicates": 2},
    ],
    ids=["proxy-page", "short-count", "string-count", "bool-count"],
)
async def test_a_200_that_does_not_acknowledge_the_batch_is_retried(
    spool: Spool, stub: CollectorStub, start_shipper, registry: CollectorRegistry, body: dict
) -> None:
    stub.script = [Reply(200, body)]
    stamps = await fill(spool, 3)
    with capture_logs() as logs:
        await start_shipper()
        await async_wait_until(lambda: spool.queued == 0)
    assert len(stub.batches) == 2, "sent again after the answer that acknowledged nothing"
    assert sorted(s["ts"] for s in stub.batches[1]["samples"]) == stamps
    reason = {"reason": "bad_answer"}
    assert registry.get_sample_value("slawatch_push_failures_total", reason) == 1
    failed = [e for e in logs if e["event"] == "push_failed"]
    assert failed[0]["reason"] == "bad_answer" and "slawatch collector" in failed[0]["error"]


async def test_details_with_nonsense_indexes_move_the_whole_batch(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    stub.script = [Reply(400, {"error": "bad", "details": [{"index": 99}, {"index": "x"}, 7]})]
    await fill(spool, 3)
    await start_shipper()
    await async_wait_until(lambda: spool.dead == 3)
    assert spool.queued == 0


async def test_413_halves_the_batch_until_it_fits(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    stub.max_batch = 300
    stamps = await fill(spool, 1000)
    shipper = await start_shipper()
    await async_wait_until(lambda: spool.queued == 0)
    sizes = [(r.status, len(r.payload["samples"])) for r in stub.requests if r.payload]
    assert sizes[:3] == [(413, 1000), (413, 500), (200, 250)]
    assert sorted(s["ts"] for s in stub.samples) == stamps
    assert spool.dead == 0
    assert shipper.batch_size == 250, "the size that fits is kept"
    assert [size for _, size in sizes[2:]] == [250, 250, 250, 250]


async def test_a_single_sample_too_large_becomes_a_dead_letter(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    stub.max_batch = 0
    await fill(spool, 2)
    await start_shipper()
    await async_wait_until(lambda: spool.dead == 2)
    assert {d.reason for d in await spool.dead_letters()} == {
        "HTTP 413: a single sample is too large"
    }


async def test_other_4xx_is_a_poison_batch(
    spool: Spool, stub: CollectorStub, start_shipper, registry: CollectorRegistry
) -> None:
    stub.script = [Reply(404, {"error": "no such route"})]
    await fill(spool, 3)
    await start_shipper()
    await async_wait_until(lambda: spool.dead == 3)
    assert {d.reason for d in await spool.dead_letters()} == {"HTTP 404: no such route"}
    assert registry.get_sample_value("slawatch_push_failures_total", {"reason": "refused"}) == 1


@pytest.mark.parametrize("offset", [-30.0, 45.0])
async def test_clock_skew_from_the_date_header(
    spool: Spool,
    stub: CollectorStub,
    start_shipper,
    registry: CollectorRegistry,
    offset: float,
) -> None:
    stub.date_offset = offset
    await fill(spool, 1)
    with capture_logs() as logs:
        await start_shipper()
        await async_wait_until(lambda: spool.queued == 0)
    skew = registry.get_sample_value("slawatch_clock_skew_seconds")
    assert skew is not None and abs(skew - (-offset)) <= 1.5
    warnings = [e for e in logs if e["event"] == "clock_skew"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"


async def test_no_skew_warning_when_clocks_agree(
    spool: Spool, stub: CollectorStub, start_shipper, registry: CollectorRegistry
) -> None:
    await fill(spool, 1)
    with capture_logs() as logs:
        await start_shipper()
        await async_wait_until(lambda: spool.queued == 0)
    skew = registry.get_sample_value("slawatch_clock_skew_seconds")
    assert skew is not None and abs(skew) <= 1.5
    assert not [e for e in logs if e["event"] == "clock_skew"]


async def test_stop_gives_a_slow_push_a_grace_then_keeps_the_samples(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    stub.default = Reply(200, delay=30.0)
    await fill(spool, 5)
    shipper = await start_shipper(stop_grace=0.2)
    await async_wait_until(lambda: len(stub.requests) == 1)
    await asyncio.wait_for(shipper.stop(), timeout=10)
    assert spool.queued == 5, "not acknowledged, so still spooled"


async def test_stop_while_backing_off_returns_at_once(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    await stub.go_down()
    await fill(spool, 5)
    shipper = await start_shipper(pacing=Pacing(backoff=Backoff(base=60.0, cap=60.0)))
    await async_wait_until(lambda: not shipper._pushing and shipper.pacing.failures >= 1)
    await asyncio.wait_for(shipper.stop(), timeout=5)
    assert spool.queued == 5


async def test_the_shipper_outlives_a_spool_error(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    await start_shipper()
    with capture_logs() as logs:
        await spool.close()
        spool.new_samples.set()  # wake the shipper onto a closed spool
        await async_wait_until(lambda: any(e["event"] == "shipper_error" for e in logs))
    await spool.open()
    await spool.add(sample(NOW))
    await async_wait_until(lambda: len(stub.samples) == 1)
