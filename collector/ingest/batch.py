"""Validation of pushed batches (CONTRACT §3.1): bytes in (compressed or not), a `Batch` of
store rows out. Pure.

Every rule is checked for every sample so that one answer names every bad field; one bad field
refuses the whole batch (`BatchError`), and nothing of it is stored. Fields the contract does not
name are ignored. The loop is written for speed: it runs for every sample the collector receives.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from slawatch.collector.samples import SampleRow
from slawatch.config.contract import (
    ID_PATTERN,
    MAX_BATCH_SAMPLES,
    MAX_BODY_BYTES,
    MAX_FUTURE_S,
    MAX_INTERVAL_S,
    MAX_LABEL_LENGTH,
    MAX_LABELS,
    PHASES,
)

MAX_TYPE_LENGTH = 32

_NUMBER = (int, float)
_MAX_FLOAT = sys.float_info.max
_WHOLE_FROM_US = 2.0**53
"""Every float from this one on is a whole number: no need to round it."""
_WHOLE_FROM_MS = _WHOLE_FROM_US / 1000
_id_match = ID_PATTERN.fullmatch
_known_ids: set[str] = set()
_KNOWN_IDS_MAX = 100_000


_new_row = functools.partial(tuple.__new__, SampleRow)
"""`SampleRow` of a tuple of its fields, in a fifth of the time of `SampleRow(*fields)`, whose
`__new__` is Python."""
_NO_PHASES = (None,) * len(PHASES)


@dataclass(frozen=True, slots=True)
class Batch:
    agent: str
    samples: list[SampleRow]
    labels: Mapping[str, str] | None = None
    """None when the batch carries no `labels`: the agent's stored labels stay as they are."""


@dataclass(frozen=True, slots=True)
class Problem:
    index: int | None
    """The sample's position in `samples`, None for a problem of the batch itself."""
    field: str
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "error": self.error}


class BatchError(Exception):
    """A refused batch: 400 with every problem named, or 403 for a token pushing as another
    agent. Picklable, so that a worker process can raise it
    (`slawatch.collector.ingest.workers`)."""

    def __init__(self, message: str, problems: list[Problem], status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems
        self.status = status

    def __reduce__(self) -> tuple[type[BatchError], tuple[str, list[Problem], int]]:
        return BatchError, (self.message, self.problems, self.status)


COMPRESSED_ENCODINGS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
                        "deflate": zlib.MAX_WBITS}  # fmt: skip
"""The Content-Encodings of a pushed body besides none (identity), with their zlib `wbits`."""


def inflate(body: bytes, encoding: str) -> bytes:
    """`body` decoded from its Content-Encoding (one of `COMPRESSED_ENCODINGS` or none).

    Never yields more than `MAX_BODY_BYTES` (413 past it, having decoded no more than that: a
    gzip bomb stops at the cap); 400 for a corrupt or cut stream. Gzip members may follow each
    other.
    """
    wbits = COMPRESSED_ENCODINGS.get(encoding)
    if wbits is None:
        return body
    decoder = zlib.decompressobj(wbits)
    parts: list[bytes] = []
    size = 0
    try:
        while body:
            part = decoder.decompress(body, MAX_BODY_BYTES - size + 1)
            size += len(part)
            if size > MAX_BODY_BYTES:
                raise BatchError(
                    f"body over {MAX_BODY_BYTES} bytes after decompression", [], status=413
                )
            parts.append(part)
            body = decoder.unconsumed_tail
            if decoder.eof and decoder.unused_data:  # another gzip member
                body = decoder.unused_data
                decoder = zlib.decompressobj(wbits)
    except zlib.error as error:
        raise BatchError(f"body cannot be decompressed: {error}", []) from None
    if not decoder.eof:
        raise BatchError("body cannot be decompressed: the stream is cut short", [])
    return b"".join(parts)


def parse_json(body: bytes) -> Any:
    """The JSON document of `body`, strictly RFC 8259.

    orjson refuses what Python's json would let through: NaN/Infinity literals, numbers that
    overflow to infinity, lone surrogates, bad UTF-8, and nesting deeper than 1024.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BatchError(f"body is not valid JSON: {error}", _constants_in(body)) from None


NOT_JSON_NUMBER = "NaN and infinite numbers are not JSON numbers"


class _Constant(str):
    """`NaN`, `Infinity` or `-Infinity` where a JSON number should be."""


def _constants_in(body: bytes) -> list[Problem]:
    """Where a body that is JSON but for NaN/Infinity literals or numbers too large for a double
    has them, so that the answer names each sample and field (a client's float formatting is
    the usual culprit); else nothing."""
    try:
        document = json.loads(body, parse_constant=_Constant)
        if not isinstance(document, dict):
            return []
        samples = document.get("samples")
        named: list[tuple[int | None, str]] = [
            (index, field)
            for index, sample in enumerate(samples if isinstance(samples, list) else [])
            for field in _constant_fields(sample)
        ]
        rest = {name: value for name, value in document.items() if name != "samples"}
        named += [(None, field) for field in _constant_fields(rest)]
    except (ValueError, RecursionError):
        return []
    return [Problem(index, field, NOT_JSON_NUMBER) for index, field in named]


def _constant_fields(value: Any, path: str = "") -> list[str]:
    if isinstance(value, _Constant) or (isinstance(value, float) and not math.isfinite(value)):
        return [path]
    if isinstance(value, dict):
        inner = (_constant_fields(v, f"{path}.{k}" if path else str(k)) for k, v in value.items())
        return [field for fields in inner for field in fields]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in _constant_fields(v, f"{path}[{i}]")]
    return []


def parse_batch(
    body: bytes,
    *,
    now: float,
    max_sample_age: float,
    pushing_as: str | None = None,
    encoding: str = "",
) -> Batch:
    """The `Batch` of a request body sent with Content-`encoding`, judged at `now`;
    `pushing_as` is the one agent the token may push as (None for an admin token): a batch of
    another agent is refused with 403."""
    document = parse_json(inflate(body, encoding))
    claimed = document.get("agent") if isinstance(document, dict) else None
    if pushing_as is not None and isinstance(claimed, str) and claimed != pushing_as:
        raise BatchError(f"this token pushes as agent {pushing_as!r} only", [], status=403)
    return validate_batch(document, now=now, max_sample_age=max_sample_age)


def validate_batch(document: Any, *, now: float, max_sample_age: float) -> Batch:
    """A `Batch` from a parsed JSON document, or `BatchError` naming every bad field."""
    if not isinstance(document, dict):
        raise BatchError("body must be a JSON object", [Problem(None, "", "must be an object")])
    problems: list[Problem] = []
    agent = document.get("agent")
    if not isinstance(agent, str) or not _id_match(agent):
        problems.append(Problem(None, "agent", "must be an agent id like eu-1"))
    labels = _validate_labels(document.get("labels"), problems)
    samples = document.get("samples")
    if not isinstance(samples, list):
        problems.append(Problem(None, "samples", "must be a list of samples"))
        samples = []
    elif len(samples) > MAX_BATCH_SAMPLES:
        problems.append(Problem(None, "samples", f"at most {MAX_BATCH_SAMPLES} samples per batch"))
        samples = []
    rows = _validate_samples(samples, now, max_sample_age, problems)
    if problems:
        raise BatchError("invalid batch: nothing of it was stored", problems)
    return Batch(agent=agent, samples=rows, labels=labels)  # type: ignore[arg-type]


def _validate_labels(labels: Any, problems: list[Problem]) -> dict[str, str] | None:
    if labels is None:
        return None
    if not isinstance(labels, dict) or len(labels) > MAX_LABELS:
        problems.append(Problem(None, "labels", f"must be an object of at most {MAX_LABELS} names"))
        return None
    result: dict[str, str] = {}
    for name, value in labels.items():
        if type(value) is not str:
            problems.append(Problem(None, f"labels.{name}", "must be a string"))
        elif len(name) > MAX_LABEL_LENGTH or len(value) > MAX_LABEL_LENGTH:
            problems.append(
                Problem(None, f"labels.{name}", f"at most {MAX_LABEL_LENGTH} characters")
            )
        else:
            result[name] = value
    return result


def _validate_samples(
    samples: list[Any], now: float, max_sample_age: float, problems: list[Problem]
) -> list[SampleRow]:
    oldest, newest = now - max_sample_age, now + MAX_FUTURE_S
    rows: list[SampleRow] = []
    append = rows.append
    for index, sample in enumerate(samples):
        row = _fast_row(sample, oldest, newest)
        if row is None:
            row = _checked_row(index, sample, oldest, newest, problems)
        if row is not None:
            append(row)
    return rows


def _fast_row(sample: Any, oldest: float, newest: float) -> SampleRow | None:
    """The row of a plainly valid sample, or None to let `_checked_row` decide and explain.

    Only accepts what `_checked_row` accepts (a test holds them to it). Range comparisons also
    refuse NaN and infinities, which compare false or fall outside every range.
    """
    if type(sample) is not dict:
        return None
    get: Callable[[str], Any] = sample.get
    check, ts, ok, latency = get("check"), get("ts"), get("ok"), get("latency_ms")
    interval, probe_type, status = get("interval_s"), get("type"), get("status_code")
    error, phases, tls_expires = get("error"), get("phases_ms"), get("tls_expires")
    if not (
        type(check) is str
        and (check in _known_ids or _remember_id(check))
        and type(ts) in _NUMBER
        and oldest <= ts <= newest
        and type(ok) is bool
        and (
            (latency is None and not ok)
            or (type(latency) in _NUMBER and 0 <= latency <= _MAX_FLOAT)
        )
        and type(interval) in _NUMBER
        and 0 < interval <= MAX_INTERVAL_S
        and (probe_type is None
             or (type(probe_type) is str and 0 < len(probe_type) <= MAX_TYPE_LENGTH))
        and (status is None or (type(status) is int and 100 <= status <= 599))
        and (error is None or type(error) is str)
        and (tls_expires is None
             or (type(tls_expires) in _NUMBER and -_MAX_FLOAT <= tls_expires <= _MAX_FLOAT))
    ):  # fmt: skip
        return None
    if phases is None:
        timed: Sequence[int | None] = _NO_PHASES
    elif type(phases) is dict:
        phase = phases.get
        timed = []
        for value in (phase("dns"), phase("connect"), phase("tls"), phase("ttfb"),
                      phase("transfer")):  # fmt: skip
            if value is None:
                timed.append(None)
            elif type(value) in _NUMBER and 0 <= value < _WHOLE_FROM_MS:
                timed.append(round(value * 1000))  # `phase_microseconds`, inlined
            else:
                return None
    else:
        return None
    return _new_row((
        round(ts * 1000), ok, latency, max(1, round(interval * 1000)), status, error,
        *timed, tls_expires, check, probe_type,
    ))  # fmt: skip


def phase_microseconds(ms: float | None) -> float | None:
    """A phase's duration (ms) in whole microseconds, as the store keeps it.

    Phases are diagnostics, never part of the SLA arithmetic (which uses `latency_ms`, kept as
    sent); rounded to the microsecond, below what a probe can measure, each one is stored by
    SQLite as an integer of a few bytes instead of a float's 8: a stored sample a third
    smaller, and ingest that much less B-tree work (see
    `slawatch.collector.store.sqlite.migrations`)."""
    if ms is None:
        return None
    us = ms * 1000
    return round(us) if us < _WHOLE_FROM_US else us


def _remember_id(check: str) -> bool:
    """Whether `check` is a valid id; valid ids are remembered (a few thousand at most)."""
    if not _id_match(check):
        return False
    if len(_known_ids) >= _KNOWN_IDS_MAX:
        _known_ids.clear()
    _known_ids.add(check)
    return True


def _checked_row(
    index: int, sample: Any, oldest: float, newest: float, problems: list[Problem]
) -> SampleRow | None:
    """Every rule, one problem per bad field; the row if there is none."""
    if type(sample) is not dict:
        problems.append(Problem(index, "", "must be an object"))
        return None
    isfinite = math.isfinite
    bad = len(problems)
    get: Callable[[str], Any] = sample.get

    check = get("check")
    if type(check) is not str or not _id_match(check):
        problems.append(Problem(index, "check", "must be a check id like acme-web"))

    ts = get("ts")
    if type(ts) not in _NUMBER or not isfinite(ts):
        problems.append(Problem(index, "ts", "must be Unix time in seconds"))
    elif ts > newest:
        problems.append(Problem(index, "ts", "is more than 5 minutes in the future"))
    elif ts < oldest:
        problems.append(Problem(index, "ts", "is older than the collector's max_sample_age"))

    ok = get("ok")
    if type(ok) is not bool:
        problems.append(Problem(index, "ok", "must be true or false"))

    latency = get("latency_ms")
    if latency is None:
        if ok is True:
            problems.append(Problem(index, "latency_ms", "is required when ok is true"))
    elif type(latency) not in _NUMBER or not isfinite(latency) or latency < 0:
        problems.append(Problem(index, "latency_ms", "must be a number of ms, at least 0"))

    interval = get("interval_s")
    if type(interval) not in _NUMBER or not isfinite(interval):
        problems.append(Problem(index, "interval_s", "must be a number of seconds"))
    elif not 0 < interval <= MAX_INTERVAL_S:
        problems.append(Problem(index, "interval_s", "must be more than 0 and at most 86400"))

    probe_type = get("type")
    if probe_type is not None and (
        type(probe_type) is not str or not 0 < len(probe_type) <= MAX_TYPE_LENGTH
    ):
        problems.append(Problem(index, "type", "must be a probe type like http"))

    status = get("status_code")
    if status is not None:
        if type(status) is float and status.is_integer():
            status = int(status)  # 200.0 is the integer 200 in JSON
        if type(status) is not int or not 100 <= status <= 599:
            problems.append(Problem(index, "status_code", "must be an HTTP status, 100 to 599"))

    error = get("error")
    if error is not None and type(error) is not str:
        problems.append(Problem(index, "error", "must be a string or null"))

    dns, connect, tls, ttfb, transfer = _phases(get("phases_ms"), index, problems)

    tls_expires = get("tls_expires")
    if tls_expires is not None and (type(tls_expires) not in _NUMBER or not isfinite(tls_expires)):
        problems.append(Problem(index, "tls_expires", "must be Unix time in seconds or null"))

    if len(problems) != bad:
        return None
    return SampleRow(
        round(ts * 1000), ok, latency, max(1, round(interval * 1000)), status, error,
        dns, connect, tls, ttfb, transfer, tls_expires, check, probe_type,
    )  # fmt: skip


def _phases(phases: Any, index: int, problems: list[Problem]) -> tuple[float | None, ...]:
    """The durations of `PHASES` in microseconds (None where absent); other names are ignored
    like unknown fields."""
    if phases is None:
        return _NO_PHASES
    if type(phases) is not dict:
        problems.append(Problem(index, "phases_ms", "must be an object of phase durations"))
        return _NO_PHASES
    values = []
    for name in PHASES:
        value = phases.get(name)
        if value is not None and (
            type(value) not in _NUMBER or not math.isfinite(value) or value < 0
        ):
            problems.append(
                Problem(index, f"phases_ms.{name}", "must be a number of ms, at least 0")
            )
            value = None
        values.append(phase_microseconds(value))
    return tuple(values)
