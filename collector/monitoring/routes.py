"""Routes of the collector's own state (CONTRACT §3):

- `GET /healthz`: 200 `{"status": "ok"}`, or 503 `{"status": "degraded", "reason": …}` while the
  store cannot write or its database is corrupt (`slawatch.collector.health`).
- `GET /metrics`: Prometheus text; open to anyone unless `collector.metrics_token` is set, then
  that token's (or the admin's).
- `GET /api/v1/checks` (admin): every check seen or configured, its state now per agent and
  under its quorum.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Literal, NotRequired, TypedDict

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from slawatch.collector.app import AUTH, CLOCK, CONFIG, HEALTH, METRICS, METRICS_REFRESHERS, STORE
from slawatch.collector.current import check_states
from slawatch.collector.engine.states import State
from slawatch.collector.jsonschema import INLINE
from slawatch.collector.routing import Instant, Reply, Route, add_routes

SCRAPE_WRITE_TIMEOUT_S = 10.0
"""A scrape holds one of the few slots (`CollectorMetrics.scrape_slot`) until its answer is
written: a scraper that does not read it in time is disconnected."""


async def healthz(request: web.Request) -> web.Response:
    reason = request.app[HEALTH].reason
    if reason is None:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "degraded", "reason": reason}, status=503)


async def metrics_page(request: web.Request) -> web.Response:
    app = request.app
    collector = app[CONFIG].collector
    if collector is not None and collector.metrics_token is not None:
        app[AUTH].require(request, "metrics", "admin")

    async def refresh() -> None:
        await app[METRICS].refresh(app[STORE], app[CONFIG], app[CLOCK]())
        for refresher in app[METRICS_REFRESHERS]:
            await refresher(app)

    async with app[METRICS].scrape_slot:
        response = web.Response(
            body=await app[METRICS].page(refresh),
            headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4},
        )
        try:
            async with asyncio.timeout(SCRAPE_WRITE_TIMEOUT_S):
                await response.prepare(request)
                await response.write_eof()
        except TimeoutError:
            if request.transport is not None:
                request.transport.close()
            raise ConnectionResetError("the scraper did not read its answer in time") from None
    return response


async def list_checks(request: web.Request) -> web.Response:
    app = request.app
    store, config = app[STORE], app[CONFIG]
    now = app[CLOCK]()
    states = await check_states(store, config, round(now * 1000))
    last_samples = await store.last_samples()
    labels = {agent.id: dict(agent.labels) for agent in await store.seen_agents()}
    seen = {check.id: check for check in await store.seen_checks()}
    checks = []
    for check_id in sorted(set(seen) | {c.id for c in config.checks}):
        info = seen.get(check_id)
        current = states.get(check_id)
        configured = config.check(check_id)
        agents = []
        for agent, state in (current.agents if current else {}).items():
            run = current.runs.get(agent) if current else None
            last = last_samples.get(check_id, {}).get(agent)
            agents.append(
                {
                    "agent": agent,
                    "state": state.value,
                    "since": _iso(run.start_ms) if run else None,
                    "last_sample": None
                    if last is None
                    else {
                        "ts": last.ts_ms / 1000,
                        "ok": last.ok,
                        "latency_ms": last.latency_ms,
                        "status_code": last.status_code,
                        "error": last.error,
                    },
                    "labels": labels.get(agent, {}),
                }
            )
        interval_s = (
            info.interval_ms / 1000 if info else (configured.interval if configured else None)
        )
        checks.append(
            {
                "id": check_id,
                "type": info.type if info and info.type else (configured and configured.type),
                "interval_s": interval_s,
                "configured": configured is not None,
                "first_seen": _iso(info.first_seen_ms) if info else None,
                "last_seen": _iso(info.last_seen_ms) if info else None,
                "quorum": current.quorum
                if current
                else (configured.quorum if configured else "majority"),
                "state": (current.state if current else State.UNKNOWN).value,
                "agents": agents,
            }
        )
    return web.json_response({"now": _iso(round(now * 1000)), "checks": checks})


def _iso(ms: int) -> str:
    text = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


# ------------------------------------------------------------------------------------- models

StateName = Literal["up", "down", "unknown"]


class Healthy(TypedDict):
    status: Literal["ok"]


class Degraded(TypedDict):
    status: Literal["degraded"]
    reason: str


class LastSample(TypedDict, total=False):
    ts: float
    ok: bool
    latency_ms: float | None
    status_code: int | None
    error: str | None


class AgentView(TypedDict):
    agent: str
    state: StateName
    since: Instant | None
    last_sample: Annotated[LastSample | None, INLINE]
    labels: NotRequired[dict[str, str]]


class CheckView(TypedDict):
    id: str
    type: NotRequired[str | None]
    interval_s: NotRequired[float | None]
    configured: NotRequired[bool]
    first_seen: NotRequired[Instant | None]
    last_seen: NotRequired[Instant | None]
    quorum: str | int
    state: StateName
    agents: list[AgentView]


class CheckList(TypedDict):
    now: Instant
    checks: list[CheckView]


ROUTES = (
    Route("GET", "/healthz", healthz, "Health: can the collector keep what it is sent?",
          security="none",
          replies={
              200: Reply("Healthy", Annotated[Healthy, INLINE]),
              503: Reply(
                  "Degraded: the store cannot write (disk full…) or the database is corrupt",
                  Annotated[Degraded, INLINE],
              ),
          }),
    Route("GET", "/metrics", metrics_page, "Prometheus metrics",
          description="Open to anyone, unless `collector.metrics_token` is set: then that token "
          "(or the admin token) is needed.",
          security="optional",
          replies={200: Reply("Prometheus text format", media=(("text/plain", str),))}),
    Route("GET", "/api/v1/checks", list_checks,
          "Every check seen, with its state now per agent and under its quorum",
          scopes=("admin",),
          replies={200: Reply("Checks", Annotated[CheckList, INLINE])}),
)  # fmt: skip


def setup(app: web.Application) -> None:
    add_routes(app, ROUTES)
