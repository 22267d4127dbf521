"""Big batches are judged in worker processes (real processes, real HTTP, real SQLite files):
stored exactly as when judged in the collector's process, refused with the same answers, and a
worker that dies costs no push."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from slawatch.collector.app import BATCH_JUDGE
from slawatch.collector.ingest import workers as ingest_workers
from slawatch.collector.ingest.workers import WORKER_MIN_BODY_BYTES, BatchJudge
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.support import async_wait_until, auth

ADMIN = "admin-token-0123456789"
EU1 = "eu1-token-0123456789ab"
NOW = time.time()

CONFIG = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {EU1}}}
"""


def big_batch(count: int = 1000, agent: str = "eu-1", **changes: Any) -> dict[str, Any]:
    """`count` samples of 20 checks over the last hours: failures, phases, TLS, odd latencies."""
    samples = []
    for k in range(count):
        ok = k % 13 != 0
        samples.append(
            {"check": f"web-{k % 20}", "ts": NOW - 7200 + (k // 20) * 10 + (k % 20) * 0.01,
             "ok": ok, "latency_ms": 10 + (k * 37) % 900 / 7 if ok else None, "interval_s": 10,
             "type": "http", "status_code": 200 if ok else 503, "error": None if ok else "503",
             "phases_ms": {"dns": 0.5, "connect": 1.25, "tls": 3.0, "ttfb": k % 50},
             "tls_expires": NOW + 86400 * 30}
        )  # fmt: skip
    document = {"agent": agent, "labels": {"region": "eu"}, "samples": samples}
    return document | changes


def encoded(document: dict[str, Any]) -> bytes:
    body = json.dumps(document).encode()
    assert len(body) >= WORKER_MIN_BODY_BYTES
    return body


async def started(tmp_path: Path, name: str, judge: BatchJudge) -> tuple[Collector, TestClient]:
    config = parse_config(CONFIG, base_dir=tmp_path / name, process="collector")
    collector = Collector(config, clock=lambda: NOW)
    collector.app[BATCH_JUDGE] = judge
    client = TestClient(TestServer(collector.app))
    await client.start_server()
    return collector, client


@pytest.fixture
async def pair(tmp_path: Path):
    """A collector judging big batches in a worker, and one judging everything in place."""
    clients = []
    try:
        in_worker = await started(tmp_path, "worker", BatchJudge(processes=1))
        clients.append(in_worker[1])
        in_place = await started(tmp_path, "place", BatchJudge(processes=0))
        clients.append(in_place[1])
        yield in_worker, in_place
    finally:
        for client in clients:
            await client.close()


async def push(
    client: TestClient, body: bytes, token: str = EU1, encoding: str | None = None
) -> tuple[int, Any]:
    headers = auth(token) | ({"Content-Encoding": encoding} if encoding else {})
    response = await client.post("/api/v1/samples", data=body, headers=headers)
    return response.status, await response.json()


def judge_of(collector: Collector) -> BatchJudge:
    return collector.app[BATCH_JUDGE]


def tables(database: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the ingest writes, table by table."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        return {
            table: db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("series", "samples", "runs", "rollups", "checks")
        }


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_big_batch_is_stored_exactly_as_when_judged_in_place(pair) -> None:
    (worker, worker_client), (place, place_client) = pair
    first, resent = big_batch(), gzip.compress(encoded(big_batch(1500)))
    for client in (worker_client, place_client):
        assert await push(client, encoded(first)) == (200, {"accepted": 1000, "duplicates": 0})
        assert await push(client, resent, encoding="gzip") == (
            200,
            {"accepted": 500, "duplicates": 1000},
        )
    assert len(judge_of(worker).worker_pids()) == 1
    assert judge_of(place).worker_pids() == []
    stored = tables(worker.settings.database)
    assert len(stored["samples"]) == 1500
    assert stored == tables(place.settings.database)


async def test_workers_yield_the_cpu_to_the_collector(pair) -> None:
    """The store's ingest thread limits ingest speed; a worker, with time to spare, runs at a
    lower priority, so that the scheduler never makes the thread wait for it."""
    (worker, worker_client), _ = pair
    assert (await push(worker_client, encoded(big_batch())))[0] == 200
    (pid,) = judge_of(worker).worker_pids()
    collector_niceness = os.getpriority(os.PRIO_PROCESS, 0)
    worker_niceness = os.getpriority(os.PRIO_PROCESS, pid)
    assert worker_niceness == min(19, collector_niceness + ingest_workers.WORKER_NICENESS)


async def test_a_big_bad_batch_gets_the_same_refusal_from_a_worker(pair) -> None:
    (worker, worker_client), (_, place_client) = pair
    bad = big_batch()
    bad["samples"][3]["ts"] = NOW + 3600
    bad["samples"][700] |= {"status_code": 42, "latency_ms": -1}
    del bad["samples"][999]["interval_s"]
    with_nan = encoded(big_batch()).replace(b'"latency_ms": 10.0,', b'"latency_ms": NaN,', 1)
    bomb = gzip.compress(bytes(20 * 1024 * 1024))
    cut = gzip.compress(encoded(big_batch()))[:-100]
    cases = [
        (encoded(bad), EU1, None),
        (with_nan, EU1, None),
        (encoded(big_batch(agent="us-1")), EU1, None),
        (encoded(big_batch(samples=big_batch()["samples"] * 11)), ADMIN, None),
        (bomb, EU1, "gzip"),
        (cut, EU1, "gzip"),
    ]
    assert all(len(body) > 8 * 1024 for body, _, _ in cases)  # compressed, still sent to a worker
    answers = []
    for body, token, encoding in cases:
        answer = await push(worker_client, body, token, encoding)
        assert answer == await push(place_client, body, token, encoding)
        answers.append(answer)
    assert [status for status, _ in answers] == [400, 400, 403, 400, 413, 400]
    assert [(d["index"], d["field"]) for d in answers[0][1]["details"]] == [
        (3, "ts"), (700, "latency_ms"), (700, "status_code"), (999, "interval_s"),
    ]  # fmt: skip
    assert answers[1][1]["details"] == [
        {
            "index": 900,
            "field": "latency_ms",
            "error": "NaN and infinite numbers are not JSON numbers",
        }
    ]
    assert "eu-1" in answers[2][1]["error"]
    assert len(judge_of(worker).worker_pids()) == 1
    assert await worker.store.sample_count() == 0


async def test_small_batches_never_start_a_worker_and_compressed_ones_count_inflated(
    pair,
) -> None:
    (worker, client), _ = pair
    small = json.dumps(big_batch(20)).encode()
    assert len(small) < WORKER_MIN_BODY_BYTES
    assert await push(client, small) == (200, {"accepted": 20, "duplicates": 0})
    assert await push(client, gzip.compress(small), encoding="gzip") == (
        200,
        {"accepted": 0, "duplicates": 20},
    )
    assert judge_of(worker).worker_pids() == []
    compressed = gzip.compress(encoded(big_batch()))
    assert len(compressed) < WORKER_MIN_BODY_BYTES
    assert await push(client, compressed, encoding="gzip") == (
        200,
        {"accepted": 980, "duplicates": 20},
    )
    assert len(judge_of(worker).worker_pids()) == 1


async def test_a_gzip_body_counts_as_big_as_its_trailer_says(pair) -> None:
    """1,000 samples alike in every field shrink 25 times or more: the compressed size, at the
    usual ratio, would keep them in the collector's process."""
    (worker, client), _ = pair
    alike = big_batch() | {"samples": [
        {"check": f"web-{k % 20}", "ts": NOW - 7200 + k, "ok": True, "latency_ms": 20,
         "interval_s": 10} for k in range(1000)
    ]}  # fmt: skip
    compressed = gzip.compress(encoded(alike))
    assert len(compressed) * ingest_workers.COMPRESSION_RATIO < WORKER_MIN_BODY_BYTES
    assert await push(client, compressed, encoding="gzip") == (
        200,
        {"accepted": 1000, "duplicates": 0},
    )
    assert len(judge_of(worker).worker_pids()) == 1
    ratio = ingest_workers.COMPRESSION_RATIO
    assert ingest_workers.inflated_size(compressed, "deflate") == len(compressed) * ratio
    assert ingest_workers.inflated_size(b"\x1f\x8b" + b"\xff" * 30, "gzip") == 2**32 - 1


async def test_a_worker_killed_costs_no_push_and_is_replaced(pair) -> None:
    (worker, client), _ = pair
    judge = judge_of(worker)
    assert (await push(client, encoded(big_batch(500))))[0] == 200
    (first,) = judge.worker_pids()
    os.kill(first, signal.SIGINT)  # Ctrl-C reaches workers too: they leave it to the collector
    assert (await push(client, encoded(big_batch(600))))[0] == 200
    assert judge.worker_pids() == [first]

    os.kill(first, signal.SIGKILL)
    with capture_logs() as logs:
        assert await push(client, encoded(big_batch(700))) == (
            200,
            {"accepted": 100, "duplicates": 600},
        )
    assert [entry["event"] for entry in logs] == ["ingest_worker_lost"]
    assert await push(client, encoded(big_batch(800))) == (
        200,
        {"accepted": 100, "duplicates": 700},
    )
    (second,) = judge.worker_pids()
    assert second != first
    assert await worker.store.sample_count() == 800


async def test_workers_end_with_the_collector(tmp_path: Path) -> None:
    collector, client = await started(tmp_path, "alone", BatchJudge(processes=1))
    try:
        assert (await push(client, encoded(big_batch())))[0] == 200
        (pid,) = judge_of(collector).worker_pids()
    finally:
        await client.close()
    await async_wait_until(lambda: not alive(pid), timeout=10)
    judge = judge_of(collector)
    late = await judge.judge(
        encoded(big_batch()), encoding="", now=NOW, max_sample_age=86400, pushing_as=None
    )
    assert len(late.samples) == 1000
    assert judge.worker_pids() == []  # judged in place: a closed judge starts no process


async def test_where_no_process_can_be_started_every_batch_is_judged_in_place(
    pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OS refusing processes or semaphores (a container without /dev/shm) is simulated:
    the pool's constructor fails as it then does, with an OSError."""

    def refused(*args: Any, **kwargs: Any) -> None:
        raise OSError(38, "Function not implemented: no semaphores here")

    monkeypatch.setattr(ingest_workers, "ProcessPoolExecutor", refused)
    (worker, client), _ = pair
    with capture_logs() as logs:
        assert await push(client, encoded(big_batch())) == (
            200,
            {"accepted": 1000, "duplicates": 0},
        )
        assert await push(client, encoded(big_batch(1200))) == (
            200,
            {"accepted": 200, "duplicates": 1000},
        )
    warnings = [entry["event"] for entry in logs if entry["log_level"] != "info"]
    assert warnings == ["ingest_workers_unavailable"]  # once, not per push; no error
    assert judge_of(worker).worker_pids() == []
