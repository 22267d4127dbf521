"""`POST /api/v1/reload` in the real collector app (CONTRACT §5): a valid new file replaces
tokens, checks, SLAs and channels at once and says what changed; an invalid one is refused
whole, the old config keeps running and the metric says 0; notifications waiting for a channel
that is gone are given up with the reason, not dropped."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from slawatch.collector.main import Collector
from slawatch.config.loader import load_config
from tests.support import async_wait_until, auth

ADMIN = "admin-token-0123456789"
EU1 = "eu1-token-0123456789ab"
US1 = "us1-token-0123456789ab"
ACME = "acme-token-0123456789a"
GLOBEX = "globex-token-012345678"


def config_text(hook_url: str, *, second_check: bool = False, channel: bool = True) -> str:
    checks = '  - {id: web, url: "http://127.0.0.1:1/", interval: 10s, quorum: any}\n'
    if second_check:
        checks += '  - {id: api, url: "http://127.0.0.1:2/", interval: 10s}\n'
    customers = f"    - {{id: acme, name: ACME, token: {ACME}}}\n"
    agents = f"    - {{id: eu-1, token: {EU1}}}\n"
    alerts = ""
    if channel:
        alerts = f"""alerts:
  group_window: 0s
  channels:
    - {{id: hook, type: webhook, url: "{hook_url}", secret: a-signing-secret-0123456789}}
  rules:
    - {{checks: [web], channels: [hook], events: [down]}}
"""
    else:
        customers += f"    - {{id: globex, name: Globex, token: {GLOBEX}}}\n"
        agents = f"    - {{id: us-1, token: {US1}}}\n"
    return f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
{agents}  customers:
{customers}checks:
{checks}slas:
  - {{id: shop, customer: acme, checks: [web], objective: 99.9}}
{alerts}"""


@pytest.fixture
async def hook(aiohttp_server: Callable[..., Any]) -> AsyncIterator[str]:
    """A webhook receiver that is down: every notification to it stays pending."""

    async def refuse(request: web.Request) -> web.Response:
        return web.json_response({"error": "down"}, status=500)

    app = web.Application()
    app.router.add_post("/hook", refuse)
    server = await aiohttp_server(app)
    yield str(server.make_url("/hook"))


@pytest.fixture
def config_file(tmp_path: Path, hook: str) -> Path:
    path = tmp_path / "collector.yaml"
    path.write_text(config_text(hook))
    return path


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], config_file: Path) -> TestClient:
    return await aiohttp_client(Collector(load_config(config_file, process="collector")).app)


async def write(path: Path, text: str) -> None:
    await asyncio.to_thread(path.write_text, text)


async def reload(client: TestClient, token: str = ADMIN) -> tuple[int, Any]:
    response = await client.post("/api/v1/reload", headers=auth(token))
    return response.status, await response.json()


async def metric(client: TestClient, name: str) -> float | None:
    text = await (await client.get("/metrics")).text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


async def agent_check_ids(client: TestClient, token: str) -> list[str] | int:
    response = await client.get("/api/v1/agent/checks", headers=auth(token))
    if response.status != 200:
        return response.status
    return [c["id"] for c in (await response.json())["checks"]]


async def test_a_valid_file_replaces_tokens_checks_and_channels_and_says_what_changed(
    client: TestClient, config_file: Path, hook: str
) -> None:
    push = await client.post(
        "/api/v1/samples",
        json={"agent": "eu-1", "samples": [{"check": "web", "ts": time.time(), "ok": False,
              "error": "connection refused", "interval_s": 10, "type": "http"}]},
        headers=auth(EU1),
    )  # fmt: skip
    assert push.status == 200

    async def pending() -> list[Any]:
        response = await client.get("/api/v1/notifications", headers=auth(ADMIN))
        rows = (await response.json())["notifications"]
        return [r for r in rows if r["channel"] == "hook" and r["attempts"] >= 1]

    waiting = await async_wait_until(pending, timeout=20)
    assert waiting[0]["status"] == "pending"
    assert await agent_check_ids(client, EU1) == ["web"]

    await write(config_file, config_text(hook, second_check=True, channel=False))
    status, answer = await reload(client)
    assert status == 200, answer
    assert answer["changed"]["checks"] == {"added": ["api"], "removed": [], "changed": []}
    assert answer["changed"]["customers"]["added"] == ["globex"]
    assert answer["changed"]["agents"] == {"added": ["us-1"], "removed": ["eu-1"], "changed": []}
    assert answer["changed"]["channels"]["removed"] == ["hook"]
    assert answer["notifications_given_up"] == 1
    assert answer["needs_restart"] == []
    # tokens: the removed agent's is unknown now, the new ones work
    assert await agent_check_ids(client, EU1) == 401
    assert await agent_check_ids(client, US1) == ["web", "api"]
    assert (await client.get("/api/v1/slas", headers=auth(GLOBEX))).status == 200
    assert (await client.get("/api/v1/status/globex", headers=auth(GLOBEX))).status == 200
    # the waiting notification is given up with the reason, not dropped
    response = await client.get("/api/v1/notifications", headers=auth(ADMIN))
    rows = [r for r in (await response.json())["notifications"] if r["channel"] == "hook"]
    assert [r["status"] for r in rows] == ["given_up"]
    assert "no longer in the config" in rows[0]["last_error"]
    assert await metric(client, "slawatch_config_last_reload_successful") == 1


async def test_an_invalid_file_is_refused_whole_and_the_old_one_keeps_running(
    client: TestClient, config_file: Path
) -> None:
    before = await metric(client, "slawatch_config_last_reload_success_timestamp_seconds")
    good = await asyncio.to_thread(config_file.read_text)
    broken = good.replace("objective: 99.9", "objective: 199.9")
    await write(config_file, broken + "unknown_section: true\n")
    status, answer = await reload(client)
    assert status == 422
    assert "old config keeps running" in answer["error"]
    paths = {d["path"] for d in answer["details"]}
    assert {"slas[0].objective", "unknown_section"} <= paths
    assert not any(EU1 in str(d) or ADMIN in str(d) for d in answer["details"])
    assert await metric(client, "slawatch_config_last_reload_successful") == 0
    assert await metric(client, "slawatch_config_last_reload_success_timestamp_seconds") == before
    assert await agent_check_ids(client, EU1) == ["web"]
    assert (await client.get("/api/v1/slas", headers=auth(ACME))).status == 200
    # a good file again: applied, metric back to 1
    await write(config_file, good)
    status, answer = await reload(client)
    assert status == 200 and answer["changed"] == {}
    assert await metric(client, "slawatch_config_last_reload_successful") == 1


async def test_only_the_admin_reloads(client: TestClient) -> None:
    assert (await reload(client, EU1))[0] == 403
    assert (await reload(client, ACME))[0] == 403
    assert (await client.post("/api/v1/reload")).status == 401
