"""One agent's view of one check as runs of state (CONTRACT §4.1), in integer milliseconds.

Samples are identified to the millisecond, so every instant here is an int of Unix ms: sums and
comparisons stay exact. This module is the one home of the rule; the stores keep these runs as
a derived table and the SLA engine reads them:
- `append_run` is §4.1 for one unit (a sample is a run of one): merge it into the last run,
  truncate the last run at it, or append it.
- `extend_runs` is the same rule written out for samples newer than a series' last run (the
  ingest path: a sample that extends the open run creates no object); `build_runs` is it from
  nothing.
- `samples_inside` and `merge_late`: what a store re-derives when late samples land among stored
  runs — only the runs around each late sample, whose raw samples may be partly pruned.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

FOREVER_MS = 2**62
"""Later than any sample: the end of an open-ended range."""


@dataclass(frozen=True, slots=True)
class SampleState:
    ts_ms: int
    ok: bool
    interval_ms: int
    error: str | None = None


class StateSample(Protocol):
    """What the rule reads of a sample (a `SampleState`, a store's row…)."""

    @property
    def ts_ms(self) -> int: ...
    @property
    def ok(self) -> bool: ...
    @property
    def interval_ms(self) -> int: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Run:
    """Consecutive samples of one state whose coverage touches: UP or DOWN over [start, end).

    `end_ms` is the coverage of the last sample as far as the samples know (`last_ts + 2i` for the
    newest); the SLA engine clamps it to now. `error` is the first sample's error (DOWN runs).
    """

    start_ms: int
    end_ms: int
    ok: bool
    error: str | None
    last_ts_ms: int
    last_interval_ms: int
    samples: int = 1

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def build_runs(samples: Iterable[StateSample]) -> list[Run]:
    """Runs of samples sorted by `ts_ms`, without duplicate timestamps."""
    ordered = list(samples)
    return extend_runs(None, ordered) if ordered else []


def extend_runs(last: Run | None, samples: Sequence[StateSample]) -> list[Run]:
    """`append_run` of each of `samples` (sorted, at least one, all newer than `last`) after a
    series' last run.

    Returns every run touched, the first replacing `last` (same start) when there is one.
    """
    runs: list[Run] = []
    if last is None:
        first = samples[0]
        samples = samples[1:]
        start = last_ts = first.ts_ms
        interval = first.interval_ms
        end = start + 2 * interval
        ok, error, count = first.ok, None if first.ok else first.error, 1
    else:
        start, end, ok, error = last.start_ms, last.end_ms, last.ok, last.error
        last_ts, interval, count = last.last_ts_ms, last.last_interval_ms, last.samples
    for sample in samples:
        ts = sample.ts_ms
        if sample.ok == ok and ts <= end:
            last_ts, interval, count = ts, sample.interval_ms, count + 1
            end = ts + 2 * interval
            continue
        runs.append(Run(start, min(end, ts), ok, error, last_ts, interval, count))
        start = last_ts = ts
        interval = sample.interval_ms
        end = ts + 2 * interval
        ok, error, count = sample.ok, None if sample.ok else sample.error, 1
    runs.append(Run(start, end, ok, error, last_ts, interval, count))
    return runs


def sample_run(sample: StateSample) -> Run:
    """A sample as a run of one."""
    ts, interval = sample.ts_ms, sample.interval_ms
    error = None if sample.ok else sample.error
    return Run(ts, ts + 2 * interval, sample.ok, error, ts, interval)


def append_run(runs: list[Run], unit: Run) -> None:
    """Add `unit`, a run (or a sample as a run of one) after every run of `runs`: it merges into
    the last run when of the same state and within its coverage, else it truncates the last run
    at its start and follows it. Its end is recomputed from its last sample. (`_fold` is this
    rule over units as tuples, for merging late samples.)"""
    unit_end = unit.last_ts_ms + 2 * unit.last_interval_ms
    if runs:
        last = runs[-1]
        end = min(last.end_ms, unit.start_ms)
        if last.ok == unit.ok and end == unit.start_ms:
            runs[-1] = Run(last.start_ms, unit_end, last.ok, last.error, unit.last_ts_ms,
                           unit.last_interval_ms, last.samples + unit.samples)  # fmt: skip
            return
        if end != last.end_ms:
            runs[-1] = _ending_at(last, end)
    runs.append(unit if unit.end_ms == unit_end else _ending_at(unit, unit_end))


def _ending_at(run: Run, end_ms: int) -> Run:
    return Run(run.start_ms, end_ms, run.ok, run.error, run.last_ts_ms, run.last_interval_ms,
               run.samples)  # fmt: skip


# ------------------------------------------------------------------------------ late samples
#
# A run boundary is decided by two consecutive samples (§4.1). A late sample `x` landing between
# stored samples `p` and `n` replaces the pair (p, n) by (p, x) and (x, n): only the runs holding
# `p` and `n` can change, and only around `x`. So a store merges late samples into the runs
# around each of them, and reads of the raw samples only the two neighbours of a late sample
# that lands inside a run (and how many stored samples of the run lie before it): the work is
# that of the late samples, not of the stretch they span (a day of shuffled history re-read the
# whole day for every batch).


class Neighbours(NamedTuple):
    """What a store reads of the raw samples around a late sample that lands inside a stored
    run (`samples_inside`). (A named tuple, as `SampleRow`: a store makes one per late sample.)"""

    previous: StateSample
    """The stored sample just before the late one."""
    following: StateSample
    """The stored sample just after it."""
    stored_since: int
    """How many stored samples lie in [since, late sample), `since` as `samples_inside` says."""


@dataclass(frozen=True, slots=True)
class LateMerge:
    """What late samples change in a series' runs (`merge_late`)."""

    removed: tuple[int, ...]
    """The starts of the stored runs that are no more."""
    runs: tuple[Run, ...]
    """The runs new or changed, sorted (a stored run the late samples leave as it was is in
    neither: a store writes only what changed)."""
    left_out: tuple[int, ...]
    """Timestamps of late samples left out of the runs (inside a run whose raw samples may be
    pruned, of the other state)."""


def samples_inside(
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


def merge_late(
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
