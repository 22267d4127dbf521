"""Parsers of single config values: durations, host:port, status specs, times of day, instants.

Each returns the parsed value or raises `ValueError` with a message meant for the user, which the
loader prefixes with the key path. Messages never quote the value: the caller decides whether it
may be shown (secrets may not).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slawatch.config.schema import HostPort, StatusRange

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0, "w": 604_800.0}


def parse_duration(value: object) -> float:
    """Seconds from a number, a numeric string, or `500ms`, `30s`, `5m`, `1h`, `2d`, `1h30m`."""
    if isinstance(value, bool):
        raise ValueError("must be a duration like 30s")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            seconds = _parse_duration_text(text)
    else:
        raise ValueError("must be a duration like 30s")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError("must be a duration like 30s (not negative)")
    return seconds


def _parse_duration_text(text: str) -> float:
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError("must be a duration like 30s, 500ms, 5m, 1h or 2d")
    return total


def format_duration(seconds: float) -> str:
    """The shortest of `500ms`, `30s`, `5m`, `1h`, `2d` that says `seconds` exactly."""
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if (seconds * 1000).is_integer():
        return f"{int(seconds * 1000)}ms"
    return f"{seconds}s"


def parse_number(value: object) -> float:
    """A finite number, also from a numeric string (`${VAR}` substitutions give strings)."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError("must be a number") from None
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("must be a number")
    return float(value)


def parse_int(value: object) -> int:
    number = parse_number(value)
    if not number.is_integer():
        raise ValueError("must be a whole number")
    return int(number)


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("must be true or false")


def parse_host_port(value: object) -> HostPort:
    """`host:port`, `[v6]:port` or `:port` (all interfaces)."""
    if not isinstance(value, str):
        raise ValueError("must be host:port, like 127.0.0.1:8480")
    text = value.strip()
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d+)|([^:\s\[\]]*):(\d+)", text)
    if not match:
        raise ValueError("must be host:port, like 127.0.0.1:8480")
    host = match.group(1) or match.group(3) or "0.0.0.0"
    port = int(match.group(2) or match.group(4))
    if not 0 <= port <= 65535:
        raise ValueError("port must be between 0 and 65535")
    return HostPort(host, port)


def parse_status(value: object) -> tuple[StatusRange, ...]:
    """`200`, `"2xx"`, `"200-299"`, or a list of them."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("must list at least one status, like [200] or 2xx")
    return tuple(_parse_status_item(item) for item in items)


def _parse_status_item(item: object) -> StatusRange:
    if isinstance(item, int) and not isinstance(item, bool):
        low = high = item
    elif isinstance(item, str) and (m := re.fullmatch(r"\s*([1-5])xx\s*", item, re.IGNORECASE)):
        low, high = int(m.group(1)) * 100, int(m.group(1)) * 100 + 99
    elif isinstance(item, str) and (m := re.fullmatch(r"\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?", item)):
        low, high = int(m.group(1)), int(m.group(2) or m.group(1))
    else:
        raise ValueError('must be status codes: 200, "2xx" or "200-299"')
    if not (100 <= low <= high <= 599):
        raise ValueError("status codes must be between 100 and 599, low before high")
    return StatusRange(low, high)


def parse_time_of_day(raw_text: str) -> time:
    """`HH:MM` or `HH:MM:SS` from the YAML source text (YAML 1.1 reads 02:00 as the number 120)."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", raw_text)
    if not match:
        raise ValueError('must be a time of day like "02:00"')
    hour, minute, second = int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError('must be a time of day like "02:00"')
    return time(hour, minute, second)


def parse_timezone(value: object) -> ZoneInfo:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be an IANA timezone name like Europe/Paris")
    try:
        return ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {value.strip()!r}") from None


def parse_instant(value: object, zone: ZoneInfo) -> float:
    """Unix seconds from an RFC 3339 time; a time without offset is local to `zone`."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError("must be a time like 2026-11-08T02:00:00Z") from None
    if not isinstance(value, datetime):
        raise ValueError("must be a time like 2026-11-08T02:00:00Z")
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.timestamp()
