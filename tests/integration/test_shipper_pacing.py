"""The shipper's pace against a stub collector on 127.0.0.1: batching and state changes, the
collector's answers (slow, 429/503 with Retry-After), the way back after an outage (/healthz),
and a refused token."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from slawatch.agent import pacing as pacing_module
from slawatch.agent import shipper as shipper_module
from slawatch.agent.pacing import Backoff, Pacing
from slawatch.agent.sample import Sample
from slawatch.agent.shipper import Shipper
from slawatch.agent.spool import Spool
from slawatch.config.contract import STATE_CHANGE_HEADER
from tests.collector_stub import CollectorStub, Reply
from tests.shipper_rig import (  # the fixtures among them are used by name
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

LONG_WINDOW = 60.0
"""Longer than any wait of these tests: what arrives, arrived because it was due at once."""


class FixedBackoff(Backoff):
    """Always the same wait, so that a test can tell a wait cut short from one that ran out."""

    def delay(self, attempt: int) -> float:
        return self.cap


async def keep(shipper: Shipper, spool: Spool, *samples: Sample) -> float:
    """Spool samples as the agent does (on disk, then the shipper is told); when it was done."""
    for one in samples:
        await spool.add(one)
        shipper.spooled(one)
    return time.monotonic()


def pushed(stub: CollectorStub) -> list[list[tuple[str, bool]]]:
    return [[(s["check"], s["ok"]) for s in batch["samples"]] for batch in stub.batches]


# ------------------------------------------------------------------------------------- batching


async def test_samples_that_change_nothing_wait_and_go_with_a_state_change_at_once(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    shipper = await start_shipper(pacing=Pacing(window=LONG_WINDOW))
    await keep(shipper, spool, sample(NOW, "web"), sample(NOW, "api"), sample(NOW + 1, "web"))
    await keep(shipper, spool, sample(NOW + 1, "api", ok=False))
    await async_wait_until(lambda: stub.batches)
    assert pushed(stub) == [[("api", False), ("web", True), ("api", True), ("web", True)]]
    assert len(stub.requests) == 1, "one push for all four"


async def test_a_recovery_is_a_state_change_too(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    shipper = await start_shipper(pacing=Pacing(window=LONG_WINDOW))
    await keep(shipper, spool, sample(NOW, ok=False))
    await async_wait_until(lambda: len(stub.batches) == 1)
    await keep(shipper, spool, sample(NOW + 1, ok=False))  # still down: waits
    await keep(shipper, spool, sample(NOW + 2, ok=True))
    await async_wait_until(lambda: len(stub.batches) == 2)
    assert pushed(stub) == [[("web", False)], [("web", True), ("web", False)]]


async def test_a_push_carrying_a_state_change_says_so_also_when_retried(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    stub.script = [Reply(503, {"error": "busy"}, {"Retry-After": "0"})]
    shipper = await start_shipper(pacing=Pacing(window=0.05))
    await keep(shipper, spool, sample(NOW, ok=False))
    await async_wait_until(lambda: len(stub.batches) == 1)
    await keep(shipper, spool, sample(NOW + 1, ok=False))  # no news: goes after its window
    await async_wait_until(lambda: len(stub.batches) == 2)
    said = [r.headers.get(STATE_CHANGE_HEADER) for r in stub.requests]
    assert said == ["1", "1", None], "the first push, its retry, not the next one"


async def test_a_sample_waits_its_window_then_goes(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    shipper = await start_shipper(pacing=Pacing(window=0.3))
    kept_at = await keep(shipper, spool, sample(NOW))
    await async_wait_until(lambda: stub.batches)
    assert stub.requests[0].at - kept_at >= 0.3


async def test_a_short_interval_shortens_the_window(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    """Half the interval at most: the collector's view of now never lapses."""
    shipper = await start_shipper(pacing=Pacing(window=LONG_WINDOW))
    kept_at = await keep(shipper, spool, sample(NOW, interval=0.4))
    await async_wait_until(lambda: stub.batches)
    assert stub.requests[0].at - kept_at >= 0.2


async def test_a_full_batch_goes_at_once(spool: Spool, stub: CollectorStub, start_shipper) -> None:
    shipper = await start_shipper(pacing=Pacing(window=LONG_WINDOW), batch_size=50)
    await keep(shipper, spool, *(sample(NOW + i) for i in range(50)))
    await async_wait_until(lambda: stub.batches)
    assert [len(batch["samples"]) for batch in stub.batches] == [50]


# ------------------------------------------------------------------------ the collector's pace


async def test_slow_answers_stretch_the_windows(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    stub.default = Reply(200, delay=pacing_module.SLOW_PUSH_S + 0.2)
    shipper = await start_shipper(pacing=Pacing(window=0.01))
    await fill(spool, 3)
    await async_wait_until(lambda: shipper.pacing.stretch == 2.0)
    stub.default = None
    await keep(shipper, spool, sample(NOW + 1, ok=False))
    await async_wait_until(lambda: shipper.pacing.stretch < 2.0)


@pytest.mark.parametrize("status", [429, 503])
async def test_shed_load_is_honoured_and_slows_the_agent(
    spool: Spool, stub: CollectorStub, start_shipper, status: int
) -> None:
    stub.script = [Reply(status, {"error": "busy"}, {"Retry-After": "1"})]
    shipper = await start_shipper(pacing=Pacing(window=0.01))
    await fill(spool, 3)
    await async_wait_until(lambda: spool.queued == 0, timeout=10)
    first, second = stub.requests
    assert second.at - first.at >= 1.0, "not before Retry-After"
    assert stub.health_checks == 0, "the collector said when: no need to ask it"
    await async_wait_until(lambda: shipper.pacing.failures == 0)
    assert shipper.pacing.stretch == pytest.approx(2.0 * 0.8), "doubled, then one fast push"


# ------------------------------------------------------------------------ back after an outage


async def test_pushes_within_seconds_of_the_collector_coming_back(
    spool: Spool, stub: CollectorStub, start_shipper
) -> None:
    """A backoff of 30 s would keep it waiting; /healthz every ~2 s ends the wait."""
    await stub.go_down()
    stamps = await fill(spool, 5)
    shipper = await start_shipper(pacing=Pacing(backoff=FixedBackoff(cap=30.0)))
    await async_wait_until(lambda: shipper.pacing.failures == 1)
    with capture_logs() as logs:
        await stub.go_up()
        await async_wait_until(lambda: spool.queued == 0, timeout=10)
        await async_wait_until(lambda: shipper.pacing.failures == 0)  # the success resets it
    assert {s["ts"] for s in stub.samples} == set(stamps)
    assert stub.health_checks >= 1
    assert any(e["event"] == "collector_back" for e in logs), logs


async def test_a_proxy_answering_for_an_unhealthy_collector_keeps_the_agent_waiting(
    spool: Spool, stub: CollectorStub, start_shipper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pacing_module, "HEALTH_PROBE_INTERVAL_S", 0.05)
    stub.script = [Reply(502, {"error": "bad gateway"})]
    stub.health = Reply(503, {"status": "degraded", "reason": "disk full"})
    await fill(spool, 2)
    await start_shipper(pacing=Pacing(backoff=FixedBackoff(cap=30.0)))
    await async_wait_until(lambda: stub.health_checks >= 5)
    assert len(stub.requests) == 1, "no push while /healthz says degraded"
    stub.health = Reply(200, {"status": "ok"})
    await async_wait_until(lambda: spool.queued == 0)
    assert [r.status for r in stub.requests] == [502, 200]


async def test_a_collector_answering_500_is_not_hurried_by_its_healthz(
    spool: Spool, stub: CollectorStub, start_shipper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It is up, and failing: asking /healthz would only bring every agent back at once."""
    monkeypatch.setattr(pacing_module, "HEALTH_PROBE_INTERVAL_S", 0.05)
    stub.script = [Reply(500, {"error": "internal error"})]
    await fill(spool, 2)
    shipper = await start_shipper(pacing=Pacing(backoff=FixedBackoff(cap=30.0)))
    await async_wait_until(lambda: shipper.pacing.failures == 1)
    await asyncio.sleep(0.5)  # ten health intervals: time to see that none is asked
    assert stub.health_checks == 0 and len(stub.requests) == 1


# ------------------------------------------------------------------------------ refused token


async def test_a_refused_token_is_said_at_error_level_once_a_minute_and_counted(
    spool: Spool, stub: CollectorStub, start_shipper, registry: CollectorRegistry
) -> None:
    agent_token = stub.token
    await start_shipper()
    stub.token = "the-collector-has-another-token"
    with capture_logs() as logs:
        await fill(spool, 3)
        unauthorized = {"reason": "unauthorized"}
        await async_wait_until(
            lambda: (
                (registry.get_sample_value("slawatch_push_refused_total", unauthorized) or 0) >= 5
            )
        )
    said = [e for e in logs if e["event"] == "token_refused"]
    assert len(said) == 1, "once a minute, however many pushes are refused"
    assert said[0]["log_level"] == "error" and said[0]["status"] == 401
    assert said[0]["collector"] == stub.url and said[0]["agent"] == "eu-1"
    assert "agent.token" in said[0]["hint"]
    assert not [e for e in logs if e["event"] == "push_failed"], "no warning per attempt"
    assert agent_token not in str(logs) and stub.token not in str(logs)
    assert spool.queued == 3, "the samples stay"

    stub.token = agent_token  # the collector's config is fixed
    with capture_logs() as logs:
        await async_wait_until(lambda: spool.queued == 0)
    assert [e["event"] for e in logs if e["event"] == "token_accepted"] == ["token_accepted"]


async def test_a_token_of_another_agent_is_forbidden_and_said_again_after_a_minute(
    spool: Spool,
    stub: CollectorStub,
    start_shipper,
    registry: CollectorRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shipper_module, "TOKEN_REFUSED_LOG_EVERY_S", 0.0)  # a minute went by
    stub.script = [Reply(403, {"error": "this token pushes as agent us-1"})] * 3
    await fill(spool, 2)
    with capture_logs() as logs:
        await start_shipper()
        await async_wait_until(lambda: spool.queued == 0)
    forbidden = {"reason": "forbidden"}
    assert registry.get_sample_value("slawatch_push_refused_total", forbidden) == 3
    said = [e for e in logs if e["event"] == "token_refused"]
    assert [e["status"] for e in said] == [403, 403, 403]
    assert said[0]["answer"] == "this token pushes as agent us-1"
    assert "agent.id" in said[0]["hint"]
