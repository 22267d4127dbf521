"""`GET /api/v1/notifications` and `POST /api/v1/alerts/test` through the real collector app (admin
only, validated, secrets never echoed), and both operations checked against the OpenAPI document
by schemathesis on a collector process."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from yarl import URL

from tests import openapi_rig
from tests.chat_services import ChatServices
from tests.integration.test_alerts_flow import ADMIN, EU1, Rig, make_rig
from tests.support import (
    async_wait_until,
)

__all__ = ["make_rig"]  # a fixture

RULE = "    - {checks: [web], channels: [slack, webhook], events: [down, resolved]}\n"


def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN}"}


async def listing(rig: Rig, **query: str) -> tuple[int, Any]:
    response = await rig.client.get("/api/v1/notifications", params=query, headers=admin())
    return response.status, await response.json()


async def test_notifications_list_pending_sent_and_given_up(
    make_rig: Callable[..., Any], services: ChatServices
) -> None:
    rig: Rig = await make_rig(RULE, revoked=("slack",))
    await rig.probe(20, ok=False)
    await rig.requests(1, "webhook")

    async def slack_failed() -> dict[str, Any]:
        _, found = await listing(rig, channel="slack")
        rows = found["notifications"]
        return found if rows and rows[0]["attempts"] >= 1 else {}

    async def webhook_sent() -> bool:
        return bool((await listing(rig, status="sent"))[1]["notifications"])

    await async_wait_until(webhook_sent)
    found = await async_wait_until(slack_failed)
    (slack,) = found["notifications"]
    assert slack["status"] == "pending" and slack["event"] == "down"
    assert slack["last_status"] == 404 and slack["last_error"] == "HTTP 404: 404: Not Found"
    assert slack["next_attempt"] is not None and slack["subject"] == "check:web"
    assert slack["summary"].startswith("DOWN web — 1/1 agents: connection refused")
    assert services.token not in json.dumps(found)
    status, found = await listing(rig, status="sent")
    assert status == 200
    assert [(n["channel"], n["status"]) for n in found["notifications"]] == [("webhook", "sent")]
    assert found["counts"]["slack"]["pending"] == 1 and found["counts"]["webhook"]["sent"] == 1
    await rig.move(25 * 3600)  # past max_age (24 h)
    await rig.service.deliver_due()
    _, found = await listing(rig, status="given_up")
    assert [n["channel"] for n in found["notifications"]] == ["slack"]
    assert await rig.metric("slawatch_alerts_given_up_total", channel="slack") == 1


async def test_notifications_page_and_filter(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(RULE)
    await rig.probe(20, ok=False)
    await rig.requests(2)
    await rig.probe(20, ok=True)
    await rig.requests(4)
    await rig.settled()
    _, everything = await listing(rig)
    seqs = [n["seq"] for n in everything["notifications"]]
    assert seqs == sorted(seqs, reverse=True) and len(seqs) == 4
    _, first = await listing(rig, limit="3")
    _, rest = await listing(rig, limit="3", before=str(first["notifications"][-1]["seq"]))
    assert [n["seq"] for n in first["notifications"] + rest["notifications"]] == seqs
    _, both = await listing(rig, status="sent,merged", channel="webhook")
    assert [n["event"] for n in both["notifications"]] == ["resolved", "down"]


@pytest.mark.parametrize(
    "query",
    [
        {"status": "lost"},
        {"status": "sent,lost"},
        {"status": ""},
        {"status": ","},
        {"limit": "0"},
        {"limit": "1001"},
        {"limit": "x"},
        {"before": "-1"},
        {"sort": "asc"},
    ],
)
async def test_bad_queries_are_400(make_rig: Callable[..., Any], query: dict[str, str]) -> None:
    rig: Rig = await make_rig(RULE)
    status, answer = await listing(rig, **query)
    assert status == 400 and answer["error"]


async def test_admin_only(make_rig: Callable[..., Any]) -> None:
    rig: Rig = await make_rig(RULE)
    for method, path in (("GET", "/api/v1/notifications"), ("POST", "/api/v1/alerts/test")):
        response = await rig.client.request(method, path, json={"channel": "slack"})
        assert response.status == 401
        agent = {"Authorization": f"Bearer {EU1}"}
        response = await rig.client.request(method, path, json={"channel": "slack"}, headers=agent)
        assert response.status == 403


async def test_a_test_message_reaches_the_channel(
    make_rig: Callable[..., Any], services: ChatServices
) -> None:
    rig: Rig = await make_rig(RULE)
    for channel in ("slack", "telegram", "webhook"):
        response = await rig.client.post(
            "/api/v1/alerts/test", json={"channel": channel}, headers=admin()
        )
        answer = await response.json()
        assert response.status == 200, answer
        assert answer["delivered"] is True and answer["channel"] == channel
    slack, telegram, webhook = services.requests
    assert slack.json()["text"].startswith("TEST slack — Test notification")
    assert telegram.status == 200
    assert (webhook.status, webhook.json()["event"]) == (200, "test")
    assert webhook.json()["id"] == answer["id"]
    link = URL(webhook.json()["link"])  # the status page the channel's alerts open, signed
    assert str(link.with_query(None)) == "https://sla.example.com/status/acme"
    page = await rig.client.get(link.path_qs)
    assert page.status == 200 and "ACME" in await page.text()


async def test_a_test_message_refused_says_why_without_secrets(
    make_rig: Callable[..., Any], services: ChatServices
) -> None:
    rig: Rig = await make_rig(RULE)
    services.answer_next(404, f"no hook at /services/{services.token}")
    response = await rig.client.post(
        "/api/v1/alerts/test", json={"channel": "slack"}, headers=admin()
    )
    answer = await response.json()
    assert response.status == 502
    assert answer["error"].startswith("channel 'slack' did not take the test message: HTTP 404")
    assert answer["details"][0]["outcome"] == "rejected"
    assert services.token not in json.dumps(answer)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"channel": "pager"}', 404),
        (b'{"channel": 3}', 400),
        (b"[]", 400),
        (b"not json", 400),
        (b'{"channel": "' + b"x" * 70_000 + b'"}', 413),
    ],
)
async def test_bad_test_requests(make_rig: Callable[..., Any], body: bytes, status: int) -> None:
    rig: Rig = await make_rig(RULE)
    response = await rig.client.post("/api/v1/alerts/test", data=body, headers=admin())
    assert response.status == status
    assert (await response.json())["error"]


# ------------------------------------------------------------------------------- OpenAPI


POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE


@pytest.mark.parametrize("operation", ["GET /api/v1/notifications", "POST /api/v1/alerts/test"])
@pytest.mark.parametrize("mode", [POSITIVE, NEGATIVE], ids=str)
def test_the_alert_routes_conform_to_the_document(
    api_schema: schemathesis.schemas.BaseSchema, operation: str, mode: schemathesis.GenerationMode
) -> None:
    @given(case=openapi_rig.operations(api_schema)[operation].as_strategy(generation_mode=mode))
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        assume(openapi_rig.sends_what_it_says(case))
        if case.headers:  # HTTP's own: aiohttp answers 417 to any expectation but 100-continue
            case.headers = {k: v for k, v in case.headers.items() if k.lower() != "expect"}
        case.call_and_validate(headers={"Authorization": f"Bearer {openapi_rig.ADMIN}"})

    conforms()
