"""The agent's Prometheus metrics (CONTRACT §3.3) and the small aiohttp server that exposes them.

Every metric lives in a registry passed in, never the global default, so that `slawatch up` can
serve the agent's and the collector's metrics from one registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics import Counter, Gauge, Histogram

from slawatch.config.schema import HostPort

if TYPE_CHECKING:
    from aiohttp import web

SCHEDULE_LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
PUSH_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class AgentMetrics:
    """The agent's metrics, registered in `registry`; one instance per registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.probe_success = Gauge(
            "slawatch_probe_success",
            "1 if the last probe of the check succeeded, else 0.",
            ["check"],
            registry=registry,
        )
        self.probe_duration = Gauge(
            "slawatch_probe_duration_seconds",
            "Duration of the last probe of the check, to the answer or to the failure.",
            ["check"],
            registry=registry,
        )
        self.skipped_runs = Counter(
            "slawatch_skipped_runs",
            "Scheduled runs skipped because the previous probe of the check still ran.",
            ["check"],
            registry=registry,
        )
        self.schedule_lag = Histogram(
            "slawatch_schedule_lag_seconds",
            "Actual start of a probe minus its planned start.",
            buckets=SCHEDULE_LAG_BUCKETS,
            registry=registry,
        )
        self.spool_samples = Gauge(
            "slawatch_spool_samples",
            "Samples waiting on disk for the collector's acknowledgement.",
            registry=registry,
        )
        self.spool_dead_letter_samples = Gauge(
            "slawatch_spool_dead_letter_samples",
            "Samples the collector refused, kept aside in the spool (see --replay-dead).",
            registry=registry,
        )
        self.spool_dropped = Counter(
            "slawatch_spool_dropped_samples",
            "Samples lost unsent, by reason: max_age, max_samples (a bound of the spool), "
            "dead_letter_max_age, write_failed (the spool could not commit them: disk full...).",
            ["reason"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            "slawatch_dead_lettered_samples",
            "Samples moved to the dead letters after the collector refused them.",
            registry=registry,
        )
        self.samples_pushed = Counter(
            "slawatch_samples_pushed",
            "Samples the collector acknowledged (200).",
            registry=registry,
        )
        self.push_duration = Histogram(
            "slawatch_push_duration_seconds",
            "Time from sending a push to the collector's answer (or to the failure).",
            buckets=PUSH_DURATION_BUCKETS,
            registry=registry,
        )
        self.push_failures = Counter(
            "slawatch_push_failures",
            "Pushes that did not get a 200, by reason (network, timeout, http_STATUS).",
            ["reason"],
            registry=registry,
        )
        self.push_refused = Counter(
            "slawatch_push_refused",
            "Pushes whose token the collector refused: unauthorized (401, unknown token), "
            "forbidden (403, the token of another agent).",
            ["reason"],
            registry=registry,
        )
        self.check_conflicts = Gauge(
            "slawatch_check_conflict",
            "1 for a check this agent's file defines differently from the collector's central "
            "one (the local one runs).",
            ["check"],
            registry=registry,
        )
        self.central_checks = Gauge(
            "slawatch_central_checks",
            "Checks taken from the collector (or its answer kept on disk) that this agent runs.",
            registry=registry,
        )
        self.checks_polls = Counter(
            "slawatch_checks_polls",
            "Polls of the collector for central checks, by outcome: changed, unchanged, failed.",
            ["outcome"],
            registry=registry,
        )
        self.clock_skew = Gauge(
            "slawatch_clock_skew_seconds",
            "Local clock minus the collector's (from its Date header); positive: agent ahead.",
            registry=registry,
        )


async def start_metrics_server(registry: CollectorRegistry, listen: HostPort) -> web.AppRunner:
    # aiohttp's server is loaded only by an agent that serves /metrics (2 MB less otherwise).
    from aiohttp import web

    """Serve `GET /metrics` on `listen`; stop it with `await runner.cleanup()`."""

    async def metrics(_request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        response.charset = "utf-8"
        return response

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, listen.host, listen.port).start()
    except OSError:
        await runner.cleanup()
        raise
    return runner
