"""Signed links: read access to one page of the collector for whoever holds the link.

Alerts link to a customer's status page and to an SLA's printable report, and both need a token
that a click in a chat client cannot send. So the link carries its own permission:
`?…&expires=UNIX&signature=HEX`, HEX being the lowercase HMAC-SHA256, under the collector's link
key, of the page's path, its other query parameters (sorted) and `expires`. It lets its holder
read exactly that page, and only until `expires` (`VALID_S` after it was made): not another
customer's page, not another period of the report, not the JSON API (the report route accepts a
signature for `format=html` only). A wrong or expired signature is a 401, whatever else it came
with.

The key is random, generated on first use and kept in the database (`KeyStore.link_key`), so
links stay valid across restarts and every process of one database signs alike. Signatures are
compared in constant time; links are never logged.

`setup(app)` (idempotent: each module of routes that accepts a signature calls it) puts a
`LinkSigner` in the application, its key loaded when the store opens; `signed(request)` says
whether a request carries a valid signature for what it asks.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from urllib.parse import quote, unquote, urlencode

from aiohttp import web
from multidict import MultiMapping

from slawatch.collector.app import CLOCK, STORE
from slawatch.collector.routing import query_param
from slawatch.collector.store import KeyStore

EXPIRES = "expires"
SIGNATURE = "signature"
PARAMETERS = (EXPIRES, SIGNATURE)
DECLARED = (
    query_param(EXPIRES, int, "a signed link's (from an alert): when it stops opening the page"),
    query_param(SIGNATURE, str, "a signed link's: the HMAC of the page and `expires`"),
)
"""The parameters of a signed link, as the routes that accept one declare them."""
REFUSED = "this link has expired or its signature is not valid: open a newer one, or use a token"
VALID_S = 30 * 86_400
"""How long a link in a message opens its page: a month of scrolling back through a channel."""
_EXPIRES = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"[0-9a-f]{64}")


class LinkSigner:
    """Signs links and checks signatures with the collector's link key."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key

    async def load(self, store: KeyStore) -> None:
        """Read the key from the store (generating it the first time), once."""
        if self._key is None:
            self._key = await store.link_key()

    def sign(
        self,
        path: str,
        query: Iterable[tuple[str, str]] = (),
        *,
        now: float,
        valid_s: float = VALID_S,
    ) -> str:
        """`path?query&expires=…&signature=…`: the page, readable until now + `valid_s`."""
        pairs = list(query)
        if any(name in PARAMETERS for name, _ in pairs):
            raise ValueError(f"a signed link's own query may not use {' or '.join(PARAMETERS)}")
        expires = str(math.ceil(now + valid_s))
        signature = self._signature(unquote(path), pairs, expires)
        return f"{path}?{urlencode([*pairs, (EXPIRES, expires), (SIGNATURE, signature)])}"

    def verify(self, path: str, query: MultiMapping[str], *, now: float) -> bool:
        """Whether `query` carries one valid, unexpired signature of `path` and the rest of
        `query` (path and values decoded, as aiohttp gives them)."""
        expires, signature = query.getall(EXPIRES, []), query.getall(SIGNATURE, [])
        if len(expires) != 1 or len(signature) != 1:
            return False
        if not (_EXPIRES.fullmatch(expires[0]) and _SIGNATURE.fullmatch(signature[0])):
            return False
        if now >= int(expires[0]):
            return False
        pairs = [(name, value) for name, value in query.items() if name not in PARAMETERS]
        expected = self._signature(path, pairs, expires[0])
        return hmac.compare_digest(expected, signature[0])

    def _signature(self, path: str, pairs: Iterable[tuple[str, str]], expires: str) -> str:
        if self._key is None:
            raise RuntimeError("the link key is not loaded")
        canonical = urlencode(sorted(pairs), quote_via=quote)
        message = f"{path}\n{canonical}\n{expires}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


def carries_signature(query: Mapping[str, str]) -> bool:
    """Whether the query asks for access by signature (valid or not)."""
    return any(name in query for name in PARAMETERS)


SIGNER = web.AppKey("link_signer", LinkSigner)


def setup(app: web.Application) -> None:
    if SIGNER in app:
        return
    app[SIGNER] = LinkSigner()
    app.cleanup_ctx.append(_load_key)


async def _load_key(app: web.Application) -> AsyncIterator[None]:
    await app[SIGNER].load(app[STORE])
    yield


def signed(request: web.Request) -> bool | None:
    """None when the request carries no signature; else whether it is valid for this very
    request (its path and other query parameters) now."""
    if not carries_signature(request.query):
        return None
    now = request.app[CLOCK]()
    if not math.isfinite(now):
        return False
    return request.app[SIGNER].verify(request.path, request.query, now=now)
