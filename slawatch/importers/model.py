"""What an import yields, whatever the tool it comes from: checks, channels and rules as
slawatch's config writes them, the secrets they reference, and what could not be mapped.

The readers (`kuma`, `gatus`) build an `Imported`; `render` turns it into YAML text. Keeping the
two apart lets the tests compare what was understood, not only how it is printed.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from typing import Any

ID_CHARS = re.compile(r"[^a-z0-9._-]+")
MAX_ID = 128


@dataclass(frozen=True, slots=True)
class ImportedCheck:
    """One check: `data` is its mapping as written in `checks:`; `source` says where it came
    from and `notes` what of the source was not carried over (each one a YAML comment)."""

    data: dict[str, Any]
    source: str
    notes: tuple[str, ...] = ()
    origin: int | None = None
    """The source's own id of what it came from (an Uptime Kuma monitor id), for `--history`."""

    @property
    def id(self) -> str:
        return str(self.data["id"])


@dataclass(frozen=True, slots=True)
class ImportedChannel:
    data: dict[str, Any]
    source: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImportedRule:
    data: dict[str, Any]
    why: str
    """How the source's retries or thresholds became `after`, said beside the rule."""


@dataclass(frozen=True, slots=True)
class Skipped:
    """A monitor, endpoint or notification that has no slawatch equivalent, and why."""

    what: str
    why: str
    section: str = "checks"
    """Where its comment goes: `checks` or `channels`."""


@dataclass(frozen=True, slots=True)
class Imported:
    tool: str
    file: str
    checks: tuple[ImportedCheck, ...]
    channels: tuple[ImportedChannel, ...] = ()
    rules: tuple[ImportedRule, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    secrets: dict[str, str] = field(default_factory=dict)
    """Environment variable → value, for each secret the YAML references as `${NAME}`."""


class SourceError(Exception):
    """The source cannot be read as the tool's: the message names the file and says why."""


def check_id(name: str, taken: set[str], fallback: str) -> str:
    """A check or channel id (`[a-z0-9][a-z0-9._-]{0,127}`) from a display name (accents
    dropped: `Café` → `cafe`), unique among `taken` (which it joins)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = ID_CHARS.sub("-", ascii_name.lower()).strip("-._")[: MAX_ID - 4] or fallback
    if not base[0].isalnum():
        base = f"{fallback}-{base}"[: MAX_ID - 4]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    taken.add(candidate)
    return candidate


def env_name(*parts: str) -> str:
    """An environment variable name from id parts: `ops-chat`, `url` → `OPS_CHAT_URL`."""
    return re.sub(r"[^A-Z0-9]+", "_", "_".join(parts).upper()).strip("_")


def seconds_text(seconds: float) -> str:
    """A duration as slawatch writes it: `90s`, `5m`, `1h`, `500ms`."""
    ms = round(seconds * 1000)
    if ms % 1000:
        return f"{ms}ms"
    whole = ms // 1000
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole and whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s"


def new_secret() -> str:
    """A signing key for a channel the source had none for (slawatch's webhook signs)."""
    return secrets.token_hex(32)
