"""`alerts.channels:` — where notifications go. Each channel type declares its own keys in its
module of `slawatch.collector.alerts.channels` (`ChannelSpec`); this module knows only `id` and
`type`. An agent reads only those two, and so never imports the collector's code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from slawatch.config.keys import Key, Kind, Table
from slawatch.config.reader import KeyPath, Reader
from slawatch.config.registry import ChannelSpec, channel_types
from slawatch.config.schema import Channel, Config
from slawatch.config.values import ID, one_of, parse_text

PATH = ("alerts", "channels")
COMMON = Table(
    (
        Key(
            "id",
            ID,
            "The channel's id, named by rules and the digest.",
            required=True,
            example="ops-chat",
        ),
        Key(
            "type", Kind("channel type", parse_text), "The chat service (see below).", required=True
        ),
    )
)


def read(reader: Reader, value: Any, path: KeyPath, *, typed: bool) -> tuple[Channel, ...]:
    """The channels; `typed` False (an agent) reads only their ids and types."""
    types = channel_types() if typed else None
    return reader.items(value, path, lambda v, p: read_channel(reader, v, p, types))


def read_channel(
    reader: Reader, value: Any, path: KeyPath, types: Mapping[str, ChannelSpec] | None
) -> Channel:
    """One channel; with `types` None, only its id and type."""
    raw = value if isinstance(value, dict) else {}
    if types is None:
        values = reader.values(reader.table(value, path, COMMON.names() + tuple(raw)), path, COMMON)
        return Channel(id=values["id"], type=values["type"])
    spec = types.get(raw.get("type"))  # type: ignore[arg-type]
    allowed = COMMON + (spec.keys if spec else Table(_every_key(types)))
    data = reader.table(value, path, allowed)
    channel_id = reader.take(data, COMMON.key("id"), path)
    channel_type = reader.take(data, COMMON.key("type"), path, one_of(tuple(types)))
    if spec is None:
        return Channel(id=channel_id, type=channel_type)
    for key in spec.keys:
        if key.required and data.get(key.name) is None:
            article = "an" if spec.name[0] in "aeiou" else "a"
            reader.fail((*path, key.name), f"is required for {article} {spec.name} channel")
    settings = {key.name: reader.take(data, key, path, required=False) for key in spec.keys}
    return Channel(
        id=channel_id,
        type=channel_type,
        settings={name: value for name, value in settings.items() if value is not None},
    )


def _every_key(types: Mapping[str, ChannelSpec]) -> tuple[Key, ...]:
    """Keys of every type, for a channel of an unknown type: its type is the problem said."""
    keys: dict[str, Key] = {}
    for spec in types.values():
        for key in spec.keys:
            keys.setdefault(key.name, key)
    return tuple(keys.values())


def attach_shared(reader: Reader, config: Config) -> Config:
    """Each channel with the settings of other sections that its type `uses` (an `email`
    channel gets `reports.smtp` as its `smtp`); a type's need the file does not meet is a
    problem at the channel's `type`."""
    types = channel_types()
    attached = []
    for i, channel in enumerate(config.alerts.channels):
        spec = types.get(channel.type)
        shared = {}
        for path in spec.uses if spec else ():
            value = _lookup(config, path)
            if value is None:
                reader.fail((*PATH, i, "type"), f"{channel.type} channels need {'.'.join(path)}")
            else:
                shared[path[-1]] = value
        attached.append(replace(channel, settings={**channel.settings, **shared}))
    return replace(config, alerts=replace(config.alerts, channels=tuple(attached)))


def _lookup(config: Config, path: tuple[str, ...]) -> Any:
    """The value at a key path of the file, as read (`reports.smtp`: `config.reports.smtp`)."""
    value: Any = config
    for name in path:
        value = getattr(value, name, None)
    return value
