"""Probes: one module per check type, all of one signature, and the registry that names them.

A new probe type is one module and one line in `CHECK_TYPES`. The module has
`probe(check) -> ProbeResult` (made with `progress.timed`, which enforces the hard timeout) and
declares itself as `CHECK_TYPE = CheckTypeSpec(...)` (`slawatch.config.registry`): its config keys
and `expect:` keys, the target dataclasses they fill, its URL schemes, its probe, and what could
keep a host from running it at all. The config loader, `check-config`, the docs, `slawatch probe`
and the agent's start read the registry; nothing else lists the types.
"""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from slawatch.agent.probes import dns, http, icmp, tcp
from slawatch.agent.sample import ProbeResult
from slawatch.config.registry import CheckTypeSpec, registry_of
from slawatch.config.schema import Check

CHECK_TYPES: dict[str, CheckTypeSpec] = registry_of(
    (
        http.CHECK_TYPE,
        tcp.CHECK_TYPE,
        dns.CHECK_TYPE,
        icmp.CHECK_TYPE,
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


def host_problems(checks: Iterable[Check]) -> list[str]:
    """Why this host cannot run some of `checks`: one line per check type that it cannot run
    at all (`CheckTypeSpec.host_problem`), naming the checks of that type."""
    by_type: dict[str, list[str]] = {}
    for check in checks:
        by_type.setdefault(check.type, []).append(check.id)
    problems = []
    for name, ids in by_type.items():
        problem = host_problem(name)
        if problem:
            named = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
            problems.append(f"{name} checks ({named}): {problem}")
    return problems


def host_problem(check_type: str) -> str | None:
    """Why this host cannot run checks of this type at all, or None."""
    spec = CHECK_TYPES.get(check_type)
    return spec.host_problem() if spec is not None and spec.host_problem else None
