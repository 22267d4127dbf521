"""The agent's poller of central checks against local servers: failover between collectors in
order (no answer, 408, 429, 5xx: the next; another 4xx: the answer), the ETag, the cache file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from structlog.testing import capture_logs

from slawatch.agent.central import CentralAnswer, CentralChecks, write_atomically
from tests.support import free_port

CHECKS = [{"id": "web", "url": "http://127.0.0.1:1/"}]


class Server:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[dict[str, str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if self.status != 200:
            return web.json_response({"error": "no"}, status=self.status)
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304)
        return web.json_response({"checks": CHECKS, "version": "v1"}, headers={"ETag": '"v1"'})


async def serve(aiohttp_server: Callable[..., Any], server: Server) -> str:
    app = web.Application()
    app.router.add_get("/api/v1/agent/checks", server.handle)
    running = await aiohttp_server(app)
    return str(running.make_url("")).rstrip("/")


def poller(tmp_path: Path, urls: list[str], seen: list[CentralAnswer]) -> CentralChecks:
    return CentralChecks(
        urls=urls,
        token="a-token-0123456789abcdef",
        labels={"region": "eu"},
        cache=tmp_path / "eu-1-spool-checks.json",
        poll_s=30,
        on_change=seen.append,
    )


async def test_no_answer_and_5xx_fail_over_then_the_etag_makes_it_a_304(
    tmp_path: Path, aiohttp_server: Callable[..., Any]
) -> None:
    busy, good = Server(503), Server()
    urls = [f"http://127.0.0.1:{free_port()}", await serve(aiohttp_server, busy)]
    urls.append(await serve(aiohttp_server, good))
    seen: list[CentralAnswer] = []
    central = poller(tmp_path, urls, seen)
    await central.open()
    try:
        assert await central.poll() is True
        assert [c.id for c in seen[-1].checks] == ["web"]
        assert json.loads(good.requests[0]["X-Slawatch-Labels"]) == {"region": "eu"}
        assert await central.poll() is False
        assert good.requests[-1]["If-None-Match"] == '"v1"'
        assert len(seen) == 1
    finally:
        await central.stop()
    cached = json.loads((tmp_path / "eu-1-spool-checks.json").read_text())
    assert (cached["version"], cached["checks"]) == ("v1", CHECKS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eu-1-spool-checks.json"]  # noqa: ASYNC240


async def test_a_refusal_is_an_answer_and_is_said_once(
    tmp_path: Path, aiohttp_server: Callable[..., Any]
) -> None:
    refusing, other = Server(403), Server()
    urls = [await serve(aiohttp_server, refusing), await serve(aiohttp_server, other)]
    seen: list[CentralAnswer] = []
    central = poller(tmp_path, urls, seen)
    await central.open()
    try:
        with capture_logs() as logs:
            assert await central.poll() is False
            assert await central.poll() is False
    finally:
        await central.stop()
    assert other.requests == [] and seen == []
    assert len([e for e in logs if e["event"] == "checks_poll_refused"]) == 1
    assert len(refusing.requests) == 2


async def test_an_unreadable_cache_is_logged_and_ignored(tmp_path: Path) -> None:
    central = poller(tmp_path, ["http://127.0.0.1:1"], [])
    assert await central.load_cache() is None
    central.cache.write_text("{half a file")
    with capture_logs() as logs:
        assert await central.load_cache() is None
    assert [e["event"] for e in logs] == ["checks_cache_unreadable"]
    write_atomically(central.cache, json.dumps({"version": "v7", "checks": CHECKS}))
    answer = await central.load_cache()
    assert answer is not None and answer.version == "v7"
    assert [c.id for c in answer.checks] == ["web"]
