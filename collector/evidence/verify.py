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
import hashlib
import io
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import Window
from slawatch.collector.engine.report_latency import LatencySource, latency_plan
from slawatch.collector.engine.sla import compute_report
from slawatch.collector.engine.timeline import Run, SampleState, build_runs
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
GATHER_EVERY = 10_000
"""Ok samples with a latency are handed to the gatherer this many at a time."""
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
    latencies of ok samples inside `latency_ranges` (sorted, disjoint), and how many rows."""
    wanted = set(checks)
    latencies = LatencyGatherer(latency_ranges)
    runs: dict[str, dict[str, list[Run]]] = {}
    count = 0
    series: tuple[str, str] | None = None
    states: list[SampleState] = []
    measured: list[RawSample] = []
    for line, row in _rows(raw):
        count += 1
        check, agent, ts_ms = row[0], row[1], row[2]
        if (check, agent) != series:
            _finish(runs, series, states)
            series, states = (check, agent), []
        elif states and ts_ms <= states[-1].ts_ms:
            raise VerificationFailed(f"samples.csv: line {line}: not after the line before")
        if check not in wanted:
            continue
        states.append(SampleState(ts_ms, row[3], row[5], row[7]))
        if row[3] and row[4] is not None:
            measured.append(row)
            if len(measured) >= GATHER_EVERY:
                latencies.add(measured)
                measured.clear()
    _finish(runs, series, states)
    latencies.add(measured)
    return runs, latencies.values, count


def _finish(
    runs: dict[str, dict[str, list[Run]]], series: tuple[str, str] | None, states: list[SampleState]
) -> None:
    if series is not None and states:
        check, agent = series
        if agent in runs.get(check, {}):
            raise VerificationFailed(
                f"samples.csv: the samples of {check}/{agent} are not together"
            )
        runs.setdefault(check, {})[agent] = build_runs(states)


def _rows(raw: IO[bytes]) -> Iterator[tuple[int, RawSample]]:
    text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    reader = csv.reader(text)
    header = next(reader, None)
    if header is None or tuple(header) != RAW_SAMPLE_COLUMNS:
        raise VerificationFailed(f"samples.csv: the header must be {','.join(RAW_SAMPLE_COLUMNS)}")
    for line, fields in enumerate(reader, start=2):
        try:
            yield line, _sample(fields)
        except (ValueError, IndexError):
            raise VerificationFailed(f"samples.csv: line {line}: not a sample") from None


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


def _key_text(key: str) -> str:
    """`--key` is a file holding the key (PEM or base64), or the base64 key itself."""
    candidate = Path(key)
    if candidate.is_file():
        return candidate.read_text(encoding="utf-8")
    return key
