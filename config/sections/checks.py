"""`checks:` — what is probed, how often, and by which agents.

The keys every check has are declared here; a check type's own keys (`url`, `host`, `expect`…)
are declared by its probe module and found through the registry (`slawatch.config.registry`), so
a new type needs no line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slawatch.config import contract
from slawatch.config.keys import Key, Kind, Table
from slawatch.config.reader import INVALID, ConfigError, Document, KeyPath, Reader
from slawatch.config.registry import CheckTypeSpec, check_types
from slawatch.config.schema import Check
from slawatch.config.values import (
    ID,
    IDS,
    LABELS,
    MAPPINGS,
    POSITIVE_DURATION,
    QUORUM,
    between,
    format_duration,
    parse_duration,
    positive,
)

COMMON = Table(
    (
        Key(
            "id",
            ID,
            "Unique across the fleet; samples carry it.",
            required=True,
            example="acme-web",
        ),
        Key(
            "type",
            Kind("check type"),
            "Which probe runs it (see the types below).",
            default_doc="from the scheme of `url`, else from the keys given (`host`: tcp)",
            example="tcp",
        ),
        Key(
            "interval",
            Kind(
                f"duration ≤ {format_duration(contract.MAX_INTERVAL_S)}",
                between(0.001, contract.MAX_INTERVAL_S, parse_duration),
            ),
            "How often each agent probes it.",
            default=format_duration(contract.DEFAULT_INTERVAL_S),
            example="30s",
        ),
        Key(
            "timeout",
            POSITIVE_DURATION,
            "A probe still running after this is DOWN (`timeout after 10s`); more than the "
            "interval is an error.",
            default_doc=f"min({format_duration(contract.MAX_DEFAULT_TIMEOUT_S)}, interval)",
            example="5s",
        ),
        Key(
            "agents",
            IDS,
            "Only these agents run it.",
            default_doc="every agent",
            example="[eu-1, us-1]",
        ),
        Key(
            "labels",
            LABELS,
            "Only agents with every one of these labels run it (the agent's `agent.labels`, or "
            "its `collector.agents[].labels`).",
            default_doc="no condition",
            example="{region: eu}",
        ),
        Key(
            "quorum",
            QUORUM,
            "How the agents' views make this check's own state, for its alerts and metrics: DOWN "
            "when `any` agent, a `majority`, `all`, or at least N of the agents with data see it "
            "DOWN.",
            default="majority",
        ),
        Key(
            "no_data",
            Kind("duration > 0 | true | false"),
            "A `no_data` alert once every agent of the check has been silent this long; `false` "
            "never.",
            default_doc="2 × interval",
            example="5m",
        ),
    )
)
EXPECT = "expect"
KEY = Key(
    "checks",
    MAPPINGS,
    "The checks. The collector reads them too (quorum, `no_data`), and an agent runs those "
    "whose `agents` name it.",
    table=COMMON,
)


def read(reader: Reader, value: Any) -> tuple[Check, ...]:
    types = check_types()
    checks = reader.items(value, ("checks",), lambda v, p: read_check(reader, v, p, types))
    reader.unique_ids(((("checks", i, "id"), c.id) for i, c in enumerate(checks)), "check")
    return checks


def check_from(data: Mapping[str, Any], source: str) -> Check:
    """One check from plain data rather than a file (`slawatch probe URL`), judged as the loader
    judges a file's; ConfigError names each bad key (relative to the check) under `source`."""
    reader = Reader(Document(dict(data)), Path.cwd(), {}, ((),))
    check = read_check(reader, dict(data), (), check_types())
    if reader.problems:
        raise ConfigError(source, reader.problems)
    return check


def read_check(
    reader: Reader, value: Any, path: KeyPath, types: Mapping[str, CheckTypeSpec]
) -> Check:
    spec = _check_type(reader, value if isinstance(value, dict) else {}, path, types)
    if spec is None:
        allowed = COMMON.names() + tuple({k: 0 for t in types.values() for k in _own(t)})
    else:
        allowed = COMMON.names() + _own(spec)
    data = reader.table(value, path, allowed)
    interval = reader.take(data, COMMON.key("interval"), path)
    timeout = reader.take(data, COMMON.key("timeout"), path)
    if interval is not INVALID:
        if timeout is None:
            timeout = min(contract.MAX_DEFAULT_TIMEOUT_S, interval)
        elif timeout is not INVALID and timeout > interval:
            reader.fail(
                (*path, "timeout"), f"must not exceed the interval ({format_duration(interval)})"
            )
    return Check(
        id=reader.take(data, COMMON.key("id"), path),
        type=spec.name if spec else INVALID,
        target=_target(reader, data, path, spec) if spec else INVALID,
        interval=interval,
        timeout=timeout,
        agents=reader.take(data, COMMON.key("agents"), path),
        quorum=reader.take(data, COMMON.key("quorum"), path),
        no_data=_no_data(reader, data, path, interval),
        labels=reader.take(data, COMMON.key("labels"), path) or None,
        source=dict(value) if isinstance(value, dict) else None,
    )


def _own(spec: CheckTypeSpec) -> tuple[str, ...]:
    """The keys a check of this type may have beside the common ones."""
    return spec.keys.names() + ((EXPECT,) if spec.expect.keys else ())


def _check_type(
    reader: Reader, data: Mapping[str, Any], path: KeyPath, types: Mapping[str, CheckTypeSpec]
) -> CheckTypeSpec | None:
    """The declared `type`, else the one its url's scheme or its keys imply; None (said) if
    none, or if the declared one is unknown: its keys cannot be judged then."""
    declared = data.get("type")
    if declared is not None:
        if declared in types:
            return types[declared]
        if (*path, "type") not in reader.unresolved:
            reader.fail((*path, "type"), f"must be one of {', '.join(types)}")
        return None
    implied = _implied_type(data, types)
    if implied is None:
        schemes = _or(f"{scheme}://" for t in types.values() for scheme in t.schemes)
        if data.get("url") is not None:
            if (*path, "url") not in reader.unresolved:
                reader.fail((*path, "url"), f"must be a URL of a check type: {schemes}")
        else:
            keys = ", ".join(f"a {k} ({t.name})" for t in types.values() for k in t.implied_by)
            types_text = ", ".join(types)
            reader.fail(path, f"needs a url ({schemes}), {keys} or a type ({types_text})")
    return implied


def _implied_type(
    data: Mapping[str, Any], types: Mapping[str, CheckTypeSpec]
) -> CheckTypeSpec | None:
    url = data.get("url")
    if url is not None:
        scheme = url.partition("://")[0].lower() if isinstance(url, str) and "://" in url else ""
        return next((t for t in types.values() if scheme in t.schemes), None)
    return next((t for t in types.values() if any(k in data for k in t.implied_by)), None)


def _or(words: Any) -> str:
    items = list(words)
    return ", ".join(items[:-1]) + f" or {items[-1]}" if len(items) > 1 else "".join(items)


def _target(reader: Reader, data: Mapping[str, Any], path: KeyPath, spec: CheckTypeSpec) -> Any:
    """The type's target, built from its declared keys; a url the type reads (`tcp://h:1`)
    fills the keys it names, and those are then not required."""
    from_url: Mapping[str, Any] = {}
    url_given = spec.from_url is not None and data.get("url") is not None
    if url_given and spec.from_url and (*path, "url") not in reader.unresolved:
        try:
            from_url = spec.from_url(data["url"])
        except ValueError as error:
            reader.fail((*path, "url"), str(error))
    values = {}
    for key in spec.keys:
        if spec.from_url is not None and key.name == "url":
            continue
        if key.name in from_url:
            given = data.get(key.name)
            if given is not None and reader.take(data, key, path) != from_url[key.name]:
                reader.fail((*path, key.name), "differs from the url's: give one or the other")
            values[key.name] = from_url[key.name]
        else:
            values[key.name] = reader.take(data, key, path, required=key.required and not url_given)
    expect_path = (*path, EXPECT)
    expect = reader.table(data.get(EXPECT), expect_path, spec.expect)
    return spec.target(
        **values, expect=spec.expect_target(**reader.values(expect, expect_path, spec.expect))
    )


def _no_data(
    reader: Reader, data: Mapping[str, Any], path: KeyPath, interval: float
) -> float | None:
    value = data.get("no_data")
    two_intervals = 2 * interval if interval is not INVALID else None
    if value is None or value is True:
        return two_intervals
    if value is False:
        return None
    return reader.take(
        data, COMMON.key("no_data"), path, positive(parse_duration), default=two_intervals
    )
