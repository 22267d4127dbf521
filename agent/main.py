"""`slawatch agent`: the scheduler, the spool and the shipper of one agent, started and stopped.

`slawatch up` embeds `Agent` in the collector's process with a registry of its own and a token
it generated; `run` is the standalone command.
"""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import prometheus_client
import structlog

from slawatch.agent.metrics import AgentMetrics, start_metrics_server
from slawatch.agent.probes import host_problems
from slawatch.agent.sample import Sample
from slawatch.agent.scheduler import ProbeFunction, Scheduler
from slawatch.agent.shipper import Shipper
from slawatch.agent.spool import Spool, SpoolError
from slawatch.config.schema import AgentConfig, Check, Config

if TYPE_CHECKING:
    from aiohttp import web

log = structlog.get_logger()
T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        checks: Sequence[Check],
        *,
        registry: prometheus_client.CollectorRegistry | None = None,
        token: str | None = None,
        collector_url: str | None = None,
        probe: ProbeFunction | None = None,
        serve_metrics: bool | None = None,
    ) -> None:
        """`serve_metrics`: serve `config.metrics_listen`; by default only when standalone (no
        registry given: an embedding process serves its own registry)."""
        self.config = config
        self.checks = tuple(checks)
        self.registry = registry or prometheus_client.CollectorRegistry()
        self.metrics = AgentMetrics(self.registry)
        self.serve_metrics = registry is None if serve_metrics is None else serve_metrics
        resolved_token = token if token is not None else (config.token and config.token.value)
        if not resolved_token:
            raise ValueError("the agent needs a token (agent.token)")
        unrunnable = host_problems(self.checks)
        if unrunnable:
            raise ValueError("; ".join(unrunnable))
        self.spool = Spool(
            config.spool,
            max_samples=config.spool_max_samples,
            max_age=config.spool_max_age,
            metrics=self.metrics,
        )
        self.shipper = Shipper(
            self.spool,
            agent_id=config.id,
            collector_url=collector_url or config.collector,
            token=resolved_token,
            labels=config.labels,
            metrics=self.metrics,
        )
        self.scheduler = Scheduler(
            self.checks,
            self._keep,
            probe=probe,
            concurrency=config.concurrency,
            metrics=self.metrics,
        )
        self._metrics_server: web.AppRunner | None = None

    async def _keep(self, sample: Sample) -> None:
        """The scheduler's sink: on disk first, then the shipper knows it is there."""
        await self.spool.add(sample)
        self.shipper.spooled(sample)

    async def start(self, *, replay_dead: bool = False) -> None:
        """Open the spool, then start probing and shipping (and serving /metrics if asked).

        Raises SpoolError or OSError (metrics port taken) with nothing left running.
        """
        await self.spool.open()
        try:
            if replay_dead:
                replayed = await self.spool.replay_dead()
                log.info("dead_letters_replayed", samples=replayed)
            if self.serve_metrics and self.config.metrics_listen:
                self._metrics_server = await start_metrics_server(
                    self.registry, self.config.metrics_listen
                )
        except BaseException:
            await self.spool.close()
            raise
        await self.shipper.start()
        await self.scheduler.start()
        log.info(
            "agent_started",
            agent=self.config.id,
            checks=len(self.checks),
            collector=self.shipper.url,
            spool=str(self.config.spool),
            queued=self.spool.queued,
            dead_letters=self.spool.dead,
        )

    async def stop(self) -> None:
        """Abandon probes in flight, give a push in flight up to 2 s, commit, close."""
        await self.scheduler.stop()
        await self.shipper.stop()
        await self.spool.close()
        if self._metrics_server is not None:
            await self._metrics_server.cleanup()
            self._metrics_server = None
        log.info("agent_stopped", agent=self.config.id, queued=self.spool.queued)


def run(config: Config, *, replay_dead: bool = False) -> int:
    """`slawatch agent`: run until SIGTERM/SIGINT; exit code. (slawatch/cli.py calls this.)"""
    if config.agent is None:
        log.error("agent_not_configured", config=str(config.path), hint="add an agent: section")
        return EXIT_USAGE
    return run_loop(_serve(config.agent, config.checks_for_agent(config.agent.id), replay_dead))


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the agent on uvloop (libuv's event loop, a dependency where it builds): an agent
    spends most of its CPU in the event loop's connection handling, and uvloop's, in C, costs a
    quarter less per probe (bench/agent_probes.py); asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def _serve(config: AgentConfig, checks: Sequence[Check], replay_dead: bool) -> int:
    if not checks:
        log.warning("no_checks", agent=config.id, hint="no check in checks: runs on this agent")
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        agent = Agent(config, checks)
    except ValueError as error:
        log.error("agent_not_started", error=str(error))
        return EXIT_USAGE
    try:
        await agent.start(replay_dead=replay_dead)
    except SpoolError as error:
        log.error("agent_not_started", error=str(error))
        return EXIT_FAILURE
    except OSError as error:
        log.error(
            "agent_not_started",
            error=f"cannot serve metrics on {config.metrics_listen}: {error.strerror or error}",
        )
        return EXIT_FAILURE
    freeze_long_lived_objects()
    try:
        await stopping.wait()
    finally:
        await agent.stop()
    return EXIT_OK


def freeze_long_lived_objects() -> None:
    """Keep what start-up made (config, checks, tasks, modules) out of the garbage collector's
    full passes: with 1,000 checks a full pass over them took ~45 ms, a schedule-lag spike."""
    gc.collect()
    gc.freeze()
