"""`GET /api/v1/agent/checks` in-process (CONTRACT §5): selection by agent id and labels, the
ETag and 304, each token only its scope, and the answer read back by the agent's loader."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.agent.central import read_answer
from slawatch.collector.main import Collector
from slawatch.config.contract import LABELS_HEADER
from slawatch.config.loader import parse_config
from tests.support import auth

ADMIN = "admin-token-0123456789"
EU1 = "eu1-token-0123456789ab"
US1 = "us1-token-0123456789ab"
AP1 = "ap1-token-0123456789ab"
ACME = "acme-token-0123456789a"

CONFIG = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {EU1}}}
    - {{id: us-1, token: {US1}, labels: {{region: us}}}}
    - {{id: ap-1, token: {AP1}}}
  customers:
    - {{id: acme, name: ACME, token: {ACME}}}
checks:
  - id: everywhere
    url: "http://127.0.0.1:1/${{CHECK_PATH}}"
    interval: 10s
    expect: {{status: [200, "3xx"], body_contains: ok}}
  - {{id: eu-only, url: "http://127.0.0.1:2/", agents: [eu-1]}}
  - {{id: in-us, host: 127.0.0.1, port: 3, labels: {{region: us}}}}
"""


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], tmp_path: Path) -> TestClient:
    config = parse_config(
        CONFIG, base_dir=tmp_path, process="collector", environ={"CHECK_PATH": "health"}
    )
    return await aiohttp_client(Collector(config).app)


async def get_checks(client: TestClient, token: str, **headers: str) -> tuple[int, Any, Any]:
    response = await client.get("/api/v1/agent/checks", headers={**auth(token), **headers})
    body = await response.read()
    return response.status, response.headers.copy(), json.loads(body) if body else None


async def test_each_agent_gets_the_checks_that_select_it(client: TestClient) -> None:
    status, _, eu = await get_checks(client, EU1)
    assert status == 200
    assert [c["id"] for c in eu["checks"]] == ["everywhere", "eu-only"]
    _, _, us = await get_checks(client, US1)
    assert [c["id"] for c in us["checks"]] == ["everywhere", "in-us"]
    _, _, ap = await get_checks(client, AP1)
    assert [c["id"] for c in ap["checks"]] == ["everywhere"]
    # the check as the file wrote it, variables replaced, selectors left out
    assert eu["checks"][0] == {
        "id": "everywhere",
        "url": "http://127.0.0.1:1/health",
        "interval": "10s",
        "expect": {"status": [200, "3xx"], "body_contains": "ok"},
    }
    assert "agents" not in eu["checks"][1]
    assert "labels" not in us["checks"][1]
    assert len({eu["version"], us["version"], ap["version"]}) == 3


async def test_labels_the_agent_sends_select_checks_and_the_collector_s_override(
    client: TestClient,
) -> None:
    _, _, ap = await get_checks(client, AP1, **{LABELS_HEADER: json.dumps({"region": "us"})})
    assert [c["id"] for c in ap["checks"]] == ["everywhere", "in-us"]
    # us-1's collector entry says region: us, whatever the agent says
    _, _, us = await get_checks(client, US1, **{LABELS_HEADER: json.dumps({"region": "eu"})})
    assert [c["id"] for c in us["checks"]] == ["everywhere", "in-us"]
    status, _, error = await get_checks(client, AP1, **{LABELS_HEADER: "{not json"})
    assert status == 400 and LABELS_HEADER in error["error"]
    status, _, error = await get_checks(client, AP1, **{LABELS_HEADER: '{"region": ["us"]}'})
    assert status == 400


async def test_etag_and_if_none_match(client: TestClient) -> None:
    status, headers, body = await get_checks(client, EU1)
    etag = headers["ETag"]
    assert etag == f'"{body["version"]}"' and not etag.startswith("W/")
    status, headers, body = await get_checks(client, EU1, **{"If-None-Match": etag})
    assert status == 304 and body is None and headers["ETag"] == etag
    status, _, _ = await get_checks(client, EU1, **{"If-None-Match": f'"other", {etag}'})
    assert status == 304
    status, _, body = await get_checks(client, EU1, **{"If-None-Match": '"stale"'})
    assert status == 200 and body["checks"]
    # another agent's version is not this one's
    _, us_headers, _ = await get_checks(client, US1)
    status, _, _ = await get_checks(client, EU1, **{"If-None-Match": us_headers["ETag"]})
    assert status == 200


async def test_only_agent_tokens(client: TestClient) -> None:
    assert (await get_checks(client, "unknown-token-0123456789"))[0] == 401
    assert (await client.get("/api/v1/agent/checks")).status == 401
    assert (await get_checks(client, ADMIN))[0] == 403
    assert (await get_checks(client, ACME))[0] == 403


async def test_the_agent_reads_the_answer_with_its_own_loader(client: TestClient) -> None:
    _, _, eu = await get_checks(client, EU1)
    answer = read_answer(eu["version"], eu["checks"], "test")
    assert [c.id for c in answer.checks] == ["everywhere", "eu-only"]
    everywhere = answer.checks[0]
    assert everywhere.interval == 10.0 and everywhere.target.url == "http://127.0.0.1:1/health"
    assert everywhere.target.expect.body_contains == "ok"


def test_a_check_the_agent_cannot_read_is_left_out_and_the_others_run() -> None:
    answer = read_answer(
        "v1",
        [
            {"id": "good", "url": "http://127.0.0.1:1/"},
            {"id": "future", "type": "quic", "host": "x"},
            "not a mapping",
            {"id": "good", "url": "http://127.0.0.1:2/"},
        ],
        "test",
    )
    assert [c.id for c in answer.checks] == ["good"]
