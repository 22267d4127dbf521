"""Share links (CONTRACT §8): read access to one customer's status page, badges and reports for
whoever holds the link, until it expires or is revoked.

`POST /api/v1/share-links` (admin) `{"customer": ID, "expires": RFC 3339}` → 201
`{"id", "url", "expires", "customer"}`; `url` is absolute from `collector.public_url`, else a
path, and carries `?key=…`: a random key of which the store keeps only the SHA-256, so the link
cannot be shown again (mint a new one). `GET /api/v1/share-links` lists them (without keys);
`DELETE /api/v1/share-links/{id}` revokes one.

`resolve(request)` (called by the pages' middleware for a GET without a bearer token or session)
turns a valid `?key=` on a page it opens (`SHARED_PATHS`) into that customer's principal for this
request only; an expired, revoked or unknown key is a 401. Keys are never logged.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from typing import Annotated, Any, TypedDict
from urllib.parse import urlencode

import structlog
from aiohttp import web

from slawatch.collector import store
from slawatch.collector.app import CLOCK, CONFIG, STORE
from slawatch.collector.auth import (
    REQUEST_PRINCIPAL,
    REQUEST_SHARE_KEY,
    UNAUTHORIZED_HEADERS,
    Principal,
)
from slawatch.collector.bodies import read_small_json
from slawatch.collector.engine.periods import format_instant, parse_instant_ms
from slawatch.collector.errors import ApiError
from slawatch.collector.jsonschema import INLINE, Schema
from slawatch.collector.reports.build import rfc3339
from slawatch.collector.routing import (
    Id,
    Instant,
    Reply,
    Route,
    add_routes,
    caller,
    error,
    path_param,
)
from slawatch.config.contract import ID_PATTERN
from slawatch.config.schema import Config

log = structlog.get_logger()

KEY_PARAMETER = "key"
MAX_VALID_DAYS = 366
SHARED_PATHS = re.compile(
    r"/(status/[^/]+|api/v1/status/[^/]+|badge/[^/]+/(availability|status)\.svg"
    r"|api/v1/slas/[^/]+/report)"
)
REFUSED = "this share link has expired or was revoked: ask for a new one"
_LINK_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def _now_ms(request: web.Request) -> int:
    now = request.app[CLOCK]()
    if not math.isfinite(now):
        raise ApiError(500, "the collector's clock is not a number")
    return round(now * 1000)


async def resolve(request: web.Request) -> None:
    key = request.query.get(KEY_PARAMETER)
    if key is None or not SHARED_PATHS.fullmatch(request.path):
        return
    link = None
    if 0 < len(key) <= 128:
        link = await request.app[STORE].share_link(key_digest(key), _now_ms(request))
    if link is None:
        raise ApiError(401, REFUSED, headers=UNAUTHORIZED_HEADERS)
    request[REQUEST_PRINCIPAL] = Principal("customer", link.customer)
    request[REQUEST_SHARE_KEY] = key


# ---------------------------------------------------------------------------- the API


def link_json(link: store.ShareLink) -> dict[str, Any]:
    return {
        "id": link.id,
        "customer": link.customer,
        "created": format_instant(link.created_ms),
        "expires": format_instant(link.expires_ms),
    }


async def mint(
    app: web.Application, document: Any, now_ms: int, principal: Principal
) -> dict[str, Any]:
    """A new share link from a request body (the API's and the pages' path), or ApiError 400
    naming every bad field."""
    config: Config = app[CONFIG]
    if not isinstance(document, dict):
        raise ApiError(
            400, "body must be a JSON object", [{"field": "", "error": "must be an object"}]
        )
    problems = []
    customer = document.get("customer")
    settings = config.collector
    if (
        not isinstance(customer, str)
        or not ID_PATTERN.fullmatch(customer)
        or settings is None
        or settings.customer(customer) is None
    ):
        problems.append(
            {"field": "customer", "error": "must be the id of a customer in collector.customers"}
        )
    expires_ms = None
    expires = document.get("expires")
    if not isinstance(expires, str):
        problems.append({"field": "expires", "error": "must be an RFC 3339 time with an offset"})
    else:
        try:
            expires_ms = parse_instant_ms(rfc3339(expires, "expires"), "expires")
        except ValueError as error:
            problems.append({"field": "expires", "error": str(error).removeprefix("expires: ")})
        else:
            if expires_ms <= now_ms:
                problems.append({"field": "expires", "error": "must be in the future"})
            elif expires_ms - now_ms > MAX_VALID_DAYS * 86_400_000:
                problems.append(
                    {"field": "expires", "error": f"a link lasts at most {MAX_VALID_DAYS} days"}
                )
    if problems or expires_ms is None or not isinstance(customer, str):
        raise ApiError(400, "invalid share link: nothing was stored", problems)
    key = secrets.token_urlsafe(32)
    link = store.ShareLink(secrets.token_urlsafe(9), customer, now_ms, expires_ms)
    await app[STORE].add_share_link(link, key_digest(key))
    log.info(
        "share_link_minted",
        id=link.id,
        customer=customer,
        principal=principal.id,
        expires=format_instant(expires_ms),
    )
    base = (settings.public_url or "").rstrip("/") if settings else ""
    return {**link_json(link), "url": f"{base}/status/{customer}?{urlencode({KEY_PARAMETER: key})}"}


async def revoke(app: web.Application, link_id: str, now_ms: int, principal: Principal) -> None:
    """Revoke a link, or ApiError 404."""
    if not _LINK_ID.fullmatch(link_id) or not await app[STORE].revoke_share_link(link_id, now_ms):
        raise ApiError(404, f"no share link {link_id[:64]!r}")
    log.info("share_link_revoked", id=link_id, principal=principal.id)


async def create_link(request: web.Request) -> web.Response:
    principal = caller(request)
    document = await read_small_json(request)
    answer = await mint(request.app, document, _now_ms(request), principal)
    return web.json_response(
        answer, status=201, headers={"Location": f"/api/v1/share-links/{answer['id']}"}
    )


async def list_links(request: web.Request) -> web.Response:
    found = await request.app[STORE].share_links()
    return web.json_response({"share_links": [link_json(link) for link in found]})


async def delete_link(request: web.Request) -> web.Response:
    principal = caller(request)
    await revoke(request.app, request.match_info["id"], _now_ms(request), principal)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    add_routes(app, ROUTES)


# ----------------------------------------------------------------------------- routes


class ShareLink(TypedDict):
    id: str
    customer: str
    created: Instant
    expires: Instant


class NewShareLink(ShareLink):
    url: Annotated[
        str, Schema(description="absolute from collector.public_url, else a path; shown once")
    ]


class ShareLinkRequest(TypedDict):
    customer: Id
    expires: Instant


class ShareLinkList(TypedDict):
    share_links: list[ShareLink]


ROUTES = (
    Route(
        "POST",
        "/api/v1/share-links",
        create_link,
        "Mint a share link: a customer's status page, badges and reports, read-only, until it "
        "expires",
        scopes=("admin",),
        body=Annotated[ShareLinkRequest, INLINE],
        replies={
            201: Reply("The link", NewShareLink),
            400: error("Invalid customer or expiry"),
        },
    ),
    Route(
        "GET",
        "/api/v1/share-links",
        list_links,
        "Share links not revoked (their keys are never shown again)",
        scopes=("admin",),
        replies={200: Reply("The links", Annotated[ShareLinkList, INLINE])},
    ),
    Route(
        "DELETE",
        "/api/v1/share-links/{id}",
        delete_link,
        "Revoke a share link",
        scopes=("admin",),
        parameters=(path_param("id"),),
        replies={204: Reply("Revoked"), 404: error("No such link (or revoked already)")},
    ),
)
