"""The JSON documents of an evidence bundle other than the report: `sla.json` (the SLA's
config), `windows.json` (the time the contract removes: maintenance, exclusions, service hours)
and `manifest.json` (what the bundle holds, hashed, and the key that signs it), written by the
collector and read back by `slawatch verify-evidence` (`verify`).

Pure: JSON in, JSON out, and the engine's values. Every instant is written twice: RFC 3339 for
people and integer milliseconds for exact arithmetic.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, time
from decimal import Decimal, InvalidOperation
from functools import partial
from itertools import compress
from operator import is_not
from typing import Any, TypeVar, cast

from slawatch.collector.engine.maintenance import Interval, merge, occurrences
from slawatch.collector.engine.periods import format_instant
from slawatch.config.schema import CreditTier, LatencyObjective, MonthlyFee, ServiceHours, Sla

BUNDLE_FORMAT = "slawatch-evidence/1"
DATA_FILES = ("report.json", "samples.csv", "windows.json", "sla.json")
"""The files `manifest.json` hashes, in the order they are listed."""
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
EXCLUSION_KIND = "exclusion"


class BundleError(ValueError):
    """A bundle document is not what this slawatch writes; the message names the file and
    the field."""


# ----------------------------------------------------------------------------------- sla.json


def sla_json(sla: Sla) -> dict[str, Any]:
    """The SLA's config as JSON: its fields by name, durations in seconds."""
    return {field.name: _plain(getattr(sla, field.name)) for field in dataclasses.fields(sla)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, time | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # exact: a fee of 450.00 stays "450.00", never a float
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def sla_from_json(document: Any) -> Sla:
    """The SLA the engine recomputes with: the config of `sla.json` without its maintenance
    (which `windows.json` lists as instants). BundleError naming a missing or wrong field."""
    if not isinstance(document, dict):
        raise BundleError("sla.json: must be a JSON object")
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Sla):
        if field.name not in document:
            continue
        value = document[field.name]
        reader = _SLA_FIELDS.get(field.name)
        try:
            values[field.name] = reader(value) if reader else value
        except (TypeError, KeyError, ValueError, InvalidOperation) as error:
            raise BundleError(f"sla.json: {field.name}: cannot be read ({error})") from None
    values["maintenance"] = ()
    try:
        return Sla(**values)
    except TypeError as error:
        raise BundleError(f"sla.json: {error}") from None


def _latency(value: Any) -> LatencyObjective | None:
    if value is None:
        return None
    return LatencyObjective(float(value["objective"]), float(value["percentile"]))


def _credits(value: Any) -> tuple[CreditTier, ...]:
    return tuple(CreditTier(float(tier["below"]), float(tier["percent"])) for tier in value)


def _quorum(value: Any) -> Any:
    if isinstance(value, str) and value not in ("any", "majority", "all"):
        raise ValueError(f"unknown quorum {value!r}")
    return value


def service_hours(value: Any) -> tuple[ServiceHours, ...]:
    """`hours` as `sla_json` writes them: `{"days": [0…6], "start_s": …, "end_s": …}`."""
    found = []
    for line in value:
        days = tuple(int(day) for day in line["days"])
        start_s, end_s = int(line["start_s"]), int(line["end_s"])
        if not days or any(day not in range(7) for day in days):
            raise ValueError("days must be 0 (Monday) to 6 (Sunday)")
        if not 0 <= start_s < end_s <= 86_400:
            raise ValueError("start_s and end_s must be 0 <= start_s < end_s <= 86400")
        found.append(ServiceHours(days, start_s, end_s))
    return tuple(found)


def holidays(value: Any) -> tuple[date, ...]:
    return tuple(date.fromisoformat(str(day)) for day in value)


def _monthly_fee(value: Any) -> MonthlyFee | None:
    if value is None:
        return None
    amount = Decimal(str(value["amount"]))
    if not amount.is_finite() or amount < 0:
        raise ValueError("amount must be a number >= 0")
    return MonthlyFee(amount, str(value["currency"]))


_SLA_FIELDS: dict[str, Callable[[Any], Any]] = {
    "hours": service_hours,
    "holidays": holidays,
    "monthly_fee": _monthly_fee,
    "checks": lambda value: tuple(str(check) for check in value),
    "objective": float,
    "min_downtime": float,
    "latency": _latency,
    "credits": _credits,
    "quorum": _quorum,
}


# ------------------------------------------------------------------------------- windows.json


def windows_json(sla: Sla, span: Interval, declared: Iterable[Any]) -> dict[str, Any]:
    """The windows that remove time from `sla` inside `span`: its config maintenance (each
    occurrence), the maintenance and exclusions declared at run time, and its service hours."""
    maintenance: list[dict[str, Any]] = [
        _window("config", None, o.start_ms, o.end_ms, o.reason)
        for o in occurrences(sla.maintenance, sla.timezone, span)
    ]
    exclusions: list[dict[str, Any]] = []
    for window in declared:
        if window.end_ms <= span.start_ms or window.start_ms >= span.end_ms:
            continue
        kind = getattr(window, "kind", "maintenance")
        item = _window(
            "declared", window.id, window.start_ms, window.end_ms, window.reason, kind=kind
        )
        if kind == EXCLUSION_KIND:
            item["category"] = getattr(window, "category", None)
            exclusions.append(item)
        else:
            maintenance.append(item)
    maintenance.sort(key=lambda item: (item["start_ms"], item["end_ms"]))
    exclusions.sort(key=lambda item: (item["start_ms"], item["end_ms"]))
    return {
        "timezone": sla.timezone,
        "span": {"from_ms": span.start_ms, "to_ms": span.end_ms},
        "maintenance": maintenance,
        "exclusions": exclusions,
        "hours": _plain(getattr(sla, "hours", ())),
        "holidays": _plain(getattr(sla, "holidays", ())),
    }


def _window(
    source: str,
    ident: int | None,
    start_ms: int,
    end_ms: int,
    reason: str,
    *,
    kind: str = "maintenance",
) -> dict[str, Any]:
    return {
        "source": source,
        "kind": kind,
        "id": ident,
        "start": format_instant(start_ms),
        "end": format_instant(end_ms),
        "start_ms": start_ms,
        "end_ms": end_ms,
        "reason": reason,
    }


def windows_hours(document: Any) -> tuple[tuple[ServiceHours, ...], tuple[date, ...]]:
    """The service hours and holidays of a `windows.json`; BundleError naming the field."""
    if not isinstance(document, dict):
        raise BundleError("windows.json: must be a JSON object")
    try:
        found_hours = service_hours(document.get("hours", []))
    except (TypeError, KeyError, ValueError) as error:
        raise BundleError(f"windows.json: hours: cannot be read ({error})") from None
    try:
        found_holidays = holidays(document.get("holidays", []))
    except (TypeError, ValueError) as error:
        raise BundleError(f"windows.json: holidays: cannot be read ({error})") from None
    return found_hours, found_holidays


def removed_intervals(document: Any) -> list[Interval]:
    """The maintenance and exclusions of a `windows.json`, merged: what the engine cuts out."""
    if not isinstance(document, dict):
        raise BundleError("windows.json: must be a JSON object")
    found: list[Interval] = []
    for list_name in ("maintenance", "exclusions"):
        items = document.get(list_name, [])
        if not isinstance(items, list):
            raise BundleError(f"windows.json: {list_name}: must be a list")
        for index, item in enumerate(items):
            try:
                found.append(Interval(int(item["start_ms"]), int(item["end_ms"])))
            except (TypeError, KeyError, ValueError) as error:
                raise BundleError(
                    f"windows.json: {list_name}[{index}]: needs start_ms and end_ms ({error})"
                ) from None
    return merge(found)


# ---------------------------------------------------------------------------------- samples.csv


class LatencyGatherer:
    """The latencies of ok samples inside sorted, disjoint `ranges` (the report's, §4.6), from
    the columns of chunks of samples of one series, by time, as they stream by: the bundle
    gathers them from the store, `slawatch verify-evidence` from samples.csv. Column at a
    time (bisection and C iterators, no Python code per sample): a month is ~780,000 samples.
    """

    def __init__(self, ranges: Sequence[Interval]) -> None:
        self.ranges = ranges
        self._starts = [part.start_ms for part in ranges]
        self.values: list[float] = []

    def add(
        self, ts_ms: Sequence[int], ok: Sequence[Any], latency_ms: Sequence[float | None]
    ) -> None:
        """Samples of one series, sorted by `ts_ms`: `ok` true or 1, `latency_ms` None where
        there is none."""
        for measured in self._measured(ts_ms, ok, latency_ms):
            self.values.extend(cast(Iterator[float], filter(_is_not_none, measured)))

    def add_text(
        self, ts_ms: Sequence[int], ok: Sequence[Any], latency_text: Sequence[str]
    ) -> None:
        """As `add`, the latencies as the fields of samples.csv ("" where there is none; each
        already known to read as a float)."""
        for measured in self._measured(ts_ms, ok, latency_text):
            self.values.extend(map(float, filter(None, measured)))

    def _measured(
        self, ts_ms: Sequence[int], ok: Sequence[Any], latency: Sequence[_L]
    ) -> Iterator[Iterator[_L]]:
        """The latencies of ok samples inside each range, as iterators."""
        if not ts_ms:
            return
        first = max(0, bisect_right(self._starts, ts_ms[0]) - 1)
        for part in self.ranges[first:]:
            if part.start_ms > ts_ms[-1]:
                break
            low, high = bisect_left(ts_ms, part.start_ms), bisect_left(ts_ms, part.end_ms)
            if low < high:
                yield compress(latency[low:high], ok[low:high])


_L = TypeVar("_L")
_is_not_none: Callable[[Any], bool] = partial(is_not, None)


# ------------------------------------------------------------------------------ manifest.json


def manifest_json(
    *,
    sla: Sla,
    period: str | None,
    window_from_ms: int,
    window_to_ms: int,
    now_ms: int,
    history: Interval,
    samples: int,
    files: Mapping[str, tuple[str, int]],
    key: Mapping[str, str],
) -> dict[str, Any]:
    """What a bundle holds: each file's SHA-256 and size (`files`: name → (hex, bytes)), what
    the report was computed over, and the key that signs it."""
    return {
        "format": BUNDLE_FORMAT,
        "sla": sla.id,
        "customer": sla.customer,
        "period": period,
        "from": format_instant(window_from_ms),
        "to": format_instant(window_to_ms),
        "from_ms": window_from_ms,
        "to_ms": window_to_ms,
        "computed_at": format_instant(now_ms),
        "computed_at_ms": now_ms,
        "history": {"from_ms": history.start_ms, "to_ms": history.end_ms},
        "samples": samples,
        "files": {name: {"sha256": files[name][0], "bytes": files[name][1]} for name in files},
        "key": dict(key),
    }


def manifest_fields(document: Any, names: Sequence[str]) -> list[Any]:
    """The manifest's `names`, or BundleError naming the first missing."""
    if not isinstance(document, dict):
        raise BundleError("manifest.json: must be a JSON object")
    missing = [name for name in names if name not in document]
    if missing:
        raise BundleError(f"manifest.json: {missing[0]}: missing")
    return [document[name] for name in names]
