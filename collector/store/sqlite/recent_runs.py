"""The SQLite store's runs of series that get late samples, kept in memory (`RecentRuns`), so
that merging late samples into runs (`slawatch.collector.engine.timeline.merge_late`) finds the
runs around each of them without asking the database.

A series enters the index with its first late sample: its stored runs from the one the sample
lands in (or after) onwards are read once (`load_runs`), and every run the store writes or
deletes for it afterwards is written into the index too, so it stays what the database holds.
Samples shuffled over a day (a history import, a foreign client, many agents' late samples)
then cost a lookup in memory each instead of two searches of the runs table. Series whose
samples all arrive in time order never enter it.

The index holds a suffix of each series' runs (every stored run from the first it holds on), so
a late sample after that first run is answered from memory, and one before it reads only the
runs in between. Its size is bounded (`MAX_INDEXED_RUNS`): the series used least recently leave
it whole, and come back, read again, with their next late sample.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from slawatch.collector.engine.timeline import FOREVER_MS, Run, runs_around

MAX_INDEXED_RUNS = 200_000
"""Runs kept in memory at most, all series together: ~35 MB (a `Run` and its ints)."""


@dataclass(slots=True)
class SeriesRuns:
    """A suffix of one series' stored runs, sorted: every stored run that starts at or after
    `starts[0]`; `whole` when no stored run starts before it (the series' every run)."""

    starts: list[int]
    runs: list[Run]
    whole: bool

    def covers(self, ts_ms: int) -> bool:
        """Whether the runs around a sample at `ts_ms` are all here: the last starting before
        it (if any is stored) and the first after it."""
        return self.whole or (bool(self.starts) and self.starts[0] < ts_ms)

    def around(self, timestamps: Iterable[int]) -> list[Run]:
        """The runs around each of `timestamps` (all covered), sorted, each once."""
        return runs_around(self.starts, self.runs, timestamps)

    def change(self, removed: Iterable[int], written: Iterable[Run]) -> None:
        """The runs starting at `removed` deleted, `written` inserted or replaced (by start)."""
        starts, runs = self.starts, self.runs
        for start in removed:
            index = bisect_left(starts, start)
            if index < len(starts) and starts[index] == start:
                del starts[index]
                del runs[index]
        for run in written:
            index = bisect_left(starts, run.start_ms)
            if index < len(starts) and starts[index] == run.start_ms:
                runs[index] = run
            elif index > 0 or self.whole:
                starts.insert(index, run.start_ms)
                runs.insert(index, run)
            # else: a run before the suffix (not held): the suffix stays a suffix without it

    def prepend(self, runs: Sequence[Run], whole: bool) -> None:
        """Stored runs that start before the first held, and up to it."""
        self.starts[:0] = [run.start_ms for run in runs]
        self.runs[:0] = runs
        self.whole = whole

    def copy(self) -> SeriesRuns:
        return SeriesRuns(list(self.starts), list(self.runs), self.whole)


class RecentRuns:
    """Series (by id) → `SeriesRuns`, least recently used first, at most `MAX_INDEXED_RUNS`
    runs in all."""

    def __init__(self, limit: int = MAX_INDEXED_RUNS) -> None:
        self.limit = limit
        self._series: OrderedDict[int, SeriesRuns] = OrderedDict()
        self._size = 0

    def get(self, sid: int) -> SeriesRuns | None:
        return self._series.get(sid)

    def put(self, changed: dict[int, SeriesRuns]) -> None:
        """The series of a committed transaction, as it left them; then the least recently used
        leave until the runs held are within the limit."""
        for sid, runs in changed.items():
            before = self._series.pop(sid, None)
            if before is not None:
                self._size -= len(before.runs)
            self._series[sid] = runs
            self._size += len(runs.runs)
        while self._size > self.limit and self._series:
            _, gone = self._series.popitem(last=False)
            self._size -= len(gone.runs)

    def forget(self, sid: int) -> None:
        """Drop a series (its runs are being pruned): read again when next needed."""
        gone = self._series.pop(sid, None)
        if gone is not None:
            self._size -= len(gone.runs)

    @property
    def size(self) -> int:
        return self._size


def load_runs(
    db: sqlite3.Connection, sid: int, held: SeriesRuns | None, first_ms: int, run_of: Any
) -> SeriesRuns:
    """`held` (or a new suffix) extended to cover a late sample at `first_ms`: the stored runs
    from the last one starting before it up to the first held (`run_of` makes a `Run` of a
    row's columns from `start_ms` on)."""
    before = db.execute(
        "SELECT MAX(start_ms) FROM runs WHERE series = ? AND start_ms < ?", (sid, first_ms)
    ).fetchone()[0]
    low = -FOREVER_MS if before is None else before
    high = held.starts[0] if held is not None and held.starts else FOREVER_MS
    rows = db.execute(
        "SELECT start_ms, end_ms, ok, error, last_ts_ms, last_interval_ms, samples FROM runs"
        " WHERE series = ? AND start_ms >= ? AND start_ms < ? ORDER BY start_ms",
        (sid, low, high),
    ).fetchall()
    runs = [run_of(row) for row in rows]
    if held is None:
        return SeriesRuns([run.start_ms for run in runs], runs, before is None)
    extended = held.copy()
    extended.prepend(runs, before is None)
    return extended
