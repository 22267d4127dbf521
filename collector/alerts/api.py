"""Routes of the alerts (admin only):

- `GET /api/v1/notifications[?status=pending,held&channel=ID&before=SEQ&limit=N]`: the stored
  notifications, newest first, with their delivery state (attempts, next attempt, last error),
  and the count per channel and status. Page with `before` = the last `seq` seen.
- `POST /api/v1/alerts/test` `{"channel": ID}`: one test message to the channel now, outside
  its queue, and what the service answered (200 delivered; 502 with the reason otherwise). Its
  link opens a page the channel's alerts link to (`Links.for_channel`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from slawatch.collector import openapi
from slawatch.collector.alerts import channels
from slawatch.collector.alerts.events import Test, new_notification_id
from slawatch.collector.alerts.outbox import decode_event
from slawatch.collector.alerts.service import SERVICE
from slawatch.collector.alerts.text import summary
from slawatch.collector.app import AUTH, CLOCK, CONFIG, STORE, read_small_json
from slawatch.collector.engine.periods import format_instant
from slawatch.collector.errors import ApiError
from slawatch.collector.store import Notification

STATUSES = ("held", "pending", "sent", "given_up", "merged")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_BEFORE = 2**62
QUERY = frozenset({"status", "channel", "before", "limit"})


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/notifications", list_notifications)
    app.router.add_post("/api/v1/alerts/test", send_test)
    openapi.document(app).add(PATHS, SCHEMAS)


async def list_notifications(request: web.Request) -> web.Response:
    app = request.app
    app[AUTH].require(request, "admin")
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
    app[AUTH].require(request, "admin")
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


def notification_json(row: Notification) -> dict[str, Any]:
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


def _summary(row: Notification) -> str | None:
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


# ---------------------------------------------------------------------------------- OpenAPI

SCHEMAS: dict[str, Any] = {
    "Notification": {
        "type": "object",
        "required": ["seq", "id", "channel", "event", "status", "created", "attempts"],
        "properties": {
            "seq": {"type": "integer"},
            "id": {"type": "string"},
            "channel": {"type": "string"},
            "event": {"type": "string"},
            "status": {"enum": list(STATUSES)},
            "subject": {"type": ["string", "null"]},
            "summary": {"type": ["string", "null"]},
            "created": {"type": "string", "format": "date-time"},
            "next_attempt": {"type": ["string", "null"], "format": "date-time"},
            "attempts": {"type": "integer", "minimum": 0},
            "last_status": {"type": ["integer", "null"]},
            "last_error": {"type": ["string", "null"]},
            "finished": {"type": ["string", "null"], "format": "date-time"},
            "merged_into": {"type": ["string", "null"]},
        },
    },
    "TestDelivery": {
        "type": "object",
        "required": ["channel", "id", "delivered", "outcome"],
        "properties": {
            "channel": {"type": "string"},
            "id": {"type": "string"},
            "delivered": {"type": "boolean"},
            "outcome": {"enum": ["delivered", "retry", "rejected"]},
            "status": {"type": ["integer", "null"]},
            "retry_after": {"type": ["number", "null"]},
            "error": {"type": ["string", "null"]},
        },
    },
}

PATHS: dict[str, Any] = {
    "/api/v1/notifications": {
        "get": {
            "summary": "Alert notifications stored in the outbox, newest first",
            "parameters": [
                {
                    "name": "status",
                    "in": "query",
                    "description": "Only these statuses, comma-separated",
                    "style": "form",
                    "explode": False,
                    "schema": {"type": "array", "minItems": 1, "items": {"enum": list(STATUSES)}},
                },
                {"name": "channel", "in": "query", "schema": {"type": "string"}},
                {
                    "name": "before",
                    "in": "query",
                    "description": "Only notifications with a smaller seq (paging)",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_BEFORE},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                },
            ],
            "responses": {
                "200": openapi.json_response(
                    "Notifications and counts per channel and status",
                    {
                        "type": "object",
                        "required": ["notifications", "counts"],
                        "properties": {
                            "notifications": {
                                "type": "array",
                                "items": {"$ref": "#/components/schemas/Notification"},
                            },
                            "counts": {
                                "type": "object",
                                "additionalProperties": {
                                    "type": "object",
                                    "additionalProperties": {"type": "integer"},
                                },
                            },
                        },
                    },
                ),
                "400": openapi.error_response("Bad status, before or limit; unknown parameter"),
                "401": openapi.UNAUTHORIZED,
                "403": openapi.FORBIDDEN,
            },
        }
    },
    "/api/v1/alerts/test": {
        "post": {
            "summary": "Send a test message to a channel now and say what it answered",
            "description": "The message links to a page this channel's alerts open: the status"
            " page of a customer its rules watch, else an SLA's report (signed like every"
            " alert link, so it opens without a token). A click proves that"
            " `collector.public_url` reaches this collector.",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["channel"],
                            "properties": {"channel": {"type": "string"}},
                        }
                    }
                },
            },
            "responses": {
                "200": openapi.json_response(
                    "Delivered", {"$ref": "#/components/schemas/TestDelivery"}
                ),
                "400": openapi.error_response("Not a JSON object with a channel"),
                "401": openapi.UNAUTHORIZED,
                "403": openapi.FORBIDDEN,
                "404": openapi.error_response("No such channel"),
                "413": openapi.error_response("Body too large"),
                "502": openapi.error_response("The channel did not take it (details: its answer)"),
                "503": openapi.error_response("Alerts are not running"),
            },
        }
    },
}
