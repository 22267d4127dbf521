"""Validation of pushed batches (CONTRACT §3.1): bytes in, a `Batch` of store rows out. Pure.

Every rule is checked for every sample so that one answer names every bad field; one bad field
refuses the whole batch (`BatchError`), and nothing of it is stored. Fields the contract does not
name are ignored. The loop is written for speed: it runs for every sample the collector receives.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from config.contract import ID_PATTERN, MAX_BATCH_SAMPLES, MAX_FUTURE_S, MAX_INTERVAL_S, PHASES

MAX_TYPE_LENGTH = 32
MAX_LABELS = 64
MAX_LABEL_LENGTH = 256

_KNOWN_PHASES = frozenset(PHASES)
_NUMBER = (int, float)
_id_match = ID_PATTERN.fullmatch


class SampleRow(NamedTuple):
    """One validated sample, in the order of the store's columns (a tuple, for `executemany`)."""

    check: str
    ts_ms: int
    ok: bool
    latency_ms: float | None
    interval_ms: int
    type: str | None
    status_code: int | None
    error: str | None
    phases_json: str | None
    tls_expires: float | None


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
    def __init__(self, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def parse_json(body: bytes) -> Any:
    """The JSON document of `body`; NaN/Infinity literals, bad UTF-8 and deep nesting refused."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise BatchError("body is nested too deeply", []) from None
    except (ValueError, UnicodeDecodeError) as error:
        raise BatchError(f"body is not valid JSON: {error}", []) from None


def parse_batch(body: bytes, *, now: float, max_sample_age: float) -> Batch:
    return validate_batch(parse_json(body), now=now, max_sample_age=max_sample_age)


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
    isfinite = math.isfinite
    rows: list[SampleRow] = []
    append = rows.append
    for index, sample in enumerate(samples):
        if type(sample) is not dict:
            problems.append(Problem(index, "", "must be an object"))
            continue
        bad = len(problems)
        get = sample.get

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

        phases = get("phases_ms")
        phases_json = None if phases is None else _phases_json(phases, index, problems)

        tls_expires = get("tls_expires")
        if tls_expires is not None and (
            type(tls_expires) not in _NUMBER or not isfinite(tls_expires)
        ):
            problems.append(Problem(index, "tls_expires", "must be Unix time in seconds or null"))

        if len(problems) == bad:
            append(
                SampleRow(
                    check,
                    round(ts * 1000),
                    ok,
                    None if latency is None else float(latency),
                    max(1, round(interval * 1000)),
                    probe_type,
                    status,
                    error,
                    phases_json,
                    None if tls_expires is None else float(tls_expires),
                )
            )
    return rows


def _phases_json(phases: Any, index: int, problems: list[Problem]) -> str | None:
    """The known phases as compact JSON; unknown phase names are ignored like unknown fields."""
    if type(phases) is not dict:
        problems.append(Problem(index, "phases_ms", "must be an object of phase durations"))
        return None
    kept: dict[str, float] = {}
    for name, value in phases.items():
        if name not in _KNOWN_PHASES:
            continue
        if type(value) not in _NUMBER or not math.isfinite(value) or value < 0:
            problems.append(
                Problem(index, f"phases_ms.{name}", "must be a number of ms, at least 0")
            )
        else:
            kept[name] = value
    return json.dumps(kept, separators=(",", ":")) if kept else None
