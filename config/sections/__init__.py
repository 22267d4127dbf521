"""One module per top-level key of the config file; each declares its keys (`KEY`, a `Key` whose
`table` holds the section's keys) and reads its section with a `Reader`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from slawatch.config.keys import Key, Table
from slawatch.config.reader import KeyPath
from slawatch.config.registry import ChannelSpec, CheckTypeSpec
from slawatch.config.sections import agent, alerts, channels, checks, collector, reports, slas

SECTIONS = (collector, agent, checks, slas, alerts, reports)
TOP = Table(tuple(section.KEY for section in SECTIONS))
CHECKS = ("checks",)
CHANNELS = channels.PATH


def declared_keys(
    check_types: Mapping[str, CheckTypeSpec], channel_types: Mapping[str, ChannelSpec] | None
) -> Iterator[tuple[tuple[str, ...], Key]]:
    """Every declared key with its path of names (list items have none): the sections', each
    check type's (under `checks`) and each channel's (under `alerts.channels`)."""
    yield from _walk(TOP, ())
    for spec in check_types.values():
        yield from _walk(spec.keys, CHECKS)
        yield from _walk(spec.expect, (*CHECKS, checks.EXPECT))
    for channel in (channel_types or {}).values():
        yield from _walk(channel.keys, CHANNELS)


def _walk(table: Table, prefix: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Key]]:
    for key in table:
        yield (*prefix, key.name), key
        if key.table is not None:
            yield from _walk(key.table, (*prefix, key.name))


def secret_paths(
    check_types: Mapping[str, CheckTypeSpec], channel_types: Mapping[str, ChannelSpec] | None
) -> frozenset[tuple[str, ...]]:
    return frozenset(
        names for names, key in declared_keys(check_types, channel_types) if key.secret
    )


def is_secret(
    path: KeyPath,
    secrets: frozenset[tuple[str, ...]],
    *,
    channels_known: bool,
) -> bool:
    """Whether `path` is (inside) a secret's value. Without the channel declarations (an
    agent), every key of a channel but its id and type counts as one."""
    names = tuple(part for part in path if isinstance(part, str))
    if not channels_known and names[:2] == CHANNELS and len(names) > 2:
        return names[2] not in channels.COMMON.names()
    return any(names[:length] in secrets for length in range(1, len(names) + 1))
