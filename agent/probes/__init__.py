"""Probes: one module per check type, all of one signature, and the registry that names them.

A new probe type is one module and one line in `CHECK_TYPES`. The module has
`probe(check) -> ProbeResult` (made with `progress.timed`, which enforces the hard timeout) and
declares itself as `CHECK_TYPE = CheckTypeSpec(...)` (`slawatch.config.registry`): its config keys
and `expect:` keys, the target dataclasses they fill, its URL schemes and its probe. The config
loader, `check-config` and the docs read the registry; nothing else lists the types.
"""

from __future__ import annotations

import structlog

from slawatch.agent.probes import http, tcp
from slawatch.agent.sample import ProbeResult
from slawatch.config.registry import CheckTypeSpec, registry_of
from slawatch.config.schema import Check

CHECK_TYPES: dict[str, CheckTypeSpec] = registry_of(
    (
        http.CHECK_TYPE,
        tcp.CHECK_TYPE,
    )
)

log = structlog.get_logger()


async def run_probe(check: Check) -> ProbeResult:
    """Run the check's probe with a hard timeout (check.timeout); never raises except
    CancelledError; a timeout is a DOWN result 'timeout after 10s' with latency_ms = elapsed
    and the phases completed so far."""
    spec = CHECK_TYPES.get(check.type)
    if spec is None:
        return ProbeResult(ok=False, latency_ms=None, error=f"unknown check type {check.type!r}")
    try:
        result: ProbeResult = await spec.probe(check)
    except Exception as error:
        log.exception("probe_crashed", check=check.id, type=check.type)
        return ProbeResult(ok=False, latency_ms=None, error=f"probe error: {type(error).__name__}")
    return result
