"""The chat channels: one module per service type, all alike, and the registry mapping a channel
`type` of the config to its module (the way blackbox_exporter maps prober names to probers).

A new service is one module and one line in `CHANNELS`. The module declares itself as
`CHANNEL = ChannelSpec(...)` (`slawatch.config.registry`): its config keys (which are required,
which are secrets), and its functions:
- `render(event, channel) -> RenderedMessage`: the event in the service's native format, once;
- `endpoint(channel) -> Secret`: where to POST it, read from the config at each attempt;
- or, for a service that is no plain POST (e-mail over SMTP; a secret added to each attempt),
  `send(...)`: one attempt of its own;
and whether its messages may be grouped (`groups`), and which other settings it sends with
(`uses`: e-mail's `reports.smtp`).
The config loader, `check-config` and the docs read the registry; nothing else lists the types.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp

from slawatch.collector.alerts.channels import (
    discord,
    email,
    googlechat,
    mattermost,
    ntfy,
    pagerduty,
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
from slawatch.config.registry import ChannelSpec, registry_of
from slawatch.config.schema import Channel, Secret

CHANNELS: dict[str, ChannelSpec] = registry_of(
    (
        slack.CHANNEL,
        discord.CHANNEL,
        teams.CHANNEL,
        googlechat.CHANNEL,
        telegram.CHANNEL,
        mattermost.CHANNEL,
        webhook.CHANNEL,
        ntfy.CHANNEL,
        email.CHANNEL,
        pagerduty.CHANNEL,
    )
)


def spec_for(channel: Channel) -> ChannelSpec:
    try:
        return CHANNELS[channel.type]
    except KeyError:
        raise ChannelError(f"channel {channel.id!r} has an unknown type {channel.type!r}") from None


def render(event: Event, channel: Channel) -> RenderedMessage:
    message: RenderedMessage = spec_for(channel).render(event, channel)
    return message


def endpoint(channel: Channel) -> Secret:
    spec = spec_for(channel)
    if spec.endpoint is None:
        raise ChannelError(f"channel {channel.id!r} ({channel.type}) is not sent to a URL")
    url: Secret = spec.endpoint(channel)
    return url


async def deliver(
    session: aiohttp.ClientSession,
    channel: Channel,
    message: RenderedMessage,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
) -> DeliveryResult:
    """One attempt at `message` on `channel` as the config has it now; a channel whose type
    signs (the webhook type) gets the signature headers of this attempt.

    A channel that cannot be used (no URL: a `${VAR}` the process did not resolve) answers
    `rejected`, like a revoked webhook: the outbox keeps the message until the config is fixed
    or max_age passes.
    """
    try:
        spec = spec_for(channel)
        if spec.send is not None:
            result: DeliveryResult = await spec.send(
                session, channel, message, timeout=timeout, clock=clock
            )
            return result
        url = endpoint(channel)
    except ChannelError as exc:
        return DeliveryResult("rejected", error=str(exc))
    signing_key = spec.signing_key
    signing_secret = channel.settings.get(signing_key) if signing_key else None
    return await send(
        session,
        url,
        message,
        signing_secret=signing_secret if isinstance(signing_secret, Secret) else None,
        redact=channel.secrets(),
        timeout=timeout,
        clock=clock,
    )
