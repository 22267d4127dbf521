"""Google Chat incoming webhooks: a text message, `{"text": ...}`.

Format from Google's docs (developers.google.com/workspace/chat/format-messages): `*bold*`,
`<url|label>` links, `<users/...>` mentions. A text message reads well in a phone notification,
where a card shows nothing, so the first line is the plain summary. Angle brackets in text we did
not write become look-alike quotes, so a remote error cannot mention or link anybody. Messages
are kept under 4096 characters.
"""

from __future__ import annotations

from slawatch.collector.alerts.delivery import RenderedMessage, channel_secret
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.formats import format_instant
from slawatch.collector.alerts.layout import Message, clip, fit_lines
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import SECRET_URL

TEXT_CHARS = 4096
LINE_CHARS = 500


def endpoint(channel: Channel) -> Secret:
    return channel_secret(channel, "url")


def render(event: Event, channel: Channel) -> RenderedMessage:
    payload = {"text": text(compose(event))}
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


def text(message: Message) -> str:
    head = [neutral(clip(message.summary, LINE_CHARS)), ""]
    tail = [""]
    if message.link:
        tail.append(f"<{message.link}|Open in slawatch>")
    tail.append(f"_slawatch · {format_instant(message.at)}_")
    body = [_fact_line(f.label, f.value) for f in message.facts]
    body += [f"• {neutral(clip(line, LINE_CHARS))}" for line in message.lines]
    room = TEXT_CHARS - len("\n".join(head + tail)) - 40
    kept = fit_lines(body, room)
    return "\n".join(head + kept + tail)


def neutral(value: str) -> str:
    return value.replace("<", "‹").replace(">", "›")


def _fact_line(label: str, value: str) -> str:
    value = neutral(clip(value, LINE_CHARS * 2))
    if "\n" in value:
        return f"*{label}:*\n{value}"
    return f"*{label}:* {value}"


CHANNEL = ChannelSpec(
    name="googlechat",
    doc="Google Chat incoming webhook: a text message.",
    keys=Table(
        (
            Key(
                "url",
                SECRET_URL,
                "The incoming webhook URL (`https://chat.googleapis.com/v1/spaces/…`).",
                required=True,
                secret=True,
                example="${GOOGLE_CHAT_WEBHOOK_URL}",
            ),
        )
    ),
    render=render,
    endpoint=endpoint,
)
