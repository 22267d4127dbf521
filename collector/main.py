"""`slawatch collector`: the store, the HTTP API and the background work, in one process.

`Collector` is usable in-process (tests, `slawatch up`): its `app` opens the store when it
starts, so `aiohttp_client(collector.app)` works as well as `await collector.start()`, which
also serves with the connection limits of `slawatch.collector.connections`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import structlog
from aiohttp import web
from prometheus_client import CollectorRegistry

from slawatch.collector import app as api
from slawatch.collector import openapi, pages
from slawatch.collector.alerts import api as alerts_api
from slawatch.collector.alerts import service as alerts_service
from slawatch.collector.auth import Authenticator
from slawatch.collector.connections import (
    KEEPALIVE_TIMEOUT_S,
    AcceptFailureLog,
    ConnectionGuard,
    GuardedSite,
    connection_cap,
    raise_open_file_limit,
)
from slawatch.collector.evidence import close as period_close
from slawatch.collector.evidence import routes as evidence_api
from slawatch.collector.evidence.keys import EvidenceKeyError
from slawatch.collector.fleet import checks as fleet_checks
from slawatch.collector.fleet import reload as fleet_reload
from slawatch.collector.ingest import routes as ingest
from slawatch.collector.metrics import CollectorMetrics
from slawatch.collector.monitoring import routes as monitoring
from slawatch.collector.reports import accounting
from slawatch.collector.reports import routes as report_api
from slawatch.collector.status import routes as status
from slawatch.collector.storage_errors import storage_failure
from slawatch.collector.store import StoreUnavailableError, create_store, database_label
from slawatch.collector.store.sqlite.integrity import quick_check
from slawatch.config.schema import AgentCredential, CollectorConfig, Config

log = structlog.get_logger()

PRUNE_EVERY_S = 3600.0
SHUTDOWN_TIMEOUT_S = 10.0
"""How long in-flight requests get to finish on SIGTERM before the store is closed."""
GC_YOUNG_THRESHOLD = 50_000
"""Allocations (net of frees) between two collections of the garbage collector's youngest
generation; Python's default is 700. See `tune_garbage_collector`."""

RouteSetup = Callable[[web.Application], None]
ROUTES: tuple[RouteSetup, ...] = (
    monitoring.setup,
    openapi.setup,
    ingest.setup,
    report_api.setup,
    evidence_api.setup,
    accounting.setup,
    alerts_service.setup,
    alerts_api.setup,
    status.setup,
    period_close.setup,
    fleet_checks.setup,
    fleet_reload.setup,
    pages.setup,
)
"""The `setup(app)` of every module of routes; a new module adds its own here."""


class StartError(Exception):
    """The collector cannot start; the message says why, naming the file or address."""


class Collector:
    def __init__(
        self,
        config: Config,
        *,
        registry: CollectorRegistry | None = None,
        extra_agents: Sequence[AgentCredential] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if config.collector is None:
            raise ValueError("the config has no collector section")
        self.config = config
        self.settings: CollectorConfig = config.collector
        self.registry = registry if registry is not None else CollectorRegistry()
        self.metrics = CollectorMetrics(self.registry)
        self.store = create_store(self.settings.database)
        self.app = api.create_app(
            config, self.store, Authenticator(self.settings, extra_agents), self.metrics, clock
        )
        self.app.cleanup_ctx.append(self._store_context)
        self.app.cleanup_ctx.append(self._retention_context)
        self.app.cleanup_ctx.append(lambda app: app[api.HEALTH].context())
        self.connections = ConnectionGuard(self.metrics)
        self.app.middlewares.insert(0, self.connections.middleware)
        self._accept_failures = AcceptFailureLog(self.metrics)
        for setup in ROUTES:
            setup(self.app)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The base URL of the running server (the real port when `listen` gave port 0)."""
        if self._runner is None or not self._runner.addresses:
            raise RuntimeError("the collector is not started")
        host, port = self._runner.addresses[0][:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def start(self) -> None:
        """Open the store (migrations) and start the HTTP server on `collector.listen`; a
        `StartError` says why it cannot."""
        open_files = raise_open_file_limit()
        self.connections.cap = connection_cap(self.settings.max_connections, open_files)
        if self.settings.max_connections not in (None, self.connections.cap):
            log.warning(
                "max_connections_lowered",
                max_connections=self.settings.max_connections,
                to=self.connections.cap,
                open_file_limit=open_files,
                hint="raise the open-file limit (LimitNOFILE= in the systemd unit)",
            )
        runner = web.AppRunner(
            self.app,
            access_log=None,
            shutdown_timeout=SHUTDOWN_TIMEOUT_S,
            handle_signals=False,
            keepalive_timeout=KEEPALIVE_TIMEOUT_S,
        )
        listen = self.settings.listen
        failures: tuple[type[Exception], ...] = (
            OSError,
            TimeoutError,
            EvidenceKeyError,
            *self.store.errors,
        )
        try:
            try:
                await runner.setup()
            except failures as error:
                failure = storage_failure(error, self.settings.database)
                raise StartError(failure.message if failure else str(error)) from error
            try:
                await GuardedSite(runner, listen.host, listen.port, self.connections).start()
            except OSError as error:
                raise StartError(f"cannot listen on {listen}: {error.strerror}") from error
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._accept_failures.install(asyncio.get_running_loop())
        log.info(
            "collector_started",
            url=self.url,
            database=database_label(self.settings.database),
            max_connections=self.connections.cap,
            open_file_limit=open_files,
        )
        if self.settings.retention.raw < self.settings.max_sample_age:
            log.warning(
                "raw_retention_short",
                raw_retention_s=self.settings.retention.raw,
                max_sample_age_s=self.settings.max_sample_age,
                hint="a sample older than retention.raw (accepted up to max_sample_age) lands "
                "where its neighbours are pruned: its run is kept whole rather than re-decided; "
                "keep retention.raw >= max_sample_age for exact late samples",
            )

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (and commit), stop the features (the
        alerts finish their deliveries in flight, bounded), close the store."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
            self._accept_failures.uninstall()
            log.info("collector_stopped")

    async def _store_context(self, app: web.Application) -> AsyncIterator[None]:
        """Registered before every feature's context: contexts close in reverse order, so on a
        stop the store closes last, after the alerts have committed their deliveries in flight
        (`alerts.service`) and the other features their work."""
        await self.store.open()
        coordination = app[api.COORDINATION]
        try:
            await coordination.start(api.remote_ingest_listener(app))
        except BaseException:
            await self.store.close()
            raise
        yield
        await coordination.stop()
        await self.store.close()

    async def _retention_context(self, app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(self._prune_forever(app[api.CLOCK]))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _prune_forever(self, clock: Callable[[], float]) -> None:
        retention = self.settings.retention
        failures: tuple[type[Exception], ...] = (*self.store.errors, OSError)
        while True:
            try:
                await self.store.prune(
                    round(clock() * 1000),
                    raw_retention_ms=round(retention.raw * 1000),
                    rollup_retention_ms=round(retention.rollups * 1000),
                )
            except failures as error:
                log.error("prune_failed", error=str(error))
            await asyncio.sleep(PRUNE_EVERY_S)


def tune_garbage_collector() -> None:
    """Set the garbage collector for a collector that has started (in-process with an agent
    or not): what start-up made is frozen out of its passes, and its youngest generation waits
    for `GC_YOUNG_THRESHOLD` allocations.

    Ingest allocates ~1,000 rows a batch, alive until the batch is committed. With the default
    threshold the collector ran about twice a batch and promoted each waiting batch's rows to
    the older generations, whose passes walked them again: measured, about 0.9 s of every 10 s
    of full-speed ingest, all of it holding the GIL the store's ingest thread needs. With 50,000,
    the rows of dozens of batches in flight die young, untouched; the only cost is that reference
    cycles (rare: a caught exception's traceback) wait longer to be freed.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def run(config: Config) -> int:
    """Run until SIGTERM or SIGINT; exit 0 after a clean stop, 1 if it cannot start."""
    return asyncio.run(_serve(config))


async def _serve(config: Config) -> int:
    try:
        collector = Collector(config)
    except StoreUnavailableError as error:
        return _cannot_start(config, error)
    try:
        await collector.start()
    except (StartError, RuntimeError) as error:
        return _cannot_start(config, error)
    tune_garbage_collector()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    reloads: set[asyncio.Task[None]] = set()

    def reload() -> None:
        task = asyncio.create_task(collector.app[fleet_reload.RELOADER].reload_logged())
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    try:
        await stopping.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)
        await asyncio.gather(*reloads, return_exceptions=True)
        await collector.stop()
    return 0


def _cannot_start(config: Config, error: Exception) -> int:
    settings = config.collector
    assert settings is not None
    log.error(
        "collector_cannot_start",
        error=str(error),
        database=database_label(settings.database),
        listen=str(settings.listen),
    )
    return 1


def check_database(database: Path | str) -> int:
    """`slawatch collector --check-db`: `PRAGMA quick_check` of the database, without starting;
    exit 0 if sound, 1 with SQLite's findings if not (or if it cannot be read)."""
    if not isinstance(database, Path):
        print(f"--check-db checks an SQLite database; {database_label(database)} is not one",
              file=sys.stderr)  # fmt: skip
        return 2
    if not database.is_file():
        print(f"no database at {database}", file=sys.stderr)
        return 1
    try:
        problems = quick_check(database)
    except (OSError, sqlite3.Error) as error:
        failure = storage_failure(error, database)
        print(failure.message if failure else f"{database}: {error}", file=sys.stderr)
        return 1
    if not problems:
        print(f"{database}: ok (PRAGMA quick_check found no problem)")
        return 0
    print(f"database corrupt: {database}: PRAGMA quick_check found:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    print(
        "stop the collector and restore the latest backup (made by `slawatch backup`);"
        " sqlite3's `.recover` may save what is newer than the backup",
        file=sys.stderr,
    )
    return 1
