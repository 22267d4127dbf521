"""Probes: one module per check type, all of one signature, and the registry that names them.

A new probe type is a module with `probe(check) -> ProbeResult` (made with `progress.timed`,
which enforces the hard timeout) and one line in `PROBES`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from slawatch.agent.probes import http, tcp
from slawatch.agent.sample import ProbeResult
from slawatch.config.schema import Check

ProbeFunction = Callable[[Check], Awaitable[ProbeResult]]

PROBES: dict[str, ProbeFunction] = {
    "http": http.probe,
    "tcp": tcp.probe,
}

log = structlog.get_logger()


async def run_probe(check: Check) -> ProbeResult:
    """Run the check's probe with a hard timeout (check.timeout); never raises except
    CancelledError; a timeout is a DOWN result 'timeout after 10s' with latency_ms = elapsed
    and the phases completed so far."""
    probe = PROBES.get(check.type)
    if probe is None:
        return ProbeResult(ok=False, latency_ms=None, error=f"unknown check type {check.type!r}")
    try:
        return await probe(check)
    except Exception as error:
        log.exception("probe_crashed", check=check.id, type=check.type)
        return ProbeResult(ok=False, latency_ms=None, error=f"probe error: {type(error).__name__}")
