"""Speed of merging late samples into stored runs (`merge_late`, `samples_inside`; issue 17),
against their implementation before the one-pass rewrite, read from git history (commit
`BASELINE_COMMIT`: run it in a clone that holds it, not a shallow one).

    .venv/bin/python bench/late_merge.py [--series 100] [--hours 24] [--late-per-call 10,110]
                                         [--horizon-hours 0] [--rounds 5] [--seed 1]

1. Builds a trace: `--series` checks probed every minute for `--hours` (a few with a 30 s
   interval), mostly UP, with isolated failures and outages of 2 to 30 minutes (DOWN samples
   with their errors).
2. Ingests it shuffled, as a store does (the SQLite store's in-memory runs, in short): in calls
   of `--late-per-call` samples per series on average (10: a store merging each batch's late
   samples; 110: a store settling late samples in batched passes), each series' samples newer
   than its last sample extend its runs (`extend_runs`); the others are merged into the runs
   around them by the baseline, and every call's arguments are kept. With `--horizon-hours H`,
   runs starting in the first H hours are taken whole, as runs whose raw samples may be pruned.
3. Times both implementations over the same calls, `--rounds` times in turn (the best round of
   each), and checks that they return the same `LateMerge` for every call; without a horizon,
   it also checks that the runs in the end are those of all the samples (`build_runs`).
Prints microseconds per late sample and the ratio baseline / current (above 1: faster now).

Figures (2026-12-07, 2 cores shared with other work, load average 0.7; defaults, 5 rounds):
- ~10 late samples per series and call: baseline 10.65 us per late sample, now 5.21 (2.04x);
- ~110 (settle passes): baseline 6.73 us, now 2.67 (2.52x); 0 calls differing in either.
On calls captured from the SQLite store's ingest of a day-shuffled trace, in the same way:
9.4 -> 3.7 us (2.5x) at ~10 a call, 4.5 -> 1.9 us (2.4x) at ~110. What made the difference:
each late sample placed among the runs by one bisection (two before), one list of units for
all the stretches of a call folded in one loop (a call and several lists per stretch before),
stored runs compared field by field only where a rebuilt run starts one (`Run.__eq__` and a
dict of all the runs before), no sort at the end. A `Run` costs ~1.2 us to make (a frozen
dataclass): about a quarter of what is left, one per run that changed.
`samples_inside` is about as before (~1.0x): one bisection a late sample already.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
import types
from bisect import bisect_left, insort
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from slawatch.collector.engine import timeline
from slawatch.collector.engine.timeline import (
    FOREVER_MS,
    LateMerge,
    Neighbours,
    Run,
    SampleState,
    build_runs,
    extend_runs,
    merge_late,
    samples_inside,
)

BASELINE_COMMIT = "312d5365c84941a128721de143ce3b49e65dc922"
"""The last commit before `merge_late` was rewritten in one pass."""


def _baseline() -> types.ModuleType:
    """`collector/engine/timeline.py` of `BASELINE_COMMIT` as a module, made with today's types
    (`Run`, `LateMerge`, `Neighbours`), so that its results compare with today's."""
    source = subprocess.run(
        ["git", "show", f"{BASELINE_COMMIT}:collector/engine/timeline.py"],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType("timeline_baseline")
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source, "timeline_baseline", "exec"), module.__dict__)
    for name in ("Run", "LateMerge", "Neighbours", "FOREVER_MS"):
        setattr(module, name, getattr(timeline, name))
    return module


_old = _baseline()
old_merge_late: Callable[..., LateMerge] = _old.merge_late
old_samples_inside: Callable[..., list[tuple[int, int]]] = _old.samples_inside

DAY_START_MS = 1_796_515_200_000  # 2026-12-07T00:00:00Z
ERRORS = ("status 503", "timeout after 10s", "connection refused")


@dataclass(frozen=True, slots=True)
class Call:
    """One call of `merge_late` as the ingest made it."""

    around: list[Run]
    late: list[SampleState]
    neighbours: dict[int, Neighbours]
    raw_horizon_ms: int


def trace(series: int, hours: int, rng: random.Random) -> dict[int, list[SampleState]]:
    """Each series' samples, in time order."""
    traces: dict[int, list[SampleState]] = {}
    for sid in range(series):
        interval = 30_000 if sid % 10 == 0 else 60_000
        ts = DAY_START_MS + sid * 10 + rng.randrange(interval)
        end = DAY_START_MS + hours * 3_600_000
        samples: list[SampleState] = []
        outage_left = 0
        while ts < end:
            if outage_left == 0 and rng.random() < 0.002:
                outage_left = rng.randint(2, 30) * 60_000 // interval
            down = outage_left > 0 or rng.random() < 0.01
            outage_left = max(outage_left - 1, 0)
            error = rng.choice(ERRORS) if down else None
            samples.append(SampleState(ts, not down, interval, error))
            ts += interval
        traces[sid] = samples
    return traces


class Series:
    """One series as a store holds it: its stored samples (sorted) and its runs by start."""

    def __init__(self) -> None:
        self.stamps: list[int] = []
        self.samples: dict[int, SampleState] = {}
        self.runs: dict[int, Run] = {}
        self.starts: list[int] = []
        self.last: Run | None = None

    def store(self, rows: Sequence[SampleState]) -> None:
        for row in rows:
            insort(self.stamps, row.ts_ms)
            self.samples[row.ts_ms] = row

    def set_runs(self, removed: Sequence[int], runs: Sequence[Run]) -> None:
        for start in removed:
            del self.runs[start]
        for run in runs:
            self.runs[run.start_ms] = run
        self.starts = sorted(self.runs)
        self.last = self.runs[self.starts[-1]]

    def around(self, late: Sequence[SampleState]) -> list[Run]:
        """The last run starting before each late sample and the first starting after it."""
        picked: set[int] = set()
        for sample in late:
            index = bisect_left(self.starts, sample.ts_ms)
            picked.update(self.starts[max(index - 1, 0) : index + 1])
        return [self.runs[start] for start in sorted(picked)]

    def neighbours(self, inside: Sequence[tuple[int, int]]) -> dict[int, Neighbours]:
        """What a store reads of its raw samples for `samples_inside`'s answer."""
        found = {}
        for ts, since in inside:
            index = bisect_left(self.stamps, ts)
            previous = self.samples[self.stamps[index - 1]]
            following = self.samples[self.stamps[index]]
            count = index - bisect_left(self.stamps, since)
            found[ts] = Neighbours(previous, following, count)
        return found


def ingest(
    traces: Mapping[int, list[SampleState]],
    per_call: int,
    horizon_ms: int,
    rng: random.Random,
) -> tuple[list[Call], dict[int, Series]]:
    """Ingest every sample shuffled, in calls of `per_call` samples per series on average;
    the calls to `merge_late` made on the way."""
    everything = [(sid, sample) for sid, samples in traces.items() for sample in samples]
    rng.shuffle(everything)
    batch = per_call * len(traces)
    held = {sid: Series() for sid in traces}
    calls: list[Call] = []
    for first in range(0, len(everything), batch):
        by_series: dict[int, list[SampleState]] = {}
        for sid, sample in everything[first : first + batch]:
            by_series.setdefault(sid, []).append(sample)
        for sid, rows in by_series.items():
            rows.sort(key=lambda row: row.ts_ms)
            series = held[sid]
            last = series.last
            if last is None or rows[0].ts_ms > last.last_ts_ms:
                touched = extend_runs(last, rows)
                series.set_runs((), touched)
            else:
                around = series.around(rows)
                inside = old_samples_inside(around, rows, horizon_ms)
                call = Call(around, rows, series.neighbours(inside), horizon_ms)
                merged = old_merge_late(call.around, rows, call.neighbours, horizon_ms)
                series.set_runs(merged.removed, merged.runs)
                calls.append(call)
            series.store(rows)
    return calls, held


def best_round(
    merge: Callable[[Sequence[Run], Sequence[SampleState], Mapping[int, Neighbours], int], object],
    calls: Sequence[Call],
) -> float:
    started = time.perf_counter()
    for call in calls:
        merge(call.around, call.late, call.neighbours, call.raw_horizon_ms)
    return time.perf_counter() - started


def inside_round(
    inside: Callable[[Sequence[Run], Sequence[SampleState], int], object],
    calls: Sequence[Call],
) -> float:
    started = time.perf_counter()
    for call in calls:
        inside(call.around, call.late, call.raw_horizon_ms)
    return time.perf_counter() - started


def mismatches(calls: Sequence[Call]) -> int:
    wrong = 0
    for call in calls:
        args = (call.around, call.late, call.neighbours, call.raw_horizon_ms)
        expected: LateMerge = old_merge_late(*args)
        wrong += merge_late(*args) != expected
        horizon = call.raw_horizon_ms
        wrong += samples_inside(call.around, call.late, horizon) != old_samples_inside(
            call.around, call.late, horizon
        )
    return wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--late-per-call", default="10,110")
    parser.add_argument("--horizon-hours", type=float, default=0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()
    rng = random.Random(options.seed)
    traces = trace(options.series, options.hours, rng)
    horizon = (
        DAY_START_MS + int(options.horizon_hours * 3_600_000)
        if options.horizon_hours
        else -FOREVER_MS
    )
    print(f"{sum(map(len, traces.values()))} samples of {options.series} series, shuffled")
    failed = False
    for per_call in map(int, options.late_per_call.split(",")):
        calls, held = ingest(traces, per_call, horizon, rng)
        late = sum(len(call.late) for call in calls)
        around = sum(len(call.around) for call in calls) / max(len(calls), 1)
        print(f"\n~{per_call} late samples per series and call: {len(calls)} calls of merge_late,"
              f" {late} late samples, {around:.0f} runs around each call")  # fmt: skip
        if not options.horizon_hours:
            exact = all(
                [held[sid].runs[start] for start in held[sid].starts] == build_runs(samples)
                for sid, samples in traces.items()
            )
            print(f"  runs in the end == build_runs of all samples: {exact}")
            failed |= not exact
        wrong = mismatches(calls)
        print(f"  calls whose result differs from the baseline's: {wrong}")
        failed |= wrong > 0
        for name, timer, old, new in (
            ("merge_late", best_round, old_merge_late, merge_late),
            ("samples_inside", inside_round, old_samples_inside, samples_inside),
        ):
            before, after = float("inf"), float("inf")
            for _ in range(options.rounds):
                before = min(before, timer(old, calls))  # type: ignore[arg-type]
                after = min(after, timer(new, calls))  # type: ignore[arg-type]
            print(f"  {name}: baseline {before / late * 1e6:.2f} us per late sample,"
                  f" current {after / late * 1e6:.2f} us: {before / after:.2f}x")  # fmt: skip
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
