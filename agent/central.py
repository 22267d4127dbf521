"""Central checks (CONTRACT §5, agent side): the checks the collector selects for this agent.

The agent asks `GET /api/v1/agent/checks` at start and every `agent.checks_poll`, with the
ETag of what it has (`If-None-Match`: a 304 costs the collector next to nothing), trying its
collectors in order: no answer, a 408, 429 or 5xx moves on to the next one, any other answer is
the answer. A new version is written to disk first (beside the spool: a temporary file, fsynced,
then renamed over the old one, so a kill at any moment leaves the old answer or the new one,
never half of one), then handed to the agent, which applies it live. At start the agent probes
from the file on disk before the collector has answered, so a host that restarts while the
collector is away keeps probing what it was told last.

Each check arrives as a config file writes it and is read by the same loader: one the agent
cannot read (a type this version does not know) is logged and left out, the others run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from slawatch.agent.metrics import AgentMetrics
from slawatch.config.contract import LABELS_HEADER
from slawatch.config.reader import ConfigError
from slawatch.config.schema import Check
from slawatch.config.sections.checks import check_from

log = structlog.get_logger()

CHECKS_PATH = "/api/v1/agent/checks"
FAILOVER_STATUSES = frozenset({408, 429})
"""4xx answers that say "not now": try the next collector. Any other 4xx is an answer."""
CACHE_FORMAT = 1


@dataclass(frozen=True, slots=True)
class CentralAnswer:
    """One version of the collector's checks for this agent."""

    version: str
    documents: tuple[Mapping[str, Any], ...]
    """The checks as the collector sent them (what the cache file keeps)."""
    checks: tuple[Check, ...]
    """Those this agent could read."""


def read_answer(version: str, documents: Sequence[Any], source: str) -> CentralAnswer:
    """The checks this agent can read of `documents`; each one it cannot is logged."""
    checks: list[Check] = []
    seen: set[str] = set()
    for index, document in enumerate(documents):
        where = f"{source}: checks[{index}]"
        if not isinstance(document, dict):
            log.error("central_check_invalid", check=where, error="not a mapping")
            continue
        try:
            check = check_from(document, where)
        except ConfigError as error:
            log.error("central_check_invalid", check=where, error=error.render())
            continue
        if check.id in seen:
            log.error("central_check_invalid", check=where, error=f"id {check.id!r} twice")
            continue
        seen.add(check.id)
        checks.append(check)
    kept = tuple(dict(document) for document in documents if isinstance(document, dict))
    return CentralAnswer(version, kept, tuple(checks))


@dataclass(frozen=True, slots=True)
class _Failed:
    reason: str
    answered: bool = False
    """The collector answered (a refusal): the next one is not asked."""


class CentralChecks:
    def __init__(
        self,
        *,
        urls: Sequence[str],
        token: str,
        labels: Mapping[str, str],
        cache: Path,
        poll_s: float,
        on_change: Callable[[CentralAnswer], None],
        metrics: AgentMetrics | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        self.urls = tuple(url.rstrip("/") for url in urls)
        self._token = token
        self.labels = dict(labels)
        self.cache = cache
        self.poll_s = poll_s
        self.on_change = on_change
        self.metrics = metrics
        self.request_timeout = request_timeout
        self.answer: CentralAnswer | None = None
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._poll_now = asyncio.Event()
        self._said_unsupported: set[str] = set()
        self._said_refused: tuple[str, int] | None = None
        """The last refusal logged (collector, status): the same one is not said again."""
        self._failing = False

    def configure(self, *, urls: Sequence[str], token: str, labels: Mapping[str, str]) -> None:
        """New settings after a reload; used from the next poll."""
        self.urls = tuple(url.rstrip("/") for url in urls)
        self._token = token
        self.labels = dict(labels)

    # --------------------------------------------------------------------------------- cache

    async def load_cache(self) -> CentralAnswer | None:
        """The answer kept on disk, or None (none yet, or unreadable: logged)."""
        try:
            text = await asyncio.to_thread(self.cache.read_text, encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            log.error("checks_cache_unreadable", file=str(self.cache), error=str(error))
            return None
        try:
            data = json.loads(text)
            version, documents = data["version"], data["checks"]
            if not isinstance(version, str) or not isinstance(documents, list):
                raise ValueError("not a checks cache")
        except (ValueError, KeyError, TypeError) as error:
            log.error("checks_cache_unreadable", file=str(self.cache), error=str(error))
            return None
        self.answer = read_answer(version, documents, str(self.cache))
        log.info(
            "central_checks_cached",
            file=str(self.cache),
            version=version,
            checks=len(self.answer.checks),
        )
        return self.answer

    async def _save(self, answer: CentralAnswer) -> None:
        text = json.dumps(
            {
                "format": CACHE_FORMAT,
                "version": answer.version,
                "saved_at": time.time(),
                "checks": list(answer.documents),
            },
            default=str,
        )
        await asyncio.to_thread(write_atomically, self.cache, text)

    # ------------------------------------------------------------------------------- polling

    async def open(self) -> None:
        """Ready to `poll` (what `start` does before polling on its own)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.request_timeout)
            )

    async def start(self) -> None:
        await self.open()
        self._task = asyncio.create_task(self._run(), name="central-checks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def poll_soon(self) -> None:
        """Ask the collector now (a reload), not at the next tick."""
        self._poll_now.set()

    async def _run(self) -> None:
        while True:
            self._poll_now.clear()
            try:
                await self.poll()
            except Exception:  # a bug or a full disk: logged, the last checks keep running
                log.exception("checks_poll_error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poll_now.wait(), self.poll_s)

    async def poll(self) -> bool:
        """Ask the collectors in order; True when a new version was applied."""
        failures: list[str] = []
        for url in self.urls:
            outcome = await self._ask(url)
            if outcome is None:
                self._count("unchanged")
                self._recovered(url)
                return False
            if isinstance(outcome, CentralAnswer):
                self._count("changed")
                self._recovered(url)
                await self._save(outcome)
                self.answer = outcome
                self.on_change(outcome)
                return True
            if outcome.answered:
                self._count("failed")
                return False
            failures.append(f"{url}: {outcome.reason}")
        self._count("failed")
        if not self._failing:
            log.warning(
                "checks_poll_failed",
                errors=failures,
                hint="the checks last received keep running",
                version=self.answer.version if self.answer else None,
            )
        self._failing = True
        return False

    async def _ask(self, url: str) -> CentralAnswer | _Failed | None:
        """None: unchanged; an answer: new checks; else why not."""
        assert self._session is not None
        headers = {
            "Authorization": f"Bearer {self._token}",
            LABELS_HEADER: json.dumps(self.labels, ensure_ascii=True, separators=(",", ":")),
        }
        if self.answer is not None:
            headers["If-None-Match"] = f'"{self.answer.version}"'
        try:
            async with self._session.get(
                url + CHECKS_PATH, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                if status == 304:
                    return None
                payload = await response.read()
        except TimeoutError:
            return _Failed(f"no answer within {self.request_timeout:g}s")
        except (aiohttp.ClientError, OSError) as error:
            return _Failed(str(error) or type(error).__name__)
        if status == 200:
            return self._answer(url, payload)
        if status in FAILOVER_STATUSES or status >= 500 or status < 400:
            return _Failed(f"HTTP {status}")
        self._refused(url, status, payload)
        return _Failed(f"HTTP {status}", answered=True)

    def _answer(self, url: str, payload: bytes) -> CentralAnswer | _Failed | None:
        try:
            data = json.loads(payload)
            version, documents = data["version"], data["checks"]
            if not isinstance(version, str) or not isinstance(documents, list):
                raise ValueError("no checks and version")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return _Failed("HTTP 200 without checks and version: not a slawatch collector?")
        if self.answer is not None and version == self.answer.version:
            return None
        answer = read_answer(version, documents, url + CHECKS_PATH)
        log.info(
            "central_checks_received",
            collector=url,
            version=version,
            checks=len(answer.checks),
            previous=self.answer.version if self.answer else None,
        )
        return answer

    def _refused(self, url: str, status: int, payload: bytes) -> None:
        if status == 404:
            if url not in self._said_unsupported:
                self._said_unsupported.add(url)
                log.warning(
                    "central_checks_unsupported",
                    collector=url,
                    hint="this collector serves no central checks (an older version?)",
                )
            return
        if self._said_refused == (url, status):
            return
        self._said_refused = (url, status)
        try:
            error = json.loads(payload).get("error")
        except (ValueError, AttributeError, UnicodeDecodeError):
            error = None
        log.error(
            "checks_poll_refused",
            collector=url,
            status=status,
            answer=error or f"HTTP {status}",
            hint="agent.id and agent.token must be an agent of the collector's collector.agents",
        )

    def _recovered(self, url: str) -> None:
        self._said_refused = None
        if self._failing:
            log.info("checks_poll_recovered", collector=url)
        self._failing = False

    def _count(self, outcome: str) -> None:
        if self.metrics:
            self.metrics.checks_polls.labels(outcome=outcome).inc()


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a crash leaves either the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    with contextlib.suppress(OSError):
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
