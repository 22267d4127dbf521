"""Big batches judged in worker processes, so that the collector's own GIL stays with the event
loop and the store's ingest thread.

Inflating, parsing and validating a batch (`slawatch.collector.ingest.batch`) costs about 7 µs a
sample, pure
Python for the most part. In the collector's process, that is time taken from the store's ingest
thread, which needs the same GIL and is what limits ingest speed. A batch of at least
`WORKER_MIN_BODY_BYTES` once inflated (`inflated_size`) is judged in a pool of processes
instead, sent as it came; its rows come back as plain tuples, about 0.8 µs a sample to unpickle
and make `SampleRow`s again. Smaller batches, for which the round trip would cost more than it
saves, are judged in place, as are all batches on one core.

Workers run at a lower CPU priority (`WORKER_NICENESS`) than the collector: they have time to
spare (a worker is busy about half the time at full ingest speed on two cores), the ingest
thread has none, and when both wanted a core, the scheduler used to make it wait its turn.

The pool starts at the first big batch (a collector that only gets small ones never starts it).
A worker that dies breaks the pool: it is replaced, and the batch is judged in place, so that a
push never fails for it. Where processes cannot be started at all (no /dev/shm, process limits),
every batch is judged in place, with a warning.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import structlog

from slawatch.collector.ingest.batch import COMPRESSED_ENCODINGS, Batch, parse_batch
from slawatch.collector.samples import SampleRow

log = structlog.get_logger()

WORKER_MIN_BODY_BYTES = 64 * 1024
"""About 250 samples of JSON: a smaller batch is judged in the collector's process."""
COMPRESSION_RATIO = 8
"""What gzip or deflate shrinks samples' JSON by, at least: a compressed body counts for this
many times its size, or for what its gzip trailer says, if more (`inflated_size`). A compressed
batch is sent to a worker as it came, and inflated there."""
GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
GZIP_MAGIC = b"\x1f\x8b"
GZIP_MIN_BYTES = 18
"""A gzip member's header (10 bytes) and trailer (CRC-32 and size, 8 bytes)."""
MAX_PROCESSES = 4
WORKER_NICENESS = 10
"""Added to a worker's niceness: the kernel's scheduler gives it about a tenth of the CPU time
of a process at the collector's when both want one core, all of it when no one else does.
Measured (bench/ingest.py, 400k samples, 2 cores, runs alternated): 45.7k, 49.4k, 47.1k samples/s
without, 49.8k, 49.6k, 51.3k with; the ingest thread's CPU per sample fell too (fewer
preemptions)."""
PARENT_CHECK_S = 0.5
"""How often a worker looks whether the collector is still its parent."""

_PlainBatch = tuple[str, Mapping[str, str] | None, list[tuple[Any, ...]]]
_sample_row = functools.partial(tuple.__new__, SampleRow)


def default_processes() -> int:
    """One per core but the one the collector's process uses, at most `MAX_PROCESSES`; none on a
    single core, where a worker would only take turns with the collector."""
    return min(MAX_PROCESSES, (os.cpu_count() or 1) - 1)


class BatchJudge:
    """`await judge.judge(body, ...)` → `Batch`, or `BatchError` as `parse_batch` raises it."""

    def __init__(
        self, processes: int | None = None, min_body_bytes: int = WORKER_MIN_BODY_BYTES
    ) -> None:
        self.processes = default_processes() if processes is None else processes
        self.min_body_bytes = min_body_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    async def judge(
        self,
        body: bytes,
        *,
        encoding: str,
        now: float,
        max_sample_age: float,
        pushing_as: str | None,
    ) -> Batch:
        """The batch of a request body as sent (decompressed where it is judged), judged at
        `now`; `pushing_as` as in `parse_batch`."""
        arguments = (body, encoding, now, max_sample_age, pushing_as)
        big = inflated_size(body, encoding) >= self.min_body_bytes
        if self.processes < 1 or self._closed or not big:
            return _judge(*arguments)
        pool = self._pool
        try:
            if pool is None:
                pool = self._start_pool()
            agent, labels, rows = await asyncio.get_running_loop().run_in_executor(
                pool, _judge_plain, *arguments
            )
        except BrokenProcessPool:  # a worker died, maybe before this batch was submitted
            log.warning("ingest_worker_lost", processes=self.processes, action="pool restarted")
            self._drop(pool)
            return _judge(*arguments)
        except OSError as error:  # no process or semaphore to be had (/dev/shm, limits)
            log.warning("ingest_workers_unavailable", error=str(error), action="judged in place")
            self.processes = 0
            self._drop(pool)
            return _judge(*arguments)
        return Batch(agent, list(map(_sample_row, rows)), labels)

    def worker_pids(self) -> list[int]:
        """The worker processes running now (none before the first big batch)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    async def close(self) -> None:
        """Stop the workers (after the last request: later batches are judged in place)."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown)

    def _drop(self, pool: ProcessPoolExecutor | None) -> None:
        """Forget a pool that failed (unless a new one already replaced it)."""
        if pool is not None and pool is self._pool:
            self._pool = None
            pool.shutdown(wait=False)

    def _start_pool(self) -> ProcessPoolExecutor:
        self._pool = ProcessPoolExecutor(
            self.processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
        return self._pool


def inflated_size(body: bytes, encoding: str) -> int:
    """About how many bytes `body` sent with Content-`encoding` inflates to, told without
    inflating it: `COMPRESSION_RATIO` times its size, or what a gzip body's trailer says (its
    last member's size, modulo 2**32), whichever is more. Samples alike in every field (a
    synthetic load, checks answering alike) shrink 25 times: a batch of 1,000 is 8 KB of gzip.
    Only where the batch is judged follows from it; inflating stops at `MAX_BODY_BYTES` anyway,
    whatever a trailer claims."""
    if encoding not in COMPRESSED_ENCODINGS:
        return len(body)
    guessed = len(body) * COMPRESSION_RATIO
    if encoding in GZIP_ENCODINGS and body[:2] == GZIP_MAGIC and len(body) >= GZIP_MIN_BYTES:
        return max(guessed, int.from_bytes(body[-4:], "little"))
    return guessed


def _judge(
    body: bytes, encoding: str, now: float, max_sample_age: float, pushing_as: str | None
) -> Batch:
    return parse_batch(
        body, encoding=encoding, now=now, max_sample_age=max_sample_age, pushing_as=pushing_as
    )


def _judge_plain(
    body: bytes, encoding: str, now: float, max_sample_age: float, pushing_as: str | None
) -> _PlainBatch:
    """`_judge` in a worker: rows as plain tuples, three times cheaper to unpickle than
    `SampleRow`s (whose `__new__` is Python)."""
    batch = _judge(body, encoding, now, max_sample_age, pushing_as)
    return batch.agent, batch.labels, list(map(tuple, batch.samples))


def _start_worker(collector_pid: int) -> None:
    """Ctrl-C in a terminal reaches the whole process group: the collector stops its workers
    itself, and a worker must not die of it first with a traceback. A collector killed with -9
    cannot stop them: each leaves on its own once its parent is gone. The worker yields the CPU
    to the collector (`WORKER_NICENESS`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.nice(WORKER_NICENESS)
    threading.Thread(target=_exit_with, args=(collector_pid,), daemon=True).start()


def _exit_with(collector_pid: int) -> None:
    while os.getppid() == collector_pid:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)
