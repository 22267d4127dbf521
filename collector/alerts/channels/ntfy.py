"""ntfy (ntfy.sh, or a server of your own): push notifications to phones and desktops, published
as JSON: `{"topic", "title", "message", "priority", "tags", "click", "actions"}`.

From docs.ntfy.sh/publish: JSON goes to the server's root URL, not to the topic's; priorities
run from 1 (min) to 5 (max: long vibration bursts and a pop-over), 3 being the default; a tag
that names an emoji shows as that emoji before the title; `click` opens a URL; a message holds
4,096 bytes (the server's default `message-size-limit`). Topic names are `[-_A-Za-z0-9]{1,64}`.

Priorities and tags: an outage (`down`, a storm with one) is max priority with 🚨; what still
needs a look (reminders, silences, burn rates, flapping) high with 🚨 or ⚠️; a recovery is
default priority with ✅; the weekly review low with ℹ️.

The topic URL is a secret (on a public server the topic's name is its only password), and so is
the access token: the stored message holds neither. Each attempt adds the topic to the body and
sends the token as `Authorization: Bearer`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from slawatch.collector.alerts import delivery
from slawatch.collector.alerts.delivery import DeliveryResult, RenderedMessage, channel_secret
from slawatch.collector.alerts.events import Event
from slawatch.collector.alerts.layout import Message, Tone, clip, plain_text, utf8_len
from slawatch.collector.alerts.text import compose
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import SECRET_TEXT, parse_http_url

MESSAGE_BYTES = 4096
TITLE_CHARS = 250
MAX_PRIORITY, HIGH_PRIORITY, DEFAULT_PRIORITY, LOW_PRIORITY = 5, 4, 3, 2
TAGS: dict[Tone, str] = {
    "bad": "rotating_light",
    "warning": "warning",
    "good": "white_check_mark",
    "info": "information_source",
}
_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")
TOPIC_URL_FORM = (
    "the URL of an ntfy topic (https://SERVER/TOPIC; a topic of letters, digits, - and _)"
)


def render(event: Event, channel: Channel) -> RenderedMessage:
    message = compose(event)
    payload: dict[str, Any] = {
        "title": clip(message.title, TITLE_CHARS),
        "message": plain_text(message, MESSAGE_BYTES, utf8_len),
        "priority": priority(message),
        "tags": [TAGS[message.tone]],
    }
    if message.link:
        payload["click"] = message.link
        payload["actions"] = [{"action": "view", "label": "Open in slawatch", "url": message.link}]
    return RenderedMessage.of_json(channel, event.id, event.kind, payload)


def priority(message: Message) -> int:
    if message.tone == "bad" and message.kind in ("down", "grouped"):
        return MAX_PRIORITY
    if message.tone in ("bad", "warning"):
        return HIGH_PRIORITY
    return LOW_PRIORITY if message.kind == "digest" else DEFAULT_PRIORITY


async def send(
    session: aiohttp.ClientSession,
    channel: Channel,
    message: RenderedMessage,
    *,
    timeout: float,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """Publish `message` to the channel's topic as the config has it now."""
    root, topic = split_topic_url(channel_secret(channel, "url").value)
    body = {"topic": topic, **json.loads(message.body)}
    headers = dict(message.headers)
    token = channel.settings.get("token")
    if isinstance(token, Secret):
        headers["Authorization"] = f"Bearer {token.value}"
    publish = replace(
        message,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
        headers=headers,
    )
    return await delivery.send(
        session, Secret(root), publish, redact=channel.secrets(), timeout=timeout, clock=clock
    )


def split_topic_url(url: str) -> tuple[str, str]:
    """(the server's root URL, the topic) of a topic URL; a server under a path keeps it."""
    root, _, topic = url.rstrip("/").rpartition("/")
    return f"{root}/", topic


def parse_topic_url(value: object) -> Secret:
    try:
        url = parse_http_url(value)
    except ValueError:
        raise ValueError(f"must be {TOPIC_URL_FORM}") from None
    parts = urlsplit(url)
    topic = parts.path.rstrip("/").rpartition("/")[2]
    if parts.query or parts.fragment or not _TOPIC.fullmatch(topic):
        raise ValueError(f"must be {TOPIC_URL_FORM}")
    return Secret(url)


CHANNEL = ChannelSpec(
    name="ntfy",
    doc="ntfy push notifications (ntfy.sh or your own server), published as JSON with a title, "
    "a priority (max for an outage, default for a recovery) and an emoji tag; a click opens "
    "slawatch.",
    keys=Table(
        (
            Key(
                "url",
                Kind("URL of a topic (http, https)", parse_topic_url),
                "The topic's URL (`https://ntfy.sh/TOPIC`, or on your server). On a public "
                "server the topic's name is its password: pick one nobody can guess.",
                required=True,
                secret=True,
                example="${NTFY_TOPIC_URL}",
            ),
            Key(
                "token",
                SECRET_TEXT,
                "An access token (`tk_…`) for a topic that needs one; sent as a bearer token.",
                secret=True,
                example="${NTFY_TOKEN}",
            ),
        )
    ),
    render=render,
    send=send,
)
