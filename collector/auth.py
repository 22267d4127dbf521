"""Bearer tokens of CONTRACT §3: who is calling, and may they do this?

A presented token is hashed once and looked up by its SHA-256, then the digest found is compared
in constant time (`TokenDigest.matches`). The lookup's timing can only tell how much of a known
*digest* the presented token's digest shares, which says nothing about any token (making use of
it would take SHA-256 preimages); and it costs the same with 1,000 agents as with one, where
comparing with every known digest took 4 ms a request. Tokens are never logged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from slawatch.collector.errors import ApiError
from slawatch.config.schema import AgentCredential, CollectorConfig, TokenDigest

Kind = Literal["admin", "agent", "customer", "metrics"]


@dataclass(frozen=True, slots=True)
class Principal:
    kind: Kind
    id: str
    """The agent's or customer's id; "admin" for the admin."""


UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="slawatch"'}
REQUEST_PRINCIPAL = web.RequestKey("principal", Principal)
"""Where a middleware puts the principal of a request without a bearer token, found by other
means (a browser's session cookie, a share link's key: `slawatch.collector.pages`); read by
`Authenticator.of`. Set only for requests that change nothing (GET, HEAD)."""
REQUEST_SHARE_KEY = web.RequestKey("share_key", str)
"""The share link's key a request was let in by, if it was (its page's links carry it on)."""


class Authenticator:
    def __init__(
        self, config: CollectorConfig, extra_agents: Sequence[AgentCredential] = ()
    ) -> None:
        self.extra_agents = tuple(extra_agents)
        """Agents known beside the file's (`slawatch up`'s local agent): kept on reload."""
        self._known: dict[bytes, tuple[TokenDigest, Principal]] = {}
        self.update(config)

    def update(self, config: CollectorConfig) -> None:
        """Know the tokens of `config` from now on, and no other (a reload)."""
        known: list[tuple[TokenDigest, Principal]] = []
        if config.admin_token is not None:
            known.append((config.admin_token, Principal("admin", "admin")))
        if config.metrics_token is not None:
            known.append((config.metrics_token, Principal("metrics", "metrics")))
        for agent in (*config.agents, *self.extra_agents):
            known.append((agent.token, Principal("agent", agent.id)))
        for customer in config.customers:
            if customer.token is not None:
                known.append((customer.token, Principal("customer", customer.id)))
        table: dict[bytes, tuple[TokenDigest, Principal]] = {}
        for digest, principal in known:  # a token of two principals is the first one's
            table.setdefault(digest.sha256, (digest, principal))
        self._known = table

    def identify(self, authorization: str | None) -> Principal | None:
        """The principal of an `Authorization: Bearer …` header, None if absent or unknown."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return None
        presented = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        known = self._known.get(presented)
        if known is None or not known[0].matches(presented):
            return None
        return known[1]

    def of(self, request: web.Request) -> Principal | None:
        """The caller: by its bearer token when it sends one, else as a middleware found it
        (`REQUEST_PRINCIPAL`), else None."""
        authorization = request.headers.get("Authorization")
        if authorization:
            return self.identify(authorization)
        found = request.get(REQUEST_PRINCIPAL)
        return found if isinstance(found, Principal) else None

    def require(self, request: web.Request, *kinds: Kind) -> Principal:
        """The caller if it is one of `kinds`: else 401 (no or unknown token) or 403."""
        principal = self.of(request)
        if principal is None:
            raise ApiError(401, "missing or unknown bearer token", headers=UNAUTHORIZED_HEADERS)
        if principal.kind not in kinds:
            raise ApiError(403, f"this token may not do this (it is a {principal.kind} token)")
        return principal
