"""What a check type and a chat channel declare, and the seam through which the loader finds them.

A check type is one module of `slawatch.agent.probes` and a channel one module of
`slawatch.collector.alerts.channels`; each module declares itself (`CHECK_TYPE = CheckTypeSpec(…)`,
`CHANNEL = ChannelSpec(…)`) and its package lists it in one registry line. The config package
imports neither side: it reaches a registry by its module name, and only when it reads the keys
that need it.
- Check types are read by every process that reads `checks:` (the agent runs them, the collector
  validates them for its fleet); the probe modules are cheap to import (no work at import).
- Channels are read only by processes that read `alerts:` (the collector, `up`, `check-config`),
  so an agent host never imports the collector's code; elsewhere a channel's own keys are left
  unread (`slawatch.config.loader.PROCESS_READS`).
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from slawatch.config.keys import Key, Table

CHECK_TYPES_MODULE = "slawatch.agent.probes"
CHANNELS_MODULE = "slawatch.collector.alerts.channels"


@dataclass(frozen=True, slots=True)
class CheckTypeSpec:
    """A probe type: its keys beside the common ones of every check (`id`, `interval`…), its
    `expect:` keys, the URL schemes that select it, and its probe function.

    The loader builds `target(**values, expect=expect_target(**expect_values))`, `values` holding
    every key of `keys` but a `url` that `from_url` reads; so `target`'s fields are the keys'
    names."""

    name: str
    doc: str
    keys: Table
    expect: Table
    target: Callable[..., Any]
    expect_target: Callable[..., Any]
    probe: Callable[[Any], Awaitable[Any]]
    """`probe(check) -> ProbeResult`, given a `Check` whose target is this type's."""
    schemes: tuple[str, ...] = ()
    """URL schemes of this type: a check whose `url` has one needs no `type:`."""
    from_url: Callable[[str], Mapping[str, Any]] | None = None
    """Reads a `url:` into the type's other keys (`tcp://h:1` → host, port); raises ValueError.
    None: `url` is a key of the target itself. A url given, the keys it fills are not required."""
    implied_by: tuple[str, ...] = ()
    """Keys whose presence, with neither `type` nor `url`, selects this type (`host` → tcp)."""
    example: str = ""
    """A check of this type in YAML, for the docs."""
    host_problem: Callable[[], str | None] | None = None
    """Why this host cannot run probes of this type at all (ICMP without a socket it may open),
    or None. Asked when an agent starts with checks of the type, so that such a host refuses
    to start with this reason instead of reporting the checks DOWN."""

    def key(self, name: str) -> Key | None:
        return next((key for key in self.keys if key.name == name), None)


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A chat service: its keys beside `id` and `type` (required ones, secrets), how it renders
    an event, and how a rendered message is sent: an HTTP POST to `endpoint`, or its own `send`.
    """

    name: str
    doc: str
    keys: Table
    render: Callable[..., Any]
    """`render(event, channel) -> RenderedMessage`: the event in the service's native format,
    rendered once and stored: it must hold no secret a later attempt should read afresh."""
    endpoint: Callable[..., Any] | None = None
    """`endpoint(channel) -> Secret`: the URL to POST the rendered body to, read from the channel
    at each attempt; every secret of the channel is kept out of the attempt's error."""
    signing_key: str | None = None
    """The key whose secret signs each POST (`X-Slawatch-Signature`), if any."""
    send: Callable[..., Awaitable[Any]] | None = None
    """One attempt of a service that is no plain POST (e-mail over SMTP; a token in a header
    made at each attempt): `send(session, channel, message, *, timeout, clock) ->
    DeliveryResult`. Used instead of `endpoint` when given."""
    groups: bool = True
    """Whether its state changes may be held in the group window, sent as one storm message,
    and merged (a `resolved` replacing its `down` still waiting): right for people reading a
    chat. False for receivers that need every event on its own (our webhook, PagerDuty's
    trigger and resolve pairs)."""
    uses: tuple[tuple[str, ...], ...] = ()
    """Settings of other sections that sending needs, as key paths (`("reports", "smtp")` for
    e-mail): a channel of this type needs them in the file (a problem naming them otherwise),
    and finds them in its `settings` under their last name."""

    def __post_init__(self) -> None:
        if self.endpoint is None and self.send is None:
            raise ValueError(f"channel type {self.name!r} needs an endpoint or a send")


def check_types() -> Mapping[str, CheckTypeSpec]:
    """Every check type by name, in the registry's order."""
    registry: Mapping[str, CheckTypeSpec] = importlib.import_module(CHECK_TYPES_MODULE).CHECK_TYPES
    return registry


def channel_types() -> Mapping[str, ChannelSpec]:
    """Every channel type by name; imports the collector's channel modules."""
    registry: Mapping[str, ChannelSpec] = importlib.import_module(CHANNELS_MODULE).CHANNELS
    return registry


def registry_of(specs: tuple[Any, ...]) -> dict[str, Any]:
    """The registry mapping of specs (`CheckTypeSpec`s or `ChannelSpec`s), refusing a name
    given twice."""
    registry: dict[str, Any] = {}
    for spec in specs:
        if spec.name in registry:
            raise ValueError(f"{spec.name!r} is registered twice")
        registry[spec.name] = spec
    return registry
