"""`slawatch agent --config F --check`: is this agent able to do its job? For a container's
HEALTHCHECK or a monitoring script, without touching the running agent.

It loads the config (the command line already did: a bad file is exit 2 there), checks that
the spool can be written (its folder exists or can be made, and takes a new file) and that the
collector answers `GET /healthz` with 200, within a few seconds. One line says the result:
exit 0 when both hold, 1 otherwise, naming what failed.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from slawatch.config.schema import AgentConfig

EXIT_OK = 0
EXIT_UNHEALTHY = 1
TIMEOUT_S = 5.0
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""As the agent's own pushes: straight to the collector, whatever `http_proxy` says."""


def run(config: AgentConfig, *, timeout: float = TIMEOUT_S) -> int:
    problems = []
    spool_problem = spool_problem_of(config.spool)
    if spool_problem:
        problems.append(f"spool {config.spool}: {spool_problem}")
    urls = _collector_urls(config.collector)
    collector_problems = [p for p in (collector_problem(u, timeout) for u in urls) if p]
    if len(collector_problems) == len(urls):
        problems += collector_problems
    if problems:
        print(f"agent {config.id}: unhealthy: {'; '.join(problems)}")
        return EXIT_UNHEALTHY
    print(f"agent {config.id}: ok (spool {config.spool} writable, collector answers)")
    return EXIT_OK


def _collector_urls(collector: str | Sequence[str]) -> tuple[str, ...]:
    """`agent.collector`: one URL, or a list to fail over along (CONTRACT §5)."""
    return (collector,) if isinstance(collector, str) else tuple(collector)


def spool_problem_of(spool: Path) -> str | None:
    """Why the spool could not be written, or None."""
    folder = spool.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if folder.exists():
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".slawatch-check-"):
                pass
        except OSError as error:
            return f"cannot write in {folder}: {error.strerror or error}"
    elif not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot create {folder}: {existing} is not writable"
    if spool.exists() and not os.access(spool, os.R_OK | os.W_OK):
        return "not writable"
    return None


def collector_problem(url: str, timeout: float) -> str | None:
    """Why the collector at `url` is not answering its health check, or None."""
    health = f"{url.rstrip('/')}/healthz"
    try:
        with NO_PROXY.open(health, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        return f"collector {url} unreachable ({reason})"
    if status != 200:
        return f"collector {url} answered {health} with {status}"
    return None
