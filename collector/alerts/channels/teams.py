"""Microsoft Teams through a Power Automate "Workflows" webhook, with an Adaptive Card.

The Office 365 connectors' MessageCard is retired; the Workflows template "Send webhook alerts
to a channel" takes `{"type": "message", "attachments": [{"contentType":
"application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard>}]}` and posts the card
(Microsoft Learn: "Create incoming webhooks with Workflows for Microsoft Teams"; card schema at
adaptivecards.io). Version 1.4 is what Teams renders everywhere, mobile included. A Teams
message holds about 28 KB, so long lists are cut.

The card opens with the whole one-line summary ("DOWN acme-web — 3/3 agents: connection refused
— since 03:12 UTC"): the first TextBlock is what Teams shows in a phone notification and in the
chat list's preview, so a bare title there would hide what happened. `fallbackText` carries the
same line for clients that cannot render the card.
"""

from __future__ import annotations

from typing import Any

from slawatch.collector.alerts.delivery import RenderedMessage, channel_secret
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.formats import format_instant
from slawatch.collector.alerts.layout import Message, Tone, clip
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import SECRET_URL

CARD_VERSION = "1.4"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_LINES = 40
VALUE_CHARS = 1000
MAX_FACTS = 30
_COLORS: dict[Tone, str] = {
    "bad": "Attention",
    "warning": "Warning",
    "good": "Good",
    "info": "Accent",
}


def endpoint(channel: Channel) -> Secret:
    return channel_secret(channel, "url")


def render(event: Event, channel: Channel) -> RenderedMessage:
    payload = {
        "type": "message",
        "attachments": [
            {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card(compose(event))}
        ],
    }
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


def card(message: Message) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        _text(message.summary, weight="Bolder", color=_COLORS[message.tone]),
    ]
    facts = message.facts[:MAX_FACTS]
    short = [f for f in facts if f.short]
    if short:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": f.label, "value": clip(f.value, VALUE_CHARS)} for f in short],
            }
        )
    for fact in facts:
        if not fact.short:
            body.append(_text(fact.label, weight="Bolder", spacing="Medium"))
            body.append(_text(clip(fact.value, VALUE_CHARS), spacing="None"))
    if len(message.facts) > MAX_FACTS:
        body.append(_text(f"… and {len(message.facts) - MAX_FACTS} more", isSubtle=True))
    lines = message.lines[:MAX_LINES]
    body.extend(_text(f"• {clip(line, VALUE_CHARS)}", spacing="None") for line in lines)
    if len(message.lines) > MAX_LINES:
        body.append(_text(f"… and {len(message.lines) - MAX_LINES} more", isSubtle=True))
    body.append(_text(f"slawatch · {format_instant(message.at)}", isSubtle=True, size="Small"))
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": message.summary,
        "body": body,
    }
    if message.link:
        content["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in slawatch", "url": message.link}
        ]
    return content


def _text(value: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": value, "wrap": True, **style}


CHANNEL = ChannelSpec(
    name="teams",
    doc='Microsoft Teams through a Power Automate "Workflows" webhook, as an Adaptive Card.',
    keys=Table(
        (
            Key(
                "url",
                SECRET_URL,
                'The Workflows webhook URL ("Send webhook alerts to a channel").',
                required=True,
                secret=True,
                example="${TEAMS_WEBHOOK_URL}",
            ),
        )
    ),
    render=render,
    endpoint=endpoint,
)
