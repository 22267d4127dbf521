"""`slawatch up`: a collector and one local agent in one process, from one file (the quick start).

The agent is a real one: it spools on disk and pushes to the collector over loopback with a token
of its own, so what runs here is what runs across a fleet. Both share one metrics registry, so
the collector's `/metrics` shows the agent's probes too.
"""

from __future__ import annotations

import asyncio
import secrets
import signal

import structlog
from prometheus_client import CollectorRegistry

from slawatch.agent.main import Agent
from slawatch.agent.spool import SpoolError
from slawatch.collector.main import Collector, StartError, tune_garbage_collector
from slawatch.config.schema import AgentConfig, AgentCredential, Config, TokenDigest

log = structlog.get_logger()

LOCAL_AGENT_ID = "local"


def run(config: Config) -> int:
    """Run until SIGTERM or SIGINT; exit 0 after a clean stop, 1 if it cannot start, 2 if its
    checks need what this host cannot do."""
    return asyncio.run(_serve(config))


def local_agent(config: Config) -> tuple[AgentConfig, str]:
    """The embedded agent's settings and token: the file's `agent:` section, or a default one;
    its token is the configured one or a fresh random one (it never leaves this process)."""
    agent = config.agent or AgentConfig(
        id=LOCAL_AGENT_ID,
        collector="",
        token=None,
        spool=config.folder / "data" / f"{LOCAL_AGENT_ID}-spool.db",
    )
    token = agent.token.value if agent.token else secrets.token_urlsafe(32)
    return agent, token


async def _serve(config: Config) -> int:
    agent_config, token = local_agent(config)
    registry = CollectorRegistry()
    collector = Collector(
        config,
        registry=registry,
        extra_agents=(AgentCredential(agent_config.id, TokenDigest.of(token)),),
    )
    try:
        await collector.start()
    except (StartError, RuntimeError) as error:
        log.error("collector_cannot_start", error=str(error))
        return 1
    try:
        agent = Agent(
            agent_config,
            config.checks_for_agent(agent_config.id),
            registry=registry,
            token=token,
            collector_url=loopback_url(collector.url),
            serve_metrics=False,
        )
    except ValueError as error:  # checks this host cannot run (ICMP without a socket)
        log.error("agent_cannot_start", error=str(error))
        await collector.stop()
        return 2
    try:
        await agent.start()
    except (SpoolError, OSError) as error:
        log.error("agent_cannot_start", error=str(error))
        await collector.stop()
        return 1
    tune_garbage_collector()
    log.info("up", url=collector.url, agent=agent_config.id, checks=len(agent.checks))
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        await agent.stop()
        await collector.stop()
    return 0


def loopback_url(url: str) -> str:
    """The collector's URL as the local agent reaches it: a wildcard address means loopback."""
    for wildcard, loopback in (("//0.0.0.0:", "//127.0.0.1:"), ("//[::]:", "//[::1]:")):
        url = url.replace(wildcard, loopback)
    return url
