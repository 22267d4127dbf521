"""Telegram Bot API: `POST {api_url}/bot<bot_token>/sendMessage`.

From core.telegram.org/bots/api#sendmessage: `chat_id`, `text` (1–4096 characters after entity
parsing), `parse_mode` "HTML" (only `<`, `>` and `&` need escaping, as `&lt;` `&gt;` `&amp;`),
`disable_web_page_preview`. Flood control answers 429 with `parameters.retry_after` in the JSON
body, which delivery honours. We bound the *HTML* length by 4096 UTF-16 units, which is always
within the limit on the visible text. The bot token is part of the URL: a secret.
"""

from __future__ import annotations

from html import escape

from slawatch.collector.alerts.delivery import ChannelError, RenderedMessage, channel_secret
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.formats import format_instant
from slawatch.collector.alerts.layout import Message, clip, fit_lines, utf16_len
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import HTTP_URL, SECRET_TEXT, TEXT

DEFAULT_API_URL = "https://api.telegram.org"
TEXT_CHARS = 4096
LINE_CHARS = 500


def endpoint(channel: Channel) -> Secret:
    token = channel_secret(channel, "bot_token")
    base = str(channel.settings.get("api_url") or DEFAULT_API_URL).rstrip("/")
    return Secret(f"{base}/bot{token.value}/sendMessage")


def render(event: Event, channel: Channel) -> RenderedMessage:
    chat_id = channel.settings.get("chat_id")
    if not chat_id:
        raise ChannelError(f"channel {channel.id!r} (telegram) has no chat_id")
    payload = {
        "chat_id": chat_id,
        "text": html(compose(event)),
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


def html(message: Message) -> str:
    head = [f"<b>{escape(clip(message.summary, LINE_CHARS), quote=False)}</b>", ""]
    tail = [""]
    if message.link:
        tail.append(f'<a href="{escape(message.link, quote=True)}">Open in slawatch</a>')
    tail.append(f"<i>slawatch · {format_instant(message.at)}</i>")
    body = [_fact(f.label, f.value) for f in message.facts]
    body += [f"• {escape(clip(line, LINE_CHARS), quote=False)}" for line in message.lines]
    room = TEXT_CHARS - utf16_len("\n".join(head + tail)) - 40
    kept = fit_lines(body, room, measure=utf16_len)
    return "\n".join(head + kept + tail)


def _fact(label: str, value: str) -> str:
    value = escape(clip(value, LINE_CHARS * 2), quote=False)
    separator = "\n" if "\n" in value else " "
    return f"<b>{escape(label, quote=False)}:</b>{separator}{value}"


CHANNEL = ChannelSpec(
    name="telegram",
    doc="Telegram Bot API `sendMessage`, as HTML.",
    keys=Table(
        (
            Key(
                "bot_token",
                SECRET_TEXT,
                "The bot's token (from @BotFather); part of the URL, so a secret.",
                required=True,
                secret=True,
                example="${TELEGRAM_BOT_TOKEN}",
            ),
            Key(
                "chat_id",
                TEXT,
                "The chat, group or channel to post in (`-100…`, or `@channelname`).",
                required=True,
                example='"-1001234567890"',
            ),
            Key(
                "api_url",
                HTTP_URL,
                "The Bot API's base URL (a local Bot API server).",
                default=DEFAULT_API_URL,
                example="http://127.0.0.1:8081",
            ),
        )
    ),
    render=render,
    endpoint=endpoint,
)
