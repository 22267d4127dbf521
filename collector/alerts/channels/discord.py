"""Discord webhooks: `content` (the notification line) plus one embed.

Payload and limits from Discord's docs (Webhook Resource, Execute Webhook; Message Resource,
Embed Limits): content ≤ 2000 characters; embed title ≤ 256, description ≤ 4096, ≤ 25 fields,
field name ≤ 256 and value ≤ 1024, footer ≤ 2048, and ≤ 6000 characters over all of them.
Discord counts like JavaScript (UTF-16 units), so do we. `allowed_mentions` with no `parse`
keeps an "@everyone" inside a remote error from pinging anybody; markdown characters in text we
did not write are escaped.
"""

from __future__ import annotations

import re
from typing import Any

from slawatch.collector.alerts.delivery import RenderedMessage, channel_secret
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.formats import rfc3339
from slawatch.collector.alerts.layout import TONE_COLORS, Fact, Message, clip, fit_lines, utf16_len
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import SECRET_URL

CONTENT_CHARS = 2000
TITLE_CHARS = 256
DESCRIPTION_CHARS = 4096
FIELD_NAME_CHARS = 256
FIELD_VALUE_CHARS = 1024
MAX_FIELDS = 25
FOOTER = "slawatch"
EMBED_TOTAL_CHARS = 6000
_MARKDOWN = re.compile(r"([\\*_~`|>#\[\]])")


def endpoint(channel: Channel) -> Secret:
    return channel_secret(channel, "url")


def render(event: Event, channel: Channel) -> RenderedMessage:
    message = compose(event)
    payload = {
        "content": text(message.summary, CONTENT_CHARS),
        "embeds": [embed(message)],
        "allowed_mentions": {"parse": []},
    }
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


def embed(message: Message) -> dict[str, Any]:
    title = clip(message.title, TITLE_CHARS, measure=utf16_len)
    fields = _fields(message.facts)
    fixed = utf16_len(title) + utf16_len(FOOTER) + sum(_size(f) for f in fields)
    description = _description(message.lines, min(DESCRIPTION_CHARS, EMBED_TOTAL_CHARS - fixed))
    result: dict[str, Any] = {
        "title": title,
        "color": TONE_COLORS[message.tone],
        "timestamp": rfc3339(message.at),
        "footer": {"text": FOOTER},
        "fields": fields,
    }
    if description:
        result["description"] = description
    if message.link and message.link.startswith(("https://", "http://")):
        result["url"] = message.link
    return result


def escape(value: str) -> str:
    return _MARKDOWN.sub(r"\\\1", value)


def text(value: str, limit: int) -> str:
    """`value` escaped for Discord markdown and cut to `limit` UTF-16 units after escaping."""
    return escape(clip(value, limit, measure=lambda s: utf16_len(escape(s))))


def _fields(facts: tuple[Fact, ...]) -> list[dict[str, Any]]:
    """At most 25 fields (the last one says how many did not fit) within the 6000 total."""
    budget = EMBED_TOTAL_CHARS - TITLE_CHARS - utf16_len(FOOTER) - 200
    fields: list[dict[str, Any]] = []
    for index, fact in enumerate(facts):
        field = {
            "name": clip(fact.label, FIELD_NAME_CHARS, measure=utf16_len),
            "value": text(fact.value, FIELD_VALUE_CHARS) or "-",
            "inline": fact.short,
        }
        left = len(facts) - index
        last_slot = len(fields) == MAX_FIELDS - 1 and left > 1
        if last_slot or _size(field) > budget - 40:
            fields.append({"name": "…", "value": f"and {left} more", "inline": False})
            break
        fields.append(field)
        budget -= _size(field)
    return fields


def _description(lines: tuple[str, ...], limit: int) -> str:
    items = ["• " + text(line, 500) for line in lines]
    return "\n".join(fit_lines(items, limit + 1, measure=utf16_len))


def _size(field: dict[str, Any]) -> int:
    return utf16_len(field["name"]) + utf16_len(field["value"])


CHANNEL = ChannelSpec(
    name="discord",
    doc="Discord webhook: the notification line as `content`, details in one embed; nobody is "
    "pinged.",
    keys=Table(
        (
            Key(
                "url",
                SECRET_URL,
                "The webhook URL (`https://discord.com/api/webhooks/…`).",
                required=True,
                secret=True,
                example="${DISCORD_WEBHOOK_URL}",
            ),
        )
    ),
    render=render,
    endpoint=endpoint,
)
