"""The latency bucket scheme (§4.6): each bucket stands for its latencies within 1 %, counting is
exact whatever the batching, percentiles by nearest rank over raw values and buckets."""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from slawatch.collector.engine.latency import (
    LATENCY_GAMMA,
    MAX_BUCKET,
    ZERO_BUCKET,
    RankedLatencies,
    bucket_range,
    bucket_value,
    count_buckets,
    latency_bucket,
)


def test_latency_buckets_stand_for_their_latencies_within_one_percent() -> None:
    relative = (LATENCY_GAMMA - 1) / (LATENCY_GAMMA + 1)
    assert relative < 0.01
    for latency in (0.001, 0.37, 1.0, 12.5, 84.1, 999.9, 1000.0, 30_000.0, 9.9e6):
        value = bucket_value(latency_bucket(latency))
        assert abs(value - latency) / latency <= relative + 1e-12
    assert bucket_value(latency_bucket(0.0)) == 0.0
    assert latency_bucket(0.0) == latency_bucket(0.0009) == ZERO_BUCKET
    assert latency_bucket(1.7e308) == latency_bucket(1e300) == MAX_BUCKET  # absurd, but stored


def test_an_edge_latency_is_in_the_bucket_it_closes() -> None:
    for k in (-6, 2, 3, 23, 24, 300):
        edge = LATENCY_GAMMA**k
        assert latency_bucket(edge) == k
        assert latency_bucket(edge * (1 + 1e-6)) == k + 1


@given(st.floats(1e-3, 1e12))
def test_a_buckets_range_holds_every_latency_of_it(latency: float) -> None:
    bucket = latency_bucket(latency)
    around = bucket_range(bucket)
    assert around is not None
    low, high = around
    assert low < latency <= high
    assert bucket_range(ZERO_BUCKET) is None


latency_lists = st.lists(
    st.one_of(st.floats(0, 1e7), st.sampled_from([0.0, 1e-4, 1.0, LATENCY_GAMMA**3, 1.7e308])),
    max_size=50,
)


@given(st.lists(latency_lists, min_size=1, max_size=6))
def test_counting_in_batches_gives_each_latency_its_bucket_and_keeps_bucket_order(
    batches: list[list[float]],
) -> None:
    histogram: dict[int, int] = {}
    seen: list[float] = []
    for latencies in batches:
        histogram = count_buckets(histogram, latencies)
        seen += latencies
        expected = Counter(map(latency_bucket, seen))
        assert histogram == expected
        assert list(histogram) == sorted(expected)


@given(st.lists(st.floats(0, 1e6), min_size=1, max_size=200), st.floats(0.01, 100))
def test_a_percentile_of_raw_values_is_by_nearest_rank(
    values: list[float], percentile: float
) -> None:
    found = RankedLatencies.of(values, {}).at(percentile)
    rank = max(1, math.ceil(Fraction(Decimal(repr(percentile))) * len(values) / 100))
    assert found is not None
    assert found == (sorted(values)[rank - 1], None)


def test_a_percentile_in_a_bucket_gives_the_buckets_value_and_index() -> None:
    bucket = latency_bucket(20.0)
    ranked = RankedLatencies.of([10.0, 30.0], {bucket: 3, latency_bucket(5.0): 0})
    assert ranked.count == 5
    assert ranked.at(50) == (bucket_value(bucket), bucket)
    assert ranked.at(20) == (10.0, None)
    assert ranked.at(100) == (30.0, None)
    assert RankedLatencies.of([], {}).at(50) is None


@given(st.lists(latency_lists, min_size=1, max_size=6))
def test_counting_without_keeping_bucket_order_counts_the_same_in_the_same_dict(
    batches: list[list[float]],
) -> None:
    histogram: dict[int, int] = {}
    seen: list[float] = []
    for latencies in batches:
        assert count_buckets(histogram, latencies, in_order=False) is histogram
        seen += latencies
        assert histogram == Counter(map(latency_bucket, seen))
