"""The collector's aiohttp application: what every route needs, and how failures answer.

`create_app` builds the application with what every route needs under typed keys (`CONFIG`,
`STORE`, `AUTH`, `METRICS`, `CLOCK`, `HEALTH`) and the middleware that turns every failure into
the JSON error of `slawatch.collector.errors`: a failure of the storage (`storage_errors`) into
507 (disk full) or 503 with `Retry-After` and one log line, anything else into a 500 with its
traceback logged. Routes live in the rooms they serve: each module of routes has a
`setup(app)` that adds its declared routes (`slawatch.collector.routing`), from which the
OpenAPI document is made; `slawatch.collector.main` lists them.
"""

from __future__ import annotations

import asyncio
import functools
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from slawatch.collector.auth import Authenticator
from slawatch.collector.errors import ApiError, error_response
from slawatch.collector.health import StoreHealth
from slawatch.collector.ingest.admission import PushAdmission
from slawatch.collector.ingest.batch import Batch
from slawatch.collector.ingest.workers import BatchJudge
from slawatch.collector.metrics import CollectorMetrics
from slawatch.collector.storage_errors import StorageFailure, storage_failure
from slawatch.collector.store import IngestResult, Store
from slawatch.collector.store.coordination import Coordination, RemoteIngest, coordination_of
from slawatch.config.schema import Config

log = structlog.get_logger()

CLIENT_GONE = 499
"""The status counted for a request whose client went away before its answer (nginx's)."""

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
    except asyncio.CancelledError:
        raise
    except ConnectionResetError:
        # The client went away before its answer was written (a scraper that gave up, a
        # download cancelled): nothing is left to answer. Returned, not raised: aiohttp logs a
        # traceback for a handler's exception, and it writes this answer quietly or not at all.
        response = web.Response(status=CLIENT_GONE)
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
    elif response.status == CLIENT_GONE:
        log.info("client_gone", method=request.method, path=request.path)
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


# --------------------------------------------------------------------------------------- helpers


async def tell_ingest_listeners(app: web.Application, batch: Batch, result: IngestResult) -> None:
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
            tell_ingest_listeners(app, Batch(agent, []), result)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return heard


def _admission_count(app: web.Application, state: str) -> int:
    """The pushes `active` or `waiting` at the admission control, for its gauge."""
    count: int = getattr(app[PUSH_ADMISSION], state)
    return count
