"""Routes of the alerts (admin only):

- `GET /api/v1/notifications[?status=pending,held&channel=ID&before=SEQ&limit=N]`: the stored
  notifications, newest first, with their delivery state (attempts, next attempt, last error),
  and the count per channel and status. Page with `before` = the last `seq` seen.
- `POST /api/v1/alerts/test` `{"channel": ID}`: one test message to the channel now, outside
  its queue, and what the service answered (200 delivered; 502 with the reason otherwise). Its
  link opens a page the channel's alerts link to (`Links.for_channel`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict, get_args

from aiohttp import web

from slawatch.collector import store
from slawatch.collector.alerts import channels
from slawatch.collector.alerts.events import Test, new_notification_id
from slawatch.collector.alerts.outbox import decode_event
from slawatch.collector.alerts.service import SERVICE
from slawatch.collector.alerts.text import summary
from slawatch.collector.app import CLOCK, CONFIG, STORE
from slawatch.collector.bodies import read_small_json
from slawatch.collector.engine.periods import format_instant
from slawatch.collector.errors import ApiError
from slawatch.collector.jsonschema import INLINE, Schema
from slawatch.collector.routing import Instant, Reply, Route, add_routes, error, query_param

Status = Literal["held", "pending", "sent", "given_up", "merged"]
STATUSES: tuple[str, ...] = get_args(Status)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_BEFORE = 2**62
QUERY = frozenset({"status", "channel", "before", "limit"})


def setup(app: web.Application) -> None:
    add_routes(app, ROUTES)


async def list_notifications(request: web.Request) -> web.Response:
    app = request.app
    query = request.query
    unknown = sorted(set(query) - QUERY)
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter {unknown[0][:40]!r}: use {', '.join(sorted(QUERY))}",
            [{"field": name[:40], "error": "unknown parameter"} for name in unknown],
        )
    statuses = _statuses(query.get("status"))
    limit = _integer(query.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT
    before = _integer(query.get("before"), "before", None, 1, MAX_BEFORE)
    channel = query.get("channel")
    rows = await app[STORE].notifications(
        statuses=statuses, channel=channel, before_seq=before, limit=limit
    )
    counts: dict[str, dict[str, int]] = {}
    for (channel_id, status), count in sorted((await app[STORE].notification_counts()).items()):
        counts.setdefault(channel_id, dict.fromkeys(STATUSES, 0))[status] = count
    return web.json_response(
        {"notifications": [notification_json(row) for row in rows], "counts": counts}
    )


async def send_test(request: web.Request) -> web.Response:
    app = request.app
    return await test_sent(app, await read_small_json(request))


async def test_sent(app: web.Application, document: Any) -> web.Response:
    """Send a test message to the channel a request body names: the API's answer (the pages'
    admin form takes this path too)."""
    channel_id = document.get("channel") if isinstance(document, dict) else None
    if not isinstance(channel_id, str):
        raise ApiError(400, 'body must be {"channel": "ID"}', [{"field": "channel"}])
    channel = app[CONFIG].alerts.channel(channel_id)
    if channel is None:
        raise ApiError(404, f"no channel {channel_id[:128]!r} in alerts.channels")
    service = app[SERVICE]
    links = service.evaluator.links
    await links.signer.load(app[STORE])
    now = app[CLOCK]()
    event = Test(
        id=new_notification_id(),
        at=now,
        channel=channel.id,
        link=links.link(links.for_channel(channel.id), round(now * 1000)),
    )
    message = channels.render(event, channel)
    if service.dispatcher is None:
        raise ApiError(503, "alerts are not running")
    result = await channels.deliver(service.dispatcher.session, channel, message, clock=app[CLOCK])
    answer = {
        "channel": channel.id,
        "id": event.id,
        "delivered": result.delivered,
        "outcome": result.outcome,
        "status": result.status,
        "retry_after": result.retry_after,
        "error": result.error,
    }
    if result.delivered:
        service.metrics.sent.labels(channel.id).inc()
        return web.json_response(answer)
    service.metrics.failed.labels(channel.id).inc()
    reason = result.error or result.outcome
    raise ApiError(502, f"channel {channel.id!r} did not take the test message: {reason}", [answer])


def notification_json(row: store.Notification) -> dict[str, Any]:
    waiting = row.status in ("held", "pending")
    return {
        "seq": row.seq,
        "id": row.id,
        "channel": row.channel,
        "event": row.kind,
        "status": row.status,
        "subject": row.subject,
        "summary": _summary(row),
        "created": format_instant(row.created_ms),
        "next_attempt": format_instant(row.due_ms) if waiting else None,
        "attempts": row.attempts,
        "last_status": row.last_status,
        "last_error": row.last_error,
        "finished": None if row.finished_ms is None else format_instant(row.finished_ms),
        "merged_into": row.merged_into,
    }


def _summary(row: store.Notification) -> str | None:
    try:
        return summary(decode_event(row.event))
    except (ValueError, KeyError, TypeError):
        return None


def _statuses(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    found = tuple(part.strip() for part in text.split(",") if part.strip())
    unknown = [s for s in found if s not in STATUSES]
    if unknown or not found:
        raise ApiError(
            400,
            f"status: must be among {', '.join(STATUSES)}",
            [
                {
                    "field": "status",
                    "error": f"unknown status {unknown[0][:40]!r}" if unknown else "empty",
                }
            ],
        )
    return found


def _integer(text: str | None, name: str, default: int | None, low: int, high: int) -> int | None:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ApiError(400, f"{name}: must be a whole number from {low} to {high}")
    return value


# ---------------------------------------------------------------------------------- models


class Notification(TypedDict):
    seq: int
    id: str
    channel: str
    event: str
    status: Status
    subject: NotRequired[str | None]
    summary: NotRequired[str | None]
    created: Instant
    next_attempt: NotRequired[Instant | None]
    attempts: Annotated[int, Schema(minimum=0)]
    last_status: NotRequired[int | None]
    last_error: NotRequired[str | None]
    finished: NotRequired[Instant | None]
    merged_into: NotRequired[str | None]


class NotificationList(TypedDict):
    notifications: list[Notification]
    counts: dict[str, dict[str, int]]


class TestRequest(TypedDict):
    channel: str


class TestDelivery(TypedDict):
    channel: str
    id: str
    delivered: bool
    outcome: Literal["delivered", "retry", "rejected"]
    status: NotRequired[int | None]
    retry_after: NotRequired[float | None]
    error: NotRequired[str | None]


ROUTES = (
    Route(
        "GET",
        "/api/v1/notifications",
        list_notifications,
        "Alert notifications stored in the outbox, newest first",
        scopes=("admin",),
        parameters=(
            query_param(
                "status",
                Annotated[list[Status], Schema(min_items=1)],
                "Only these statuses, comma-separated",
                explode=False,
            ),
            query_param("channel", str),
            query_param(
                "before",
                Annotated[int, Schema(minimum=1, maximum=MAX_BEFORE)],
                "Only notifications with a smaller seq (paging)",
            ),
            query_param("limit", Annotated[int, Schema(minimum=1, maximum=MAX_LIMIT)]),
        ),
        replies={
            200: Reply(
                "Notifications and counts per channel and status",
                Annotated[NotificationList, INLINE],
            ),
            400: error("Bad status, before or limit; unknown parameter"),
        },
    ),
    Route(
        "POST",
        "/api/v1/alerts/test",
        send_test,
        "Send a test message to a channel now and say what it answered",
        scopes=("admin",),
        description="The message links to a page this channel's alerts open: the status page "
        "of a customer its rules watch, else an SLA's report (signed like every alert link, so "
        "it opens without a token). A click proves that `collector.public_url` reaches this "
        "collector.",
        body=Annotated[TestRequest, INLINE],
        replies={
            200: Reply("Delivered", TestDelivery),
            400: error("Not a JSON object with a channel"),
            404: error("No such channel"),
            413: error("Body too large"),
            502: error("The channel did not take it (details: its answer)"),
            503: error("Alerts are not running"),
        },
    ),
)
