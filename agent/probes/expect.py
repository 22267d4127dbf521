"""Expectations both probes share, each giving the sample's `error` or None when met."""

from __future__ import annotations

import functools
import re
import time

from slawatch.agent.probes.tls import expiry_problem
from slawatch.config.values import format_duration


def certificate_expiring(tls_min_days: float | None, tls_expires: float | None) -> str | None:
    if tls_min_days is None or tls_expires is None:
        return None
    return expiry_problem(tls_expires, tls_min_days, time.time())


def slower_than(max_latency: float | None, latency_us: int) -> str | None:
    if max_latency is None or latency_us <= max_latency * 1_000_000:
        return None
    return f"slower than {format_duration(max_latency)} ({latency_us / 1_000_000:.3f}s)"


def text_lacks(
    text: str, contains: str | None, regex: str | None, what: str, *, lines: bool = False
) -> str | None:
    """`body lacks 'ok'`, `banner does not match /^SSH-/`; with `lines`, `^` and `$` of the
    regex match at each line (a DNS answer's records)."""
    if contains is not None and contains not in text:
        return f"{what} lacks {shorten(contains)!r}"
    if regex is not None and not compiled(regex, re.MULTILINE if lines else 0).search(text):
        return f"{what} does not match /{shorten(regex)}/"
    return None


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
