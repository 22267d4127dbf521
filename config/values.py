"""Parsers of single config values (durations, ids, URLs, host:port, status specs, times of day,
instants…) and the `Kind`s that name them in key declarations.

Each parser returns the parsed value or raises `ValueError` with a message meant for the user,
which the reader prefixes with the key path. Messages never quote the value of anything that may
be a secret: ids, timezones and the like may be quoted.
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slawatch.config import contract
from slawatch.config.keys import Kind
from slawatch.config.schema import HostPort, Quorum, Secret, StatusRange

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


def parse_time_of_day(value: object) -> time:
    """`HH:MM` or `HH:MM:SS`, from the YAML source text (see `Kind.from_source`)."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*", str(value))
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


# --------------------------------------------------------------------------- texts, ids, URLs


class ValueProblems(ValueError):
    """Problems of parts of one value (a header, a label), each named by its key below the
    value's own path ("" for the value itself)."""

    def __init__(self, problems: Sequence[tuple[str | int, str]]) -> None:
        super().__init__(problems[0][1])
        self.problems = problems


def parse_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("must be a string")
    return str(value)


def parse_id(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError('must be a string id (quote it in YAML, like "no")')
    if not contract.ID_PATTERN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid id: use [a-z0-9][a-z0-9._-]{{0,127}}")
    return value


def parse_id_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise ValueError("must be a list of ids")
    return tuple(parse_id(item) for item in value)


def parse_glob_list(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValueError('must be a list of check ids or globs, like ["*"] or ["acme-*"]')
    return tuple(value)


def parse_secret(value: object) -> Secret:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return Secret(value)


def parse_http_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an http:// or https:// URL")
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise ValueError("must be an http:// or https:// URL with a valid host and port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value.strip()


def parse_http_urls(value: object) -> tuple[str, ...]:
    """One URL, or a non-empty list of them (an agent's collectors, in order of preference)."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ValueError("must be a URL or a non-empty list of URLs")
    urls: list[str] = []
    for index, item in enumerate(items):
        try:
            urls.append(parse_http_url(item))
        except ValueError as error:
            if not isinstance(value, list):
                raise
            raise ValueError(f"item {index}: {error}") from None
    if len(set(urls)) != len(urls):
        raise ValueError("lists a URL twice")
    return tuple(urls)


def parse_secret_url(value: object) -> Secret:
    """A chat webhook URL: a secret, so the message never repeats it."""
    return Secret(parse_http_url(value))


_ADDRESS = re.compile(r"[^\s@<>()\[\],;:\\\"]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def parse_email_address(value: object) -> str:
    """`ops@acme.example` or `ACME Ops <ops@acme.example>`, on one line (a line break would
    let a value add headers to a message)."""
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        raise ValueError("must be an e-mail address like ops@acme.example")
    _, address = email.utils.parseaddr(value.strip())
    if not _ADDRESS.fullmatch(address):
        raise ValueError("must be an e-mail address like ops@acme.example")
    return value.strip()


def parse_email_addresses(value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise ValueError("must be an e-mail address or a list of them")
    return tuple(parse_email_address(item) for item in items)


def email_address_only(text: str) -> str:
    """The address of `Name <address>`, as an SMTP envelope wants it."""
    return email.utils.parseaddr(text)[1]


def parse_host(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9._:\-\[\]]+", value.strip()):
        raise ValueError("must be a host name or IP address")
    return value.strip().strip("[]")


def parse_file_path(value: object) -> Path:
    """A path as written; the reader makes a relative one relative to the file's folder."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a file path")
    return Path(value.strip()).expanduser()


def parse_database(value: object) -> Path | str:
    """A database URL (`postgresql://…`) as written, for the collector's store to say whether it
    can open it; anything else is an SQLite file path (`parse_file_path`)."""
    if isinstance(value, str) and _DATABASE_URL.match(value.strip()):
        return value.strip()
    return parse_file_path(value)


_DATABASE_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def parse_method(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]+", value.strip()):
        raise ValueError("must be an HTTP method like GET or POST")
    if value.strip().upper() == "CONNECT":
        raise ValueError("CONNECT opens a tunnel, not a request a probe can judge")
    return value.strip().upper()


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
"""An RFC 9110 token."""


def parse_string_mapping(value: object) -> dict[str, str]:
    """Free names (labels, headers) to string values; numbers are taken as their text."""
    if not isinstance(value, dict):
        raise ValueError("must be a mapping of names to strings")
    result, problems = {}, []
    for name, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            problems.append((str(name), "must be a string"))
        else:
            result[str(name)] = str(item)
    if problems:
        raise ValueProblems(problems)
    return result


def parse_headers(value: object) -> dict[str, str]:
    headers = parse_string_mapping(value)
    problems = []
    for name, header in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            problems.append(
                (name, "is not a valid header name (letters, digits and !#$%&'*+.^_`|~-)")
            )
        elif any(character in header for character in "\r\n\0"):
            problems.append((name, "must not contain line breaks or NUL"))
    if problems:
        raise ValueProblems(problems)
    return headers


def parse_labels(value: object) -> dict[str, str]:
    labels = parse_string_mapping(value)
    problems = []
    if len(labels) > contract.MAX_LABELS:
        problems.append(("", f"at most {contract.MAX_LABELS} labels"))
    for name, label in labels.items():
        if len(name) > contract.MAX_LABEL_LENGTH or len(label) > contract.MAX_LABEL_LENGTH:
            problems.append((name, f"at most {contract.MAX_LABEL_LENGTH} characters"))
    if problems:
        raise ValueProblems(problems)
    return labels


def parse_regex(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a regular expression string")
    try:
        re.compile(value)
    except re.error as error:
        raise ValueError(f"is not a valid regular expression: {error}") from None
    return value


def parse_quorum(value: object) -> Quorum:
    if isinstance(value, str) and value in contract.QUORUM_WORDS:
        return value  # type: ignore[return-value]
    try:
        number = parse_int(value)
    except ValueError:
        raise ValueError("must be any, majority, all or a number of agents") from None
    if number < 1:
        raise ValueError("must be at least 1 agent")
    return number


# ------------------------------------------------------------------------------- combinators


def one_of(words: tuple[str, ...]) -> Callable[[object], str]:
    def parse(value: object) -> str:
        if value not in words:
            raise ValueError(f"must be one of {', '.join(words)}")
        return str(value)

    return parse


def positive(parse: Callable[[object], float]) -> Callable[[object], float]:
    def parse_positive(value: object) -> float:
        number = parse(value)
        if number <= 0:
            raise ValueError("must be more than 0")
        return number

    return parse_positive


def at_least(low: int, parse: Callable[[object], int]) -> Callable[[object], int]:
    def parse_at_least(value: object) -> int:
        number = parse(value)
        if number < low:
            raise ValueError(f"must be at least {low}")
        return number

    return parse_at_least


def between(low: float, high: float, parse: Callable[[object], Any]) -> Callable[[object], Any]:
    def parse_between(value: object) -> Any:
        number = parse(value)
        if not low <= number <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return number

    return parse_between


# ------------------------------------------------------------------------------------- kinds

DURATION = Kind("duration", parse_duration, example="30s")
POSITIVE_DURATION = Kind("duration > 0", positive(parse_duration), example="5m")
NUMBER = Kind("number", parse_number, example="14")
PERCENT = Kind("number 0–100", between(0, 100, parse_number), example="99.9")
COUNT = Kind("integer ≥ 1", at_least(1, parse_int), example="20")
BOOLEAN = Kind("boolean", parse_bool, example="true")
TEXT = Kind("string", parse_text, example="ACME website")
ID = Kind("id", parse_id, example="acme-web")
IDS = Kind("list of ids", parse_id_list, example="[acme-web, acme-db]")
HTTP_URL = Kind("URL (http, https)", parse_http_url, example="https://acme.example/health")
HTTP_URLS = Kind(
    "URL (http, https) or a list of them",
    parse_http_urls,
    example="[https://a.example.net, https://b.example.net]",
)
SECRET_URL = Kind("URL (http, https)", parse_secret_url, example="${WEBHOOK_URL}")
SECRET_TEXT = Kind("string", parse_secret, example="${TOKEN}")
HOST = Kind("host name or IP address", parse_host, example="db.acme.example")
EMAIL_ADDRESS = Kind("e-mail address", parse_email_address, example="slawatch@acme.example")
EMAIL_ADDRESSES = Kind(
    "e-mail address or list of them", parse_email_addresses, example="[ops@acme.example]"
)
PORT = Kind("port 1–65535", between(1, 65535, parse_int), example="5432")
HOST_PORT = Kind("host:port", parse_host_port, example="127.0.0.1:8480")
FILE_PATH = Kind("file path", parse_file_path, example="/var/lib/slawatch/slawatch.db")
DATABASE = Kind(
    "file path or database URL", parse_database, example="/var/lib/slawatch/slawatch.db"
)
REGEX = Kind("regular expression", parse_regex, example='"^ok"')
STATUS = Kind('status codes: 200, "2xx", "200-299" or a list', parse_status, example="[200, 204]")
METHOD = Kind("HTTP method", parse_method, example="POST")
HEADERS = Kind("mapping of header names to strings", parse_headers, example="{X-Probe: slawatch}")
LABELS = Kind("mapping of names to strings", parse_labels, example="{region: eu}")
TIME_OF_DAY = Kind('time of day "HH:MM"', parse_time_of_day, from_source=True, example='"03:00"')
TIMEZONE = Kind("IANA timezone", parse_timezone, example="Europe/Paris")
QUORUM = Kind("any | majority | all | N", parse_quorum, example="2")
MAPPING = Kind("mapping")
MAPPINGS = Kind("list of mappings")


def choice(words: tuple[str, ...]) -> Kind:
    return Kind(" | ".join(words), one_of(words), example=words[-1])
