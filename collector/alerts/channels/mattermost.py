"""Mattermost incoming webhooks: `text` plus one Slack-compatible message attachment.

From developers.mattermost.com (Incoming webhooks; Message attachments): `text` in Markdown, and
`attachments` with `fallback`, `color`, `title`, `title_link`, `text`, `fields` (`title`,
`value`, `short`) and `footer` (no `ts` as in Slack, so the time goes in the footer).
Mattermost posts hold 16383 characters; we stay well under.
"@channel", "@all" and "@here" in a remote error would notify everyone, so an "@" in text we did
not write is followed by a zero-width space, which stops the mention and reads the same.
"""

from __future__ import annotations

from typing import Any

from slawatch.collector.alerts.delivery import RenderedMessage, channel_secret
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.formats import format_instant
from slawatch.collector.alerts.layout import TONE_COLORS, Message, clip, fit_lines
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import SECRET_URL

TEXT_CHARS = 4000
VALUE_CHARS = 1000
LINE_CHARS = 500
MAX_FIELDS = 30


def endpoint(channel: Channel) -> Secret:
    return channel_secret(channel, "url")


def render(event: Event, channel: Channel) -> RenderedMessage:
    message = compose(event)
    payload = {
        "text": quiet(clip(message.summary, TEXT_CHARS)),
        "attachments": [attachment(message)],
    }
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


def attachment(message: Message) -> dict[str, Any]:
    fields = [
        {"title": f.label, "value": quiet(clip(f.value, VALUE_CHARS)), "short": f.short}
        for f in message.facts[:MAX_FIELDS]
    ]
    if len(message.facts) > MAX_FIELDS:
        fields.append(
            {"title": "…", "value": f"and {len(message.facts) - MAX_FIELDS} more", "short": False}
        )
    lines = [f"• {quiet(clip(line, LINE_CHARS))}" for line in message.lines]
    result: dict[str, Any] = {
        "fallback": quiet(clip(message.summary, TEXT_CHARS)),
        "color": f"#{TONE_COLORS[message.tone]:06x}",
        "title": message.title,
        "fields": fields,
        "footer": f"slawatch · {format_instant(message.at)}",
    }
    if lines:
        result["text"] = "\n".join(fit_lines(lines, TEXT_CHARS))
    if message.link:
        result["title_link"] = message.link
    return result


def quiet(text: str) -> str:
    return text.replace("@", "@\u200b")


CHANNEL = ChannelSpec(
    name="mattermost",
    doc="Mattermost incoming webhook: `text` plus one message attachment.",
    keys=Table(
        (
            Key(
                "url",
                SECRET_URL,
                "The incoming webhook URL (`https://mattermost.example/hooks/…`).",
                required=True,
                secret=True,
                example="${MATTERMOST_WEBHOOK_URL}",
            ),
        )
    ),
    render=render,
    endpoint=endpoint,
)
