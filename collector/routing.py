"""Routes declared once: the aiohttp router and the OpenAPI document (`slawatch.collector.openapi`)
are both made from these declarations.

A feature lists its routes as `Route` values, each naming its method, path, handler, summary,
who may call it (`security`, `scopes`), its parameters, the type of its JSON request body and its
replies by status, and adds them with `add_routes(app, ROUTES)` in its `setup`. Bodies are typed
models (`slawatch.collector.jsonschema`); their JSON Schemas are generated from the types.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from aiohttp import web

from slawatch.collector.app import AUTH
from slawatch.collector.auth import Kind, Principal
from slawatch.collector.errors import Error
from slawatch.collector.jsonschema import Schema
from slawatch.config.contract import ID_PATTERN

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Security = Literal["bearer", "none", "optional"]
"""bearer: a token is needed; none: open to anyone; optional: open or token-dependent (a
public status page, a metrics page with `collector.metrics_token`)."""

ID_REGEX = f"^{ID_PATTERN.pattern}$"
Id = Annotated[str, Schema(pattern=ID_REGEX)]
"""An id of a check, agent, SLA, customer, channel (CONTRACT §2)."""
Instant = Annotated[str, Schema(format="date-time")]
"""An RFC 3339 instant."""


@dataclass(frozen=True, slots=True)
class Param:
    """A path, query or header parameter; `type` is a Python type (its JSON Schema)."""

    name: str
    where: Literal["path", "query", "header"]
    type: Any
    required: bool = False
    description: str | None = None
    explode: bool | None = None
    """False: an array given as one comma-separated value (`?status=a,b`)."""


def path_param(name: str, type: Any = str, description: str | None = None) -> Param:
    return Param(name, "path", type, required=True, description=description)


def query_param(
    name: str,
    type: Any,
    description: str | None = None,
    *,
    required: bool = False,
    explode: bool | None = None,
) -> Param:
    return Param(name, "query", type, required, description, explode)


def header_param(name: str, description: str | None = None) -> Param:
    return Param(name, "header", str, description=description)


SHARE_KEY = query_param(
    "key", str, "a share link's key (`POST /api/v1/share-links`): read-only, until it expires"
)
"""Taken by the pages a share link opens (`slawatch.collector.pages.share`)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a route answers with one status: a description, the type of its JSON body (if it
    has one), and its other media types with their body types (`("text/csv", str)`)."""

    description: str
    json: Any = None
    media: tuple[tuple[str, Any], ...] = ()


def error(description: str, *, html: bool = False) -> Reply:
    """A reply of the collector's one error shape (`slawatch.collector.errors`); `html`: a small
    HTML page instead for a client that accepts text/html."""
    return Reply(description, Error, (("text/html", str),) if html else ())


UNAUTHORIZED = error("Missing or unknown bearer token")
FORBIDDEN = error("The token may not do this")
TOKEN_REPLIES: Mapping[int, Reply] = {401: UNAUTHORIZED, 403: FORBIDDEN}
"""Added to the replies of a route with a token (`security` bearer or optional) unless it
declares its own."""


@dataclass(frozen=True, slots=True)
class Route:
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"]
    path: str
    handler: Handler
    summary: str
    replies: Mapping[int, Reply] = field(default_factory=dict)
    description: str | None = None
    security: Security = "bearer"
    scopes: tuple[Kind, ...] = ()
    """The kinds of token that may call it, checked before the handler runs (401 without a
    known token, 403 for another kind); the handler reads the caller with `caller(request)`.
    Empty: the handler decides (open routes, signed links, public pages)."""
    parameters: tuple[Param, ...] = ()
    body: Any = None
    """The type of the JSON request body; None: the route takes none."""
    documented: bool = True
    """False: a page or form for people (HTML), not part of the API's document."""
    served_by: str | None = None
    """The path of the route whose pattern also serves this one (`/status/{customer}` serves
    `/status/{customer}.json`): documented, not added to the router again."""

    def __post_init__(self) -> None:
        if self.scopes and self.security != "bearer":
            raise ValueError(f"{self.method} {self.path}: scopes need a bearer token")

    def all_replies(self) -> dict[int, Reply]:
        """The declared replies, with those of a token for a route that takes one, by status."""
        replies = dict(self.replies)
        if self.security != "none":
            replies = {**TOKEN_REPLIES, **replies}
        return dict(sorted(replies.items()))


DECLARED_ROUTES = web.AppKey("declared_routes", list[Route])
"""Every route added to the application, in order: the OpenAPI document is made from them."""
CALLER = web.RequestKey("caller", Principal)


def caller(request: web.Request) -> Principal:
    """The caller a route's `scopes` let in."""
    return request[CALLER]


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Add the routes to the router (GET also answers HEAD) and to the declarations."""
    if DECLARED_ROUTES not in app:
        app[DECLARED_ROUTES] = []
    for route in routes:
        if route.served_by is None:
            handler = _scoped(route.handler, route.scopes) if route.scopes else route.handler
            if route.method == "GET":
                app.router.add_get(route.path, handler)
            else:
                app.router.add_route(route.method, route.path, handler)
        app[DECLARED_ROUTES].append(route)


def _scoped(handler: Handler, scopes: tuple[Kind, ...]) -> Handler:
    @functools.wraps(handler)
    async def scoped(request: web.Request) -> web.StreamResponse:
        request[CALLER] = request.app[AUTH].require(request, *scopes)
        return await handler(request)

    return scoped
