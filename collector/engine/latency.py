"""Latency buckets: the one scheme of the hourly histograms, and percentiles over them (§4.6).

A store keeps, per series and hour, a histogram of its ok samples' latencies: bucket i holds the
latencies in (γ^(i-1), γ^i] ms, γ = `LATENCY_GAMMA`, and stands for 2·γ^i/(γ+1), within
(γ-1)/(γ+1) < 1 % of every latency in it. So a month's percentiles need no raw samples, and
stay within 1 % of the exact ones (§4.6 allows 2 %). Pure: the store counts with
`count_buckets` and the SLA engine ranks with `RankedLatencies`; how a histogram is encoded is
the store's business.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

LATENCY_GAMMA = 1.02
ZERO_BUCKET = -(2**15)
"""The bucket of latencies of 0 ms (and below the smallest bucket)."""
MIN_LATENCY_MS = 1e-3
MAX_BUCKET = 2**15 - 1
"""Latencies beyond γ^MAX_BUCKET ms (10^281 ms: nonsense, but finite) share the last bucket."""
_BELOW_MAX_BUCKET = LATENCY_GAMMA ** (MAX_BUCKET - 1)
"""Latencies below this one fall in buckets below `MAX_BUCKET`: no need to cap them."""
_LOG_GAMMA = math.log(LATENCY_GAMMA)
_EDGE_SLACK = 1e-9
"""A latency a hair above an edge γ^k (by float error in the logarithm) stays in bucket k."""


def latency_bucket(latency_ms: float) -> int:
    """The bucket that counts `latency_ms`."""
    if latency_ms < MIN_LATENCY_MS:
        return ZERO_BUCKET
    return min(MAX_BUCKET, math.ceil(math.log(latency_ms) / _LOG_GAMMA - _EDGE_SLACK))


def bucket_value(bucket: int) -> float:
    """The latency (ms) that stands for every latency of `bucket`."""
    if bucket == ZERO_BUCKET:
        return 0.0
    return 2 * LATENCY_GAMMA**bucket / (LATENCY_GAMMA + 1)


def bucket_range(bucket: int) -> tuple[float, float] | None:
    """(low, high]: a range a little wider than `bucket`'s latencies, for a database to find
    them by (keep those whose `latency_bucket` is `bucket`); None for `ZERO_BUCKET`."""
    if bucket == ZERO_BUCKET:
        return None
    return LATENCY_GAMMA ** (bucket - 1.01), LATENCY_GAMMA ** (bucket + 0.01)


def count_buckets(
    histogram: dict[int, int], latencies: Sequence[float], *, in_order: bool = True
) -> dict[int, int]:
    """`histogram` (bucket → count, in bucket order) with `latencies` counted in; returns it, or
    a new dict in bucket order when a new bucket came in. With `in_order=False` new buckets stay
    at the end, in `histogram` itself (putting 50 buckets back in order costs several times
    counting one latency: a store that sorts them when it encodes them need not).

    Written for the ingest path, which counts a few samples of each series at a time: the
    buckets are computed by C loops (`map`) with the very operations of `latency_bucket`, so
    every bucket is the one it gives. The histogram stays in bucket order (rare to change once an
    hour has had a few batches), which a store may encode as it is.
    """
    if not latencies:
        return histogram
    if min(latencies) >= MIN_LATENCY_MS and max(latencies) < _BELOW_MAX_BUCKET:
        exponents = map(_LOG_GAMMA.__rtruediv__, map(math.log, latencies))
        buckets: Iterable[int] = map(math.ceil, map(_EDGE_SLACK.__rsub__, exponents))
    else:
        buckets = map(latency_bucket, latencies)
    known = len(histogram)
    for bucket in buckets:
        histogram[bucket] = histogram.get(bucket, 0) + 1
    if in_order and len(histogram) > known:  # new buckets went to the end: back in order
        return dict(sorted(histogram.items()))
    return histogram


@dataclass(frozen=True, slots=True)
class RankedLatencies:
    """Raw latencies and histogram buckets in one order, for percentiles by nearest rank."""

    values: list[float]
    """Sorted."""
    buckets: list[tuple[float, int, int]]
    """(the latency a bucket stands for, its count, its bucket), sorted."""
    count: int

    @classmethod
    def of(cls, values: Iterable[float], buckets: Mapping[int, int]) -> RankedLatencies:
        ranked_buckets = sorted(
            (bucket_value(bucket), count, bucket) for bucket, count in buckets.items() if count > 0
        )
        sorted_values = sorted(values)
        count = len(sorted_values) + sum(count for _, count, _ in ranked_buckets)
        return cls(sorted_values, ranked_buckets, count)

    def at(self, percentile: float) -> tuple[float, int | None] | None:
        """The `percentile`-th latency by nearest rank and the bucket it comes from (None for a
        raw value); None without latencies."""
        if self.count == 0:
            return None
        rank = max(1, math.ceil(Fraction(Decimal(repr(percentile))) * self.count / 100))
        values, before = self.values, 0
        for value, count, bucket in self.buckets:
            if bisect_left(values, value) + before >= rank:
                return values[rank - before - 1], None
            if bisect_right(values, value) + before + count >= rank:
                return value, bucket
            before += count
        return values[rank - before - 1], None
