"""Alert evaluation does not hold the event loop (issue 15): while a pass is judging many
targets, the collector still answers `/healthz` and acknowledges pushes.

The judging is instrumented to stop at its first target until the test lets it go: if it ran
on the event loop, the loop would stop with it, and nothing below could answer before the hold's
deadline passed (the test then fails on `held_too_long`, not on a time measured)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from slawatch.collector.alerts import evaluator as evaluator_module
from slawatch.collector.alerts.service import SERVICE
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.support import async_wait_until

ADMIN = "admin-token-0123456789"
EU1 = "eu1-token-0123456789ab"
T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC).timestamp()
CHECKS = 400
HOLD_S = 60.0
"""The deadline of the hold: only reached when the loop is held with it (a failure)."""


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class HeldJudging:
    """`judge` stopping at its first call, in whichever thread calls it, until `release`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.held_too_long = False
        self.calls = 0
        self._real = evaluator_module.judge

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if not self.entered.is_set():
            self.entered.set()
            self.held_too_long = not self.released.wait(HOLD_S)
        return self._real(*args, **kwargs)


def samples(ts: float, ok: bool) -> list[dict[str, Any]]:
    return [
        {"check": f"web-{n:03d}", "ts": ts, "ok": ok, "latency_ms": 3.0, "interval_s": 10,
         "type": "http", "status_code": 200 if ok else 503,
         "error": None if ok else "status 503"}
        for n in range(CHECKS)
    ]  # fmt: skip


@pytest.fixture
async def hook_url(aiohttp_server: Callable[..., Any]) -> str:
    async def receive(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", receive)
    server = await aiohttp_server(app)
    return str(server.make_url("/hook"))


async def test_healthz_and_pushes_are_answered_while_a_pass_judges(
    aiohttp_client: Callable[..., Any],
    hook_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents: [{{id: eu-1, token: {EU1}}}]
alerts:
  group_window: 0s
  channels:
    - {{id: hook, type: webhook, url: "{hook_url}", secret: s3cret}}
  rules:
    - {{checks: ['*'], channels: [hook], after: 0s}}
"""
    config = parse_config(text, base_dir=tmp_path, process="collector")
    clock = Clock()
    client = await aiohttp_client(Collector(config, clock=clock).app)
    service = client.app[SERVICE]
    auth = {"Authorization": f"Bearer {EU1}"}
    held = HeldJudging()
    monkeypatch.setattr(evaluator_module, "judge", held)

    clock.now = T0 + 20
    response = await client.post(
        "/api/v1/samples", json={"agent": "eu-1", "samples": samples(T0, False)}, headers=auth
    )
    assert response.status == 200, await response.text()
    passing = asyncio.create_task(service.evaluate_now())
    assert await asyncio.to_thread(held.entered.wait, HOLD_S)  # a pass is judging, held

    health = await client.get("/healthz")
    assert (health.status, await health.json()) == (200, {"status": "ok"})
    response = await client.post(
        "/api/v1/samples", json={"agent": "eu-1", "samples": samples(T0 + 10, False)}, headers=auth
    )
    assert (response.status, await response.json()) == (200, {"accepted": CHECKS, "duplicates": 0})
    assert held.calls == 1 and not held.held_too_long

    held.released.set()
    await passing
    assert not held.held_too_long

    async def every_down_decided() -> bool:
        rows = await service.store.notifications(limit=10 * CHECKS)
        return len([r for r in rows if r.kind == "down"]) == CHECKS

    await async_wait_until(every_down_decided, timeout=60)
    assert held.calls >= CHECKS
