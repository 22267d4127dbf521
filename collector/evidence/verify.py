"""`slawatch verify-evidence FILE.zip [--key PUBKEY]`: what a customer's auditor runs.

1. The signature of `manifest.json` (`manifest.sig`, Ed25519), with the key given, or else the
   key the manifest names (which proves the bundle whole, not who made it: the output says so).
2. Each file's SHA-256 and size against the manifest; no file missing, none extra.
3. The report recomputed by the SLA engine from `samples.csv` (runs of §4.1 rebuilt per check
   and agent), `windows.json` (the time removed) and `sla.json`, over the window, the range and
   the instant the manifest names, and compared with `report.json` number by number.

No store, no config file, no network. Exit 0 only when everything matches; 1 naming the file,
or the report's field, that differs; 2 when the bundle or the key cannot be read at all.
"""

from __future__ import annotations

import csv
import dataclasses
import gc
import hashlib
import io
import sys
import zipfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby, islice
from operator import itemgetter, lt
from pathlib import Path
from typing import IO, Any, NamedTuple

import orjson

from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import Window
from slawatch.collector.engine.report_latency import LatencySource, latency_plan
from slawatch.collector.engine.sla import compute_report
from slawatch.collector.engine.timeline import Run, build_runs, extend_runs
from slawatch.collector.evidence.documents import (
    DATA_FILES,
    MANIFEST,
    SIGNATURE,
    BundleError,
    LatencyGatherer,
    manifest_fields,
    removed_intervals,
    sla_from_json,
    windows_hours,
)
from slawatch.collector.evidence.keys import PublicKey, parse_public_key
from slawatch.collector.store import RAW_SAMPLE_COLUMNS, RawSample
from slawatch.config.schema import Sla

HASH_CHUNK = 1024 * 1024
MAX_DOCUMENT_BYTES = 64 * 1024 * 1024
"""A JSON document of a bundle larger than this is refused unread (a report is kilobytes)."""
GC_YOUNG_THRESHOLD = 50_000
"""The command's youngest-generation threshold (Python's default: 700), as the collector's."""
READ_BLOCK = 20_000
"""samples.csv is read this many rows at a time."""
REPORT_EXTRAS = ("period", "maintenance", "exclusions")
"""Fields of report.json that are not the engine's figures (the period's name, the windows as
people read them: the engine's figures are recomputed from windows.json)."""


class VerificationFailed(Exception):
    """Something differs; the message names the file or field."""


@dataclass(frozen=True, slots=True)
class Verified:
    key: PublicKey
    key_source: str
    samples: int
    sla: str
    period: str | None


def verify(path: Path, key: PublicKey | None = None) -> Verified:
    """Check the bundle at `path`; VerificationFailed naming what differs, BundleError (or
    OSError, zipfile.BadZipFile) when it cannot be read at all."""
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for needed in (MANIFEST, SIGNATURE):
            if needed not in names:
                raise VerificationFailed(f"{needed}: missing from the bundle")
        manifest_bytes = archive.read(MANIFEST)
        signature = archive.read(SIGNATURE)
        if key is None:
            key, key_source = _named_key(_json(manifest_bytes, MANIFEST)), "the key named in "
            key_source += MANIFEST
        else:
            key_source = "the key given with --key"
        if not key.verifies(signature, manifest_bytes):
            named = _named_key_id(manifest_bytes)
            other = f"; the bundle names key {named}" if named not in (None, key.key_id) else ""
            raise VerificationFailed(
                f"{SIGNATURE}: the signature of {MANIFEST} does not verify with {key_source} "
                f"({key.key_id}): {MANIFEST} or {SIGNATURE} was altered, or another collector "
                f"signed it{other}"
            )
        manifest = _json(manifest_bytes, MANIFEST)
        if _named_key(manifest).raw != key.raw:
            raise VerificationFailed(
                f"{MANIFEST}: names key {_named_key(manifest).key_id}, not the key given "
                f"({key.key_id})"
            )
        (files,) = manifest_fields(manifest, ["files"])
        _check_files(archive, names, files)
        report = _json(archive.read("report.json"), "report.json")
        sla = sla_from_json(_json(archive.read("sla.json"), "sla.json"))
        windows = _json(archive.read("windows.json"), "windows.json")
        removed = removed_intervals(windows)
        sla = _with_windows_hours(sla, windows)
        window_from, window_to, now_ms, history = manifest_fields(
            manifest, ["from_ms", "to_ms", "computed_at_ms", "history"]
        )
        try:
            window = Window(int(window_from), int(window_to))
            span = Interval(int(history["from_ms"]), int(history["to_ms"]))
            now_ms = int(now_ms)
        except (TypeError, KeyError, ValueError) as error:
            raise BundleError(f"manifest.json: window or history unreadable ({error})") from None
        plan = latency_plan(sla, window, now_ms, removed, hourly=False)
        with archive.open("samples.csv") as raw:
            runs, latencies, count = read_samples(raw, sla.checks, plan.raw)
    recomputed = compute_report(
        sla,
        runs,
        window,
        now_ms,
        declared_maintenance=removed,
        latency=LatencySource(latencies),
        history=span,
    )
    compare_reports(report, recomputed.to_json())
    _, declared_count = manifest_fields(manifest, ["sla", "samples"])
    if declared_count != count:
        raise VerificationFailed(
            f"samples.csv: holds {count} samples, manifest.json says {declared_count}"
        )
    return Verified(key, key_source, count, sla.id, report.get("period"))


def _with_windows_hours(sla: Sla, windows: Any) -> Sla:
    """The SLA with the service hours and holidays of windows.json, which must be those of
    sla.json: the time outside hours the engine removes comes from the document that lists
    every removed window."""
    found_hours, found_holidays = windows_hours(windows)
    if found_hours != sla.hours:
        raise VerificationFailed("windows.json: hours: differ from sla.json's")
    if found_holidays != sla.holidays:
        raise VerificationFailed("windows.json: holidays: differ from sla.json's")
    return dataclasses.replace(sla, hours=found_hours, holidays=found_holidays)


def _json(data: bytes, name: str) -> Any:
    if len(data) > MAX_DOCUMENT_BYTES:
        raise BundleError(f"{name}: larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise VerificationFailed(f"{name}: not valid JSON ({error})") from None


def _named_key(manifest: Any) -> PublicKey:
    (named,) = manifest_fields(manifest, ["key"])
    try:
        return parse_public_key(str(named["public_key"]))
    except (TypeError, KeyError, ValueError) as error:
        raise VerificationFailed(f"{MANIFEST}: key: unreadable ({error})") from None


def _named_key_id(manifest_bytes: bytes) -> str | None:
    """The key id the manifest names, if it can be read at all (to explain a failure)."""
    try:
        return _named_key(orjson.loads(manifest_bytes)).key_id
    except (orjson.JSONDecodeError, VerificationFailed, BundleError):
        return None


def _check_files(archive: zipfile.ZipFile, names: set[str], files: Any) -> None:
    if not isinstance(files, dict):
        raise VerificationFailed(f"{MANIFEST}: files: must be an object")
    for name in DATA_FILES:
        if name not in files:
            raise VerificationFailed(f"{MANIFEST}: files: {name} is not listed")
        if name not in names:
            raise VerificationFailed(f"{name}: missing from the bundle")
    extra = sorted(names - set(files) - {MANIFEST, SIGNATURE})
    if extra:
        raise VerificationFailed(f"{extra[0]}: in the bundle but not in {MANIFEST}")
    for name in DATA_FILES:
        expected = files[name]
        digest, size = hashlib.sha256(), 0
        try:
            with archive.open(name) as member:
                while chunk := member.read(HASH_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except zipfile.BadZipFile as error:
            raise VerificationFailed(f"{name}: damaged in the ZIP ({error})") from None
        if not isinstance(expected, dict) or digest.hexdigest() != expected.get("sha256"):
            raise VerificationFailed(f"{name}: its SHA-256 differs from {MANIFEST}'s")
        if size != expected.get("bytes"):
            raise VerificationFailed(f"{name}: its size differs from {MANIFEST}'s")


# ---------------------------------------------------------------------------------- samples


def read_samples(
    raw: IO[bytes], checks: Sequence[str], latency_ranges: Sequence[Interval]
) -> tuple[dict[str, dict[str, list[Run]]], list[float], int]:
    """From samples.csv (by check, agent, time): the runs of each check and agent (§4.1), the
    latencies of ok samples inside `latency_ranges` (sorted, disjoint), and how many rows.

    Read in blocks of rows of one check and agent, each checked and converted a column at a
    time (C iterators: a month is ~780,000 rows), and its runs added to those of the blocks
    before (`extend_runs`): memory holds a block, never the file. A block that does not pass
    is read again row by row to name the first line at fault."""
    wanted = set(checks)
    latencies = LatencyGatherer(latency_ranges)
    runs: dict[str, dict[str, list[Run]]] = {}
    count = 0
    series: tuple[str, str] | None = None
    last_ts: int | None = None
    for line, block in _blocks(raw):
        count += len(block)
        if len(block[0]) < 2:
            raise VerificationFailed(f"samples.csv: line {line}: not a sample")
        key = (block[0][0], block[0][1])
        if key != series:
            if key[1] in runs.get(key[0], {}):
                raise VerificationFailed(
                    f"samples.csv: the samples of {key[0]}/{key[1]} are not together"
                )
            series, last_ts = key, None
        columns = _columns(line, block, last_ts)
        last_ts = columns.ts_ms[-1]
        if key[0] not in wanted:
            continue
        states = list(map(_State, columns.ts_ms, columns.ok, columns.interval_ms, columns.error))
        agents = runs.setdefault(key[0], {})
        found = agents.get(key[1])
        if found is None:
            agents[key[1]] = build_runs(states)
        else:
            found[-1:] = extend_runs(found[-1], states)
        latencies.add_text(columns.ts_ms, columns.ok, columns.latency_text)
    return runs, latencies.values, count


class _State(NamedTuple):
    """A sample as §4.1 reads it (`StateSample`): a named tuple is made at a third of a frozen
    dataclass' cost."""

    ts_ms: int
    ok: bool
    interval_ms: int
    error: str | None


@dataclass(frozen=True, slots=True)
class _Columns:
    ts_ms: list[int]
    ok: list[bool]
    latency_text: Sequence[str]
    """Each known to read as a float, or empty."""
    interval_ms: list[int]
    error: list[str | None]


def _blocks(raw: IO[bytes]) -> Iterator[tuple[int, list[list[str]]]]:
    """Rows of samples.csv after its header, in blocks of at most `READ_BLOCK` rows of one check
    and agent, each with the line number of its first row (the header is line 1)."""
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    reader = csv.reader(text)
    header = _read(reader, 1)
    if not header or tuple(header[0]) != RAW_SAMPLE_COLUMNS:
        raise VerificationFailed(f"samples.csv: the header must be {','.join(RAW_SAMPLE_COLUMNS)}")
    line = 2
    while rows := _read(reader, READ_BLOCK):
        try:
            groups = [list(group) for _, group in groupby(rows, key=_SERIES)]
        except IndexError:  # a row of fewer than two fields: the last block starts with it
            short = next(index for index, fields in enumerate(rows) if len(fields) < 2)
            groups = [list(group) for _, group in groupby(rows[:short], key=_SERIES)]
            groups.append(rows[short:])
        for block in groups:
            yield line, block
            line += len(block)


_SERIES = itemgetter(0, 1)


def _read(reader: Any, count: int) -> list[list[str]]:
    """Up to `count` rows of `reader`; VerificationFailed when the text is not CSV in UTF-8."""
    try:
        return list(islice(reader, count))
    except UnicodeDecodeError as error:  # read a block of bytes at a time: no line to name
        raise VerificationFailed(f"samples.csv: not UTF-8 text ({error})") from None
    except csv.Error as error:
        raise VerificationFailed(
            f"samples.csv: line {reader.line_num}: not CSV ({error})"
        ) from None


def _columns(line: int, block: list[list[str]], after_ts: int | None) -> _Columns:
    """The fields of `block` the engine reads, checked (`_sample`'s rules: strictly after
    `after_ts` too); VerificationFailed naming the first line at fault."""
    try:
        if set(map(len, block)) != {len(RAW_SAMPLE_COLUMNS)}:
            raise ValueError("wrong number of fields")
        ts_text, ok_text, latency_text, interval_text, error_text = _fields(block)
        if not set(ok_text) <= {"0", "1"}:
            raise ValueError("ok must be 0 or 1")
        ts_ms = list(map(int, ts_text))
        interval_ms = list(map(int, interval_text))
        deque(map(float, filter(None, latency_text)), maxlen=0)  # each reads as a float
        if min(interval_ms) <= 0:
            raise ValueError("interval_ms must be positive")
    except ValueError:
        _name_the_line(line, block, after_ts)
        raise
    ordered = (after_ts is None or after_ts < ts_ms[0]) and all(
        map(lt, ts_ms, islice(ts_ms, 1, None))
    )
    if not ordered:
        _name_the_line(line, block, after_ts)
    return _Columns(
        ts_ms,
        list(map("1".__eq__, ok_text)),
        latency_text,
        interval_ms,
        list(map(_NONE_FOR_EMPTY.get, error_text, error_text)),
    )


def _fields(block: list[list[str]]) -> list[list[str]]:
    """The columns `ts_ms`, `ok`, `latency_ms`, `interval_ms` and `error` of `block` (rows of
    as many fields as `RAW_SAMPLE_COLUMNS`): a column at a time, four times faster than
    transposing the rows with `zip`."""
    return [list(map(_FIELD[index], block)) for index in (2, 3, 4, 5, 7)]


_FIELD = [itemgetter(index) for index in range(len(RAW_SAMPLE_COLUMNS))]
_NONE_FOR_EMPTY: dict[str, None] = {"": None}
"""`.get(text, text)`: None for an empty field, the text else (no Python call per row)."""


def _name_the_line(line: int, block: list[list[str]], after_ts: int | None) -> None:
    """VerificationFailed naming the first line of `block` at fault."""
    previous = after_ts
    for number, fields in enumerate(block, start=line):
        try:
            sample = _sample(fields)
        except (ValueError, IndexError):
            raise VerificationFailed(f"samples.csv: line {number}: not a sample") from None
        if previous is not None and sample[2] <= previous:
            raise VerificationFailed(f"samples.csv: line {number}: not after the line before")
        previous = sample[2]
    raise AssertionError("a block that fails has a line at fault")


def _sample(fields: list[str]) -> RawSample:
    if len(fields) != len(RAW_SAMPLE_COLUMNS):
        raise ValueError("wrong number of fields")
    ok = fields[3]
    if ok not in ("0", "1"):
        raise ValueError("ok must be 0 or 1")
    interval = int(fields[5])
    if interval <= 0:
        raise ValueError("interval_ms must be positive")
    return (
        fields[0],
        fields[1],
        int(fields[2]),
        ok == "1",
        float(fields[4]) if fields[4] else None,
        interval,
        fields[6],
        fields[7] or None,
    )


# ---------------------------------------------------------------------------------- compare


def compare_reports(stated: Any, recomputed: dict[str, Any]) -> None:
    """VerificationFailed naming the first field of report.json that differs from the
    recomputed report (`latency.p95_ms`, `incidents[0].error`…)."""
    if not isinstance(stated, dict):
        raise VerificationFailed("report.json: must be a JSON object")
    for field in sorted(set(stated) | set(recomputed)):
        if field in REPORT_EXTRAS:
            continue
        if field not in stated:
            raise VerificationFailed(f"report.json: {field}: missing")
        if field not in recomputed:
            raise VerificationFailed(f"report.json: {field}: not a field of the report")
        _compare(field, stated[field], recomputed[field])


def _compare(path: str, stated: Any, recomputed: Any) -> None:
    if isinstance(recomputed, dict) and isinstance(stated, dict):
        for key in sorted(set(stated) | set(recomputed)):
            _compare(f"{path}.{key}", stated.get(key), recomputed.get(key))
        return
    if isinstance(recomputed, list) and isinstance(stated, list):
        if len(stated) != len(recomputed):
            raise VerificationFailed(
                f"report.json: {path}: {len(stated)} items, recomputed {len(recomputed)}"
            )
        for index, (a, b) in enumerate(zip(stated, recomputed, strict=True)):
            _compare(f"{path}[{index}]", a, b)
        return
    if path.endswith(".error") and not stated and not recomputed:
        return  # an empty error and no error read the same in samples.csv
    if _same(stated, recomputed):
        return
    raise VerificationFailed(
        f"report.json: {path}: the bundle says {stated!r}, recomputed {recomputed!r} from "
        "samples.csv, windows.json and sla.json"
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


# ---------------------------------------------------------------------------------- command


def main(path: Path, key_file: str | None) -> int:
    """The command: prints what it checked; 0 all matches, 1 something differs, 2 unreadable."""
    _tune_garbage_collector()
    key = None
    if key_file is not None:
        try:
            key = parse_public_key(_key_text(key_file))
        except (OSError, ValueError) as error:
            print(f"--key {key_file}: {error}", file=sys.stderr)
            return 2
    try:
        result = verify(path, key)
    except VerificationFailed as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    except (OSError, zipfile.BadZipFile, BundleError) as error:
        print(f"cannot read {path}: {error}", file=sys.stderr)
        return 2
    print(
        f"signature: valid, checked with {result.key_source} (Ed25519, key id {result.key.key_id})"
    )
    if key is None:
        print(
            "  note: the key named in the bundle proves it unaltered, not who made it; pass "
            "--key with the collector's published key (GET /api/v1/evidence-key) for that"
        )
    print(f"files: every SHA-256 matches manifest.json ({len(DATA_FILES)} files)")
    print(
        f"report: every number recomputed from {result.samples} samples matches "
        f"(SLA {result.sla}, period {result.period or 'from/to'})"
    )
    return 0


def _tune_garbage_collector() -> None:
    """Collect the garbage collector's youngest generation every `GC_YOUNG_THRESHOLD`
    allocations, not Python's 700, and leave what the command imported out of its passes.

    Reading samples.csv allocates a list per row, alive until its block is read: with the
    default threshold the collector promoted each block's rows to the older generations, whose
    passes walked them again (measured: 12 % of the command's time on a month's bundle). Reading
    makes no reference cycles, so none waits longer to be freed. As the collector's own
    `tune_garbage_collector`, for this command's process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def _key_text(key: str) -> str:
    """`--key` is a file holding the key (PEM or base64), or the base64 key itself."""
    candidate = Path(key)
    if candidate.is_file():
        return candidate.read_text(encoding="utf-8")
    return key
