"""The collector's admission control of pushes (real aiohttp server on 127.0.0.1, real SQLite):
past its turns and its line, a push gets 429 with Retry-After at once; /healthz never waits.

Pushes are held in the collector by a judge that waits for the test's gate before judging (the
real judge, in place): what a busy collector looks like, without depending on its speed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from slawatch.collector.app import BATCH_JUDGE, PUSH_ADMISSION
from slawatch.collector.ingest.admission import PushAdmission
from slawatch.collector.ingest.batch import Batch
from slawatch.collector.ingest.workers import BatchJudge
from slawatch.collector.main import Collector
from slawatch.config.contract import STATE_CHANGE_HEADER
from slawatch.config.loader import parse_config
from tests.support import async_wait_until, auth

EU1 = "eu1-token-0123456789ab"
CONFIG = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  agents:
    - {{id: eu-1, token: {EU1}}}
"""


class GatedJudge(BatchJudge):
    """Judges in place, once the gate is open."""

    def __init__(self) -> None:
        super().__init__(processes=0)
        self.gate = asyncio.Event()

    async def judge(self, body: bytes, **options: Any) -> Batch:
        await self.gate.wait()
        return await super().judge(body, **options)


@pytest.fixture
def judge() -> GatedJudge:
    return GatedJudge()


async def start(tmp_path: Path, judge: GatedJudge, admission: PushAdmission) -> Collector:
    config = parse_config(CONFIG, base_dir=tmp_path, process="collector")
    collector = Collector(config)
    collector.app[BATCH_JUDGE] = judge
    collector.app[PUSH_ADMISSION] = admission
    return collector


@pytest.fixture
async def client_for(tmp_path: Path, judge: GatedJudge) -> AsyncIterator[Any]:
    clients: list[TestClient] = []

    async def client_for(admission: PushAdmission) -> tuple[TestClient, Collector]:
        collector = await start(tmp_path, judge, admission)
        client = TestClient(TestServer(collector.app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client, collector

    yield client_for
    judge.gate.set()
    for client in clients:
        await client.close()


def body(ts: float) -> bytes:
    sample = {"check": "web", "ts": ts, "ok": True, "latency_ms": 3.0, "interval_s": 10}
    return json.dumps({"agent": "eu-1", "samples": [sample]}).encode()


async def push(
    client: TestClient, ts: float, token: str = EU1, *, state_change: bool = False
) -> tuple[int, Any, Any]:
    headers = auth(token) | ({STATE_CHANGE_HEADER: "1"} if state_change else {})
    response = await client.post("/api/v1/samples", data=body(ts), headers=headers)
    return response.status, await response.json(), response.headers.get("Retry-After")


async def metrics_text(client: TestClient) -> str:
    return await (await client.get("/metrics")).text()


async def test_past_its_turns_and_line_a_push_gets_429_at_once_and_healthz_answers(
    client_for, judge: GatedJudge
) -> None:
    admission = PushAdmission(max_active=2, max_waiting=2, max_wait_s=60.0)
    client, collector = await client_for(admission)
    now = time.time()
    held = [asyncio.create_task(push(client, now - i)) for i in range(4)]
    await async_wait_until(lambda: admission.active == 2 and admission.waiting == 2)

    status, answer, retry_after = await asyncio.wait_for(push(client, now - 10), 5)
    assert status == 429
    assert "busy" in answer["error"]
    assert retry_after is not None and retry_after.isdigit() and int(retry_after) >= 1
    assert (await push(client, now - 11, token="wrong-token-0123456789"))[0] == 401
    health = await asyncio.wait_for(client.get("/healthz"), 5)
    assert health.status == 200, "/healthz is never behind the pushes"
    text = await metrics_text(client)
    assert 'slawatch_ingest_pushes{state="active"} 2.0' in text
    assert 'slawatch_ingest_pushes{state="waiting"} 2.0' in text
    assert 'slawatch_ingest_errors_total{reason="shed"} 1.0' in text

    judge.gate.set()
    assert [status for status, _, _ in await asyncio.gather(*held)] == [200] * 4
    assert await collector.store.sample_count() == 4, "the shed push was not stored"
    assert (admission.active, admission.waiting) == (0, 0)


async def test_a_push_that_waited_its_longest_gets_429(client_for, judge: GatedJudge) -> None:
    admission = PushAdmission(max_active=1, max_waiting=10, max_wait_s=0.2)
    client, _ = await client_for(admission)
    now = time.time()
    first = asyncio.create_task(push(client, now))
    await async_wait_until(lambda: admission.active == 1)
    status, _, retry_after = await push(client, now - 1)
    assert (status, retry_after) == (429, "1")
    judge.gate.set()
    assert (await first)[0] == 200
    assert (await push(client, now - 2))[0] == 200, "turns come back once the work is done"


async def test_a_push_carrying_a_state_change_is_let_in_when_others_are_shed(
    client_for, judge: GatedJudge
) -> None:
    admission = PushAdmission(max_active=1, max_waiting=1, max_wait_s=60.0)
    client, collector = await client_for(admission)
    now = time.time()
    held = [asyncio.create_task(push(client, now - i)) for i in range(2)]
    await async_wait_until(lambda: admission.active == 1 and admission.waiting == 1)
    assert (await asyncio.wait_for(push(client, now - 5), 5))[0] == 429
    news = asyncio.create_task(push(client, now - 6, state_change=True))
    await async_wait_until(lambda: admission.active == 2)
    assert admission.waiting == 1, "it did not queue: a turn kept for state changes"
    judge.gate.set()
    assert (await news)[0] == 200
    assert [status for status, _, _ in await asyncio.gather(*held)] == [200, 200]
    assert await collector.store.sample_count() == 3
