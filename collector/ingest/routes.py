"""The push route (CONTRACT §3.1): `POST /api/v1/samples`, a batch of an agent's samples.

Authenticate, wait for a turn (or 429: `ingest.admission`; a push carrying a state change goes
ahead), read the body within its limits (`bodies`), judge the batch (`ingest.batch`, big ones in
worker processes), store it all or nothing, then tell the ingest listeners (alerts, status
caches). 200 only once the batch is committed.
"""

from __future__ import annotations

from typing import Annotated, NotRequired, TypedDict

from aiohttp import web

from slawatch.collector.app import (
    BATCH_JUDGE,
    CLOCK,
    CONFIG,
    HEALTH,
    METRICS,
    PUSH_ADMISSION,
    STORE,
    tell_ingest_listeners,
)
from slawatch.collector.auth import Principal
from slawatch.collector.bodies import read_body
from slawatch.collector.errors import ApiError
from slawatch.collector.ingest.admission import PushShed
from slawatch.collector.ingest.batch import (
    MAX_LABEL_LENGTH,
    MAX_LABELS,
    MAX_TYPE_LENGTH,
    Batch,
    BatchError,
)
from slawatch.collector.jsonschema import INLINE, Schema, with_keywords
from slawatch.collector.routing import Id, Reply, Route, add_routes, caller, error
from slawatch.config.contract import MAX_BATCH_SAMPLES, MAX_INTERVAL_S, STATE_CHANGE_HEADER

REFUSAL_REASONS = {
    400: "invalid", 403: "wrong_agent", 408: "timeout", 413: "too_large", 415: "encoding",
    429: "shed", 503: "storage", 507: "storage",
}  # fmt: skip
"""`slawatch_ingest_errors_total{reason}` of a refused push, by its status."""


async def push_samples(request: web.Request) -> web.Response:
    app = request.app
    principal = caller(request)
    state_change = request.headers.get(STATE_CHANGE_HEADER) == "1"
    try:
        async with app[PUSH_ADMISSION].turn(state_change=state_change):
            return await _ingest(request, principal)
    except PushShed as shed:
        app[METRICS].ingest_batches.labels("refused").inc()
        app[METRICS].ingest_errors.labels(REFUSAL_REASONS[429]).inc()
        raise ApiError(429, str(shed), headers={"Retry-After": str(shed.retry_after)}) from None


async def _ingest(request: web.Request, principal: Principal) -> web.Response:
    app = request.app
    metrics = app[METRICS]
    try:
        batch, now = await _read_batch(request, principal)
    except ApiError as refused:
        metrics.ingest_batches.labels("refused").inc()
        metrics.ingest_errors.labels(REFUSAL_REASONS.get(refused.status, "other")).inc()
        raise
    try:
        result = await app[STORE].ingest(
            batch.agent, batch.samples, labels=batch.labels, now_ms=round(now * 1000)
        )
    except Exception:
        metrics.ingest_batches.labels("failed").inc()
        raise
    app[HEALTH].wrote()
    metrics.ingest_batches.labels("stored").inc()
    metrics.samples_ingested.labels(batch.agent).inc(result.accepted)
    metrics.samples_duplicate.labels(batch.agent).inc(result.duplicates)
    await tell_ingest_listeners(app, batch, result)
    return web.json_response({"accepted": result.accepted, "duplicates": result.duplicates})


async def _read_batch(request: web.Request, principal: Principal) -> tuple[Batch, float]:
    """The validated batch of the request and the instant it was judged at, or ApiError."""
    app = request.app
    body, encoding = await read_body(request)
    now = app[CLOCK]()
    collector = app[CONFIG].collector
    assert collector is not None
    try:
        batch = await app[BATCH_JUDGE].judge(
            body,
            encoding=encoding,
            now=now,
            max_sample_age=collector.max_sample_age,
            pushing_as=principal.id if principal.kind == "agent" else None,
        )
    except BatchError as refused:
        raise ApiError(
            refused.status, refused.message, [p.to_json() for p in refused.problems]
        ) from None
    return batch, now


# ------------------------------------------------------------------------------------- models

Duration = Annotated[float, Schema(minimum=0)]


class PhasesMs(TypedDict, total=False):
    dns: Duration
    connect: Duration
    tls: Duration
    ttfb: Duration
    transfer: Duration


@with_keywords(
    if_={"required": ["ok"], "properties": {"ok": {"const": True}}},
    then={"required": ["latency_ms"], "properties": {"latency_ms": {"type": "number"}}},
)
class Sample(TypedDict):
    check: Id
    ts: Annotated[
        float,
        Schema(
            description="Unix seconds when the probe started; refused more than 5 minutes"
            " ahead of the collector's clock or older than its max_sample_age"
        ),
    ]
    ok: bool
    latency_ms: NotRequired[Annotated[float | None, Schema(minimum=0)]]
    interval_s: Annotated[float, Schema(exclusive_minimum=0, maximum=MAX_INTERVAL_S)]
    type: NotRequired[Annotated[str | None, Schema(min_length=1, max_length=MAX_TYPE_LENGTH)]]
    status_code: NotRequired[Annotated[int | None, Schema(minimum=100, maximum=599)]]
    error: NotRequired[str | None]
    phases_ms: NotRequired[
        Annotated[
            PhasesMs | None,
            INLINE,
            Schema(description="Durations in ms; names other than these are ignored"),
        ]
    ]
    tls_expires: NotRequired[float | None]


class SampleBatch(TypedDict):
    agent: Id
    labels: NotRequired[
        Annotated[
            dict[str, Annotated[str, Schema(max_length=MAX_LABEL_LENGTH)]],
            Schema(max_properties=MAX_LABELS, property_names={"maxLength": MAX_LABEL_LENGTH}),
        ]
    ]
    samples: Annotated[list[Sample], Schema(max_items=MAX_BATCH_SAMPLES)]


class IngestResult(TypedDict):
    accepted: Annotated[int, Schema(minimum=0)]
    duplicates: Annotated[int, Schema(minimum=0)]


class SampleProblem(TypedDict):
    index: int | None
    field: str
    error: str


class BatchRefusal(TypedDict):
    error: str
    details: list[SampleProblem]


ROUTES = (
    Route(
        "POST",
        "/api/v1/samples",
        push_samples,
        "Push a batch of samples (agent token; all or nothing; idempotent)",
        scopes=("agent", "admin"),
        description="Bodies may be gzip-compressed (`Content-Encoding: gzip`); at most 10 MiB, "
        "also after decompression. 200 only once the batch is committed.",
        body=SampleBatch,
        replies={
            200: Reply("Stored", IngestResult),
            400: Reply("Invalid batch: nothing of it stored", Annotated[BatchRefusal, INLINE]),
            403: error("Not an agent token, or pushing as another agent"),
            408: error("The body did not arrive within 30 s"),
            413: error("Body over 10 MiB (also after decompression)"),
            415: error("Unsupported Content-Encoding"),
            429: error("The collector is shedding load: push again after `Retry-After` seconds"),
            503: error(
                "The store cannot take it now (I/O error, corruption): retry after Retry-After"
                " seconds"
            ),
            507: error("The collector's disk is full: retry after Retry-After seconds"),
        },
    ),
)


def setup(app: web.Application) -> None:
    add_routes(app, ROUTES)
