"""Sign-in for browsers (CONTRACT §8): `/login` with a token, a session cookie, `/logout`.

A browser cannot send a bearer token, so `/login` takes one (a form with one password field,
`token`) and, for an admin or customer token, opens a session: a random key in an HttpOnly,
SameSite=Strict cookie (Secure when the request came over HTTPS or `public_url` is https), of
which the store keeps only the SHA-256 (`SessionStore`), with the principal, a CSRF token and
when it expires (`SESSION_S`). `/logout` ends it; `revoke` ends every session of a principal.

`principal_middleware` finds the principal of a request that has no bearer token: its session,
or a share link's key (`share.resolve`), and puts it where `Authenticator.of` reads it
(`REQUEST_PRINCIPAL`). It does so only for GET and HEAD: a cookie never makes the JSON API
change anything. Forms that change something (sign-out, the admin actions) are POSTs that send
the session's CSRF token back (`require_form`), checked in constant time; the sign-in form,
before any session, sends back a random value also set in a cookie (double submit).

Failed sign-ins are limited per client address (`LoginLimiter`): past `MAX_FAILURES` within
`FAILURE_WINDOW_S`, 429 with Retry-After. Tokens are compared as `Authenticator` does (by
digest, in constant time) and never logged; nor are session keys.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import structlog
from aiohttp import web

from slawatch.collector.app import AUTH, CLOCK, CONFIG, STORE
from slawatch.collector.auth import REQUEST_PRINCIPAL, Principal
from slawatch.collector.pages import share
from slawatch.collector.pages.render import REQUEST_SESSION, Answer, message, page
from slawatch.collector.routing import Route, add_routes
from slawatch.collector.store import BrowserSession

log = structlog.get_logger()

SESSION_COOKIE = "slawatch_session"
LOGIN_COOKIE = "slawatch_login"
SESSION_S = 12 * 3600
"""A session lasts a working day; then the browser signs in again."""
MAX_FAILURES = 5
FAILURE_WINDOW_S = 300.0
MAX_ADDRESSES = 10_000
"""Client addresses whose failures are remembered; the oldest are forgotten past it."""
MAX_FORM_BYTES = 16 * 1024
SAFE_METHODS = ("GET", "HEAD")


def now_ms(request: web.Request) -> int:
    now = request.app[CLOCK]()
    return round(now * 1000) if math.isfinite(now) else 0


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


# ---------------------------------------------------------------------------- rate limit


@dataclass(slots=True)
class LoginLimiter:
    """Failed sign-ins per client address within a sliding window."""

    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def retry_after(self, address: str, now: float) -> int | None:
        """Seconds until `address` may try again, None when it may now."""
        failures = self._recent(address, now)
        if len(failures) < MAX_FAILURES:
            return None
        return max(1, math.ceil(failures[0] + FAILURE_WINDOW_S - now))

    def failed(self, address: str, now: float) -> None:
        self._recent(address, now).append(now)
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)

    def _recent(self, address: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] <= now - FAILURE_WINDOW_S:
            failures.popleft()
        return failures


LIMITER = web.AppKey("login_limiter", LoginLimiter)


# ---------------------------------------------------------------------------- middleware


@web.middleware
async def principal_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        if "Authorization" not in request.headers and request.method in SAFE_METHODS:
            found = await current_session(request)
            if found is not None:
                request[REQUEST_PRINCIPAL] = Principal(found.kind, found.principal)  # type: ignore[arg-type]
            else:
                await share.resolve(request)
        return await handler(request)
    except Answer as answer:
        return answer.response


async def current_session(request: web.Request) -> BrowserSession | None:
    """The request's valid session (also put in `REQUEST_SESSION`), else None."""
    if REQUEST_SESSION in request:
        return request[REQUEST_SESSION]
    key = request.cookies.get(SESSION_COOKIE)
    found: BrowserSession | None = None
    if key and len(key) <= 128:
        found = await request.app[STORE].session(digest(key), now_ms(request))
    request[REQUEST_SESSION] = found
    return found


def is_secure(request: web.Request) -> bool:
    settings = request.app[CONFIG].collector
    public = settings.public_url if settings else None
    return request.secure or bool(public and public.lower().startswith("https:"))


def _cookie(response: web.Response, request: web.Request, name: str, value: str, age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=age,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=is_secure(request),
    )


# ---------------------------------------------------------------------------- requirements


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def sign_in_redirect(request: web.Request) -> Answer:
    return Answer(redirect(f"/login?next={quote(request.path_qs, safe='')}"))


def require_page(request: web.Request, *kinds: str) -> Principal:
    """The signed-in principal if it is one of `kinds`: else a redirect to `/login` (nobody
    signed in) or a 403 page."""
    principal = request.app[AUTH].of(request)
    if principal is None:
        raise sign_in_redirect(request)
    if principal.kind not in kinds:
        raise _refusal(request, principal)
    return principal


def _refusal(request: web.Request, principal: Principal) -> Answer:
    return Answer(
        message(
            request,
            403,
            "Not allowed",
            "This page is for the operator. You are signed in as "
            + {"customer": "a customer", "agent": "an agent's token"}.get(
                principal.kind, f"the {principal.kind} token"
            )
            + ".",
            home=f"/status/{principal.id}" if principal.kind == "customer" else None,
        )
    )


async def require_form(request: web.Request, *kinds: str) -> tuple[Principal, dict[str, str]]:
    """A POSTed form of a signed-in session of one of `kinds`, with its CSRF token: else 403
    (the token missing or wrong) or the sign-in page."""
    found = await current_session(request)
    if found is None:
        raise sign_in_redirect(request)
    form = await _form(request)
    sent = form.get("csrf", "")
    if not hmac.compare_digest(sent.encode(), found.csrf.encode()):
        raise Answer(
            message(
                request,
                403,
                "Form expired",
                "This form is stale or was not sent from this site: open the page again and retry.",
            )
        )
    principal = Principal(found.kind, found.principal)  # type: ignore[arg-type]
    request[REQUEST_PRINCIPAL] = principal
    if principal.kind not in kinds:
        raise _refusal(request, principal)
    return principal, form


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise Answer(message(request, 413, "Too large", "This form is too large."))
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise Answer(message(request, 415, "Not a form", "Send this as an HTML form."))
    form = await request.post()
    return {name: value for name, value in form.items() if isinstance(value, str)}


# ---------------------------------------------------------------------------- routes


def safe_next(target: str | None, principal: Principal) -> str:
    """Where to go after signing in: a path of this site, else the principal's home."""
    home = "/" if principal.kind == "admin" else f"/status/{principal.id}"
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    return target


async def login_page(request: web.Request) -> web.Response:
    found = await current_session(request)
    if found is not None:
        principal = Principal(found.kind, found.principal)  # type: ignore[arg-type]
        return redirect(safe_next(request.query.get("next"), principal))
    nonce = secrets.token_urlsafe(24)
    response = page(
        request,
        "login.html",
        title="Sign in",
        login_csrf=nonce,
        next=request.query.get("next", ""),
        error=None,
    )
    _cookie(response, request, LOGIN_COOKIE, nonce, 3600)
    return response


async def login(request: web.Request) -> web.Response:
    app = request.app
    address = request.remote or "unknown"
    now = app[CLOCK]()
    wait = app[LIMITER].retry_after(address, now)
    if wait is not None:
        log.info("sign_in_limited", address=address)
        return message(
            request,
            429,
            "Too many attempts",
            f"Too many failed sign-ins from your address: try again in {wait} s.",
            extra_headers={"Retry-After": str(wait)},
        )
    form = await _form(request)
    sent, expected = form.get("csrf", ""), request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        return message(
            request,
            403,
            "Form expired",
            "This sign-in form is stale or was not sent from this site: open it again.",
            home="/login",
        )
    token = form.get("token", "").strip()
    principal = app[AUTH].identify(f"Bearer {token}") if token else None
    target = form.get("next", "")
    if principal is None or principal.kind not in ("admin", "customer"):
        app[LIMITER].failed(address, now)
        log.info("sign_in_failed", address=address)
        why = (
            "That token is not known."
            if principal is None
            else ("That token cannot sign in: use an admin or a customer token.")
        )
        return page(
            request,
            "login.html",
            status=401,
            title="Sign in",
            login_csrf=expected,
            next=target,
            error=why,
        )
    key = secrets.token_urlsafe(32)
    created = now_ms(request)
    await app[STORE].prune_sessions(created)
    await app[STORE].add_session(
        BrowserSession(
            digest(key),
            principal.kind,
            principal.id,
            secrets.token_urlsafe(32),
            created,
            created + SESSION_S * 1000,
        )
    )
    log.info("signed_in", principal=principal.id, kind=principal.kind, address=address)
    response = redirect(safe_next(target, principal))
    _cookie(response, request, SESSION_COOKIE, key, SESSION_S)
    response.del_cookie(LOGIN_COOKIE, path="/")
    return response


async def logout_page(request: web.Request) -> web.Response:
    found = await current_session(request)
    if found is None:
        return redirect("/login")
    return page(request, "logout.html", title="Sign out")


async def logout(request: web.Request) -> web.Response:
    principal, _ = await require_form(request, "admin", "customer")
    key = request.cookies.get(SESSION_COOKIE, "")
    await request.app[STORE].delete_session(digest(key))
    log.info("signed_out", principal=principal.id, kind=principal.kind)
    response = redirect("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


ROUTES = (
    Route("GET", "/login", login_page, "The sign-in form", documented=False),
    Route("POST", "/login", login, "Sign in: a session cookie", documented=False),
    Route("GET", "/logout", logout_page, "The sign-out form", documented=False),
    Route("POST", "/logout", logout, "Sign out: the session ends", documented=False),
)


def setup(app: web.Application) -> None:
    app[LIMITER] = LoginLimiter()
    app.middlewares.append(principal_middleware)
    add_routes(app, ROUTES)
