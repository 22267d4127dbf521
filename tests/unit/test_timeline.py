"""One agent's view of one check as runs (CONTRACT §4.1)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from slawatch.collector.engine.timeline import Run, SampleState, build_runs


def s(ts: int, ok: bool, interval: int = 10, error: str | None = None) -> SampleState:
    return SampleState(ts, ok, interval, error)


def spans(runs: list[Run]) -> list[tuple[int, int, bool]]:
    return [(r.start_ms, r.end_ms, r.ok) for r in runs]


def test_samples_of_one_state_make_one_run_ending_two_intervals_after_the_last() -> None:
    runs = build_runs([s(0, True), s(10, True), s(20, True)])
    assert spans(runs) == [(0, 40, True)]
    assert (runs[0].samples, runs[0].last_ts_ms) == (3, 20)


def test_a_change_of_state_ends_the_run_at_the_next_sample() -> None:
    runs = build_runs([s(0, True), s(10, False, error="refused"), s(20, False), s(30, True)])
    assert spans(runs) == [(0, 10, True), (10, 30, False), (30, 50, True)]
    assert runs[1].error == "refused"
    assert runs[0].error is None


def test_coverage_never_reaches_past_two_intervals() -> None:
    assert spans(build_runs([s(0, True), s(100, True)])) == [(0, 20, True), (100, 120, True)]
    assert spans(build_runs([s(0, True), s(100, False)])) == [(0, 20, True), (100, 120, False)]


def test_the_interval_of_each_sample_bounds_its_own_coverage() -> None:
    assert spans(build_runs([s(0, True, 5), s(12, True, 30)])) == [(0, 10, True), (12, 72, True)]


samples = st.lists(
    st.tuples(st.integers(0, 500), st.booleans(), st.integers(1, 40)),
    max_size=40,
    unique_by=lambda t: t[0],
).map(lambda items: [s(ts, ok, i) for ts, ok, i in sorted(items)])


@given(samples)
def test_runs_agree_with_the_definition_at_every_millisecond(trace: list[SampleState]) -> None:
    runs = build_runs(trace)
    for t in range(600):
        expected = None
        for k, sample in enumerate(trace):
            end = sample.ts_ms + 2 * sample.interval_ms
            if k + 1 < len(trace):
                end = min(end, trace[k + 1].ts_ms)
            if sample.ts_ms <= t < end:
                expected = sample.ok
        covering = [r.ok for r in runs if r.start_ms <= t < r.end_ms]
        assert covering == ([] if expected is None else [expected])


@given(samples)
def test_runs_are_maximal_and_ordered(trace: list[SampleState]) -> None:
    runs = build_runs(trace)
    for before, after in itertools.pairwise(runs):
        assert before.end_ms <= after.start_ms
        assert not (before.end_ms == after.start_ms and before.ok == after.ok)
    assert sum(r.samples for r in runs) == len(trace)
