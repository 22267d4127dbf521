"""The collector's HTTP API in-process (real aiohttp server, real SQLite file): CONTRACT §3, §3.1."""

from __future__ import annotations

import gzip
import json
import resource
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from slawatch.collector.main import Collector
from slawatch.config.contract import MAX_BATCH_SAMPLES, MAX_BODY_BYTES
from slawatch.config.loader import parse_config
from tests.support import auth

ADMIN = "admin-token-0123456789"
EU1 = "eu1-token-0123456789ab"
US1 = "us1-token-0123456789ab"
ACME = "acme-token-0123456789a"

CONFIG = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {EU1}}}
    - {{id: us-1, token: {US1}}}
  customers:
    - {{id: acme, name: ACME, token: {ACME}}}
checks:
  - {{id: web, url: "http://127.0.0.1:1/", interval: 10s, quorum: any}}
"""


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def collector(tmp_path: Path, clock: Clock) -> Collector:
    config = parse_config(CONFIG, base_dir=tmp_path, process="collector")
    return Collector(config, clock=clock)


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], collector: Collector) -> TestClient:
    return await aiohttp_client(collector.app)


def sample(ts: float, ok: bool = True, check: str = "web", **extra: Any) -> dict[str, Any]:
    return {"check": check, "ts": ts, "ok": ok, "latency_ms": 12.5 if ok else None,
            "interval_s": 10, "type": "http", **extra}  # fmt: skip


def batch(*samples: dict[str, Any], agent: str = "eu-1") -> dict[str, Any]:
    return {"agent": agent, "labels": {"region": agent[:2]}, "samples": list(samples)}


async def push(
    client: TestClient, body: Any, token: str = EU1, encoding: str | None = None
) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = auth(token) | ({"Content-Encoding": encoding} if encoding else {})
    response = await client.post("/api/v1/samples", data=data, headers=headers)
    return response.status, await response.json()


async def stored(collector: Collector) -> int:
    return await collector.store.sample_count()


async def metric(client: TestClient, name: str) -> dict[str, float]:
    text = await (await client.get("/metrics")).text()
    values = {}
    for line in text.splitlines():
        if line.startswith(name):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


# ----------------------------------------------------------------------------------- basics


async def test_healthz(client: TestClient) -> None:
    response = await client.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_a_batch_is_stored_then_acknowledged_and_a_resend_is_all_duplicates(
    client: TestClient, collector: Collector, clock: Clock
) -> None:
    body = batch(sample(clock.now - 20), sample(clock.now - 10, ok=False, error="503"))
    assert await push(client, body) == (200, {"accepted": 2, "duplicates": 0})
    assert await stored(collector) == 2
    assert await push(client, body) == (200, {"accepted": 0, "duplicates": 2})
    twice = batch(sample(clock.now - 5), sample(clock.now - 5), sample(clock.now - 10))
    assert await push(client, twice) == (200, {"accepted": 1, "duplicates": 2})
    assert await stored(collector) == 3
    assert await metric(client, "slawatch_samples_ingested_total") == {
        'slawatch_samples_ingested_total{agent="eu-1"}': 3.0
    }


async def test_gzip_bodies_are_accepted(
    client: TestClient, collector: Collector, clock: Clock
) -> None:
    body = gzip.compress(json.dumps(batch(sample(clock.now))).encode())
    status, answer = await push(client, body, encoding="gzip")
    assert (status, answer) == (200, {"accepted": 1, "duplicates": 0})
    assert await stored(collector) == 1


async def test_the_admin_may_push_for_any_agent(client: TestClient, clock: Clock) -> None:
    assert await push(client, batch(sample(clock.now), agent="ap-9"), token=ADMIN) == (
        200,
        {"accepted": 1, "duplicates": 0},
    )


# ----------------------------------------------------------------------------------- refusals


async def test_one_bad_sample_refuses_the_batch_and_names_each_bad_field(
    client: TestClient, collector: Collector, clock: Clock
) -> None:
    body = batch(
        sample(clock.now - 3),
        sample(clock.now + 600),
        sample(clock.now - 1, ok="yes", status_code=700),
        sample(clock.now - 50 * 86_400, check="Bad Id"),
    )
    status, answer = await push(client, body)
    assert status == 400
    assert answer["error"]
    assert answer["details"] == [
        {"index": 1, "field": "ts", "error": "is more than 5 minutes in the future"},
        {"index": 2, "field": "ok", "error": "must be true or false"},
        {"index": 2, "field": "status_code", "error": "must be an HTTP status, 100 to 599"},
        {"index": 3, "field": "check", "error": "must be a check id like acme-web"},
        {"index": 3, "field": "ts", "error": "is older than the collector's max_sample_age"},
    ]
    assert await stored(collector) == 0
    assert await collector.store.seen_agents() == []
    assert await metric(client, "slawatch_samples_ingested_total") == {}


@pytest.mark.parametrize(
    "body",
    [
        b'{"agent": "eu-1", "samples": [{"check": "web", "ts": NaN, "ok": true}]}',
        b'{"agent": "eu-1", "samples": [{"check": "web", "ts": 1, "latency_ms": Infinity}]}',
        b'{"agent": "eu-1", "samples": [',
        b"[" * 200_000 + b"]" * 200_000,
        b'{"x":' * 100_000 + b"0" + b"}" * 100_000,
        b"\x00\xff\xfe",
        b"",
        b"null",
    ],
)
async def test_malformed_json_is_a_400_never_a_500(
    client: TestClient, collector: Collector, body: bytes
) -> None:
    status, answer = await push(client, body)
    assert status == 400
    assert set(answer) == {"error", "details"}
    assert await stored(collector) == 0


async def test_a_nan_is_named_by_sample_and_field_and_nothing_is_stored(
    client: TestClient, collector: Collector, clock: Clock
) -> None:
    # Python's json.dumps writes NaN for float("nan"): what a hand-written client may send.
    body = batch(sample(clock.now - 20), sample(clock.now - 10, latency_ms=float("nan")))
    status, answer = await push(client, json.dumps(body).encode())
    assert status == 400
    assert answer["error"].startswith("body is not valid JSON")
    assert answer["details"] == [
        {
            "index": 1,
            "field": "latency_ms",
            "error": "NaN and infinite numbers are not JSON numbers",
        }
    ]
    assert await stored(collector) == 0


async def test_more_samples_than_the_limit_is_a_400(
    client: TestClient, collector: Collector, clock: Clock
) -> None:
    many = [sample(clock.now - i / 1000) for i in range(MAX_BATCH_SAMPLES + 1)]
    status, answer = await push(client, batch(*many))
    assert status == 400
    assert answer["details"] == [
        {"index": None, "field": "samples", "error": "at most 10000 samples per batch"}
    ]
    assert await stored(collector) == 0


async def test_a_body_over_10_mib_is_a_413(client: TestClient, collector: Collector) -> None:
    big = b'{"agent": "eu-1", "samples": [], "pad": "' + b"x" * MAX_BODY_BYTES + b'"}'
    status, answer = await push(client, big)
    assert status == 413
    assert "10485760" in answer["error"]

    async def chunks() -> Any:  # no Content-Length: the cap holds while reading
        for _ in range(11):
            yield b" " * (1024 * 1024)

    response = await client.post("/api/v1/samples", data=chunks(), headers=auth(EU1))
    assert response.status == 413
    assert await stored(collector) == 0


async def test_a_gzip_bomb_is_a_413_without_inflating_it_in_memory(
    client: TestClient, collector: Collector
) -> None:
    inflated = 256 * 1024 * 1024
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(block) for _ in range(inflated // len(block)))
    bomb += compressor.flush()
    assert len(bomb) < MAX_BODY_BYTES / 5
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    status, answer = await push(client, bomb, encoding="gzip")
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert status == 413
    assert answer["error"]
    assert (peak_after - peak_before) * 1024 < 100 * 1024 * 1024  # far below the 256 MiB inside


async def test_corrupt_or_cut_gzip_is_a_400_an_unknown_encoding_a_415_and_members_chain(
    client: TestClient,
) -> None:
    status, answer = await push(client, b"\x1f\x8b\x08\x00garbage", encoding="gzip")
    assert (status, set(answer)) == (400, {"error", "details"})
    for encoding in ("lzma", "br", "zstd"):
        status, answer = await push(client, b"{}", encoding=encoding)
        assert (status, set(answer)) == (415, {"error", "details"})
    truncated = gzip.compress(json.dumps(batch()).encode())[:-12]
    status, answer = await push(client, truncated, encoding="gzip")
    assert (status, set(answer)) == (400, {"error", "details"})
    two_members = gzip.compress(b'{"agent": "eu-1", ') + gzip.compress(b'"samples": []}')
    assert await push(client, two_members, encoding="gzip") == (
        200, {"accepted": 0, "duplicates": 0},
    )  # fmt: skip
    deflated = zlib.compress(json.dumps(batch()).encode())
    assert (await push(client, deflated, encoding="deflate"))[0] == 200


async def test_an_agent_pushing_as_another_agent_is_refused_and_nothing_is_stored(
    client: TestClient, collector: Collector, clock: Clock
) -> None:
    status, answer = await push(client, batch(sample(clock.now), agent="us-1"), token=EU1)
    assert status == 403
    assert "eu-1" in answer["error"]
    assert await stored(collector) == 0


# ----------------------------------------------------------------------------------- checks


async def test_checks_show_each_agent_last_sample_and_state_and_the_quorum_state(
    client: TestClient, clock: Clock
) -> None:
    now = clock.now
    await push(client, batch(sample(now - 20), sample(now - 10)))
    await push(client, batch(sample(now - 10, ok=False, error="refused"), agent="us-1"), US1)
    await push(client, batch(sample(now - 9000, check="old")))
    response = await client.get("/api/v1/checks", headers=auth(ADMIN))
    assert response.status == 200
    checks = {c["id"]: c for c in (await response.json())["checks"]}
    web_check = checks["web"]
    assert (web_check["quorum"], web_check["state"], web_check["configured"]) == (
        "any",
        "down",
        True,
    )
    assert web_check["interval_s"] == 10
    agents = {a["agent"]: a for a in web_check["agents"]}
    assert agents["eu-1"]["state"] == "up"
    assert agents["eu-1"]["labels"] == {"region": "eu"}
    assert agents["eu-1"]["last_sample"] == {
        "ts": round(now - 10, 3), "ok": True, "latency_ms": 12.5, "status_code": None,
        "error": None,
    }  # fmt: skip
    assert agents["us-1"]["state"] == "down"
    assert agents["us-1"]["last_sample"]["error"] == "refused"
    assert (checks["old"]["state"], checks["old"]["quorum"]) == ("unknown", "majority")


async def test_check_up_metric_follows_the_quorum_state_and_is_absent_while_unknown(
    client: TestClient, clock: Clock
) -> None:
    now = clock.now
    await push(client, batch(sample(now - 10), sample(now - 10, check="db", ok=False)))
    await push(client, batch(sample(now - 9000, check="old")))
    assert await metric(client, "slawatch_check_up") == {
        'slawatch_check_up{check="db"}': 0.0,
        'slawatch_check_up{check="web"}': 1.0,
    }
    clock.now += 3600
    assert await metric(client, "slawatch_check_up") == {}
    sizes = await metric(client, "slawatch_database_size_bytes")
    assert sizes["slawatch_database_size_bytes"] > 0


# ------------------------------------------------------------------------------------ errors


async def test_unknown_routes_and_methods_get_json_errors(client: TestClient) -> None:
    response = await client.get("/nowhere")
    assert (response.status, await response.json()) == (
        404, {"error": "Not Found", "details": []},
    )  # fmt: skip
    response = await client.delete("/api/v1/samples")
    assert response.status == 405
    assert response.headers["Allow"] == "POST"
    assert (await response.json())["error"] == "Method Not Allowed"


async def test_an_unexpected_error_is_a_json_500_without_traceback(
    aiohttp_client: Callable[..., Any], collector: Collector
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    collector.app.router.add_get("/broken", broken)
    client = await aiohttp_client(collector.app)
    response = await client.get("/broken")
    body = await response.text()
    assert response.status == 500
    assert json.loads(body) == {"error": "internal error: the collector logged it", "details": []}
    assert "secret internals" not in body and "Traceback" not in body


async def test_a_client_gone_mid_answer_is_one_log_line_without_traceback(
    aiohttp_client: Callable[..., Any], collector: Collector, caplog: pytest.LogCaptureFixture
) -> None:
    async def writes_to_a_closed_connection(request: web.Request) -> web.Response:
        raise ConnectionResetError("Cannot write to closing transport")  # as aiohttp says it

    collector.app.router.add_get("/gone", writes_to_a_closed_connection)
    client = await aiohttp_client(collector.app)
    with capture_logs() as logs:
        response = await client.get("/gone")
    assert response.status == 499  # nginx's "client closed request": nobody reads it
    assert [e["event"] for e in logs if e["event"] == "client_gone"] == ["client_gone"]
    assert not [r for r in caplog.records if r.exc_info is not None]
    metrics = await (await client.get("/metrics")).text()
    assert 'slawatch_http_requests_total{method="GET",route="/gone",status="499"} 1.0' in metrics


async def test_routes_added_by_another_module_get_the_same_store_and_errors(
    aiohttp_client: Callable[..., Any], collector: Collector, clock: Clock
) -> None:
    from slawatch.collector import app as api
    from slawatch.collector.routing import Reply, Route, add_routes

    async def count(request: web.Request) -> web.Response:
        request.app[api.AUTH].require(request, "admin", "customer")
        return web.json_response({"samples": await request.app[api.STORE].sample_count()})

    def setup(app: web.Application) -> None:
        add_routes(app, (Route("GET", "/api/v1/count", count, "Count", {200: Reply("n")}),))

    setup(collector.app)
    client = await aiohttp_client(collector.app)
    await push(client, batch(sample(clock.now)))
    response = await client.get("/api/v1/count", headers=auth(ACME))
    assert await response.json() == {"samples": 1}
    assert (await client.get("/api/v1/count", headers=auth(EU1))).status == 403
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/count" in document["paths"] and "/api/v1/samples" in document["paths"]


async def test_refused_pushes_are_counted_by_reason(client: TestClient, clock: Clock) -> None:
    await push(client, batch(sample(clock.now, ok="yes")))
    await push(client, batch(sample(clock.now), agent="us-1"))
    await push(client, b"{}", encoding="br")
    await push(client, b" " * (MAX_BODY_BYTES + 1))
    await push(client, batch(sample(clock.now)))
    assert await metric(client, "slawatch_ingest_errors_total") == {
        f'slawatch_ingest_errors_total{{reason="{reason}"}}': 1.0
        for reason in ("invalid", "wrong_agent", "encoding", "too_large")
    }
    assert await metric(client, "slawatch_ingest_batches_total") == {
        'slawatch_ingest_batches_total{result="refused"}': 4.0,
        'slawatch_ingest_batches_total{result="stored"}': 1.0,
    }


@pytest.mark.parametrize(("retention", "warned"), [("  retention: {raw: 7d}\n", True), ("", False)])
async def test_a_raw_retention_shorter_than_max_sample_age_is_allowed_with_a_warning(
    tmp_path: Path, retention: str, warned: bool
) -> None:
    text = CONFIG.replace("  agents:\n", retention + "  agents:\n")
    collector = Collector(parse_config(text, base_dir=tmp_path, process="collector"))
    with capture_logs() as logs:
        await collector.start()
    try:
        warnings = [e for e in logs if e["event"] == "raw_retention_short"]
        assert len(warnings) == warned
        if warned:
            assert (warnings[0]["raw_retention_s"], warnings[0]["max_sample_age_s"]) == (
                7 * 86400,
                45 * 86400,
            )
    finally:
        await collector.stop()
