"""Delivering rendered notifications to local stand-ins of each chat service over real HTTP:
native payloads accepted, webhook signatures verified by a receiver, every kind of failure
judged right, and no secret in results, logs or reprs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import aiohttp
import pytest
import structlog

from slawatch.collector.alerts import channels
from slawatch.collector.alerts.delivery import RenderedMessage
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from slawatch.config.schema import Channel, Secret
from tests.chat_services import (
    SERVICES,
    ChatServices,
    big_digest,
    sample_events,
    storm,
    telegram_html_text,
)
from tests.support import free_port

NATIVE_SUCCESS = {
    "slack": 200,
    "discord": 204,
    "teams": 202,
    "googlechat": 200,
    "telegram": 200,
    "mattermost": 200,
    "webhook": 200,
    "ntfy": 200,
    "pagerduty": 202,
}
NOW = datetime(2026, 11, 27, 3, 20, tzinfo=UTC).timestamp()


async def deliver(
    session: aiohttp.ClientSession,
    channel: Channel,
    event: Event,
    **kwargs: object,
) -> tuple[RenderedMessage, channels.DeliveryResult]:
    message = channels.render(event, channel)
    return message, await channels.deliver(session, channel, message, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- native formats


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_accepts_every_kind_of_event(
    services: ChatServices, session: aiohttp.ClientSession, service: str
) -> None:
    channel = services.channel(service)
    for event in sample_events().values():
        message, result = await deliver(session, channel, event)
        assert result.delivered, (event.kind, result)
        assert result.status == NATIVE_SUCCESS[service]
        sent = services.requests[-1].body
        if channels.CHANNELS[service].send is None:
            assert sent == message.body
        else:  # the stored body, and what the attempt adds (ntfy's topic, PagerDuty's key)
            assert json.loads(sent).items() >= json.loads(message.body).items()
    assert len(services.received(service)) == len(sample_events())


@pytest.mark.parametrize("service", SERVICES)
async def test_huge_messages_still_pass_each_services_limits(
    services: ChatServices, session: aiohttp.ClientSession, service: str
) -> None:
    long_error = "upstream said: " + "very long error " * 1000
    events = [sample_events(long_error)["down"], storm(200, long_error), big_digest(40)]
    for event in events:
        _, result = await deliver(session, services.channel(service), event)
        assert result.delivered, (event.kind, result)


async def test_requests_go_where_each_service_expects(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    for service in SERVICES:
        await deliver(session, services.channel(service), sample_events()["down"])
    paths = {r.service: r.path for r in services.requests}
    assert paths["telegram"] == f"/telegram/bot123456:{services.token}/sendMessage"
    assert paths["slack"].startswith("/slack/services/")
    assert paths["googlechat"].endswith(f"?key={services.token}")
    assert all(
        r.headers["Content-Type"] == "application/json; charset=utf-8" for r in services.requests
    )


async def test_telegram_shows_remote_text_exactly_as_written(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    error = 'expected "ok" in <body> & got <h1>502 Bad Gateway</h1>'
    _, result = await deliver(session, services.channel("telegram"), sample_events(error)["down"])
    assert result.delivered
    visible = telegram_html_text(services.requests[-1].json()["text"])
    assert visible is not None and error in visible


# ----------------------------------------------------------------------------------- webhook


async def test_webhook_receiver_verifies_the_signature(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    _, result = await deliver(session, services.channel("webhook"), sample_events()["down"])
    assert result.delivered
    request = services.requests[-1]
    timestamp = request.headers[TIMESTAMP_HEADER]
    signature = request.headers[SIGNATURE_HEADER]
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    now = int(timestamp)
    secret = services.webhook_secret
    assert verify_signature(secret, timestamp, request.body, signature, now)
    tampered = request.body.replace(b'"down"', b'"up"')
    assert not verify_signature(secret, timestamp, tampered, signature, now)
    assert json.loads(request.body)["id"] == "n-down"


async def test_a_retry_sends_the_same_bytes_and_id_with_a_fresh_signature(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    channel = services.channel("webhook")
    message = channels.render(sample_events()["down"], channel)
    services.answer_next(503, "maintenance")
    services.clock = lambda: NOW
    first = await channels.deliver(session, channel, message, clock=lambda: NOW)
    services.clock = lambda: NOW + 60
    second = await channels.deliver(session, channel, message, clock=lambda: NOW + 60)
    assert (first.outcome, second.outcome) == ("retry", "delivered")
    one, two = services.requests
    assert one.body == two.body == message.body
    assert one.headers[TIMESTAMP_HEADER] == str(int(NOW))
    assert two.headers[TIMESTAMP_HEADER] == str(int(NOW + 60))
    assert one.headers[SIGNATURE_HEADER] != two.headers[SIGNATURE_HEADER]
    for request in (one, two):
        ts = request.headers[TIMESTAMP_HEADER]
        sig = request.headers[SIGNATURE_HEADER]
        assert verify_signature(services.webhook_secret, ts, request.body, sig, int(ts))


async def test_a_stale_signature_is_refused_by_the_receiver(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    services.clock = lambda: NOW + 301
    _, result = await deliver(
        session, services.channel("webhook"), sample_events()["down"], clock=lambda: NOW
    )
    assert result.outcome == "rejected" and result.status == 401


async def test_a_wrong_secret_is_refused_by_the_receiver(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    channel = services.channel("webhook", secret=Secret("not-the-secret"))
    _, result = await deliver(session, channel, sample_events()["down"])
    assert result.outcome == "rejected" and result.status == 401


# ------------------------------------------------------------------------------- failures


async def test_500_is_retried(services: ChatServices, session: aiohttp.ClientSession) -> None:
    services.answer_next(500, "Internal Server Error")
    _, result = await deliver(session, services.channel("slack"), sample_events()["down"])
    assert (result.outcome, result.status, result.retry_after) == ("retry", 500, None)
    assert result.error == "HTTP 500: Internal Server Error"


async def test_429_with_retry_after_seconds(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    services.rate_limit_next("17")
    _, result = await deliver(session, services.channel("discord"), sample_events()["down"])
    assert (result.outcome, result.status, result.retry_after) == ("retry", 429, 17.0)


async def test_429_with_retry_after_as_an_http_date(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    server_now = datetime(2026, 11, 27, 3, 20, tzinfo=UTC)
    later = datetime(2026, 11, 27, 3, 21, 30, tzinfo=UTC)
    services.answer_next(
        429,
        "slow down",
        {
            "Date": format_datetime(server_now, usegmt=True),
            "Retry-After": format_datetime(later, usegmt=True),
        },
    )
    _, result = await deliver(session, services.channel("slack"), sample_events()["down"])
    assert (result.outcome, result.retry_after) == ("retry", 90.0)


async def test_telegram_flood_control_retry_after_in_the_body(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    services.telegram_flood_next(34)
    _, result = await deliver(session, services.channel("telegram"), sample_events()["down"])
    assert (result.outcome, result.status, result.retry_after) == ("retry", 429, 34.0)
    assert result.error == "HTTP 429: Too Many Requests: retry after 34"


async def test_404_of_a_revoked_webhook_is_rejected(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    services.answer_next(404, "no_service")
    _, result = await deliver(session, services.channel("slack"), sample_events()["down"])
    assert (result.outcome, result.status) == ("rejected", 404)
    assert result.error == "HTTP 404: no_service"


async def test_a_redirect_is_not_followed(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    services.answer_next(302, "", {"Location": services.url_for("mattermost")})
    _, result = await deliver(session, services.channel("webhook"), sample_events()["down"])
    assert (result.outcome, result.status) == ("rejected", 302)
    assert [r.service for r in services.requests] == ["webhook"]


async def test_connection_refused_is_retried(session: aiohttp.ClientSession) -> None:
    channel = Channel(
        "ops", "slack", {"url": Secret(f"http://127.0.0.1:{free_port()}/hooks/SECRET1")}
    )
    _, result = await deliver(session, channel, sample_events()["down"])
    assert (result.outcome, result.status) == ("retry", None)
    assert result.error == "cannot connect: connection refused"


async def test_no_answer_in_time_is_retried(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    services.hang_next()
    _, result = await deliver(
        session, services.channel("teams"), sample_events()["down"], timeout=0.3
    )
    assert (result.outcome, result.status) == ("retry", None)
    assert result.error == "no answer within 0.3s"


async def test_a_channel_without_url_is_rejected_without_a_request(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    channel = Channel("ops", "slack")
    message = channels.render(sample_events()["down"], channel)
    result = await channels.deliver(session, channel, message)
    assert result.outcome == "rejected"
    assert result.error == "channel 'ops' (slack) has no url"
    assert services.requests == []


# ------------------------------------------------------------------------------------ secrets


async def test_secrets_never_reach_results_logs_or_reprs(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    """Services that echo the request path in their errors, and every failure mode."""
    results = []
    with structlog.testing.capture_logs() as logs:
        for service in SERVICES:
            channel = services.channel(service)
            path = services.url_for(service).removeprefix(services.base_url)
            services.answer_next(404, f"Cannot POST {path} (key {services.token})")
            results.append((await deliver(session, channel, sample_events()["down"]))[1])
            services.answer_next(500, {"description": f"bad token {services.token}"})
            results.append((await deliver(session, channel, sample_events()["down"]))[1])
            results.append((await deliver(session, channel, sample_events()["down"]))[1])
        services.hang_next()
        results.append(
            (await deliver(session, services.channel("telegram"), storm(3), timeout=0.2))[1]
        )
    assert [r.outcome for r in results[:3]] == ["rejected", "retry", "delivered"]
    assert "***" in (results[0].error or "")
    assert len(logs) == len(results)
    assert {entry["event"] for entry in logs} == {"alert_delivered", "alert_delivery_failed"}
    assert all(entry["channel"] and entry["notification"] for entry in logs)
    text = repr(results) + repr(logs) + "".join(repr(services.channel(s)) for s in SERVICES)
    assert services.token not in text
    assert services.webhook_secret not in text
