"""Slack incoming webhooks: `text` (the notification line) plus Block Kit `blocks`.

Payload and limits from Slack's docs (api.slack.com/messaging/webhooks, Block Kit reference):
with blocks, `text` is the fallback shown in notifications; a header's plain_text holds at most
150 characters, a section's text 3000, a section at most 10 fields of 2000 each; a message at
most 50 blocks. mrkdwn treats `&`, `<` and `>` as markup (`<!channel>` pings everyone), so every
text we did not write is escaped.
"""

from __future__ import annotations

from typing import Any

from slawatch.collector.alerts.delivery import RenderedMessage, channel_secret
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.formats import format_instant
from slawatch.collector.alerts.layout import Fact, Message, clip
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import SECRET_URL

HEADER_CHARS = 150
TEXT_CHARS = 3000
FIELD_CHARS = 2000
FIELDS_PER_SECTION = 10
MAX_BLOCKS = 50


def endpoint(channel: Channel) -> Secret:
    return channel_secret(channel, "url")


def render(event: Event, channel: Channel) -> RenderedMessage:
    message = compose(event)
    payload = {"text": mrkdwn(message.summary, TEXT_CHARS), "blocks": blocks(message)}
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


def blocks(message: Message) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = [
        {"type": "section", "text": _mrkdwn_text(mrkdwn(message.summary, TEXT_CHARS))}
    ]
    short = [f for f in message.facts if f.short]
    for start in range(0, len(short), FIELDS_PER_SECTION):
        chunk = short[start : start + FIELDS_PER_SECTION]
        body.append({"type": "section", "fields": [_field(f) for f in chunk]})
    body.extend(
        {"type": "section", "text": _mrkdwn_text(_fact_text(f, TEXT_CHARS))}
        for f in message.facts
        if not f.short
    )
    body.extend(
        {"type": "section", "text": _mrkdwn_text(text)} for text in _line_chunks(message.lines)
    )
    room = MAX_BLOCKS - 2
    if len(body) > room:
        dropped = len(body) - (room - 1)
        body = [*body[: room - 1], _more(dropped)]
    header = {"type": "header", "text": _plain(clip(message.title, HEADER_CHARS))}
    return [header, *body, {"type": "context", "elements": [_mrkdwn_text(_footer(message))]}]


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str, limit: int) -> str:
    """`text` escaped for mrkdwn and cut to `limit` characters *after* escaping."""
    return escape(clip(text, limit, measure=lambda s: len(escape(s))))


def _field(fact: Fact) -> dict[str, str]:
    return _mrkdwn_text(_fact_text(fact, FIELD_CHARS))


def _fact_text(fact: Fact, limit: int) -> str:
    label = f"*{escape(fact.label)}*\n"
    return label + mrkdwn(fact.value, limit - len(label))


def _line_chunks(lines: tuple[str, ...]) -> list[str]:
    """Lines packed into as few sections as their 3000 characters allow."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        item = "• " + mrkdwn(line, TEXT_CHARS - 2)
        if current and len(current) + 1 + len(item) > TEXT_CHARS:
            chunks.append(current)
            current = item
        else:
            current = f"{current}\n{item}" if current else item
    if current:
        chunks.append(current)
    return chunks


def _more(count: int) -> dict[str, Any]:
    return {
        "type": "section",
        "text": _mrkdwn_text(f"_… and {count} more (too long for one message)_"),
    }


def _footer(message: Message) -> str:
    text = f"slawatch · {format_instant(message.at)}"
    if message.link:
        text += f" · <{escape(message.link)}|Open in slawatch>"
    return text


def _mrkdwn_text(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


CHANNEL = ChannelSpec(
    name="slack",
    doc="Slack incoming webhook: the notification line as `text`, details in Block Kit blocks.",
    keys=Table(
        (
            Key(
                "url",
                SECRET_URL,
                "The incoming webhook URL (`https://hooks.slack.com/services/…`).",
                required=True,
                secret=True,
                example="${SLACK_WEBHOOK_URL}",
            ),
        )
    ),
    render=render,
    endpoint=endpoint,
)
