"""The chat channels: one module per service type, all alike, and the registry mapping a channel
`type` of the config to its module (the way blackbox_exporter maps prober names to probers).

Each module has two functions:
- `render(event, channel) -> RenderedMessage`: the event in the service's native format, once;
- `endpoint(channel) -> Secret`: where to POST it, read from the config at each attempt.
A new service is one new module plus one line in `CHANNELS`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

import aiohttp

from slawatch.collector.alerts.channels import (
    discord,
    googlechat,
    mattermost,
    slack,
    teams,
    telegram,
    webhook,
)
from slawatch.collector.alerts.delivery import (
    DEFAULT_TIMEOUT_S,
    ChannelError,
    DeliveryResult,
    RenderedMessage,
    send,
)
from slawatch.collector.alerts.events import Event
from slawatch.config.schema import Channel, Secret


class ChannelModule(Protocol):
    def render(self, event: Event, channel: Channel) -> RenderedMessage: ...

    def endpoint(self, channel: Channel) -> Secret: ...


CHANNELS: Mapping[str, ChannelModule] = {
    "slack": slack,
    "discord": discord,
    "teams": teams,
    "googlechat": googlechat,
    "telegram": telegram,
    "mattermost": mattermost,
    "webhook": webhook,
}


def module_for(channel: Channel) -> ChannelModule:
    try:
        return CHANNELS[channel.type]
    except KeyError:
        raise ChannelError(f"channel {channel.id!r} has an unknown type {channel.type!r}") from None


def render(event: Event, channel: Channel) -> RenderedMessage:
    return module_for(channel).render(event, channel)


def endpoint(channel: Channel) -> Secret:
    return module_for(channel).endpoint(channel)


async def deliver(
    session: aiohttp.ClientSession,
    channel: Channel,
    message: RenderedMessage,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """One attempt at `message` on `channel` as the config has it now; a channel with a
    `secret` (the webhook type) gets the signature headers of this attempt.

    A channel that cannot be used (no URL: a `${VAR}` the process did not resolve) answers
    `rejected`, like a revoked webhook: the outbox keeps the message until the config is fixed
    or max_age passes.
    """
    try:
        url = endpoint(channel)
    except ChannelError as exc:
        return DeliveryResult("rejected", error=str(exc))
    return await send(
        session,
        url,
        message,
        signing_secret=channel.secret,
        redact=[s for s in (channel.bot_token,) if s is not None],
        timeout=timeout,
        clock=clock,
    )
