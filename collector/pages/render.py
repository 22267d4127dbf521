"""How the pages are served: Jinja2 templates (autoescaped), one strict Content-Security-Policy
with a fresh nonce per response for the page's own `<style>`, scripts only from this collector
(`/pages/static/…`), images and forms only here.

`page(request, template, …)` renders a template with what every page needs: the signed-in
principal, its session's CSRF token (forms send it back), the nonce and the brand.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from importlib import resources
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined

from slawatch.collector.auth import REQUEST_PRINCIPAL, Principal
from slawatch.collector.store import BrowserSession

TEMPLATES = Environment(
    loader=PackageLoader("slawatch.collector.pages", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
REQUEST_SESSION: web.RequestKey[BrowserSession | None] = web.RequestKey("browser_session")
"""The request's `BrowserSession`, when it came with a valid session cookie."""
STATIC_FILES = ("refresh.js",)


class Answer(Exception):
    """Raised with the page to answer (a refusal, a redirect page), which the pages'
    middleware returns; the collector's own middleware would turn an HTTPException into JSON."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def csp(nonce: str) -> str:
    """The pages' policy: nothing from elsewhere; the page's own style by its nonce."""
    return (
        f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'self'; img-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )


def headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": csp(nonce),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def page(
    request: web.Request,
    template: str,
    *,
    status: int = 200,
    title: str,
    extra_headers: Mapping[str, str] | None = None,
    **context: Any,
) -> web.Response:
    nonce = secrets.token_urlsafe(18)
    principal = request.get(REQUEST_PRINCIPAL)
    session = request.get(REQUEST_SESSION)
    text = TEMPLATES.get_template(template).render(
        title=title,
        nonce=nonce,
        principal=principal if isinstance(principal, Principal) else None,
        csrf=session.csrf if session is not None else "",
        **context,
    )
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={**headers(nonce), **(extra_headers or {})},
    )


def message(
    request: web.Request, status: int, title: str, text: str, **context: Any
) -> web.Response:
    """A small page saying what happened (an error, an action's outcome)."""
    return page(request, "message.html", status=status, title=title, text=text, **context)


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    body = resources.files("slawatch.collector.pages").joinpath("static", name).read_bytes()
    return web.Response(
        body=body,
        content_type="text/javascript",
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=3600"},
    )
