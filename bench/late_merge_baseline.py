"""`merge_late` and `samples_inside` as they were before their one-pass rewrite (2026-12-07),
kept unchanged as the baseline `bench/late_merge.py` times the current ones against and checks
them with: the same `LateMerge` for every call."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence

from slawatch.collector.engine.timeline import (
    FOREVER_MS,
    LateMerge,
    Neighbours,
    Run,
    StateSample,
)


def old_samples_inside(
    around: Sequence[Run], late: Sequence[StateSample], raw_horizon_ms: int
) -> list[tuple[int, int]]:
    """The late samples (sorted) that land inside a stored run whose raw samples are kept, as
    (ts, since): a store reads their `Neighbours`, counting the stored samples from `since` (the
    run's start, or the previous late sample inside the same run) up to each.

    `around` is the stored runs around the late samples, sorted: for each late sample, the last
    run starting before it and the first run starting after it (those that exist).
    """
    starts = [run.start_ms for run in around]
    inside: list[tuple[int, int]] = []
    since: dict[int, int] = {}
    for sample in late:
        ts = sample.ts_ms
        index = bisect_left(starts, ts) - 1
        if index < 0:
            continue
        run = around[index]
        if ts < run.last_ts_ms and run.start_ms >= raw_horizon_ms:
            inside.append((ts, since.get(index, run.start_ms)))
            since[index] = ts
    return inside


def old_merge_late(
    around: Sequence[Run],
    late: Sequence[StateSample],
    neighbours: Mapping[int, Neighbours],
    raw_horizon_ms: int,
) -> LateMerge:
    """The runs that late samples (sorted, none stored yet, not all after the series' last
    sample) make of the stored runs `around` them (as `samples_inside` says), given the
    `Neighbours` of each late sample `samples_inside` named, by timestamp.

    Each late sample touches the run it lands inside, or the two runs of the gap it lands in;
    runs touched by the same late samples form a stretch, rebuilt as one from its runs (split
    around late samples that land inside them) and its late samples. A run that starts before
    `raw_horizon_ms` (raw samples before it may be pruned) is never split: a late sample inside
    it is counted in it if it has its state, and otherwise left out — the run was decided from
    samples that may no longer be re-read, and keeping its boundaries is better than guessing.
    Late samples that only add to the count of the run they land inside (`_absorb`) are counted
    in it without a rebuild.
    """
    original = {run.start_ms: run for run in around}
    starts = list(original)
    around, late, counted = _absorb(around, starts, late, neighbours, raw_horizon_ms)
    stretches: list[tuple[int, int, list[StateSample]]] = []
    for sample in late:
        index = bisect_left(starts, sample.ts_ms) - 1
        if index >= 0 and sample.ts_ms < around[index].last_ts_ms:
            low = high = index
        else:
            low, high = max(index, 0), min(index + 1, len(around) - 1)
        if stretches and low <= stretches[-1][1]:
            first, _, samples = stretches[-1]
            stretches[-1] = (first, max(high, stretches[-1][1]), samples)
            samples.append(sample)
        else:
            stretches.append((low, high, [sample]))
    removed: list[int] = []
    runs: list[Run] = []
    left_out: list[int] = []
    for low, high, samples in stretches:
        counted.difference_update(range(low, high + 1))
        rebuilt = _merge_stretch(around[low : high + 1], samples, neighbours, raw_horizon_ms,
                                 left_out)  # fmt: skip
        runs += (run for run in rebuilt if original.get(run.start_ms) != run)
        rebuilt_starts = {run.start_ms for run in rebuilt}
        removed += (run.start_ms for run in around[low : high + 1]
                    if run.start_ms not in rebuilt_starts)  # fmt: skip
    if counted:
        runs = sorted([*runs, *(around[index] for index in counted)], key=_start)
    return LateMerge(tuple(removed), tuple(runs), tuple(left_out))


def _absorb(
    around: Sequence[Run],
    starts: Sequence[int],
    late: Sequence[StateSample],
    neighbours: Mapping[int, Neighbours],
    raw_horizon_ms: int,
) -> tuple[Sequence[Run], Sequence[StateSample], set[int]]:
    """Late samples that only add to the count of the run they land inside (the most of those
    that fill the holes of a run): all of its state, each covering the next sample, late or
    stored, in a run whose raw samples are kept. Then no boundary moves: the stored sample
    before each covers it, as it covered the next stored one; the run's first and last samples
    stay its own.

    Returns `around` with those runs counted anew, the other late samples, and the indexes of
    the runs counted anew.
    """
    inside: dict[int, list[StateSample]] = {}
    for sample in late:
        index = bisect_left(starts, sample.ts_ms) - 1
        if index >= 0 and sample.ts_ms < around[index].last_ts_ms:
            inside.setdefault(index, []).append(sample)
    counted: set[int] = set()
    taken: set[int] = set()
    changed = list(around)
    for index, samples in inside.items():
        run = around[index]
        if run.start_ms < raw_horizon_ms or any(sample.ok != run.ok for sample in samples):
            continue
        nexts = [*(sample.ts_ms for sample in samples[1:]), FOREVER_MS]
        if all(
            min(following, neighbours[sample.ts_ms].following.ts_ms)
            <= sample.ts_ms + 2 * sample.interval_ms
            for sample, following in zip(samples, nexts, strict=True)
        ):
            changed[index] = _counting(run, run.samples + len(samples))
            counted.add(index)
            taken.update(sample.ts_ms for sample in samples)
    if not taken:
        return around, late, counted
    return changed, [sample for sample in late if sample.ts_ms not in taken], counted


def _counting(run: Run, samples: int) -> Run:
    return Run(run.start_ms, run.end_ms, run.ok, run.error, run.last_ts_ms, run.last_interval_ms,
               samples)  # fmt: skip


def _start(run: Run) -> int:
    return run.start_ms


_Unit = tuple[int, bool, "str | None", int, int, int]
"""A run in the making: start, ok, error, its last sample's ts and interval, samples. Merging
late samples folds these, not `Run`s (a frozen dataclass costs several times a tuple to make)."""


def _merge_stretch(
    stored: Sequence[Run],
    late: Sequence[StateSample],
    neighbours: Mapping[int, Neighbours],
    raw_horizon_ms: int,
    left_out: list[int],
) -> list[Run]:
    """The runs of consecutive stored runs and the late samples among them."""
    units: list[_Unit] = []
    position = 0
    for run in stored:
        while position < len(late) and late[position].ts_ms < run.start_ms:
            units.append(_sample_unit(late[position]))
            position += 1
        inside = []
        while position < len(late) and late[position].ts_ms < run.last_ts_ms:
            inside.append(late[position])
            position += 1
        if not inside:
            units.append(_run_unit(run, run.samples))
        elif run.start_ms < raw_horizon_ms:
            left_out.extend(sample.ts_ms for sample in inside if sample.ok != run.ok)
            units.append(_run_unit(run, run.samples + sum(s.ok == run.ok for s in inside)))
        else:
            _split(run, inside, neighbours, units)
    units += (_sample_unit(sample) for sample in late[position:])
    # A stretch that ends with its last stored sample ends where its last run did: at the next
    # stored sample (outside the stretch), or two intervals after it.
    ends_stored = bool(stored) and position == len(late)
    return _fold(units, stored[-1].end_ms if ends_stored else FOREVER_MS)


def _run_unit(run: Run, samples: int) -> _Unit:
    return (run.start_ms, run.ok, run.error, run.last_ts_ms, run.last_interval_ms, samples)


def _sample_unit(sample: StateSample) -> _Unit:
    ts, ok = sample.ts_ms, sample.ok
    return (ts, ok, None if ok else sample.error, ts, sample.interval_ms, 1)


def _split(
    run: Run,
    inside: Sequence[StateSample],
    neighbours: Mapping[int, Neighbours],
    units: list[_Unit],
) -> None:
    """`run` cut around the late samples that land inside it: its pieces of stored samples and
    the late samples, as units in order, added to `units`."""
    counted = 0
    first_ts, first_error = run.start_ms, run.error
    for sample in inside:
        around = neighbours[sample.ts_ms]
        if around.stored_since:
            before = around.previous
            units.append((first_ts, run.ok, first_error, before.ts_ms, before.interval_ms,
                          around.stored_since))  # fmt: skip
            counted += around.stored_since
        units.append(_sample_unit(sample))
        first_ts = around.following.ts_ms
        first_error = None if run.ok else around.following.error
    units.append((first_ts, run.ok, first_error, run.last_ts_ms, run.last_interval_ms,
                  run.samples - counted))  # fmt: skip


def _fold(units: Sequence[_Unit], cap_ms: int) -> list[Run]:
    """`append_run`'s rule over `units` (at least one, in order); the last run ends no later
    than `cap_ms`."""
    runs: list[Run] = []
    start, ok, error, last_ts, interval, count = units[0]
    end = last_ts + 2 * interval
    for unit in units[1:]:
        if unit[1] == ok and unit[0] <= end:
            last_ts, interval, count = unit[3], unit[4], count + unit[5]
            end = last_ts + 2 * interval
            continue
        runs.append(Run(start, min(end, unit[0]), ok, error, last_ts, interval, count))
        start, ok, error, last_ts, interval, count = unit
        end = last_ts + 2 * interval
    runs.append(Run(start, min(end, cap_ms), ok, error, last_ts, interval, count))
    return runs
