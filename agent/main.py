"""`slawatch agent`: the scheduler, the spool and the shipper of one agent, started and stopped.

`slawatch up` embeds `Agent` in the collector's process with a registry of its own and a token
it generated; `run` is the standalone command, `run_zero_config` the same without a file.

A standalone agent also takes the collector's central checks (`central`, CONTRACT §5): it runs
its file's `checks:` and those of the collector's that its file does not define. A check both
define with different settings runs as the file says, with a warning and
`slawatch_check_conflict{check} 1`. SIGHUP re-reads the file (or the token file) and asks the
collector for its checks at once; a file that fails validation changes nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import signal
import sys
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import prometheus_client
import structlog
from prometheus_client import Gauge

from slawatch.agent.central import CentralAnswer, CentralChecks
from slawatch.agent.metrics import AgentMetrics, start_metrics_server
from slawatch.agent.probes import host_problems
from slawatch.agent.sample import Sample
from slawatch.agent.scheduler import ProbeFunction, Scheduler
from slawatch.agent.settings import AgentSettings, SettingsError, SettingsSource, from_file
from slawatch.agent.shipper import Shipper
from slawatch.agent.spool import Spool, SpoolError
from slawatch.config.schema import AgentConfig, Check, Config

if TYPE_CHECKING:
    from aiohttp import web

log = structlog.get_logger()
T = TypeVar("T")

RESTART_KEYS = ("id", "spool", "metrics_listen", "concurrency", "spool_max_samples",
                "spool_max_age")  # fmt: skip
"""Keys of `agent:` a reload cannot change (logged; the agent keeps the old value)."""

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
        central: bool = False,
    ) -> None:
        """`serve_metrics`: serve `config.metrics_listen`; by default only when standalone (no
        registry given: an embedding process serves its own registry). `central`: also run
        the checks the collector gives this agent."""
        self.config = config
        self.local_checks = tuple(checks)
        self.registry = registry or prometheus_client.CollectorRegistry()
        self.metrics = AgentMetrics(self.registry)
        self.serve_metrics = registry is None if serve_metrics is None else serve_metrics
        resolved_token = token if token is not None else (config.token and config.token.value)
        if not resolved_token:
            raise ValueError("the agent needs a token (agent.token)")
        unrunnable = host_problems(self.local_checks)
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
            collector_url=collector_url or config.collector_urls,
            token=resolved_token,
            labels=config.labels,
            metrics=self.metrics,
        )
        self.scheduler = Scheduler(
            self.local_checks,
            self._keep,
            probe=probe,
            concurrency=config.concurrency,
            metrics=self.metrics,
        )
        self.central: CentralChecks | None = None
        if central:
            self.central = CentralChecks(
                urls=[collector_url] if collector_url else config.collector_urls,
                token=resolved_token,
                labels=config.labels,
                cache=config.checks_cache,
                poll_s=config.checks_poll,
                on_change=self._central_changed,
                metrics=self.metrics,
            )
        self._conflicts: set[str] = set()
        self._metrics_server: web.AppRunner | None = None

    @property
    def checks(self) -> tuple[Check, ...]:
        """What runs now: the file's checks, then the collector's the file does not define."""
        return self.scheduler.checks

    def _central_changed(self, answer: CentralAnswer) -> None:
        self._apply(f"collector version {answer.version}")

    def _apply(self, why: str) -> None:
        """Run the file's checks and the collector's (the file's winning on an id), live."""
        answer = self.central.answer if self.central is not None else None
        central = answer.checks if answer is not None else ()
        local = {check.id: check for check in self.local_checks}
        conflicts = {
            check.id for check in central if check.id in local and _differ(local[check.id], check)
        }
        for check_id in sorted(conflicts - self._conflicts):
            log.warning(
                "check_conflict",
                check=check_id,
                hint="this agent's file and the collector's checks define it differently; the "
                "file's runs here: remove it from one of them",
            )
        for check_id in self._conflicts - conflicts:
            self.metrics.check_conflicts.remove(check_id)
        for check_id in conflicts:
            self.metrics.check_conflicts.labels(check=check_id).set(1)
        self._conflicts = conflicts
        taken = [check for check in central if check.id not in local]
        unrunnable = host_problems(taken)
        if unrunnable:
            log.error("central_checks_unrunnable", problems=unrunnable)
            taken = [check for check in taken if not host_problems([check])]
        self.metrics.central_checks.set(len(taken))
        added, changed, removed = self.scheduler.update([*self.local_checks, *taken])
        if added or changed or removed:
            log.info(
                "checks_applied",
                why=why,
                checks=len(self.scheduler.checks),
                added=added,
                changed=changed,
                removed=removed,
            )

    def reload(self, config: AgentConfig, checks: Sequence[Check], token: str) -> None:
        """Apply a re-read file: checks, collectors, token, labels, poll interval at once; the
        keys that need a restart (id, spool, metrics_listen, concurrency) are logged."""
        needs_restart = [
            name for name in RESTART_KEYS if getattr(config, name) != getattr(self.config, name)
        ]
        if needs_restart:
            log.warning("reload_needs_restart", keys=needs_restart, hint="restart the agent")
        problems = host_problems(checks)
        if problems:
            raise ValueError("; ".join(problems))
        self.config = dataclasses.replace(
            config, **{name: getattr(self.config, name) for name in needs_restart}
        )
        self.shipper.configure(
            collector_urls=config.collector_urls, token=token, labels=config.labels
        )
        self.local_checks = tuple(checks)
        if self.central is not None:
            self.central.configure(urls=config.collector_urls, token=token, labels=config.labels)
            self.central.poll_s = config.checks_poll
            self.central.poll_soon()
        self._apply("reload")

    async def _keep(self, sample: Sample) -> None:
        """The scheduler's sink: on disk first, then the shipper knows it is there."""
        await self.spool.add(sample)
        self.shipper.spooled(sample)

    async def start(self, *, replay_dead: bool = False) -> None:
        """Open the spool, then start probing and shipping (and serving /metrics if asked).

        Raises SpoolError or OSError (metrics port taken) with nothing left running.
        """
        await self.spool.open()
        if self.central is not None:
            await self.central.load_cache()
            self._apply("checks kept on disk")
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
        if self.central is not None:
            await self.central.start()
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
        if self.central is not None:
            await self.central.stop()
        await self.scheduler.stop()
        await self.shipper.stop()
        await self.spool.close()
        if self._metrics_server is not None:
            await self._metrics_server.cleanup()
            self._metrics_server = None
        log.info("agent_stopped", agent=self.config.id, queued=self.spool.queued)


def run(config: Config, *, replay_dead: bool = False) -> int:
    """`slawatch agent --config FILE`: run until SIGTERM/SIGINT; exit code. (slawatch/cli.py
    calls this with the file already loaded.)"""
    if config.agent is None:
        log.error("agent_not_configured", config=str(config.path), hint="add an agent: section")
        return EXIT_USAGE
    agent = config.agent
    token = agent.token.value if agent.token else ""
    first = AgentSettings(agent, config.checks_for_agent(agent.id, agent.labels), token)
    return run_loop(_serve(first, from_file(config.path), replay_dead))


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the agent on uvloop (libuv's event loop, a dependency where it builds): an agent
    spends most of its CPU in the event loop's connection handling, and uvloop's, in C, costs a
    quarter less per probe (bench/agent_probes.py); asyncio's own loop elsewhere."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def run_zero_config(source: SettingsSource) -> int:
    """`slawatch agent --collector URL --id ID --token-file F`: no file, central checks only."""
    try:
        first = source()
    except SettingsError as error:
        print(error, file=sys.stderr)  # as the command line's other usage errors
        return EXIT_USAGE
    return run_loop(_serve(first, source, replay_dead=False))


async def _serve(first: AgentSettings, source: SettingsSource, replay_dead: bool) -> int:
    config = first.config
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        agent = Agent(config, first.checks, token=first.token, central=True)
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
    reloads = Reloads(agent, source)
    loop.add_signal_handler(signal.SIGHUP, reloads.ask)
    freeze_long_lived_objects()
    try:
        await stopping.wait()
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
        await reloads.stop()
        await agent.stop()
    return EXIT_OK


class Reloads:
    """SIGHUP: read the settings again (in a thread: it reads files) and apply them, one reload
    at a time; settings that fail validation change nothing and set the metric to 0."""

    def __init__(self, agent: Agent, source: SettingsSource) -> None:
        self.agent = agent
        self.source = source
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.successful = Gauge(
            "slawatch_config_last_reload_successful",
            "1 if the last reload of the settings succeeded (or none was asked), else 0.",
            registry=agent.registry,
        )
        self.success_time = Gauge(
            "slawatch_config_last_reload_success_timestamp_seconds",
            "When the settings were last read successfully (at start or on reload).",
            registry=agent.registry,
        )
        self.successful.set(1)
        self.success_time.set(time.time())

    def ask(self) -> None:
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._reload(), name="agent-reload")

    async def _reload(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            log.info("reload_asked")
            try:
                settings = await asyncio.to_thread(self.source)
                self.agent.reload(settings.config, settings.checks, settings.token)
            except (SettingsError, ValueError) as error:
                self.successful.set(0)
                log.error("reload_refused", error=str(error), hint="the old config keeps running")
                continue
            self.successful.set(1)
            self.success_time.set(time.time())
            log.info("reloaded", checks=len(self.agent.checks))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _differ(local: Check, central: Check) -> bool:
    """Whether two definitions of a check probe differently (who runs them aside)."""
    return dataclasses.replace(local, agents=None, labels=None) != dataclasses.replace(
        central, agents=None, labels=None
    )


def freeze_long_lived_objects() -> None:
    """Keep what start-up made (config, checks, tasks, modules) out of the garbage collector's
    full passes: with 1,000 checks a full pass over them took ~45 ms, a schedule-lag spike."""
    gc.collect()
    gc.freeze()
