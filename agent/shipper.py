"""Sends the spool's samples to the collector (CONTRACT §3.1, agent side).

Batches of at most `SHIP_BATCH_SAMPLES`, newest first (after an outage the collector's view of
now recovers first), gzip, bearer token, at the pace `Pacing` sets: a state change at once, other
samples batched for a few seconds. A sample leaves the spool only after the collector's 200.
What the collector refuses is moved to the dead letters so that one bad sample can never block
the spool; what fails for a passing reason stays and is retried. A refused token (401/403) is
said at error level once a minute, with the collector's URL and never the token, and counted in
`slawatch_push_refused_total{reason}`.

With several collectors (CONTRACT §5) a push goes to the one that answered last and, when that
one gives no answer, a 408, 429 or 5xx, at once to the next in order (a 4xx other than 408/429
is an answer: the next collector would say the same). After a failover the first collector is
tried again every `PREFER_FIRST_AFTER_S`, so the fleet goes back to it once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gzip
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import structlog

from slawatch.agent.metrics import AgentMetrics
from slawatch.agent.pacing import Pacing, health_probe_interval
from slawatch.agent.sample import Sample
from slawatch.agent.spool import Spool, SpooledSample
from slawatch.config import contract

log = structlog.get_logger()

SAMPLES_PATH = "/api/v1/samples"
HEALTH_PATH = "/healthz"
RETRY_STATUSES = frozenset({401, 403, 408, 429})
"""4xx answers that say "not now" rather than "never": keep the samples and retry. Any other
4xx refuses the batch; every other answer but 200 (3xx, 5xx, odd 2xx) is retried."""
TOKEN_REFUSALS = {401: "unauthorized", 403: "forbidden"}
"""`slawatch_push_refused_total{reason}` by status."""
TOKEN_REFUSED_LOG_EVERY_S = 60.0
SHED_STATUSES = frozenset({429, 503})
"""A collector (or a proxy before it) with more work than it takes: the agent slows down."""
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})
"""Answers of a proxy whose collector is away: wait for /healthz as for no answer at all."""
MAX_RETRY_AFTER_S = 600.0
CLOCK_SKEW_WARNING_S = 2.0
FAILOVER_STATUSES = frozenset({408, 429})
"""4xx answers after which the next collector is tried; 5xx and no answer too."""
PREFER_FIRST_AFTER_S = 60.0
THREAD_GZIP_BYTES = 64 * 1024
"""Bodies larger than this are compressed off the event loop."""


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
    status: int | None = None
    """The collector's HTTP status; None when it gave no answer."""


class Shipper:
    def __init__(
        self,
        spool: Spool,
        *,
        agent_id: str,
        collector_url: str | Sequence[str],
        token: str,
        labels: Mapping[str, str] | None = None,
        metrics: AgentMetrics | None = None,
        batch_size: int = contract.SHIP_BATCH_SAMPLES,
        pacing: Pacing | None = None,
        request_timeout: float = 30.0,
        health_timeout: float = 5.0,
        stop_grace: float = 2.0,
    ) -> None:
        self.spool = spool
        self.agent_id = agent_id
        urls = (collector_url,) if isinstance(collector_url, str) else tuple(collector_url)
        self.collectors = tuple(url.rstrip("/") for url in urls)
        self._current = 0
        """Index in `collectors` of the one pushed to."""
        self._failed_over_at: float | None = None
        self._token = token
        self.labels = dict(labels or {})
        self.metrics = metrics
        self.pacing = pacing or Pacing()
        self.request_timeout = request_timeout
        self.health_timeout = health_timeout
        self.stop_grace = stop_grace
        self.batch_size = batch_size
        """The current batch size, halved on each 413 and kept: the collector (or a proxy
        before it) said what it takes."""
        self._clock_skewed = False
        self._token_refused_said: float | None = None
        """When a refused token was last logged (monotonic), None while the token is accepted."""
        self._pushing = False
        self._stopping = False
        self._due_sooner = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def collector(self) -> str:
        """The base URL of the collector pushed to now."""
        return self.collectors[self._current]

    @property
    def url(self) -> str:
        return self.collector + SAMPLES_PATH

    def configure(
        self, *, collector_urls: Sequence[str], token: str, labels: Mapping[str, str]
    ) -> None:
        """New settings after a reload; the next push uses them."""
        collectors = tuple(url.rstrip("/") for url in collector_urls)
        if collectors != self.collectors:
            self.collectors = collectors
            self._current = 0
            self._failed_over_at = None
        self._token = token
        self.labels = dict(labels)

    def spooled(self, sample: Sample) -> None:
        """Tell the shipper of a sample the spool has just committed (a state change goes at
        once; others wait for company, up to a full batch)."""
        if self.pacing.note(sample) or self.spool.queued >= self.batch_size:
            self._due_sooner.set()

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
                delay = self.pacing.failed(retry_after=None, shed=False)
                log.exception("shipper_error", attempt=self.pacing.failures)
                await asyncio.sleep(delay)

    async def _ship_once(self) -> None:
        """Push one batch once it is due (or wait for samples), then wait as its outcome says."""
        self.spool.new_samples.clear()
        self._due_sooner.clear()
        mark = self.pacing.mark()
        batch = await self.spool.newest(self.batch_size)
        if not batch:
            self.pacing.taken(mark)
            await self.spool.new_samples.wait()
            return
        if len(batch) < self.batch_size and (wait := self.pacing.until_due()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._due_sooner.wait(), wait)
            return
        state_change = self.pacing.state_change
        self.pacing.taken(mark)
        self._pushing = True
        started = time.monotonic()
        try:
            result = await self._push_with_failover(batch, state_change=state_change)
        finally:
            self._pushing = False
        seconds = time.monotonic() - started
        if self.metrics:
            self.metrics.push_duration.observe(seconds)
        if result.outcome in (_Outcome.RETRY, _Outcome.TOO_LARGE):  # the news is still to go
            self.pacing.state_change = self.pacing.state_change or state_change
        if result.outcome is _Outcome.RETRY:
            await self._wait_to_retry(result)
        elif result.outcome is not _Outcome.TOO_LARGE:
            self.pacing.delivered(seconds)

    async def _push_with_failover(
        self, batch: Sequence[SpooledSample], *, state_change: bool
    ) -> _Result:
        """Push to the current collector, then to the next ones in order while they give no
        answer, a 408, 429 or 5xx."""
        failed_over = self._failed_over_at
        if failed_over is not None and time.monotonic() - failed_over >= PREFER_FIRST_AFTER_S:
            self._current, self._failed_over_at = 0, None
        result = await self._push(batch, state_change=state_change)
        tried = 1
        while tried < len(self.collectors) and _fails_over(result):
            previous = self.collector
            self._current = (self._current + 1) % len(self.collectors)
            self._failed_over_at = time.monotonic() if self._current else None
            log.warning(
                "collector_failover",
                collector=previous,
                to=self.collector,
                reason=result.reason,
                error=result.error,
            )
            result = await self._push(batch, state_change=state_change)
            tried += 1
        return result

    async def _push(self, batch: Sequence[SpooledSample], *, state_change: bool) -> _Result:
        body = await _gzip(self._body(batch))
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        if state_change:
            headers[contract.STATE_CHANGE_HEADER] = "1"
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
            if self.metrics:
                self.metrics.samples_pushed.inc(len(batch))
            if self._token_refused_said is not None:
                self._token_refused_said = None
                log.info("token_accepted", collector=self.collector)
            return _Result(_Outcome.DELIVERED, status=200)
        error = str(answer.get("error") or f"HTTP {status}")
        if status in TOKEN_REFUSALS:
            self._token_refused(status, error)
        if status == 413:
            return await self._too_large(batch)
        if status == 400:
            return await self._refused(
                batch, _reasons_by_index(answer.get("details"), batch), f"HTTP 400: {error}", 400
            )
        if 400 <= status < 500 and status not in RETRY_STATUSES:
            return await self._refused(batch, {}, f"HTTP {status}: {error}", status)
        if 300 <= status < 400:
            location = response.headers.get("Location", "?")
            error = f"redirected to {location}: set agent.collector to the final URL"
        retry_after = _retry_after(response.headers.get("Retry-After"))
        return self._retry(f"http_{status}", error, retry_after, status)

    def _token_refused(self, status: int, error: str) -> None:
        """Count each refusal; say it at error level at most once a minute."""
        if self.metrics:
            self.metrics.push_refused.labels(reason=TOKEN_REFUSALS[status]).inc()
        now = time.monotonic()
        said = self._token_refused_said
        if said is not None and now - said < TOKEN_REFUSED_LOG_EVERY_S:
            return
        self._token_refused_said = now
        if status == 401:
            hint = (
                f"the collector knows no such token: agent.token must be the token of agent "
                f"{self.agent_id!r} in the collector's collector.agents"
            )
        else:
            hint = (
                f"the collector accepts the token but not for agent {self.agent_id!r}: "
                "agent.id must be the id this token belongs to in collector.agents"
            )
        log.error(
            "token_refused",
            collector=self.collector,
            agent=self.agent_id,
            status=status,
            answer=error,
            queued=self.spool.queued,
            hint=f"{hint}; samples stay spooled and are retried",
        )

    async def _too_large(self, batch: Sequence[SpooledSample]) -> _Result:
        self._count_failure("http_413")
        if len(batch) > 1:
            self.batch_size = max(1, len(batch) // 2)
            log.info("push_too_large", samples=len(batch), next_batch=self.batch_size)
            return _Result(_Outcome.TOO_LARGE, status=413)
        return await self._refused(batch, {}, "HTTP 413: a single sample is too large", 413)

    async def _refused(
        self,
        batch: Sequence[SpooledSample],
        reasons: Mapping[int, str],
        whole_batch_reason: str,
        status: int,
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
        return _Result(_Outcome.REFUSED, status=status)

    def _retry(
        self,
        reason: str,
        error: str,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> _Result:
        self._count_failure(reason)
        return _Result(_Outcome.RETRY, retry_after, reason, error, status)

    async def _wait_to_retry(self, result: _Result) -> None:
        """Wait as the pacing says; while the collector is unreachable, end the wait as soon as
        its /healthz answers 200."""
        delay = self.pacing.failed(
            retry_after=result.retry_after, shed=result.status in SHED_STATUSES
        )
        if result.status not in TOKEN_REFUSALS:  # said apart, once a minute
            log.warning(
                "push_failed",
                collector=self.url,
                reason=result.reason,
                error=result.error,
                attempt=self.pacing.failures,
                retry_in_s=round(delay, 3),
                queued=self.spool.queued,
            )
        unreachable = result.status is None or result.status in UNAVAILABLE_STATUSES
        if unreachable and result.retry_after is None:
            await self._wait_for_health(delay)
        else:
            await asyncio.sleep(delay)

    async def _wait_for_health(self, delay: float) -> None:
        """Wait `delay`, or until one of the collectors (in order) answers /healthz: it is the
        one pushed to next."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, health_probe_interval()))
            for index, collector in enumerate(self.collectors):
                if loop.time() < deadline and await self._collector_healthy(collector):
                    self._current = index
                    self._failed_over_at = time.monotonic() if index else None
                    log.info("collector_back", collector=collector, queued=self.spool.queued)
                    return

    async def _collector_healthy(self, collector: str) -> bool:
        assert self._session is not None
        try:
            async with self._session.get(
                collector + HEALTH_PATH,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.health_timeout),
            ) as response:
                return response.status == 200
        except (TimeoutError, aiohttp.ClientError, OSError):
            return False

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


def _fails_over(result: _Result) -> bool:
    """Whether the next collector should be asked: this one gave no answer, or one saying it
    cannot take the batch now."""
    if result.outcome is not _Outcome.RETRY:
        return False
    status = result.status
    return status is None or status >= 500 or status in FAILOVER_STATUSES


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
