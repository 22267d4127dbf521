"""Admin actions in the pages (CONTRACT §8): declare and delete maintenance, send a test alert,
mint and revoke share links, end every browser session of a principal, from `GET /admin`.

Each is a form POSTed with the session's CSRF token (`sessions.require_form`), answered first by
a confirmation page that repeats what will be done (a second POST with `confirmed=yes`: no
script needed), then done through the very function behind the API route (`MAINTENANCE_ACTIONS`,
registered by the maintenance routes; `test_sent`, `share.mint`, `share.revoke`), and logged with
the principal
(`page_action`). The API's refusals are shown as they are, field by field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from slawatch.collector.admin_actions import MAINTENANCE_ACTIONS
from slawatch.collector.alerts.api import test_sent
from slawatch.collector.app import CLOCK, CONFIG, STORE
from slawatch.collector.auth import Principal
from slawatch.collector.engine.periods import format_instant
from slawatch.collector.errors import ApiError
from slawatch.collector.pages import share
from slawatch.collector.pages.render import page
from slawatch.collector.pages.sessions import require_form, require_page
from slawatch.collector.reports.build import LATEST_MS
from slawatch.collector.routing import Route, add_routes
from slawatch.collector.store import EXCLUSION_CATEGORIES

log = structlog.get_logger()

LOCAL_MINUTE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}")


def _now_ms(request: web.Request) -> int:
    return round(request.app[CLOCK]() * 1000)


def utc_instant(text: str) -> str:
    """A `datetime-local` field's value (`2026-11-10T12:00`) read as UTC; anything else as
    typed (an RFC 3339 time, which the API judges)."""
    text = text.strip()
    return f"{text}:00Z" if LOCAL_MINUTE.fullmatch(text) else text


async def admin_page(request: web.Request) -> web.Response:
    require_page(request, "admin")
    app = request.app
    config = app[CONFIG]
    now_ms = _now_ms(request)
    declared = await app[STORE].declared_maintenance(None, now_ms, LATEST_MS)
    links = await app[STORE].share_links()
    settings = config.collector
    return page(
        request,
        "admin.html",
        title="Admin actions",
        slas=[(sla.id, sla.name) for sla in config.slas],
        channels=[channel.id for channel in config.alerts.channels],
        customers=[(c.id, c.name) for c in settings.customers] if settings else [],
        exclusion_categories=EXCLUSION_CATEGORIES,
        maintenance=[
            {
                "id": m.id,
                "slas": ", ".join(m.slas),
                "start": format_instant(m.start_ms),
                "end": format_instant(m.end_ms),
                "reason": m.reason
                if m.category is None
                else f"excluded ({m.category}): {m.reason}",
            }
            for m in declared
        ],
        links=[{**share.link_json(link), "expired": link.expires_ms <= now_ms} for link in links],
    )


Action = Callable[[web.Request, dict[str, str], Principal], Awaitable[tuple[str, Any]]]


def _action(
    name: str, describe: Callable[[dict[str, str]], list[tuple[str, str]]], do: Action
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A route running `do` after the confirmation step; `describe` lists what it will do."""

    async def handler(request: web.Request) -> web.Response:
        principal, form = await require_form(request, "admin")
        fields = {k: v for k, v in form.items() if k not in ("csrf", "confirmed")}
        if form.get("confirmed") != "yes":
            return page(
                request,
                "confirm.html",
                title=f"Confirm: {name}",
                action=name,
                target=request.path,
                fields=fields,
                summary=describe(fields),
            )
        try:
            outcome, detail = await do(request, fields, principal)
        except ApiError as error:
            log.info("page_action", action=name, principal=principal.id, status=error.status)
            return page(
                request,
                "outcome.html",
                status=error.status,
                title=f"Not done: {name}",
                ok=False,
                text=error.message,
                details=error.details,
                detail=None,
            )
        log.info("page_action", action=name, principal=principal.id, status="done")
        return page(
            request,
            "outcome.html",
            title=f"Done: {name}",
            ok=True,
            text=outcome,
            details=[],
            detail=detail,
        )

    return handler


def _answer(response: web.Response) -> Any:
    return json.loads(response.text) if response.text else None


async def _declare(
    request: web.Request, fields: dict[str, str], principal: Principal
) -> tuple[str, Any]:
    document = {
        "sla": fields.get("sla", ""),
        "start": utc_instant(fields.get("start", "")),
        "end": utc_instant(fields.get("end", "")),
        "reason": fields.get("reason", ""),
    }
    if fields.get("kind", "maintenance") != "maintenance":  # an exclusion (CONTRACT §7)
        document |= {"kind": fields["kind"], "category": fields.get("category", "")}
    answer = _answer(
        await request.app[MAINTENANCE_ACTIONS].declare(
            request.app, document, _now_ms(request), principal
        )
    )
    what = "Exclusion" if "kind" in document else "Maintenance"
    return f"{what} declared for {document['sla']}.", answer


async def _delete(
    request: web.Request, fields: dict[str, str], principal: Principal
) -> tuple[str, Any]:
    window = request.match_info["id"]
    await request.app[MAINTENANCE_ACTIONS].delete(request.app, window, _now_ms(request), principal)
    return f"Maintenance window {window} deleted.", None


async def _test(
    request: web.Request, fields: dict[str, str], principal: Principal
) -> tuple[str, Any]:
    answer = _answer(await test_sent(request.app, {"channel": fields.get("channel", "")}))
    return f"Test message delivered to {fields.get('channel', '')}.", answer


async def _mint(
    request: web.Request, fields: dict[str, str], principal: Principal
) -> tuple[str, Any]:
    document = {
        "customer": fields.get("customer", ""),
        "expires": utc_instant(fields.get("expires", "")),
    }
    answer = await share.mint(request.app, document, _now_ms(request), principal)
    return "Share link made: copy it now, it is not shown again.", answer


async def _revoke(
    request: web.Request, fields: dict[str, str], principal: Principal
) -> tuple[str, Any]:
    link = request.match_info["id"]
    await share.revoke(request.app, link, _now_ms(request), principal)
    return f"Share link {link} revoked.", None


async def _sign_out(
    request: web.Request, fields: dict[str, str], principal: Principal
) -> tuple[str, Any]:
    who = fields.get("principal", "")
    settings = request.app[CONFIG].collector
    customers = {c.id for c in settings.customers} if settings else set()
    if who != "admin" and who not in customers:
        raise ApiError(400, "no such principal", [{"field": "principal", "error": "unknown"}])
    kind = "admin" if who == "admin" else "customer"
    ended = await request.app[STORE].delete_sessions(kind, who)
    return f"{ended} session(s) of {who} ended.", None


def setup(app: web.Application) -> None:
    add_routes(app, ROUTES)


ROUTES = (
    Route("GET", "/admin", admin_page, "The admin page", documented=False),
    Route(
        "POST",
        "/admin/sessions/sign-out",
        _action(
            "sign out every session of",
            lambda f: [("Principal", f.get("principal", ""))],
            _sign_out,
        ),
        "Sign out every session of a principal",
        documented=False,
    ),
    Route(
        "POST",
        "/admin/maintenance",
        _action(
            "declare a window",
            lambda f: [
                ("Kind", f.get("kind", "maintenance")),
                *([("Category", f.get("category", ""))] if f.get("kind") == "exclusion" else []),
                ("SLA", f.get("sla", "")),
                ("From", utc_instant(f.get("start", ""))),
                ("To", utc_instant(f.get("end", ""))),
                ("Reason", f.get("reason", "")),
            ],
            _declare,
        ),
        "Declare a maintenance window or an exclusion",
        documented=False,
    ),
    Route(
        "POST",
        "/admin/maintenance/{id}/delete",
        _action("delete maintenance", lambda f: [("Window", f.get("window", ""))], _delete),
        "Delete a declared window",
        documented=False,
    ),
    Route(
        "POST",
        "/admin/alerts/test",
        _action("send a test alert", lambda f: [("Channel", f.get("channel", ""))], _test),
        "Send a test alert",
        documented=False,
    ),
    Route(
        "POST",
        "/admin/share-links",
        _action(
            "mint a share link",
            lambda f: [
                ("Customer", f.get("customer", "")),
                ("Expires", utc_instant(f.get("expires", ""))),
            ],
            _mint,
        ),
        "Mint a share link",
        documented=False,
    ),
    Route(
        "POST",
        "/admin/share-links/{id}/revoke",
        _action("revoke a share link", lambda f: [("Link", f.get("link", ""))], _revoke),
        "Revoke a share link",
        documented=False,
    ),
)
