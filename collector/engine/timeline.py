"""One agent's view of one check as runs of state (CONTRACT §4.1), in integer milliseconds.

Samples are identified to the millisecond, so every instant here is an int of Unix ms: sums and
comparisons stay exact. This module is the one home of the rule; the stores keep these runs as
a derived table and the SLA engine reads them:
- `append_run` is §4.1 for one unit (a sample is a run of one): merge it into the last run,
  truncate the last run at it, or append it.
- `extend_runs` is the same rule written out for samples newer than a series' last run (the
  ingest path: a sample that extends the open run creates no object); `build_runs` is it from
  nothing.
- `plan_rebuild` and `rebuild_runs`: what a store re-derives when late samples land among stored
  runs — only the stretch they can change, whose raw samples may be partly pruned.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

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
    at its start and follows it. Its end is recomputed from its last sample."""
    unit_end = unit.last_ts_ms + 2 * unit.last_interval_ms
    if runs:
        last = runs[-1]
        end = min(last.end_ms, unit.start_ms)
        if last.ok == unit.ok and end == unit.start_ms:
            runs[-1] = Run(last.start_ms, unit_end, last.ok, last.error, unit.last_ts_ms,
                           unit.last_interval_ms, last.samples + unit.samples)  # fmt: skip
            return
        if end != last.end_ms:
            runs[-1] = replace(last, end_ms=end)
    runs.append(replace(unit, end_ms=unit_end))


# ------------------------------------------------------------------------------ late samples


@dataclass(frozen=True, slots=True)
class Rebuild:
    """How to re-derive the runs of one series that late samples change (`plan_rebuild`)."""

    replaced: tuple[int, int]
    """The stored runs starting in [first, last] are replaced by the rebuilt ones."""
    read: tuple[int, int]
    """The raw samples to read, with `ts_ms` in [first, last]."""
    units: tuple[Run, ...]
    """Stored runs taken whole, as units, instead of from their raw samples."""
    after: Run | None
    """The stored run that holds the next sample after the late ones: the rebuilt runs end no
    later than it did."""


def plan_rebuild(
    stretch: Sequence[Run], first_new_ms: int, last_new_ms: int, raw_horizon_ms: int
) -> Rebuild:
    """What to rebuild when new samples, from `first_new_ms` to `last_new_ms`, land among a
    series' stored runs (not all after its last sample).

    `stretch` is the stored runs, sorted, from the run starting last before `first_new_ms`
    (if any) to the run holding the next sample after `last_new_ms` (the last run starting at or
    before it whose last sample is after it, else the first run starting after it; the series'
    end if none): outside it no pair of consecutive samples changes, and so no run boundary does
    (§4.1 decides a boundary from two consecutive samples).

    When the new samples fall between two runs rather than inside them (an agent filling a gap,
    newest first, after an outage), those runs take part whole, as units, and only the samples
    of the gap are read: filling a long gap batch by batch stays linear. A run that starts before
    `raw_horizon_ms` (raw samples before it may be pruned) is always taken whole.
    """
    before = stretch[0] if stretch and stretch[0].start_ms < first_new_ms else None
    after = stretch[-1] if stretch and stretch[-1].last_ts_ms > last_new_ms else None
    start = before.start_ms if before else first_new_ms
    stop = after.start_ms if after else FOREVER_MS
    before_whole = before is not None and before.last_ts_ms < first_new_ms
    after_whole = after is not None and last_new_ms < after.start_ms
    units = tuple(
        run
        for run in stretch
        if run.start_ms < raw_horizon_ms
        or (before_whole and run is before)
        or (after_whole and run is after)
    )
    read_from = before.last_ts_ms + 1 if before and before_whole else start
    read_to = after.last_ts_ms if after and not after_whole else stop - 1
    return Rebuild((start, stop), (read_from, read_to), units, after)


def rebuild_runs(
    plan: Rebuild, samples: Iterable[StateSample], new_ts: Collection[int]
) -> tuple[list[Run], list[int]]:
    """The runs of `plan`'s stretch from its raw `samples` (sorted) and its units, and the
    timestamps of new samples left out of them.

    A raw sample inside a unit's span is already part of it, unless it is new (`new_ts`): then it
    is counted in the unit if it has the unit's state, and otherwise left out — the unit was
    decided from samples that may no longer be re-read, and keeping its boundaries is better
    than guessing new ones.
    """
    left_out: list[int] = []
    runs = build_runs(samples) if not plan.units else _with_units(plan, samples, new_ts, left_out)
    if plan.after is not None:
        runs[-1] = replace(runs[-1], end_ms=min(runs[-1].end_ms, plan.after.end_ms))
    return runs, left_out


def _with_units(
    plan: Rebuild, samples: Iterable[StateSample], new_ts: Collection[int], left_out: list[int]
) -> list[Run]:
    items: list[Run] = []
    units = iter(plan.units)
    current = next(units, None)
    absorbed = 0
    for sample in samples:
        ts = sample.ts_ms
        while current is not None and current.last_ts_ms < ts:
            items.append(replace(current, samples=current.samples + absorbed))
            current, absorbed = next(units, None), 0
        if current is not None and current.start_ms <= ts:
            if ts in new_ts:
                if sample.ok == current.ok:
                    absorbed += 1
                else:
                    left_out.append(ts)
            continue
        items.append(sample_run(sample))
    if current is not None:
        items.append(replace(current, samples=current.samples + absorbed))
    items.extend(units)
    runs: list[Run] = []
    for item in items:
        append_run(runs, item)
    return runs
