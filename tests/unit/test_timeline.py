"""One agent's view of one check as runs (CONTRACT §4.1)."""

from __future__ import annotations

import dataclasses
import itertools
import random

from hypothesis import assume, given
from hypothesis import strategies as st

from slawatch.collector.engine.timeline import (
    FOREVER_MS,
    Neighbours,
    Run,
    SampleState,
    append_run,
    build_runs,
    extend_runs,
    merge_late,
    sample_run,
    samples_inside,
)


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


@given(samples, st.integers(0, 40))
def test_extending_the_last_run_gives_the_runs_of_all_the_samples(
    trace: list[SampleState], cut: int
) -> None:
    """The ingest path's form of the rule (`extend_runs`) and its form for units (`append_run`)
    agree with each other and with `build_runs`."""
    folded: list[Run] = []
    for sample in trace:
        append_run(folded, sample_run(sample))
    assert folded == build_runs(trace)
    head, tail = trace[:cut], trace[cut:]
    runs = build_runs(head)
    if tail:
        touched = extend_runs(runs[-1] if runs else None, tail)
        runs = runs[:-1] + touched if runs else touched
    assert runs == build_runs(trace)


def around(runs: list[Run], late: list[SampleState]) -> list[Run]:
    """The stored runs a store reads for `merge_late`: around each late sample, the last run
    starting before it and the first starting after it."""
    picked = set()
    for sample in late:
        before = [r for r in runs if r.start_ms < sample.ts_ms]
        after = [r for r in runs if r.start_ms > sample.ts_ms]
        picked |= {before[-1].start_ms} if before else set()
        picked |= {after[0].start_ms} if after else set()
    return [r for r in runs if r.start_ms in picked]


def neighbours_of(
    stored: list[SampleState], inside: list[tuple[int, int]]
) -> dict[int, Neighbours]:
    """What a store reads of its raw samples for `samples_inside`'s answer."""
    found = {}
    for ts, since in inside:
        before = [x for x in stored if x.ts_ms < ts]
        after = [x for x in stored if x.ts_ms > ts]
        count = sum(since <= x.ts_ms < ts for x in stored)
        found[ts] = Neighbours(before[-1], after[0], count)
    return found


def merged(
    runs: list[Run], stored: list[SampleState], late: list[SampleState], horizon: int
) -> tuple[list[Run], list[int]]:
    """A series' runs after `merge_late` of `late` into the runs of `stored`."""
    near = around(runs, late)
    inside = samples_inside(near, late, horizon)
    merge = merge_late(near, late, neighbours_of(stored, inside), horizon)
    new = {r.start_ms for r in merge.runs}
    assert not new & set(merge.removed)
    # only what changed, sorted: a store writes these as they are
    by_start = {r.start_ms: r for r in runs}
    assert all(by_start.get(r.start_ms) != r for r in merge.runs)
    assert [r.start_ms for r in merge.runs] == sorted(new)
    assert list(merge.removed) == sorted(set(merge.removed)) and set(merge.removed) <= set(by_start)
    kept = [r for r in runs if r.start_ms not in merge.removed and r.start_ms not in new]
    return sorted(kept + list(merge.runs), key=lambda r: r.start_ms), list(merge.left_out)


errors = samples.map(lambda trace: [s(x.ts_ms, x.ok, x.interval_ms, f"e{x.ts_ms}") for x in trace])


@given(errors, st.data())
def test_merging_late_samples_into_the_runs_around_them_gives_the_runs_of_all_the_samples(
    trace: list[SampleState], data: st.DataObject
) -> None:
    late = data.draw(st.sets(st.sampled_from(trace), min_size=1)) if trace else set()
    stored = [s for s in trace if s not in late]
    # not all after the stored ones: that is `extend_runs`
    assume(late and stored and min(x.ts_ms for x in late) < stored[-1].ts_ms)
    runs, left_out = merged(build_runs(stored), stored, sorted(late, key=lambda x: x.ts_ms),
                            -FOREVER_MS)  # fmt: skip
    assert runs == build_runs(trace)
    assert left_out == []


def test_late_samples_inside_one_run_cut_it_in_pieces_counted_from_the_raw_neighbours() -> None:
    stored = [s(t, True, 10, None) for t in range(0, 200, 10)]
    late = [s(45, False, 10, "refused"), s(47, False, 10, "again"), s(125, True, 10)]
    runs, _ = merged(build_runs(stored), stored, late, -FOREVER_MS)
    assert runs == [
        Run(0, 45, True, None, 40, 10, 5),
        Run(45, 50, False, "refused", 47, 10, 2),
        Run(50, 210, True, None, 190, 10, 16),
    ]


def test_late_samples_that_fill_holes_of_their_runs_state_only_add_to_its_count() -> None:
    stored = [s(t, True, 10) for t in (0, 20, 40, 60, 80)]
    late = [s(10, True, 10), s(30, True, 10), s(70, True, 10)]
    runs = build_runs(stored)
    near = around(runs, late)
    merge = merge_late(near, late, neighbours_of(stored, samples_inside(near, late, -FOREVER_MS)),
                       -FOREVER_MS)  # fmt: skip
    assert (list(merge.runs), merge.removed) == ([Run(0, 100, True, None, 80, 10, 8)], ())
    assert merged(runs, stored, late, -FOREVER_MS)[0] == build_runs(
        sorted(stored + late, key=lambda x: x.ts_ms)
    )


def test_a_late_sample_that_does_not_cover_the_next_one_cuts_its_run_though_of_its_state() -> None:
    """A late sample's own interval bounds its coverage: one of 4 ms at 10 reaches 18, short of
    the stored sample at 20 (and of the late one at 19 that it precedes, in the second case)."""
    stored = [s(t, True, 10) for t in (0, 20, 40)]
    for late in (
        [s(10, True, 4)],
        [s(10, True, 4), s(19, True, 10)],
        [s(5, True, 10), s(10, True, 4)],
    ):
        expected = build_runs(sorted(stored + late, key=lambda x: x.ts_ms))
        assert len(expected) == 2
        assert merged(build_runs(stored), stored, late, -FOREVER_MS)[0] == expected


def test_a_late_sample_inside_a_run_taken_whole_counts_in_it_or_is_left_out() -> None:
    """Before the raw horizon a stored run is a unit: a late sample of its state counts in it,
    one of the other state leaves it as it is (its raw samples may be pruned)."""
    unit = Run(0, 100, True, None, 80, 10, 9)
    after = Run(200, 220, True, None, 200, 10, 1)
    counted = Run(0, 100, True, None, 80, 10, 10)
    for late, changed, left_out in ((s(45, True), [counted], []), (s(45, False), [], [45])):
        assert samples_inside([unit, after], [late], raw_horizon_ms=150) == []
        merge = merge_late([unit, after], [late], {}, raw_horizon_ms=150)
        assert (list(merge.runs), merge.removed, list(merge.left_out)) == (changed, (), left_out)


def test_a_run_counted_anew_between_rebuilt_stretches_comes_out_in_order() -> None:
    """A late sample that only fills a hole of its run counts it anew, between late samples in
    gaps before and after it that rebuild their own stretches: the runs come out in order."""
    stored = [s(t, True, 10) for t in (0, 10, 60, 70, 120, 130, 150, 200, 210, 300, 310)]
    late = [s(40, False, 10, "e40"), s(140, True, 10), s(250, True, 10)]
    runs = build_runs(stored)
    near = around(runs, late)
    assert len(near) == 5
    merge = merge_late(near, late, neighbours_of(stored, samples_inside(near, late, -FOREVER_MS)),
                       -FOREVER_MS)  # fmt: skip
    assert list(merge.runs) == [
        Run(40, 60, False, "e40", 40, 10, 1),
        Run(120, 170, True, None, 150, 10, 4),
        Run(250, 270, True, None, 250, 10, 1),
    ]
    assert merge.removed == ()
    assert merged(runs, stored, late, -FOREVER_MS)[0] == build_runs(
        sorted(stored + late, key=lambda x: x.ts_ms)
    )


def runs_taking_old_runs_whole(
    stored: list[SampleState], late: list[SampleState], horizon: int
) -> tuple[list[Run], list[int]]:
    """The rule (`append_run`) over all the samples, but for the stored runs starting before
    `horizon` that late samples land inside: each is one unit, counting those of its state; the
    others are left out."""
    units: list[Run] = []
    taken: set[int] = set()
    left_out: list[int] = []
    for run in build_runs(stored):
        inside = [x for x in late if run.start_ms < x.ts_ms < run.last_ts_ms]
        if run.start_ms < horizon and inside:
            same = sum(x.ok == run.ok for x in inside)
            left_out += [x.ts_ms for x in inside if x.ok != run.ok]
            units.append(dataclasses.replace(run, samples=run.samples + same))
            taken |= {x.ts_ms for x in inside}
            taken |= {x.ts_ms for x in stored if run.start_ms <= x.ts_ms <= run.last_ts_ms}
    units += [sample_run(x) for x in stored + late if x.ts_ms not in taken]
    folded: list[Run] = []
    for unit in sorted(units, key=lambda r: r.start_ms):
        append_run(folded, unit)
    return folded, sorted(left_out)


@given(errors, st.data())
def test_late_samples_inside_runs_older_than_the_raw_horizon_count_in_them_or_are_left_out(
    trace: list[SampleState], data: st.DataObject
) -> None:
    late = data.draw(st.sets(st.sampled_from(trace), min_size=1)) if trace else set()
    stored = [s for s in trace if s not in late]
    assume(late and stored and min(x.ts_ms for x in late) < stored[-1].ts_ms)
    # at a run's start too: the raw samples from the horizon on are kept
    starts = [r.start_ms for r in build_runs(stored)]
    horizon = data.draw(st.integers(-10, 510) | st.sampled_from(starts))
    ordered = sorted(late, key=lambda x: x.ts_ms)
    runs, left_out = merged(build_runs(stored), stored, ordered, horizon)
    assert (runs, left_out) == runs_taking_old_runs_whole(stored, ordered, horizon)


@given(errors, st.randoms(use_true_random=False), st.integers(1, 6))
def test_samples_arriving_in_batches_in_any_order_give_the_runs_of_all_the_samples(
    trace: list[SampleState], rng: random.Random, batches: int
) -> None:
    """As a store ingests: each batch's samples newer than the series' last sample extend its
    runs, the others are merged into the runs around them (runs counted anew, then rebuilt)."""
    shuffled = trace[:]
    rng.shuffle(shuffled)
    stored: list[SampleState] = []
    runs: list[Run] = []
    for first in range(batches):
        batch = sorted(shuffled[first::batches], key=lambda x: x.ts_ms)
        if not batch:
            continue
        if not runs or batch[0].ts_ms > runs[-1].last_ts_ms:
            touched = extend_runs(runs[-1] if runs else None, batch)
            runs = runs[:-1] + touched if runs else touched
        else:
            runs, left_out = merged(runs, stored, batch, -FOREVER_MS)
            assert left_out == []
        stored = sorted(stored + batch, key=lambda x: x.ts_ms)
    assert runs == build_runs(trace)
