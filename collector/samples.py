"""A validated sample as the store takes it: the one row type of ingest and of every store.

Neutral ground: the push route's validator (`slawatch.collector.ingest.batch`) makes these rows
and the stores take them, without either importing the other.
"""

from __future__ import annotations

from typing import NamedTuple


class SampleRow(NamedTuple):
    """One validated sample: the store's columns first, in order (`STORED_FIELDS`), so that a
    row becomes its insert parameters with one slice."""

    ts_ms: int
    ok: bool
    latency_ms: float | None
    interval_ms: int
    status_code: int | None
    error: str | None
    dns_us: float | None
    """The phases (`phases_ms`) in whole microseconds
    (`slawatch.collector.ingest.batch.phase_microseconds`)."""
    connect_us: float | None
    tls_us: float | None
    ttfb_us: float | None
    transfer_us: float | None
    tls_expires: float | None
    check: str
    type: str | None


STORED_FIELDS = 12
"""`row[:STORED_FIELDS]` are the sample's columns after its series."""
