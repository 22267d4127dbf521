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
    previous = -1
    for sample in late:
        ts = sample.ts_ms
        index = bisect_left(starts, ts) - 1
        if index < 0:
            continue
        run = around[index]
        if ts < run.last_ts_ms and run.start_ms >= raw_horizon_ms:
            inside.append((ts, inside[-1][0] if index == previous else run.start_ms))
            previous = index
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
    Late samples that only add to the count of the run they land inside (`_absorbs`) are counted
    in it without a rebuild.

    One pass over the late samples, in order: each is placed among the runs once, and the
    stretch it belongs to is folded when the next late sample starts another one.
    """
    if not around:
        return LateMerge((), tuple(sample_run(sample) for sample in late), ())
    merge = _Merge(around)
    starts = merge.starts
    last_index = len(around) - 1
    position, total = 0, len(late)
    while position < total:
        sample = late[position]
        ts = sample.ts_ms
        index = bisect_left(starts, ts) - 1
        if index >= 0 and ts < (run := around[index]).last_ts_ms:
            end = position + 1
            last_ts = run.last_ts_ms
            while end < total and late[end].ts_ms < last_ts:
                end += 1
            group = late[position:end]
            position = end
            if _absorbs(run, group, neighbours, raw_horizon_ms):
                merge.count(index, run.samples + len(group))
            else:
                merge.reach(index, index)
                merge.feed_to(index)
                if run.start_ms < raw_horizon_ms:
                    merge.units.append(_counted_unit(run, group, merge.left_out))
                else:
                    _split(run, group, neighbours, merge.units)
                merge.fed = index + 1
            continue
        position += 1
        if index < 0:
            merge.reach(0, 0)
        else:
            merge.reach(index, index + 1 if index < last_index else index)
            merge.feed_to(index + 1)
            merge.open_ended = index == last_index
        merge.units.append(_sample_unit(sample))
    merge.close()
    merge.flush_counted(len(around))
    return LateMerge(tuple(merge.removed), tuple(merge.runs), tuple(merge.left_out))


class _Merge:
    """The state of `merge_late`'s pass: the stretch being gathered (its runs `low`..`high`,
    those before `fed` already its units), the runs counted anew, and the result so far."""

    __slots__ = (
        "around",
        "counted",
        "counts",
        "fed",
        "high",
        "left_out",
        "low",
        "open_ended",
        "removed",
        "runs",
        "starts",
        "units",
    )  # fmt: skip

    def __init__(self, around: Sequence[Run]) -> None:
        self.around = around
        self.starts = [run.start_ms for run in around]
        self.low = self.high = self.fed = -1
        self.open_ended = False
        self.units: list[_Unit] = []
        self.counts: dict[int, int] = {}
        """Runs that late samples only add to the count of (`_absorbs`): index -> samples."""
        self.counted: list[int] = []
        """The indexes of `counts` not yet in a stretch or in the result, in order."""
        self.removed: list[int] = []
        self.runs: list[Run] = []
        self.left_out: list[int] = []

    def count(self, index: int, samples: int) -> None:
        self.counts[index] = samples
        self.counted.append(index)

    def reach(self, low: int, high: int) -> None:
        """The next late sample touches runs `low`..`high`: it joins the stretch being gathered
        if that holds run `low`, else it starts the next one."""
        if low > self.high:
            self.close()
            self.flush_counted(low)
            self.low = self.fed = low
        self.high = max(self.high, high)

    def feed_to(self, stop: int) -> None:
        """Runs of the stretch before `stop` not yet in it join it whole."""
        around, counts, units = self.around, self.counts, self.units
        for index in range(self.fed, stop):
            run = around[index]
            units.append((run.start_ms, run.ok, run.error, run.last_ts_ms, run.last_interval_ms,
                          counts.get(index, run.samples), run))  # fmt: skip
        self.fed = max(self.fed, stop)

    def close(self) -> None:
        """Fold the stretch gathered, if any, into the result."""
        if not self.units:
            return
        self.feed_to(self.high + 1)
        # A stretch that ends with its last stored sample ends where its last run did: at the
        # next stored sample (outside the stretch), or two intervals after it.
        cap = FOREVER_MS if self.open_ended else self.around[self.high].end_ms
        _fold(self.units, cap, self.runs, self.removed)
        self.units = []
        self.open_ended = False

    def flush_counted(self, stop: int) -> None:
        """Runs counted anew before run `stop` (and after the last stretch folded, `high`) go
        to the result with their new count; those inside that stretch were folded in it."""
        counted = self.counted
        while counted and counted[0] < stop:
            index = counted.pop(0)
            if index > self.high:
                self.runs.append(_counting(self.around[index], self.counts[index]))


def _absorbs(
    run: Run,
    inside: Sequence[StateSample],
    neighbours: Mapping[int, Neighbours],
    raw_horizon_ms: int,
) -> bool:
    """Whether the late samples `inside` a run only add to its count (the most of those that
    fill the holes of a run): all of its state, each covering the next sample, late or stored,
    in a run whose raw samples are kept. Then no boundary moves: the stored sample before each
    covers it, as it covered the next stored one; the run's first and last samples stay its
    own."""
    if run.start_ms < raw_horizon_ms:
        return False
    ok = run.ok
    for sample in inside:
        if sample.ok != ok:
            return False
    last = len(inside) - 1
    for position, sample in enumerate(inside):
        ts = sample.ts_ms
        reach = ts + 2 * sample.interval_ms
        if neighbours[ts].following.ts_ms > reach and (
            position == last or inside[position + 1].ts_ms > reach
        ):
            return False
    return True


def _counting(run: Run, samples: int) -> Run:
    return Run(run.start_ms, run.end_ms, run.ok, run.error, run.last_ts_ms, run.last_interval_ms,
               samples)  # fmt: skip


_Unit = tuple[int, bool, "str | None", int, int, int, "Run | None"]
"""A run in the making: start, ok, error, its last sample's ts and interval, samples, and the
stored run it starts (None for a late sample or a piece of a run after the first). Merging late
samples folds these, not `Run`s (a frozen dataclass costs several times a tuple to make)."""


def _sample_unit(sample: StateSample) -> _Unit:
    ts, ok = sample.ts_ms, sample.ok
    return (ts, ok, None if ok else sample.error, ts, sample.interval_ms, 1, None)


def _counted_unit(run: Run, inside: Sequence[StateSample], left_out: list[int]) -> _Unit:
    """A run taken whole (its raw samples may be pruned) with the late samples inside it: those
    of its state counted in it, the others added to `left_out`."""
    ok, samples = run.ok, run.samples
    for sample in inside:
        if sample.ok == ok:
            samples += 1
        else:
            left_out.append(sample.ts_ms)
    return (run.start_ms, ok, run.error, run.last_ts_ms, run.last_interval_ms, samples, run)


def _split(
    run: Run,
    inside: Sequence[StateSample],
    neighbours: Mapping[int, Neighbours],
    units: list[_Unit],
) -> None:
    """`run` cut around the late samples that land inside it: its pieces of stored samples and
    the late samples, as units in order, added to `units`."""
    counted = 0
    first_ts, first_error, stored = run.start_ms, run.error, run
    ok = run.ok
    for sample in inside:
        around = neighbours[sample.ts_ms]
        if around.stored_since:
            before = around.previous
            units.append((first_ts, ok, first_error, before.ts_ms, before.interval_ms,
                          around.stored_since, stored))  # fmt: skip
            counted += around.stored_since
        units.append(_sample_unit(sample))
        first_ts = around.following.ts_ms
        first_error = None if ok else around.following.error
        stored = None
    units.append((first_ts, ok, first_error, run.last_ts_ms, run.last_interval_ms,
                  run.samples - counted, stored))  # fmt: skip


def _fold(units: Sequence[_Unit], cap_ms: int, runs: list[Run], removed: list[int]) -> None:
    """`append_run`'s rule over `units` (at least one, in order), the last run ending no later
    than `cap_ms`: the runs that differ from the stored run they start (or start none) are added
    to `runs`, the starts of the stored runs merged into a previous one to `removed`."""
    start, ok, error, last_ts, interval, count, stored = units[0]
    end = last_ts + 2 * interval
    for position in range(1, len(units)):
        unit = units[position]
        if unit[1] == ok and unit[0] <= end:
            last_ts, interval, count = unit[3], unit[4], count + unit[5]
            end = last_ts + 2 * interval
            if unit[6] is not None:
                removed.append(unit[0])
            continue
        end = min(end, unit[0])
        if stored is None or _differs(stored, end, last_ts, interval, count):
            runs.append(Run(start, end, ok, error, last_ts, interval, count))
        start, ok, error, last_ts, interval, count, stored = unit
        end = last_ts + 2 * interval
    end = min(end, cap_ms)
    if stored is None or _differs(stored, end, last_ts, interval, count):
        runs.append(Run(start, end, ok, error, last_ts, interval, count))


def _differs(stored: Run, end_ms: int, last_ts_ms: int, interval_ms: int, samples: int) -> bool:
    """Whether a run rebuilt from `stored` (same start, state and error) is another."""
    return (
        stored.end_ms != end_ms
        or stored.samples != samples
        or stored.last_ts_ms != last_ts_ms
        or stored.last_interval_ms != interval_ms
    )
