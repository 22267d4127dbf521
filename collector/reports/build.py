"""SLA reports from the store: (store, SLA, window, now) → `Report`, and the maintenance listed.

The one place that feeds the pure engine (`slawatch.collector.engine.sla`) from the database for
one report: it runs the history loop the engine asks for (`Report.wider_history`), reads the
declared maintenance, and fetches latencies per `latency_plan` (raw samples for partial hours,
hourly histograms for whole ones). Reports of many SLAs at once (summaries, status pages) are
`reports.shared`'s. No SQL here: every read is a method of the store
(`slawatch.collector.store.Store`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from slawatch.collector.engine.latency import latency_bucket
from slawatch.collector.engine.maintenance import Interval, merge, occurrences
from slawatch.collector.engine.periods import (
    INSTANT_HINT,
    PERIOD_HINT,
    Window,
    format_instant,
    period_label,
    resolve_window,
    restore_offset_plus,
)
from slawatch.collector.engine.report_latency import (
    HOUR_MS,
    LatencySource,
    bucket_at_percentile,
    latency_plan,
)
from slawatch.collector.engine.sla import Report, compute_report, history_range
from slawatch.collector.store import DeclaredMaintenance, Store
from slawatch.collector.store.records import WindowKind
from slawatch.config.schema import Sla

EARLIEST_MS = 0
LATEST_MS = 253_370_764_800_000
"""9999-01-01T00:00:00Z: report windows and maintenance stay inside the years 1970 to 9998."""
MAX_WINDOW_DAYS = 3660
"""About ten years: longer windows would only cost time (no data is kept that long)."""
DAY_MS = 86_400_000
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
PERIOD_FORM = re.compile(r"[0-9]{4}-([0-9]{2}|[Ww][0-9]{2}|[0-9]{2}-[0-9]{2})")
"""The forms of `period` (their ranges are checked by `slawatch.collector.engine.periods`)."""
MAX_HISTORY_ROUNDS = 64
"""The engine doubles the history each round; this many rounds reach far past any data."""

# ------------------------------------------------------------------------------------ outputs


@dataclass(frozen=True, slots=True)
class MaintenanceItem:
    """A maintenance window as people read it: declared at run time, or from the config."""

    source: Literal["declared", "config"]
    slas: tuple[str, ...]
    start_ms: int
    end_ms: int
    reason: str
    id: int | None = None
    """The id of a declared window (to delete it); None for a config window."""
    created_ms: int | None = None
    kind: WindowKind = "maintenance"
    """`exclusion`: declared after the fact (CONTRACT §7), listed apart from maintenance."""
    category: str | None = None

    @classmethod
    def of_declared(
        cls, declared: DeclaredMaintenance, slas: tuple[str, ...] | None = None
    ) -> MaintenanceItem:
        """A declared window, naming `slas` (default: every SLA it covers)."""
        return cls(
            "declared",
            declared.slas if slas is None else slas,
            declared.start_ms,
            declared.end_ms,
            declared.reason,
            declared.id,
            declared.created_ms,
            declared.kind,
            declared.category,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "slas": list(self.slas),
            "start": format_instant(self.start_ms),
            "end": format_instant(self.end_ms),
            "duration_s": (self.end_ms - self.start_ms) / 1000,
            "reason": self.reason,
            "created": None if self.created_ms is None else format_instant(self.created_ms),
            "kind": self.kind,
            "category": self.category,
        }


@dataclass(frozen=True, slots=True)
class SlaReport:
    """The report of §4.6 and what a reader needs around it."""

    report: Report
    period: str | None
    """The calendar period's name (`2026-11`, `2026-W47`, `2026-11-27`), None for from/to."""
    maintenance: tuple[MaintenanceItem, ...]
    """The windows overlapping the report's window, config and declared (maintenance and
    exclusions: see `planned` and `exclusions`), by start."""

    def to_json(self) -> dict[str, Any]:
        return {
            **self.report.to_json(),
            "period": self.period,
            "maintenance": [item.to_json() for item in self.planned],
            "exclusions": [item.to_json() for item in self.exclusions],
        }

    @property
    def planned(self) -> tuple[MaintenanceItem, ...]:
        """The maintenance windows, exclusions left out."""
        return tuple(item for item in self.maintenance if item.kind == "maintenance")

    @property
    def exclusions(self) -> tuple[MaintenanceItem, ...]:
        """Time excluded after the fact (CONTRACT §7), with its reason and category."""
        return tuple(item for item in self.maintenance if item.kind == "exclusion")


# ------------------------------------------------------------------------------------ reports


def rfc3339(text: str, name: str) -> str:
    """`text` if it is an RFC 3339 date-time with an offset (`T` and `Z` in either case),
    upper-cased for the parser; else ValueError naming `name`. Stricter than ISO 8601 on
    purpose: `20261101T000000Z` or a missing offset are refused, not guessed."""
    text = restore_offset_plus(text)
    if not RFC3339.fullmatch(text):
        raise ValueError(f"{name}: must be {INSTANT_HINT}")
    return text.upper()


def report_window(
    sla: Sla,
    now_ms: int,
    *,
    period: str | None = None,
    from_text: str | None = None,
    to_text: str | None = None,
) -> tuple[Window, str | None]:
    """The window asked for (`period`, or `from` and `to`, or the SLA's current period) and the
    name of its calendar period (None for from/to). ValueError with a message for the user."""
    if period is not None and not PERIOD_FORM.fullmatch(period):
        raise ValueError(f"period: must be {PERIOD_HINT}")
    window = resolve_window(
        sla.period,
        sla.timezone,
        now_ms,
        period=period,
        from_text=None if from_text is None else rfc3339(from_text, "from"),
        to_text=None if to_text is None else rfc3339(to_text, "to"),
    )
    if window.from_ms < EARLIEST_MS or window.to_ms > LATEST_MS:
        raise ValueError("from: the window must lie in the years 1970 to 9998")
    if window.duration_ms > MAX_WINDOW_DAYS * 86_400_000:
        raise ValueError(f"to: a report window lasts at most {MAX_WINDOW_DAYS} days")
    if period is not None:
        kind = "week" if "w" in period.lower() else ("day" if len(period) == 10 else "month")
        return window, period_label(kind, window.from_ms, sla.timezone)
    if from_text is None:
        return window, period_label(sla.period, window.from_ms, sla.timezone)
    return window, None


async def sla_report(
    store: Store,
    sla: Sla,
    window: Window,
    now_ms: int,
    *,
    period: str | None = None,
    latency: bool = True,
    latency_cache: LatencyCache | None = None,
) -> SlaReport:
    """The report of `sla` over `window` as known at `now_ms`, from the stored data."""
    declared = await store.declared_maintenance([sla.id])
    report = await compute_from_store(
        store,
        sla,
        window,
        now_ms,
        declared=declared_intervals(declared),
        latency=latency,
        latency_cache=latency_cache,
    )
    return SlaReport(report, period, tuple(maintenance_in(sla, window, declared)))


async def compute_from_store(
    store: Store,
    sla: Sla,
    window: Window,
    now_ms: int,
    *,
    declared: Sequence[Interval],
    latency: bool = True,
    latency_cache: LatencyCache | None = None,
    incidents: Literal["all", "open"] = "all",
) -> Report:
    """`compute_report` with the runs it needs, widening the history as long as it asks."""
    source = None
    if latency:
        source = await latency_source(store, sla, window, now_ms, declared, cache=latency_cache)
    report, _ = await settled_report(
        store, sla, window, now_ms, declared=declared, latency=source, incidents=incidents
    )
    return report


async def settled_report(
    store: Store,
    sla: Sla,
    window: Window,
    now_ms: int,
    *,
    declared: Sequence[Interval],
    latency: LatencySource | None,
    incidents: Literal["all", "open"] = "all",
) -> tuple[Report, Interval]:
    """`compute_report` over the history it settles on, and that history (the range of runs it
    read: evidence bundles recompute the report over the same range)."""
    history = history_range(sla, window, now_ms)
    for _ in range(MAX_HISTORY_ROUNDS):
        runs = await store.runs(sla.checks, history.start_ms, history.end_ms)
        report = compute_report(
            sla,
            runs,
            window,
            now_ms,
            declared_maintenance=declared,
            latency=latency,
            history=history,
            incidents=incidents,
        )
        if report.wider_history is None:
            return report, history
        history = report.wider_history
    raise RuntimeError(f"the history of SLA {sla.id!r} did not settle")


async def latency_source(
    store: Store,
    sla: Sla,
    window: Window,
    now_ms: int,
    declared: Sequence[Interval],
    *,
    cache: LatencyCache | None = None,
) -> LatencySource:
    """The latencies `latency_plan` asks for: raw values, and histograms of whole hours.

    Where raw samples are pruned, a partial hour takes its whole hour's histogram (a rollup's
    approximation, §4.6). The bucket that holds both the objective's percentile and the objective
    itself is replaced by its raw values, so that `met` is exact (while they are kept)."""
    plan = latency_plan(sla, window, now_ms, declared)
    values: list[float] = []
    pruned_hours: set[int] = set()
    for part in plan.raw:
        if part.start_ms < store.raw_horizon_ms:
            first_hour = part.start_ms // HOUR_MS * HOUR_MS
            pruned_hours.update(range(first_hour, part.end_ms, HOUR_MS))
        else:
            values.extend(await store.latency_values(sla.checks, part.start_ms, part.end_ms))
    buckets: dict[int, int] = {}
    for hour in sorted(pruned_hours):
        _add_counts(buckets, await store.latency_histograms(sla.checks, hour, hour + HOUR_MS))
    for part in plan.hourly:
        if cache is None:
            found = await store.latency_histograms(sla.checks, part.start_ms, part.end_ms)
        else:
            found = await cache.histograms(store, sla.checks, part.start_ms, part.end_ms)
        _add_counts(buckets, found)
    source = LatencySource(values, buckets)
    if sla.latency is None or pruned_hours:
        return source
    return await _exact_at_objective(store, sla, plan.hourly, source)


async def _exact_at_objective(
    store: Store, sla: Sla, hours: Sequence[Interval], source: LatencySource
) -> LatencySource:
    """`source` with the raw values of the bucket the objective's percentile falls in, when that
    bucket also holds the objective (its representative value could land on the wrong side)."""
    assert sla.latency is not None
    bucket = bucket_at_percentile(source, sla.latency.percentile)
    if bucket is None or bucket != latency_bucket(sla.latency.objective * 1000):
        return source
    if hours and hours[0].start_ms < store.raw_horizon_ms:
        return source
    exact: list[float] = []
    for part in hours:
        exact.extend(await store.bucket_latencies(sla.checks, part.start_ms, part.end_ms, bucket))
    if len(exact) != source.buckets[bucket]:  # samples pruned meanwhile: keep the approximation
        return source
    buckets = {index: n for index, n in source.buckets.items() if index != bucket}
    return LatencySource([*source.values, *exact], buckets)


class LatencyCache:
    """Merged latency histograms of UTC days or parts of days, per set of checks, kept while
    the day's rollups are unchanged (`Store.rollup_day_marks`).

    A month's report then merges 30 cached days instead of 720 hours x agents of histograms,
    and an 8x5 SLA's its 21 cached service days; a late sample still counts at once, since it
    changes the marks of its day. The least recently used entries go first past `max_days`.
    """

    def __init__(self, max_days: int = 1024) -> None:
        self.max_days = max_days
        self._days: OrderedDict[
            tuple[tuple[str, ...], int, int], tuple[tuple[int, int], dict[int, int]]
        ] = OrderedDict()

    async def histograms(
        self, store: Store, checks: Sequence[str], start_ms: int, end_ms: int
    ) -> dict[int, int]:
        """What `store.latency_histograms(checks, start_ms, end_ms)` answers."""
        first_day = start_ms // DAY_MS * DAY_MS
        last_day = -(-end_ms // DAY_MS) * DAY_MS
        merged: dict[int, int] = {}
        which = tuple(sorted(set(checks)))
        marks = await store.rollup_day_marks(checks, first_day, last_day)
        for day in range(first_day, last_day, DAY_MS):
            mark = marks.get(day)
            piece_start, piece_end = max(start_ms, day), min(end_ms, day + DAY_MS)
            if mark is None or piece_start >= piece_end:
                continue  # no rollup that day: nothing to merge
            key = (which, piece_start, piece_end)
            cached = self._days.get(key)
            if cached is None or cached[0] != mark:
                found = await store.latency_histograms(checks, piece_start, piece_end)
                cached = self._days[key] = (mark, found)
                while len(self._days) > self.max_days:
                    self._days.popitem(last=False)
            else:
                self._days.move_to_end(key)
            _add_counts(merged, cached[1])
        return merged


def _add_counts(into: dict[int, int], counts: Mapping[int, int]) -> None:
    for bucket, count in counts.items():
        into[bucket] = into.get(bucket, 0) + count


# -------------------------------------------------------------------------------- maintenance


def maintenance_in(
    sla: Sla, window: Window, declared: Iterable[DeclaredMaintenance]
) -> list[MaintenanceItem]:
    """The config occurrences and declared windows of `sla` overlapping `window`, by start."""
    span = Interval(window.from_ms, window.to_ms)
    items = [
        MaintenanceItem("config", (sla.id,), o.start_ms, o.end_ms, o.reason)
        for o in occurrences(sla.maintenance, sla.timezone, span)
    ]
    items.extend(
        MaintenanceItem.of_declared(d, (sla.id,))
        for d in declared
        if sla.id in d.slas and d.end_ms > window.from_ms and d.start_ms < window.to_ms
    )
    return sorted(items, key=_item_order)


async def maintenance_list(
    store: Store,
    slas: Sequence[Sla],
    windows: Mapping[str, Window],
    now_ms: int,
    *,
    upcoming: bool,
) -> list[MaintenanceItem]:
    """The maintenance of `slas` (each over its window in `windows`), by start.

    Config windows are expanded over each SLA's window. A declared window is listed once,
    naming only the SLAs of `slas` it covers, if it overlaps one of their windows or, with
    `upcoming`, if it has not ended at `now_ms` (so scheduled work stays visible).
    """
    visible = {sla.id for sla in slas}
    items: list[MaintenanceItem] = []
    for sla in slas:
        span = Interval(windows[sla.id].from_ms, windows[sla.id].to_ms)
        items.extend(
            MaintenanceItem("config", (sla.id,), o.start_ms, o.end_ms, o.reason)
            for o in occurrences(sla.maintenance, sla.timezone, span)
        )
    for declared in await store.declared_maintenance(sorted(visible)):
        covered = tuple(sla for sla in declared.slas if sla in visible)
        overlaps = any(
            declared.end_ms > windows[sla].from_ms and declared.start_ms < windows[sla].to_ms
            for sla in covered
        )
        if overlaps or (upcoming and declared.end_ms > now_ms):
            items.append(MaintenanceItem.of_declared(declared, covered))
    return sorted(items, key=_item_order)


def _item_order(item: MaintenanceItem) -> tuple[int, int, str, tuple[str, ...]]:
    return (item.start_ms, item.end_ms, item.source, item.slas)


def declared_intervals(declared: Iterable[DeclaredMaintenance]) -> list[Interval]:
    return merge(Interval(d.start_ms, d.end_ms) for d in declared)
