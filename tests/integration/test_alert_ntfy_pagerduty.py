"""ntfy and PagerDuty over real HTTP to their local stand-ins (tests/chat_services.py): what each
service gets for each event, the secrets added at each attempt and never stored, and how their
refusals are judged."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from slawatch.collector.alerts import channels
from slawatch.collector.alerts.delivery import DeliveryResult, RenderedMessage
from slawatch.collector.alerts.events import Event
from slawatch.config.loader import ConfigError, parse_config
from slawatch.config.schema import Secret
from tests.chat_services import ChatServices, Recorded, sample_events

EVENTS = sample_events()


async def send(
    services: ChatServices, session: aiohttp.ClientSession, service: str, event: Event, **over: Any
) -> tuple[RenderedMessage, DeliveryResult, Recorded]:
    channel = services.channel(service, **over)
    message = channels.render(event, channel)
    result = await channels.deliver(session, channel, message)
    return message, result, services.requests[-1]


# --------------------------------------------------------------------------------------- ntfy


async def test_ntfy_publishes_json_to_the_root_with_topic_and_token(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    message, result, request = await send(services, session, "ntfy", EVENTS["down"])
    assert (result.outcome, result.status) == ("delivered", 200)
    assert request.path == "/ntfy/"
    assert request.headers["Authorization"] == f"Bearer {services.ntfy_token}"
    sent = request.json()
    assert sent["topic"] == services.ntfy_topic
    assert services.ntfy_topic not in message.body.decode()  # stored without the topic…
    assert services.ntfy_token not in message.body.decode() + repr(message)  # …or the token
    assert sent["title"] == "DOWN acme-web"
    assert sent["message"].startswith("DOWN acme-web — 3/3 agents: connection refused — since")
    assert (sent["priority"], sent["tags"]) == (5, ["rotating_light"])
    assert sent["click"] == "https://sla.example.com/status/acme"
    assert sent["actions"] == [
        {
            "action": "view",
            "label": "Open in slawatch",
            "url": "https://sla.example.com/status/acme",
        }
    ]


@pytest.mark.parametrize(
    ("kind", "priority", "tag"),
    [
        ("down", 5, "rotating_light"),
        ("grouped", 5, "rotating_light"),
        ("reminder", 4, "rotating_light"),
        ("no_data", 4, "rotating_light"),
        ("flapping", 4, "warning"),
        ("resolved", 3, "white_check_mark"),
        ("test", 3, "information_source"),
        ("digest", 2, "information_source"),
    ],
)
async def test_ntfy_priority_and_tag_say_how_urgent(
    services: ChatServices, session: aiohttp.ClientSession, kind: str, priority: int, tag: str
) -> None:
    _, result, request = await send(services, session, "ntfy", EVENTS[kind])
    assert result.delivered, result
    assert (request.json()["priority"], request.json()["tags"]) == (priority, [tag])


async def test_ntfy_without_the_right_token_is_rejected(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    _, wrong, _ = await send(
        services, session, "ntfy", EVENTS["down"], token=Secret("tk_not-the-token")
    )
    channel = services.channel("ntfy")
    bare = type(channel)(channel.id, "ntfy", {"url": channel.settings["url"]})
    message = channels.render(EVENTS["down"], bare)
    none = await channels.deliver(session, bare, message)
    assert "Authorization" not in services.requests[-1].headers
    for result in (wrong, none):
        assert (result.outcome, result.status, result.error) == (
            "rejected",
            401,
            "HTTP 401: unauthorized",
        )


async def test_ntfy_on_a_server_under_a_path(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    """A self-hosted ntfy behind a prefix: the root is the topic URL's folder."""
    url = Secret(f"{services.base_url}/ntfy/{services.ntfy_topic}/")
    _, result, request = await send(services, session, "ntfy", EVENTS["resolved"], url=url)
    assert result.delivered, result
    assert request.path == "/ntfy/"


def test_ntfy_topic_urls_are_checked_without_being_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            "alerts:\n  channels:\n"
            "    - {id: a, type: ntfy, url: 'https://ntfy.sh/'}\n"
            "    - {id: b, type: ntfy, url: 'https://ntfy.sh/has space-SECRET'}\n"
            "    - {id: c, type: ntfy, url: 'ftp://ntfy.sh/topic-SECRET'}\n"
            "    - {id: d, type: ntfy, url: 'https://ntfy.sh/topic-SECRET?x=1'}\n",
            base_dir=Path("/cfg"),
            process="check",
        )
    said = [f"{p.path}: {p.message}" for p in caught.value.problems]
    form = "must be the URL of an ntfy topic (https://SERVER/TOPIC; a topic of letters, digits, - and _)"
    assert said == [f"alerts.channels[{i}].url: {form}" for i in range(4)]
    assert "SECRET" not in str(caught.value)


# ---------------------------------------------------------------------------------- PagerDuty


async def test_pagerduty_triggers_on_down_and_resolves_the_same_key(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    down_message, down, trigger = await send(services, session, "pagerduty", EVENTS["down"])
    _, reminder, again = await send(services, session, "pagerduty", EVENTS["reminder"])
    _, resolved, resolve = await send(services, session, "pagerduty", EVENTS["resolved"])
    assert [r.status for r in (down, reminder, resolved)] == [202, 202, 202]
    assert trigger.path == again.path == resolve.path == "/pagerduty/v2/enqueue"
    sent = trigger.json()
    assert sent["routing_key"] == services.routing_key
    assert services.routing_key not in down_message.body.decode() + repr(down_message)
    assert sent["event_action"] == "trigger"
    assert sent["dedup_key"] == "slawatch/check/acme-web/1795749120000"
    assert sent["payload"] == {
        "summary": "DOWN acme-web — 3/3 agents: connection refused — since 03:12 UTC",
        "source": "acme-web",
        "severity": "critical",
        "timestamp": "2026-11-27T03:20:00Z",
        "component": "acme-web",
        "class": "down",
        "custom_details": {
            "Check": "acme-web",
            "State": "DOWN for 8m",
            "Since": "2026-11-27 03:12:00 UTC",
            "Agents": "eu-1: DOWN (connection refused)\nus-1: DOWN (connection refused)\n"
            "ap-1: DOWN (connection refused)",
            "Error": "connection refused",
        },
    }
    assert sent["links"] == [
        {"href": "https://sla.example.com/status/acme", "text": "Open in slawatch"}
    ]
    assert (sent["client"], sent["client_url"]) == (
        "slawatch",
        "https://sla.example.com/status/acme",
    )
    # the reminder's outage began an hour earlier in the sample events: its own key
    assert again.json()["dedup_key"] == "slawatch/check/acme-web/1795745520000"
    assert again.json()["event_action"] == "trigger"
    assert resolve.json()["event_action"] == "resolve"
    assert resolve.json()["dedup_key"] == sent["dedup_key"]
    assert resolve.json()["payload"]["summary"].startswith("RESOLVED acme-web — was down")


@pytest.mark.parametrize(
    ("kind", "severity", "source"),
    [
        ("no_data", "error", "acme-web"),
        ("agent_silent", "error", "eu-1"),
        ("burn_rate", "critical", "acme-website"),
        ("objective_breached", "error", "acme-website"),
        ("test", "info", "slawatch"),
    ],
)
async def test_pagerduty_other_events_trigger_alerts_of_their_own(
    services: ChatServices, session: aiohttp.ClientSession, kind: str, severity: str, source: str
) -> None:
    event = EVENTS[kind]
    _, result, request = await send(services, session, "pagerduty", event)
    assert result.delivered, result
    sent = request.json()
    assert sent["event_action"] == "trigger"
    assert sent["dedup_key"] == f"slawatch/{kind}/{event.id}"
    assert (sent["payload"]["severity"], sent["payload"]["source"]) == (severity, source)


async def test_pagerduty_resolves_a_flapping_episode_when_it_ends(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    flapping = EVENTS["flapping"]
    ended = replace(EVENTS["flapping_ended"], flapping_since=flapping.since)
    _, _, trigger = await send(services, session, "pagerduty", flapping)
    _, result, resolve = await send(services, session, "pagerduty", ended)
    assert result.delivered, result
    assert trigger.json()["event_action"] == "trigger"
    assert trigger.json()["payload"]["severity"] == "warning"
    assert resolve.json()["event_action"] == "resolve"
    assert resolve.json()["dedup_key"] == trigger.json()["dedup_key"]
    assert trigger.json()["dedup_key"] == "slawatch/flapping/check/acme-web/1795749120000"


async def test_pagerduty_sla_events_name_the_customer(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    _, _, request = await send(services, session, "pagerduty", EVENTS["objective_breached"])
    payload = request.json()["payload"]
    assert (payload["component"], payload["group"], payload["class"]) == (
        "acme-website",
        "acme",
        "objective_breached",
    )


async def test_pagerduty_gets_the_weekly_review_as_a_change_event(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    _, result, request = await send(services, session, "pagerduty", EVENTS["digest"])
    assert (result.outcome, result.status) == ("delivered", 202)
    assert request.path == "/pagerduty/v2/change/enqueue"
    sent = request.json()
    assert "event_action" not in sent and "dedup_key" not in sent
    assert sent["payload"]["summary"].startswith("SLA weekly review 2026-W47")


async def test_pagerduty_refusals_say_why(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    _, refused, _ = await send(
        services, session, "pagerduty", EVENTS["down"], routing_key=Secret("too-short")
    )
    assert (refused.outcome, refused.status) == ("rejected", 400)
    assert refused.error == (
        "HTTP 400: Event object is invalid: Length of 'routing_key' is incorrect "
        "(should be 32 characters)"
    )
    services.rate_limit_next("30")
    _, limited, _ = await send(services, session, "pagerduty", EVENTS["down"])
    assert (limited.outcome, limited.status, limited.retry_after) == ("retry", 429, 30.0)
    services.answer_next(502, "bad gateway")
    _, broken, _ = await send(services, session, "pagerduty", EVENTS["down"])
    assert (broken.outcome, broken.status) == ("retry", 502)


async def test_pagerduty_a_retry_sends_the_same_event_with_the_key_of_now(
    services: ChatServices, session: aiohttp.ClientSession
) -> None:
    channel = services.channel("pagerduty", routing_key=Secret("x" * 32))
    message = channels.render(EVENTS["down"], channel)
    await channels.deliver(session, channel, message)
    fixed = services.channel("pagerduty")
    assert (await channels.deliver(session, fixed, message)).delivered
    first, second = (json.loads(r.body) for r in services.requests)
    assert (first["routing_key"], second["routing_key"]) == ("x" * 32, services.routing_key)
    assert {k: v for k, v in first.items() if k != "routing_key"} == {
        k: v for k, v in second.items() if k != "routing_key"
    }
