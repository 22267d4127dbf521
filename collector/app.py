"""The collector's HTTP routes (CONTRACT §3): health, metrics, sample ingest, checks.

`create_app` builds the application with what every route needs under typed keys (`CONFIG`,
`STORE`, `AUTH`, `METRICS`, `CLOCK`, `HEALTH`) and the middleware that turns every failure into
the JSON error of `slawatch.collector.errors`: a failure of the storage (`storage_errors`) into
507 (disk full) or 503 with `Retry-After` and one log line, anything else into a 500 with its
traceback logged. Each module of routes has a `setup(app)` that adds its routes and documents
them in the OpenAPI document (`slawatch.collector.openapi.document(app).add(...)`); this module's
own is `setup` below.
"""

from __future__ import annotations

import asyncio
import functools
import time
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import structlog
from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from slawatch.collector import openapi
from slawatch.collector.auth import Authenticator, Principal
from slawatch.collector.current import check_states
from slawatch.collector.engine.states import State
from slawatch.collector.errors import ApiError, error_response
from slawatch.collector.health import StoreHealth
from slawatch.collector.ingest.admission import PushAdmission, PushShed
from slawatch.collector.ingest.batch import COMPRESSED_ENCODINGS, Batch, BatchError
from slawatch.collector.ingest.workers import BatchJudge
from slawatch.collector.metrics import CollectorMetrics
from slawatch.collector.storage_errors import StorageFailure, storage_failure
from slawatch.collector.store import IngestResult, Store
from slawatch.collector.store.coordination import Coordination, RemoteIngest, coordination_of
from slawatch.config.contract import MAX_BODY_BYTES, STATE_CHANGE_HEADER
from slawatch.config.schema import Config

log = structlog.get_logger()

IngestListener = Callable[[web.Application, Batch, IngestResult], Awaitable[None]]
MetricsRefresher = Callable[[web.Application], Awaitable[None]]
ConfigListener = Callable[[web.Application, Config], Awaitable[None]]

CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
AUTH = web.AppKey("auth", Authenticator)
METRICS = web.AppKey("metrics", CollectorMetrics)
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
"""Unix seconds now; tests replace it to put the collector at a chosen instant."""
BATCH_JUDGE = web.AppKey("batch_judge", BatchJudge)
"""Parses and validates pushed batches, big ones in worker processes; tests may replace it
before the app starts."""
PUSH_ADMISSION = web.AppKey("push_admission", PushAdmission)
"""How many pushes are worked on at once, and how long others may wait; tests may replace it
before the app starts."""
INGEST_LISTENERS = web.AppKey("ingest_listeners", list[IngestListener])
"""Called after each stored batch (alerts evaluate states on ingest); errors are logged."""
METRICS_REFRESHERS = web.AppKey("metrics_refreshers", list[MetricsRefresher])
"""Called before each scrape of /metrics, to set gauges of state (SLA availability...)."""
COORDINATION = web.AppKey("coordination", Coordination)
"""Which collector of a shared database leads (alerts), and what the others ingest."""
CONFIG_LISTENERS = web.AppKey("config_listeners", list[ConfigListener])
"""Called after a reload has put a new config in `CONFIG` (`fleet.reload`): a feature that
keeps something made from the config makes it again (`replace_state`)."""
HEALTH = web.AppKey("health", StoreHealth)
"""Whether the store can write and its database is sound: `/healthz`."""

ACCEPTED_ENCODINGS = frozenset({"", "identity", *COMPRESSED_ENCODINGS})
READ_CHUNK_BYTES = 256 * 1024
REFUSAL_REASONS = {
    400: "invalid", 403: "wrong_agent", 408: "timeout", 413: "too_large", 415: "encoding",
    429: "shed", 503: "storage", 507: "storage",
}  # fmt: skip
"""`slawatch_ingest_errors_total{reason}` of a refused push, by its status."""
BODY_TIMEOUT_S = 30.0
"""A request body must arrive whole within this (408 past it): a connection busy with a request
is never closed to make room (`connections`), so it must not be kept busy at will."""
SCRAPE_WRITE_TIMEOUT_S = 10.0
"""A scrape holds one of the few slots (`CollectorMetrics.scrape_slot`) until its answer is
written: a scraper that does not read it in time is disconnected."""
STORAGE_RETRY_AFTER_S = 30
"""`Retry-After` of a 507 or 503 for a failure of the storage: agents keep their spool
meanwhile."""


def create_app(
    config: Config,
    store: Store,
    auth: Authenticator,
    metrics: CollectorMetrics,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    app = web.Application(
        middlewares=[request_middleware],
        handler_args={"auto_decompress": False, "access_log": None},
    )
    app[CONFIG] = config
    app[STORE] = store
    app[AUTH] = auth
    app[METRICS] = metrics
    app[CLOCK] = clock
    app[BATCH_JUDGE] = BatchJudge()
    app[PUSH_ADMISSION] = PushAdmission()
    for state in ("active", "waiting"):
        metrics.pushes.labels(state).set_function(functools.partial(_admission_count, app, state))
    app[INGEST_LISTENERS] = []
    app[COORDINATION] = coordination = coordination_of(store)
    metrics.alert_leader.set_function(lambda: coordination.is_leader)
    app[METRICS_REFRESHERS] = []
    app[CONFIG_LISTENERS] = []
    app[HEALTH] = health = StoreHealth(store, clock)
    metrics.healthy.set_function(lambda: health.reason is None)
    openapi.setup(app)
    app.on_cleanup.append(_close_batch_judge)
    return app


def replace_state(app: web.Application, key: web.AppKey[Any], value: Any) -> None:
    """Set a value of the running application (a reload). aiohttp warns that a started
    application's state changes under the requests under way: here that is the point (a
    request reads the value once, at its start), so the warning is silenced for this call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app[key] = value


async def _close_batch_judge(app: web.Application) -> None:
    await app[BATCH_JUDGE].close()


def setup(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_page)
    app.router.add_post("/api/v1/samples", push_samples)
    app.router.add_get("/api/v1/checks", list_checks)


# ------------------------------------------------------------------------------------ middleware


@web.middleware
async def request_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """JSON errors for every failure, no traceback to clients; timing, and a log line per
    refused request (but for `/healthz`, whose state is logged when it changes).

    Nothing of the request's headers is logged: they carry bearer tokens.
    """
    started = time.perf_counter()
    failure: StorageFailure | None = None
    try:
        response = await handler(request)
    except ApiError as error:
        response = error_response(error.status, error.message, error.details, error.headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        kept = {k: v for k, v in error.headers.items() if k in ("Allow", "Retry-After")}
        response = error_response(error.status, error.reason, headers=kept)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception as error:
        failure = storage_failure(error, request.app[STORE].path)
        if failure is None:
            log.exception("request_failed", method=request.method, path=request.path)
            response = error_response(500, "internal error: the collector logged it")
        else:
            response = _storage_failed(request.app, failure)
    seconds = time.perf_counter() - started
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].observe_request(request.method, route, response.status, seconds)
    if failure is not None:
        log.error(
            "storage_failed",
            method=request.method,
            path=request.path,
            status=response.status,
            reason=failure.message,
        )
    elif response.status >= 400 and request.path != "/healthz":
        log.info(
            "http_refused",
            method=request.method,
            path=request.path,
            status=response.status,
            ms=round(seconds * 1000, 1),
        )
    return response


def _storage_failed(app: web.Application, failure: StorageFailure) -> web.Response:
    """507 to a full disk, 503 to another failure of the storage, with `Retry-After` (agents
    back off and keep their spool); `/healthz` and the metrics told."""
    app[HEALTH].failed(failure)
    app[METRICS].storage_failures.labels(failure.kind).inc()
    return error_response(
        failure.status,
        f"cannot store now: {failure.message}",
        headers={"Retry-After": str(STORAGE_RETRY_AFTER_S)},
    )


# ---------------------------------------------------------------------------------------- routes


async def healthz(request: web.Request) -> web.Response:
    """200 `{"status": "ok"}`, or 503 `{"status": "degraded", "reason": …}` while the store
    cannot write or its database is corrupt."""
    reason = request.app[HEALTH].reason
    if reason is None:
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "degraded", "reason": reason}, status=503)


async def metrics_page(request: web.Request) -> web.Response:
    """Open to anyone unless `collector.metrics_token` is set: then that token's (or the
    admin's)."""
    app = request.app
    if _collector(app).metrics_token is not None:
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


async def push_samples(request: web.Request) -> web.Response:
    """Authenticate, wait for a turn (or 429: `ingest.admission`; a push carrying a state
    change goes ahead), then ingest."""
    app = request.app
    principal = app[AUTH].require(request, "agent", "admin")
    state_change = request.headers.get(STATE_CHANGE_HEADER) == "1"
    try:
        async with app[PUSH_ADMISSION].turn(state_change=state_change):
            return await _ingest(request, principal)
    except PushShed as shed:
        app[METRICS].ingest_batches.labels("refused").inc()
        app[METRICS].ingest_errors.labels(REFUSAL_REASONS[429]).inc()
        raise ApiError(429, str(shed), headers={"Retry-After": str(shed.retry_after)}) from None


async def _ingest(request: web.Request, principal: Principal) -> web.Response:
    app = request.app
    metrics = app[METRICS]
    try:
        batch, now = await _read_batch(request, principal)
    except ApiError as error:
        metrics.ingest_batches.labels("refused").inc()
        metrics.ingest_errors.labels(REFUSAL_REASONS.get(error.status, "other")).inc()
        raise
    try:
        result = await app[STORE].ingest(
            batch.agent, batch.samples, labels=batch.labels, now_ms=round(now * 1000)
        )
    except Exception:
        metrics.ingest_batches.labels("failed").inc()
        raise
    app[HEALTH].wrote()
    metrics.ingest_batches.labels("stored").inc()
    metrics.samples_ingested.labels(batch.agent).inc(result.accepted)
    metrics.samples_duplicate.labels(batch.agent).inc(result.duplicates)
    await _tell_ingest_listeners(app, batch, result)
    return web.json_response({"accepted": result.accepted, "duplicates": result.duplicates})


async def _read_batch(request: web.Request, principal: Principal) -> tuple[Batch, float]:
    """The validated batch of the request and the instant it was judged at, or ApiError."""
    app = request.app
    body, encoding = await read_body(request)
    now = app[CLOCK]()
    try:
        batch = await app[BATCH_JUDGE].judge(
            body,
            encoding=encoding,
            now=now,
            max_sample_age=_collector(app).max_sample_age,
            pushing_as=principal.id if principal.kind == "agent" else None,
        )
    except BatchError as error:
        raise ApiError(error.status, error.message, [p.to_json() for p in error.problems]) from None
    return batch, now


SMALL_BODY_BYTES = 64 * 1024
"""The body of an admin request (a maintenance window, a test message)."""


async def read_small_json(request: web.Request) -> Any:
    """The JSON document of a small request body: 413 past `SMALL_BODY_BYTES`, 400 if it is
    not JSON, 408 if it takes longer than `BODY_TIMEOUT_S` to arrive."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            body = await request.content.read(SMALL_BODY_BYTES + 1)
    except TimeoutError:
        raise _body_too_slow() from None
    if len(body) > SMALL_BODY_BYTES:
        raise ApiError(413, f"body over {SMALL_BODY_BYTES} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"body is not valid JSON: {error}") from None


async def read_body(request: web.Request) -> tuple[bytes, str]:
    """The request body as sent and its Content-Encoding; 413 past `MAX_BODY_BYTES`, 415 for an
    encoding other than gzip, deflate or none, 408 past `BODY_TIMEOUT_S`. (The app turns
    aiohttp's own decompression off: it would answer an encoding it cannot decode with a
    plain-text error, before any handler runs, and inflate a gzip bomb whole; `ingest.inflate`
    stops at the limit.)"""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ACCEPTED_ENCODINGS:
        raise ApiError(415, "Content-Encoding must be gzip, deflate or none")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, f"body over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    received = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
                received += len(chunk)
                if received > MAX_BODY_BYTES:
                    raise ApiError(413, f"body over {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise _body_too_slow() from None
    return b"".join(chunks), encoding


def _body_too_slow() -> ApiError:
    return ApiError(408, f"the body did not arrive within {BODY_TIMEOUT_S:g} s")


async def list_checks(request: web.Request) -> web.Response:
    app = request.app
    app[AUTH].require(request, "admin")
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


# --------------------------------------------------------------------------------------- helpers


def _collector(app: web.Application) -> Any:
    collector = app[CONFIG].collector
    assert collector is not None
    return collector


def _iso(ms: int) -> str:
    text = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


async def _tell_ingest_listeners(app: web.Application, batch: Batch, result: IngestResult) -> None:
    for listener in app[INGEST_LISTENERS]:
        try:
            await listener(app, batch, result)
        except Exception:
            log.exception("ingest_listener_failed", listener=getattr(listener, "__name__", "?"))


def remote_ingest_listener(app: web.Application) -> RemoteIngest:
    """What tells the ingest listeners of the samples another collector of the same database
    stored (`Coordination.start`): the status caches drop what they changed, the alert leader
    evaluates."""
    tasks: set[asyncio.Task[None]] = set()

    def heard(agent: str, accepted: int, checks: frozenset[str] | None) -> None:
        if checks is None:
            config = app[CONFIG]
            checks = frozenset(c.id for c in config.checks) | frozenset(
                check for sla in config.slas for check in sla.checks
            )
        result = IngestResult(accepted, 0, checks)
        task = asyncio.get_running_loop().create_task(
            _tell_ingest_listeners(app, Batch(agent, []), result)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return heard


def _admission_count(app: web.Application, state: str) -> int:
    """The pushes `active` or `waiting` at the admission control, for its gauge."""
    count: int = getattr(app[PUSH_ADMISSION], state)
    return count
