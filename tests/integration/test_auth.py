"""Bearer tokens and scopes (CONTRACT §3): 401 for no or unknown token, 403 for the wrong scope."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.collector.auth import Authenticator
from slawatch.collector.main import Collector
from slawatch.collector.routing import DECLARED_ROUTES
from slawatch.config.loader import parse_config
from slawatch.config.schema import AgentCredential, TokenDigest

ADMIN = "admin-token-0123456789"
EU1 = "eu1-token-0123456789ab"
US1_HASHED = "us1-token-given-as-sha256"
ACME = "acme-token-0123456789a"
EMBEDDED = "embedded-agent-token-0123"

CONFIG = f"""
collector:
  listen: 127.0.0.1:0
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {EU1}}}
    - {{id: us-1, token_sha256: {hashlib.sha256(US1_HASHED.encode()).hexdigest()}}}
  customers:
    - {{id: acme, name: ACME, token: {ACME}}}
"""


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], tmp_path: Path) -> TestClient:
    config = parse_config(CONFIG, base_dir=tmp_path, process="collector")
    collector = Collector(config, extra_agents=[AgentCredential("local", TokenDigest.of(EMBEDDED))])
    return await aiohttp_client(collector.app)


def push_body(agent: str) -> dict[str, Any]:
    sample = {"check": "web", "ts": time.time(), "ok": True, "latency_ms": 1, "interval_s": 5}
    return {"agent": agent, "samples": [sample]}


@pytest.mark.parametrize(
    ("token", "agent"),
    [(EU1, "eu-1"), (US1_HASHED, "us-1"), (EMBEDDED, "local"), (ADMIN, "eu-1")],
)
async def test_agent_tokens_plain_hashed_or_embedded_and_the_admin_may_push(
    client: TestClient, token: str, agent: str
) -> None:
    response = await client.post(
        "/api/v1/samples", json=push_body(agent), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        f"Basic {EU1}",
        f"Bearer {EU1}x",
        f"Bearer {EU1[:-1]}",
        "Bearer " + hashlib.sha256(US1_HASHED.encode()).hexdigest(),
        "Bearer \udcff",
    ],
)
async def test_no_or_unknown_token_is_a_401_with_a_bearer_challenge(
    client: TestClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    for method, path in (("POST", "/api/v1/samples"), ("GET", "/api/v1/checks")):
        try:
            response = await client.request(method, path, json=push_body("eu-1"), headers=headers)
        except UnicodeEncodeError:
            continue  # the client itself refuses to send it
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert set(await response.json()) == {"error", "details"}


@pytest.mark.parametrize(
    ("token", "method", "path"),
    [
        (ACME, "POST", "/api/v1/samples"),
        (EU1, "GET", "/api/v1/checks"),
        (ACME, "GET", "/api/v1/checks"),
        (EMBEDDED, "GET", "/api/v1/checks"),
    ],
)
async def test_a_right_token_with_the_wrong_scope_is_a_403(
    client: TestClient, token: str, method: str, path: str
) -> None:
    response = await client.request(
        method, path, json=push_body("acme"), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 403
    assert "WWW-Authenticate" not in response.headers


async def test_the_admin_reads_checks(client: TestClient) -> None:
    response = await client.get("/api/v1/checks", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status == 200


async def test_public_routes_need_no_token(client: TestClient) -> None:
    for path in ("/healthz", "/metrics", "/api/v1/openapi.json"):
        assert (await client.get(path)).status == 200


def test_identify_compares_with_every_digest_and_never_matches_a_prefix(tmp_path: Path) -> None:
    config = parse_config(CONFIG, base_dir=tmp_path, process="collector")
    assert config.collector is not None
    authenticator = Authenticator(config.collector)
    assert authenticator.identify(f"Bearer {ACME}").kind == "customer"  # type: ignore[union-attr]
    assert authenticator.identify(f"bearer   {EU1}").id == "eu-1"  # type: ignore[union-attr]
    assert authenticator.identify(f"Bearer {ACME[:10]}") is None
    assert authenticator.identify(f"Bearer {EMBEDDED}") is None


METRICS = "metrics-token-0123456789"
TOKENS = {"admin": ADMIN, "agent": EU1, "customer": ACME, "metrics": METRICS}


async def test_every_route_refuses_the_kinds_of_token_its_declaration_leaves_out(
    aiohttp_client: Callable[..., Any], tmp_path: Path
) -> None:
    """A route's `scopes` are what the document says and what the router enforces: a token of
    another kind gets 403 and no token 401, before the handler runs (so no body is needed)."""
    config = parse_config(
        CONFIG + f"  metrics_token: {METRICS}\n", base_dir=tmp_path, process="collector"
    )
    collector = Collector(config)
    client = await aiohttp_client(collector.app)
    scoped = [route for route in collector.app[DECLARED_ROUTES] if route.scopes]
    assert len(scoped) >= 15
    for route in scoped:
        path = route.path.replace("{sla}", "acme-web").replace("{id}", "1")
        assert (await client.request(route.method, path)).status == 401, route.path
        for kind, token in TOKENS.items():
            headers = {"Authorization": f"Bearer {token}"}
            status = (await client.request(route.method, path, headers=headers)).status
            if kind in route.scopes:
                assert status not in (401, 403), (route.method, route.path, kind)
            else:
                assert status == 403, (route.method, route.path, kind)
