"""Sends the spool's samples to the collector (CONTRACT §3.1, agent side).

Batches of at most `SHIP_BATCH_SAMPLES`, newest first (after an outage the collector's view of
now recovers first), gzip, bearer token. A sample leaves the spool only after the collector's
200. What the collector refuses is moved to the dead letters so that one bad sample can never
block the spool; what fails for a passing reason stays and is retried with capped exponential
backoff and full jitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gzip
import json
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import structlog

from slawatch.agent.metrics import AgentMetrics
from slawatch.agent.spool import Spool, SpooledSample
from slawatch.config import contract

log = structlog.get_logger()

SAMPLES_PATH = "/api/v1/samples"
RETRY_STATUSES = frozenset({401, 403, 408, 429})
"""4xx answers that say "not now" rather than "never": keep the samples and retry. Any other
4xx refuses the batch; every other answer but 200 (3xx, 5xx, odd 2xx) is retried."""
MAX_RETRY_AFTER_S = 600.0
CLOCK_SKEW_WARNING_S = 2.0
THREAD_GZIP_BYTES = 64 * 1024
"""Bodies larger than this are compressed off the event loop."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Capped exponential backoff with full jitter: a delay in [0, min(cap, base·2^attempt))."""

    base: float = 0.5
    cap: float = 60.0

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** min(attempt, 32)))


class _Outcome(enum.Enum):
    DELIVERED = "delivered"
    REFUSED = "refused"
    """Some or all samples moved to the dead letters; send the rest at once."""
    TOO_LARGE = "too_large"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class _Result:
    outcome: _Outcome
    retry_after: float | None = None
    reason: str = ""
    error: str = ""


class Shipper:
    def __init__(
        self,
        spool: Spool,
        *,
        agent_id: str,
        collector_url: str,
        token: str,
        labels: Mapping[str, str] | None = None,
        metrics: AgentMetrics | None = None,
        batch_size: int = contract.SHIP_BATCH_SAMPLES,
        backoff: Backoff = Backoff(),
        linger: float = 0.2,
        request_timeout: float = 30.0,
        stop_grace: float = 2.0,
    ) -> None:
        self.spool = spool
        self.agent_id = agent_id
        self.url = collector_url.rstrip("/") + SAMPLES_PATH
        self._token = token
        self.labels = dict(labels or {})
        self.metrics = metrics
        self.backoff = backoff
        self.linger = linger
        """How long to let samples gather once caught up, so pushes stay few and full."""
        self.request_timeout = request_timeout
        self.stop_grace = stop_grace
        self.batch_size = batch_size
        """The current batch size, halved on each 413 and kept: the collector (or a proxy
        before it) said what it takes."""
        self._attempt = 0
        self._clock_skewed = False
        self._pushing = False
        self._stopping = False
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.request_timeout),
            connector=aiohttp.TCPConnector(limit=1),
        )
        self._task = asyncio.create_task(self._run(), name="shipper")

    async def stop(self) -> None:
        """Give a push in flight up to `stop_grace` to finish, then stop."""
        self._stopping = True
        if self._task is not None:
            if self._pushing:
                await asyncio.wait({self._task}, timeout=self.stop_grace)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._ship_once()
            except Exception:  # a broken spool or a bug: log it, back off, keep shipping
                self._attempt += 1
                log.exception("shipper_error", attempt=self._attempt)
                await asyncio.sleep(self.backoff.delay(self._attempt))

    async def _ship_once(self) -> None:
        """Push one batch (or wait for samples), then wait as its outcome says."""
        self.spool.new_samples.clear()
        batch = await self.spool.newest(self.batch_size)
        if not batch:
            await self.spool.new_samples.wait()
            await asyncio.sleep(self.linger)
            return
        self._pushing = True
        try:
            result = await self._push(batch)
        finally:
            self._pushing = False
        if result.outcome is _Outcome.RETRY:
            await asyncio.sleep(self._retry_delay(result))
        elif result.outcome is _Outcome.DELIVERED and len(batch) < self.batch_size:
            await asyncio.sleep(self.linger)

    async def _push(self, batch: Sequence[SpooledSample]) -> _Result:
        body = await _gzip(self._body(batch))
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        assert self._session is not None
        sent_at = time.time()
        try:
            async with self._session.post(
                self.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                self._observe_clock(response, sent_at, time.time())
                payload = await response.read()
                return await self._handle(batch, response, payload)
        except TimeoutError:
            return self._retry("timeout", f"no answer within {self.request_timeout}s")
        except (aiohttp.ClientError, OSError) as error:
            return self._retry("network", str(error) or type(error).__name__)

    def _body(self, batch: Sequence[SpooledSample]) -> bytes:
        head = json.dumps({"agent": self.agent_id, "labels": self.labels}, separators=(",", ":"))
        samples = ",".join(sample.body for sample in batch)
        return f'{head[:-1]},"samples":[{samples}]}}'.encode()

    async def _handle(
        self, batch: Sequence[SpooledSample], response: aiohttp.ClientResponse, payload: bytes
    ) -> _Result:
        status = response.status
        answer = _json_object(payload)
        if status == 200:
            if not _acknowledges(answer, len(batch)):
                return self._retry(
                    "bad_answer",
                    f"HTTP 200 without accepted + duplicates = {len(batch)}: "
                    "is agent.collector a slawatch collector?",
                )
            await self.spool.remove(sample.id for sample in batch)
            self._attempt = 0
            if self.metrics:
                self.metrics.samples_pushed.inc(len(batch))
            return _Result(_Outcome.DELIVERED)
        error = str(answer.get("error") or f"HTTP {status}")
        if status == 413:
            return await self._too_large(batch)
        if status == 400:
            return await self._refused(
                batch, _reasons_by_index(answer.get("details"), batch), f"HTTP 400: {error}"
            )
        if 400 <= status < 500 and status not in RETRY_STATUSES:
            return await self._refused(batch, {}, f"HTTP {status}: {error}")
        if 300 <= status < 400:
            location = response.headers.get("Location", "?")
            error = f"redirected to {location}: set agent.collector to the final URL"
        retry_after = (
            _retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
        )
        return self._retry(f"http_{status}", error, retry_after)

    async def _too_large(self, batch: Sequence[SpooledSample]) -> _Result:
        self._count_failure("http_413")
        if len(batch) > 1:
            self.batch_size = max(1, len(batch) // 2)
            log.info("push_too_large", samples=len(batch), next_batch=self.batch_size)
            return _Result(_Outcome.TOO_LARGE)
        return await self._refused(batch, {}, "HTTP 413: a single sample is too large")

    async def _refused(
        self,
        batch: Sequence[SpooledSample],
        reasons: Mapping[int, str],
        whole_batch_reason: str,
    ) -> _Result:
        """Move the named samples to the dead letters, or the whole batch if none is named."""
        if not reasons:
            reasons = {sample.id: whole_batch_reason for sample in batch}
        self._count_failure("refused")
        moved = await self.spool.move_to_dead(reasons)
        if self.metrics:
            self.metrics.dead_lettered.inc(moved)
        log.warning(
            "push_refused",
            samples=moved,
            batch=len(batch),
            reason=next(iter(reasons.values())),
            hint="see the spool's dead letters; slawatch agent --replay-dead resends them",
        )
        return _Result(_Outcome.REFUSED)

    def _retry(self, reason: str, error: str, retry_after: float | None = None) -> _Result:
        self._count_failure(reason)
        return _Result(_Outcome.RETRY, retry_after, reason, error)

    def _retry_delay(self, result: _Result) -> float:
        delay = result.retry_after
        if delay is None:
            delay = self.backoff.delay(self._attempt)
        self._attempt += 1
        log.warning(
            "push_failed",
            collector=self.url,
            reason=result.reason,
            error=result.error,
            attempt=self._attempt,
            retry_in_s=round(delay, 3),
            queued=self.spool.queued,
        )
        return delay

    def _count_failure(self, reason: str) -> None:
        if self.metrics:
            self.metrics.push_failures.labels(reason=reason).inc()

    def _observe_clock(
        self, response: aiohttp.ClientResponse, sent: float, received: float
    ) -> None:
        """Local clock minus the collector's; the Date header has whole seconds, hence + 0.5."""
        date = response.headers.get("Date")
        if not date:
            return
        with contextlib.suppress(TypeError, ValueError, IndexError):
            server_time = parsedate_to_datetime(date).timestamp() + 0.5
            skew = (sent + received) / 2 - server_time
            if self.metrics:
                self.metrics.clock_skew.set(skew)
            skewed = abs(skew) > CLOCK_SKEW_WARNING_S
            if skewed and not self._clock_skewed:
                log.warning(
                    "clock_skew",
                    skew_s=round(skew, 3),
                    hint="sample timestamps are off; fix this host's clock (NTP)",
                )
            elif self._clock_skewed and not skewed:
                log.info("clock_skew_resolved", skew_s=round(skew, 3))
            self._clock_skewed = skewed


async def _gzip(body: bytes) -> bytes:
    if len(body) > THREAD_GZIP_BYTES:
        return await asyncio.to_thread(gzip.compress, body, 6)
    return gzip.compress(body, 6)


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        value = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _acknowledges(answer: Mapping[str, Any], samples: int) -> bool:
    """True when a 200's body counts every sample sent as accepted or duplicate."""
    accepted, duplicates = answer.get("accepted"), answer.get("duplicates")
    if type(accepted) is not int or type(duplicates) is not int:  # not bool either
        return False
    return accepted + duplicates == samples


def _reasons_by_index(details: object, batch: Sequence[SpooledSample]) -> dict[int, str]:
    """Spool id → reason, for each sample a 400's `details` names by its index in the batch."""
    reasons: dict[int, str] = {}
    if not isinstance(details, list):
        return reasons
    for detail in details:
        if not isinstance(detail, dict):
            continue
        index = detail.get("index")
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(batch):
            field = detail.get("field")
            error = str(detail.get("error") or "refused")
            reason = f"{field}: {error}" if field else error
            sample_id = batch[index].id
            reasons[sample_id] = (
                f"{reasons[sample_id]}; {reason}" if sample_id in reasons else reason
            )
    return reasons


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date), capped; None if absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
