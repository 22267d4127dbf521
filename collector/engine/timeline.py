"""One agent's view of one check as runs of state (CONTRACT §4.1), in integer milliseconds.

Samples are identified to the millisecond, so every instant here is an int of Unix ms: sums and
comparisons stay exact. The store keeps these runs as a derived table and rebuilds the stretch a
late sample touches with `build_runs`; the SLA engine reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SampleState:
    ts_ms: int
    ok: bool
    interval_ms: int
    error: str | None = None


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


def build_runs(samples: Iterable[SampleState]) -> list[Run]:
    """Runs of samples sorted by `ts_ms`, without duplicate timestamps."""
    runs: list[Run] = []
    for sample in samples:
        runs = append_sample(runs, sample)
    return runs


def append_sample(runs: list[Run], sample: SampleState) -> list[Run]:
    """Add a sample newer than every sample of `runs` (mutates and returns `runs`)."""
    coverage_end = sample.ts_ms + 2 * sample.interval_ms
    if runs:
        last = runs[-1]
        end = min(last.end_ms, sample.ts_ms)
        if last.ok == sample.ok and end == sample.ts_ms:
            runs[-1] = Run(
                last.start_ms,
                coverage_end,
                last.ok,
                last.error,
                sample.ts_ms,
                sample.interval_ms,
                last.samples + 1,
            )
            return runs
        if end != last.end_ms:
            runs[-1] = Run(
                last.start_ms,
                end,
                last.ok,
                last.error,
                last.last_ts_ms,
                last.last_interval_ms,
                last.samples,
            )
    runs.append(
        Run(
            sample.ts_ms,
            coverage_end,
            sample.ok,
            None if sample.ok else sample.error,
            sample.ts_ms,
            sample.interval_ms,
        )
    )
    return runs
