"""The shape of an alert message and how channels lay it out within their limits.

`Message` is what `alerts.text.compose` says (a title, a one-line summary, facts, list lines, a
link) and its `Tone`; channel modules map it to their service's markup. Their limits are counted
in characters, UTF-16 units (`utf16_len`) or bytes (`utf8_len`): `clip` and `fit_lines` cut to
them, `plain_text` writes a whole message as text (ntfy, an e-mail's text part).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from slawatch.collector.alerts.formats import format_instant

Tone = Literal["bad", "warning", "good", "info"]
"""How a channel colours the message: red, amber, green, neutral."""
TONE_COLORS: dict[Tone, int] = {
    "bad": 0xD92D20,
    "warning": 0xF79009,
    "good": 0x12B76A,
    "info": 0x2E90FA,
}
ELLIPSIS = "…"
_SPACES = re.compile(r"[\s\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Fact:
    label: str
    value: str
    short: bool = True
    """Short facts sit side by side (two columns); long ones take a row of their own."""


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    title: str
    summary: str
    """The first line: what, where, since when, in one line."""
    tone: Tone
    at: float
    facts: tuple[Fact, ...] = ()
    lines: tuple[str, ...] = ()
    """List items: a storm's changes, one per line."""
    link: str | None = None


def plain_text(message: Message, limit: int, measure: Callable[[str], int] = len) -> str:
    """The message as plain text within `limit` units of `measure` (ntfy's bytes, an e-mail's
    text part): the summary, the facts as `Label: value` lines, the list lines, the link."""
    head = [clip(message.summary, limit // 4, measure), ""]
    tail = [""]
    if message.link:
        tail.append(f"Open in slawatch: {message.link}")
    tail.append(f"slawatch · {format_instant(message.at)}")
    body = [_plain_fact(fact) for fact in message.facts]
    body += [f"• {line}" for line in message.lines]
    room = limit - measure("\n".join(head + tail)) - 1
    kept = fit_lines((clip(line, room, measure) for line in body), room, measure)
    return "\n".join(head + kept + tail)


def _plain_fact(fact: Fact) -> str:
    separator = "\n" if "\n" in fact.value else " "
    return f"{fact.label}:{separator}{fact.value}"


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def one_line(text: str) -> str:
    """Whitespace and control characters collapsed: remote errors may carry anything."""
    return _SPACES.sub(" ", text).strip()


def clip(text: str, limit: int, measure: Callable[[str], int] = len) -> str:
    """`text` cut to at most `limit` units of `measure`, ending with "…" when cut.

    `measure` must add up per character and count each at least 1 (`len`, `utf16_len`, the
    length after escaping), so the longest prefix that fits is found by bisection.
    """
    if measure(text) <= limit:
        return text
    budget = limit - measure(ELLIPSIS)
    if budget < 0:
        return ""
    low, high = 0, min(len(text), budget)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= budget:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def fit_lines(lines: Iterable[str], room: int, measure: Callable[[str], int] = len) -> list[str]:
    """As many `lines` as fit in `room` units (joined by newlines), then "… and N more"."""
    pending = list(lines)
    kept: list[str] = []
    for index, line in enumerate(pending):
        more = f"… and {len(pending) - index} more"
        rest_fits = index == len(pending) - 1 or measure(more) + 1 <= room - measure(line) - 1
        if measure(line) + 1 > room or not rest_fits:
            kept.append(more)
            break
        kept.append(line)
        room -= measure(line) + 1
    return kept


def utf16_len(text: str) -> int:
    """Length as JavaScript counts it (Discord, Telegram): astral characters count 2."""
    return len(text.encode("utf-16-le")) // 2
