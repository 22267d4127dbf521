"""Writing an evidence bundle (CONTRACT §7): a ZIP of `report.json`, `samples.csv`,
`windows.json`, `sla.json`, `manifest.json` and `manifest.sig`, from the store.

Never whole in memory: the raw samples come from the store in chunks
(`SampleStore.raw_samples`), each formatted, hashed and compressed into the ZIP in a thread
(the event loop stays free) as it arrives; the ZIP goes to a file the caller gives (a kept
bundle, or an anonymous temporary file a route streams). A bundle is a function of the stored
data, the config and `now`: its ZIP entries carry a fixed time, so the same inputs give the
same bytes (and late samples, once stored, the same bundle as samples that came in time).

The report of a bundle is the report of §4.6 with exact latency percentiles (every raw value,
no hourly histogram), so that `slawatch verify-evidence` can recompute every number of it from
`samples.csv` and `windows.json` alone. `samples.csv` holds every sample of the SLA's checks,
all agents, from the start of the first run the report reads (a sample just before the window
covers its first seconds) to the end of the range it was computed over.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import IO, Any, TypeVar

import orjson

from slawatch.collector.engine.maintenance import Interval, merge
from slawatch.collector.engine.periods import Window, format_instant
from slawatch.collector.engine.report_latency import LatencySource, latency_plan, summarize_latency
from slawatch.collector.evidence.documents import (
    DATA_FILES,
    MANIFEST,
    SIGNATURE,
    LatencyGatherer,
    manifest_json,
    sla_json,
    windows_json,
)
from slawatch.collector.evidence.keys import SigningKey
from slawatch.collector.reports.build import SlaReport, maintenance_in, settled_report
from slawatch.collector.store import RAW_SAMPLE_COLUMNS, RawSample, Store
from slawatch.config.schema import Sla

_T = TypeVar("_T")
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
COMPRESS_LEVEL = 1
"""Deflate's fastest level: samples.csv compresses ~8x at it, and a month of samples is made in
seconds (the higher levels gain little on CSV and cost several times the time)."""
SAMPLE_CHUNK = 20_000
CSV_LINE_END = "\r\n"
"""RFC 4180's; `csv.writer` then quotes a field holding a lone CR too (with "\n" it would not,
and the CR would end the line when read back)."""


class EvidenceUnavailable(Exception):
    """The bundle cannot be made from the store (its raw samples are pruned); says why."""


@dataclass(frozen=True, slots=True)
class BundleInfo:
    samples: int
    report: SlaReport
    sha256: dict[str, str]


def json_bytes(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


async def write_bundle(
    store: Store,
    sla: Sla,
    window: Window,
    now_ms: int,
    key: SigningKey,
    *,
    target: IO[bytes],
    period: str | None,
) -> BundleInfo:
    """Write the bundle of `sla` over `window` as known at `now_ms` into the seekable binary
    `target`. EvidenceUnavailable when raw samples it needs are pruned.

    One pass over the raw samples: the report's figures come from the runs first (which also
    say which samples the bundle needs), then the samples go into samples.csv while their
    latencies are gathered for the report's percentiles."""
    declared = await store.declared_maintenance([sla.id])
    holes = merge(Interval(d.start_ms, d.end_ms) for d in declared)
    report, history = await settled_report(store, sla, window, now_ms, declared=holes, latency=None)
    runs = await store.runs(sla.checks, history.start_ms, history.end_ms)
    first = min(
        (r[0].start_ms for agents in runs.values() for r in agents.values() if r),
        default=history.start_ms,
    )
    del runs
    samples_from = min(first, history.start_ms)
    if samples_from < store.raw_horizon_ms:
        raise EvidenceUnavailable(
            f"the raw samples before {format_instant(store.raw_horizon_ms)} are pruned: evidence "
            "of this window can no longer be made (bundles of closed periods are kept)"
        )
    stamp = _zip_time(now_ms)
    latencies = LatencyGatherer(latency_plan(sla, window, now_ms, holes, hourly=False).raw)
    archive = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL)
    try:
        samples_digest, samples_bytes, count = await _write_samples(
            store,
            sla.checks,
            Interval(samples_from, history.end_ms),
            archive,
            stamp,
            latencies=latencies,
        )
        report = replace(report, latency=summarize_latency(sla, LatencySource(latencies.values)))
        del latencies
        found = SlaReport(report, period, tuple(maintenance_in(sla, window, declared)))
        span = Interval(min(samples_from, window.from_ms), max(history.end_ms, window.to_ms))
        documents = {
            "report.json": json_bytes(found.to_json()),
            "windows.json": json_bytes(windows_json(sla, span, declared)),
            "sla.json": json_bytes(sla_json(sla)),
        }
        files: dict[str, tuple[str, int]] = {}
        for name in DATA_FILES:
            if name == "samples.csv":
                files[name] = (samples_digest, samples_bytes)
            else:
                data = documents[name]
                files[name] = (hashlib.sha256(data).hexdigest(), len(data))
                await _in_thread(_add, archive, name, data, stamp)
        manifest = json_bytes(
            manifest_json(
                sla=sla,
                period=period,
                window_from_ms=window.from_ms,
                window_to_ms=window.to_ms,
                now_ms=now_ms,
                history=history,
                samples=count,
                files=files,
                key=key.public.to_json(),
            )
        )
        await _in_thread(_add, archive, MANIFEST, manifest, stamp)
        await _in_thread(_add, archive, SIGNATURE, key.sign(manifest), stamp)
    finally:
        await _in_thread(archive.close)
    return BundleInfo(count, found, {name: files[name][0] for name in files})


async def _write_samples(
    store: Store,
    checks: Sequence[str],
    span: Interval,
    archive: zipfile.ZipFile,
    stamp: tuple[int, ...],
    *,
    latencies: LatencyGatherer,
) -> tuple[str, int, int]:
    """samples.csv into `archive`, chunk by chunk: its SHA-256, its size and how many rows."""
    digest = hashlib.sha256()
    entry = archive.open(_info("samples.csv", stamp), "w", force_zip64=True)
    size = count = 0
    try:
        header = (",".join(RAW_SAMPLE_COLUMNS) + CSV_LINE_END).encode()
        size += await _in_thread(_write_chunk, entry, digest, header)
        async for rows in store.raw_samples(checks, span.start_ms, span.end_ms, chunk=SAMPLE_CHUNK):
            count += len(rows)
            # Not overlapped with the next read: both threads need the GIL, and the reader,
            # which gives it up at every row, then waits for it at every row (measured slower).
            size += await _in_thread(_write_rows, entry, digest, rows, latencies)
    finally:
        await _in_thread(entry.close)
    return digest.hexdigest(), size, count


def _write_rows(
    entry: IO[bytes], digest: Any, rows: Sequence[RawSample], latencies: LatencyGatherer
) -> int:
    latencies.add(rows)
    return _write_chunk(entry, digest, csv_lines(rows).encode())


def csv_lines(rows: Sequence[RawSample]) -> str:
    """Rows of `RAW_SAMPLE_COLUMNS` as CSV lines, as `csv.writer` writes them (null as an empty
    field, floats as `repr`, text quoted where it must be). Most samples have no error and need
    no quoting: written by hand, a third faster than by `csv.writer`, which takes the others."""
    quoted = io.StringIO()
    writer = csv.writer(quoted, lineterminator=CSV_LINE_END)
    lines = []
    for row in rows:
        if row[7] is None:
            latency = "" if row[4] is None else repr(row[4])
            status = "" if row[6] is None else row[6]
            lines.append(f"{row[0]},{row[1]},{row[2]},{row[3]},{latency},{row[5]},{status},\r\n")
        else:
            writer.writerow(row)
            lines.append(quoted.getvalue())
            quoted.seek(0)
            quoted.truncate()
    return "".join(lines)


async def _in_thread(function: Callable[..., _T], *args: Any) -> _T:
    """`function(*args)` in a thread. Cancelled meanwhile, it still waits for the thread to be
    done with the ZIP before it lets the cancellation on (the ZIP is closed after it, never
    while a thread writes into it)."""
    running = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait([running])
        raise


def _write_chunk(entry: IO[bytes], digest: Any, data: bytes) -> int:
    digest.update(data)
    entry.write(data)
    return len(data)


def _add(archive: zipfile.ZipFile, name: str, data: bytes, stamp: tuple[int, ...]) -> None:
    archive.writestr(_info(name, stamp), data)


def _info(name: str, stamp: tuple[int, ...]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = COMPRESS_LEVEL  # type: ignore[attr-defined]  # no public setter (3.11)
    info.external_attr = 0o644 << 16
    return info


def _zip_time(now_ms: int) -> tuple[int, ...]:
    moment = datetime.fromtimestamp(now_ms // 1000, UTC)
    if moment.year < 1980:
        return ZIP_EPOCH
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
