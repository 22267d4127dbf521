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


def runs_around(starts: Sequence[int], runs: Sequence[Run], timestamps: Iterable[int]) -> list[Run]:
    """Of `runs` (a series' stored runs, sorted, with their `starts`), those around each of
    `timestamps`: the last run starting before it and the first starting after it, sorted,
    each once (what `samples_inside` and `merge_late` take)."""
    found: set[int] = set()
    for ts in timestamps:
        index = bisect_left(starts, ts)
        found.add(index)
        found.add(index - 1)
    return [runs[i] for i in sorted(found) if 0 <= i < len(runs)]


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

    One pass over the late samples places each among the runs once (a bisection) and lays the
    stretches out as units, one after the other; `_fold` rebuilds them in one pass too. (This
    runs for every late sample a store takes: its cost is in the ingest rate of shuffled
    samples, `bench/late_merge.py`.)
    """
    if not around:
        return LateMerge((), tuple(sample_run(sample) for sample in late), ())
    starts = [run.start_ms for run in around]
    last_index = len(around) - 1
    units: list[_Unit] = []
    """The stretches' units, each stretch closed by `_stretch_end`."""
    gathering = False
    """Whether a stretch is being gathered: its runs up to `high`, those before `fed` in it."""
    high = fed = -1
    counts: dict[int, int] = {}
    """The runs that late samples only add to the count of: index -> samples."""
    alone: list[int] = []
    """Those of `counts` in no stretch so far."""
    left_out: list[int] = []
    position, total = 0, len(late)
    while position < total:
        sample = late[position]
        ts = sample.ts_ms
        index = bisect_left(starts, ts) - 1
        if index >= 0 and ts < (run := around[index]).last_ts_ms:
            # The late samples inside run `index`, all at once: they count it anew, or it is
            # split around them (or taken whole) in its stretch.
            end = position + 1
            last_ts = run.last_ts_ms
            while end < total and late[end].ts_ms < last_ts:
                end += 1
            inside = late[position:end]
            position = end
            if _absorbs(run, inside, neighbours, raw_horizon_ms):
                counts[index] = run.samples + len(inside)
                if index > high:
                    alone.append(index)
                continue
            first = top = index
        else:
            position += 1
            inside = None
            first = index if index >= 0 else 0
            top = index + 1 if index < last_index else first
        # The sample touches runs `first`..`top`: it joins the stretch being gathered if that
        # holds run `first`; else that one is closed (its other runs join it whole), and so is
        # each run counted anew before `first` in no stretch (a stretch of its own), and the
        # sample starts the next.
        if first > high:
            if gathering:
                _feed_whole(around, fed, high + 1, counts, units)
                units.append(_stretch_end(around[high].end_ms))
            for counted in alone:
                if counted < first:
                    _feed_whole(around, counted, counted + 1, counts, units)
                    units.append(_stretch_end(around[counted].end_ms))
            alone = []
            gathering, fed = True, first
        if top > high:  # noqa: PLR1730 (max() costs a call, in the loop of every late sample)
            high = top
        if inside is None:
            # A late sample in a gap (or before the first run, or after the last): the runs up
            # to the gap join the stretch whole (`_feed_whole` inline: the most frequent case),
            # then the sample.
            while fed <= index:
                run = around[fed]
                units.append((run.start_ms, run.ok, run.error, run.last_ts_ms,
                              run.last_interval_ms, counts.get(fed, run.samples), run))  # fmt: skip
                fed += 1
            ok = sample.ok
            units.append((ts, ok, None if ok else sample.error, ts, sample.interval_ms, 1, None))
            continue
        _feed_whole(around, fed, index, counts, units)
        fed = index + 1
        if run.start_ms < raw_horizon_ms:
            units.append(_counted_unit(run, inside, left_out))
        else:
            _split(run, inside, neighbours, units)
    if gathering:
        # A stretch ends where its last run did (at the next stored sample, outside the
        # stretch, or two intervals after its last), unless late samples follow the last run.
        _feed_whole(around, fed, high + 1, counts, units)
        open_ended = late[-1].ts_ms > around[last_index].last_ts_ms
        units.append(_stretch_end(FOREVER_MS if open_ended else around[high].end_ms))
    for counted in alone:
        _feed_whole(around, counted, counted + 1, counts, units)
        units.append(_stretch_end(around[counted].end_ms))
    runs: list[Run] = []
    removed: list[int] = []
    _fold(units, runs, removed)
    return LateMerge(tuple(removed), tuple(runs), tuple(left_out))


_Unit = tuple[int, "bool | None", "str | None", int, int, int, "Run | None"]
"""A run in the making: start, ok, error, its last sample's ts and interval, samples, and the
stored run it starts (None for a late sample or a piece of a run after the first). Merging late
samples folds these, not `Run`s (a frozen dataclass costs several times a tuple to make)."""


def _stretch_end(cap_ms: int) -> _Unit:
    """The end of a stretch's units: its last run ends no later than `cap_ms`. (A unit of no
    state: `_fold` merges nothing into it, and makes no run of it.)"""
    return (cap_ms, None, None, 0, 0, 0, None)


def _feed_whole(
    around: Sequence[Run], first: int, stop: int, counts: Mapping[int, int], units: list[_Unit]
) -> None:
    """Runs `first`..`stop - 1`, which no late sample lands inside, as units."""
    for index in range(first, stop):
        run = around[index]
        units.append((run.start_ms, run.ok, run.error, run.last_ts_ms, run.last_interval_ms,
                      counts.get(index, run.samples), run))  # fmt: skip


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
    first_ts, first_error = run.start_ms, run.error
    stored: Run | None = run
    ok = run.ok
    for sample in inside:
        around = neighbours[sample.ts_ms]
        if around.stored_since:
            before = around.previous
            units.append((first_ts, ok, first_error, before.ts_ms, before.interval_ms,
                          around.stored_since, stored))  # fmt: skip
            counted += around.stored_since
        sample_ok = sample.ok
        units.append((sample.ts_ms, sample_ok, None if sample_ok else sample.error, sample.ts_ms,
                      sample.interval_ms, 1, None))  # fmt: skip
        first_ts = around.following.ts_ms
        first_error = None if ok else around.following.error
        stored = None
    units.append((first_ts, ok, first_error, run.last_ts_ms, run.last_interval_ms,
                  run.samples - counted, stored))  # fmt: skip


def _fold(units: Iterable[_Unit], runs: list[Run], removed: list[int]) -> None:
    """`append_run`'s rule over the units of each stretch, its last run ending no later than
    its `_stretch_end`: the runs that differ from the stored run they start (or start none) are
    added to `runs`, the starts of the stored runs merged into a previous one to `removed`."""
    start = last_ts = interval = count = end = 0
    ok: bool | None = None
    error: str | None = None
    stored: Run | None = None
    for (
        unit_start,
        unit_ok,
        unit_error,
        unit_last_ts,
        unit_interval,
        unit_count,
        unit_stored,
    ) in units:
        if unit_ok == ok and unit_start <= end:
            last_ts, interval, count = unit_last_ts, unit_interval, count + unit_count
            end = last_ts + 2 * interval
            if unit_stored is not None:
                removed.append(unit_start)
            continue
        if ok is not None:
            if unit_start < end:  # noqa: PLR1730 (max() costs a call)
                end = unit_start
            if (
                stored is None
                or stored.end_ms != end
                or stored.samples != count
                or stored.last_ts_ms != last_ts
                or stored.last_interval_ms != interval
            ):
                runs.append(Run(start, end, ok, error, last_ts, interval, count))
        start, ok, error, last_ts = unit_start, unit_ok, unit_error, unit_last_ts
        interval, count, stored = unit_interval, unit_count, unit_stored
        end = last_ts + 2 * interval
