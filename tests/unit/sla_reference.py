"""A deliberately naive implementation of CONTRACT §4, to check `slawatch.collector.engine.sla` against.

It shares nothing with the engine but the config dataclasses: it starts from raw samples, not
runs, cuts time at every instant where anything could change (sample times, coverage ends,
maintenance edges, from, to, as_of, now, and with service hours every whole UTC minute), and asks
each elementary piece "what is the state at your first millisecond?" by reading the samples
directly. Slow, and obviously right.

Service hours (§7) are read off the wall clock of each instant: `datetime.astimezone` gives the
local date and time, and the instant is in hours when that date is no holiday and a line of
`hours` for its weekday holds that time. Every zone's offset and every line of hours the tests
draw is whole minutes, so the answer can only change on a whole UTC minute.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from slawatch.config.schema import OneOffMaintenance, Sla

DAY = 86_400_000
MINUTE = 60_000
WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


@dataclass(frozen=True)
class RefSample:
    ts_ms: int
    ok: bool
    interval_ms: int
    error: str | None = None
    latency_ms: float | None = None


def instant(ms: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    if ms % 1000 == 0:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def clean(samples: Sequence[RefSample]) -> list[RefSample]:
    """Sorted by time, the first copy of each timestamp kept."""
    first: dict[int, RefSample] = {}
    for sample in samples:
        first.setdefault(sample.ts_ms, sample)
    return [first[ts] for ts in sorted(first)]


def agent_state(samples: Sequence[RefSample], times: Sequence[int], t: int) -> str:
    """§4.1: the last sample at or before t covers t unless t is past its ts + 2·interval."""
    index = bisect_right(times, t) - 1
    if index < 0:
        return "unknown"
    sample = samples[index]
    if t >= sample.ts_ms + 2 * sample.interval_ms:
        return "unknown"
    return "up" if sample.ok else "down"


def check_state(agent_states: list[str], quorum: str | int) -> str:
    known = [s for s in agent_states if s != "unknown"]
    k, d = len(known), known.count("down")
    if k == 0:
        return "unknown"
    if quorum == "any":
        down = d >= 1
    elif quorum == "majority":
        down = 2 * d > k
    elif quorum == "all":
        down = d == k
    else:
        down = d >= min(int(quorum), k)
    return "down" if down else "up"


def service(check_states: list[str], require: str) -> str:
    if require == "all":
        if "down" in check_states:
            return "down"
        return "unknown" if "unknown" in check_states else "up"
    if "up" in check_states:
        return "up"
    return "down" if "down" in check_states else "unknown"


def maintenance_windows(
    sla: Sla, declared: Sequence[tuple[int, int]], first_ms: int, last_ms: int
) -> list[tuple[int, int]]:
    """Every maintenance occurrence, for every local day from well before to well after."""
    zone = ZoneInfo(sla.timezone)
    windows = list(declared)
    for item in sla.maintenance:
        if isinstance(item, OneOffMaintenance):
            windows.append((round(item.start * 1000), round(item.end * 1000)))
            continue
        duration = round(item.duration * 1000)
        day = datetime.fromtimestamp((first_ms - duration) / 1000 - 3 * 86400, zone).date()
        while day <= datetime.fromtimestamp(last_ms / 1000 + 3 * 86400, zone).date():
            if item.every == "day" or WEEKDAY_NAMES[day.weekday()] == item.every:
                local = datetime(
                    day.year, day.month, day.day, item.at.hour, item.at.minute, item.at.second
                )
                start = round(local.replace(tzinfo=zone).timestamp() * 1000)
                windows.append((start, start + duration))
            day += timedelta(days=1)
    return windows


def in_service_hours(sla: Sla, t: int) -> bool:
    """§7: the wall clock in the SLA's timezone reads a service time on a working day."""
    if not sla.hours and not sla.holidays:
        return True
    local = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=t)).astimezone(
        ZoneInfo(sla.timezone)
    )
    if local.date() in sla.holidays:
        return False
    if not sla.hours:
        return True
    clock_ms = (local.hour * 3600 + local.minute * 60 + local.second) * 1000
    clock_ms += local.microsecond // 1000
    return any(
        local.weekday() in line.days and line.start_s * 1000 <= clock_ms < line.end_s * 1000
        for line in sla.hours
    )


def reference_credit_amount(
    sla: Sla, percent: float, from_ms: int, to_ms: int
) -> tuple[float | None, str | None]:
    """§7: the monthly fee shared out over each local calendar month by milliseconds, times the
    percent, rounded half-even (`round` of a Fraction) to the currency's minor unit."""
    fee = sla.monthly_fee
    if fee is None:
        return None, None
    zone = ZoneInfo(sla.timezone)
    local = datetime.fromtimestamp(from_ms / 1000, zone)
    year, month = local.year, local.month
    share = Fraction(0)
    while True:
        start = round(datetime(year, month, 1, tzinfo=zone).timestamp() * 1000)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        end = round(datetime(year, month, 1, tzinfo=zone).timestamp() * 1000)
        if start >= to_ms:
            break
        share += Fraction(max(0, min(end, to_ms) - max(start, from_ms)), end - start)
    digits = {"JPY": 0, "KWD": 3}.get(fee.currency, 2)
    exact = Fraction(fee.amount) * share * Fraction(str(percent)) / 100
    return float(round(exact, digits)), fee.currency


def nearest_rank(values: list[float], percentile: float) -> float:
    rank = math.ceil(Fraction(str(percentile)) * len(values) / 100)
    return sorted(values)[max(rank, 1) - 1]


def reference_report(
    sla: Sla,
    samples: Mapping[str, Mapping[str, Sequence[RefSample]]],
    *,
    from_ms: int,
    to_ms: int,
    now_ms: int,
    declared: Sequence[tuple[int, int]] = (),
    exclusions: Sequence[tuple[int, int]] = (),
) -> dict[str, Any]:
    """§4 and §7. `declared`: maintenance declared at run time; `exclusions`: time excluded
    after the fact, which counts exactly as maintenance (§7)."""
    as_of = max(from_ms, min(to_ms, now_ms))
    checks = sorted(set(sla.checks))
    series = {
        (check, agent): clean(agent_samples)
        for check in checks
        for agent, agent_samples in samples.get(check, {}).items()
    }
    times = {key: [s.ts_ms for s in value] for key, value in series.items()}
    all_ts = [s.ts_ms for value in series.values() for s in value]
    first = min([from_ms, *all_ts])
    last = max(to_ms, now_ms)
    maint = maintenance_windows(sla, [*declared, *exclusions], first, last)

    cuts = {first, last, from_ms, to_ms, as_of, now_ms}
    for value in series.values():
        for s in value:
            cuts.update((s.ts_ms, s.ts_ms + 2 * s.interval_ms))
    for start, end in maint:
        cuts.update((start, end))
    if sla.hours or sla.holidays:
        cuts.update(range(-(-first // MINUTE) * MINUTE, last, MINUTE))
    cuts = sorted(c for c in cuts if first <= c <= last)
    pieces = list(pairwise(cuts))

    def in_maintenance(t: int) -> bool:
        """Removed from the SLA: maintenance, or outside service hours."""
        return not in_service_hours(sla, t) or any(start <= t < end for start, end in maint)

    def checks_at(t: int) -> dict[str, str]:
        return {
            check: check_state(
                [agent_state(series[key], times[key], t) for key in series if key[0] == check],
                sla.quorum,
            )
            for check in checks
        }

    # §4.1–4.3 on every piece before now.
    past = [(a, b) for a, b in pieces if b <= now_ms]
    check_states = [checks_at(a) for a, _ in past]
    raw = [service(list(states.values()), sla.require) for states in check_states]

    # §4.4 (1): maximal DOWN runs (UNKNOWN and UP end them) shorter than min_downtime are UP.
    judged = list(raw)
    min_downtime = round(sla.min_downtime * 1000)
    i = 0
    while i < len(past):
        if raw[i] != "down":
            i += 1
            continue
        j = i
        while j + 1 < len(past) and raw[j + 1] == "down":
            j += 1
        if past[j][1] - past[i][0] < min_downtime:
            for k in range(i, j + 1):
                judged[k] = "up"
        i = j + 1

    # §4.4 (2): maintenance; §4.4 (3): unknown.
    totals = {"up": 0, "down": 0, "unknown": 0, "maintenance": 0, "outside_hours": 0}
    for (a, b), state in zip(past, judged, strict=True):
        if from_ms <= a < as_of:
            if not in_service_hours(sla, a):
                totals["outside_hours"] += b - a
            elif in_maintenance(a):
                totals["maintenance"] += b - a
            else:
                totals[state] += b - a
    if sla.unknown != "exclude":
        totals[sla.unknown] += totals["unknown"]
        totals["unknown"] = 0
    future = sum(b - a for a, b in pieces if as_of <= a < to_ms and not in_maintenance(a))

    up, down = totals["up"], totals["down"]
    eligible = up + down
    availability = float(Fraction(100 * up, eligible)) if eligible else None
    allowed = 1 - Fraction(str(sla.objective)) / 100
    budget = allowed * Fraction(eligible + future, 1000)
    remaining = budget - Fraction(down, 1000)

    # §4.8: a window in progress is judged by what can still happen.
    complete = now_ms >= to_ms
    projected = (
        float(Fraction(100 * (up + future), eligible + future)) if eligible + future else None
    )
    if projected is None:
        verdict = "no_data"
    elif complete:
        verdict = (
            "met" if availability is not None and availability >= sla.objective else "breached"
        )
    elif remaining < 0:
        verdict = "breached"
    else:
        verdict = "on_track" if 4 * remaining >= budget else "at_risk"
    credited = availability if complete else projected
    credit = 0
    if credited is not None:
        credit = max([t.percent for t in sla.credits if credited < t.below], default=0)

    amount, currency = reference_credit_amount(sla, credit, from_ms, to_ms)
    incidents = reference_incidents(
        series,
        past,
        judged,
        check_states,
        in_maintenance,
        from_ms=from_ms,
        as_of=as_of,
        now_ms=now_ms,
    )

    def has_data(key: tuple[str, str]) -> bool:
        value = series[key]
        for n, s in enumerate(value):
            end = s.ts_ms + 2 * s.interval_ms
            if n + 1 < len(value):
                end = min(end, value[n + 1].ts_ms)
            end = min(end, now_ms)
            if max(s.ts_ms, from_ms) < min(end, as_of):
                return True
        return False

    missing = [c for c in checks if not any(has_data(key) for key in series if key[0] == c)]

    latencies = [
        s.latency_ms
        for value in series.values()
        for s in value
        if s.ok and from_ms <= s.ts_ms < as_of and not in_maintenance(s.ts_ms)
    ]
    latency: dict[str, Any] = {"count": len(latencies)}
    for p in (50, 95, 99):
        latency[f"p{p}_ms"] = nearest_rank(latencies, p) if latencies else None
    objective = sla.latency
    latency["objective_ms"] = objective.objective * 1000 if objective else None
    latency["objective_percentile"] = objective.percentile if objective else None
    latency["met"] = (
        nearest_rank(latencies, objective.percentile) <= objective.objective * 1000
        if objective and latencies
        else None
    )

    return {
        "sla": sla.id,
        "customer": sla.customer,
        "name": sla.name,
        "from": instant(from_ms),
        "to": instant(to_ms),
        "as_of": instant(min(to_ms, now_ms)),  # §4.6 literally; totals stop at from at the latest
        "objective": sla.objective,
        "up_s": up / 1000,
        "down_s": down / 1000,
        "unknown_s": totals["unknown"] / 1000,
        "maintenance_s": totals["maintenance"] / 1000,
        "outside_hours_s": totals["outside_hours"] / 1000,
        "eligible_s": eligible / 1000,
        "availability": availability,
        "met": None if availability is None else availability >= sla.objective,
        "error_budget_s": float(budget),
        "error_budget_remaining_s": float(remaining),
        "credit_percent": credit,
        "credit_amount": amount,
        "currency": currency,
        "latency": latency,
        "incidents": incidents,
        "missing_checks": missing,
        "complete": complete,
        "future_s": future / 1000,
        "projected_availability": projected,
        "verdict": verdict,
    }


def reference_incidents(
    series: Mapping[tuple[str, str], list[RefSample]],
    past: list[tuple[int, int]],
    judged: list[str],
    check_states: list[dict[str, str]],
    in_maintenance: Any,
    *,
    from_ms: int,
    as_of: int,
    now_ms: int,
) -> list[dict[str, Any]]:
    """§4.5: maximal runs of pieces DOWN after forgiveness and outside maintenance."""
    down = [
        state == "down" and not in_maintenance(a)
        for (a, _), state in zip(past, judged, strict=True)
    ]
    incidents = []
    i = 0
    while i < len(past):
        if not down[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(past) and down[j + 1]:
            j += 1
        run_start, run_end = past[i][0], past[j][1]
        checks = sorted(
            {
                check
                for k in range(i, j + 1)
                for check, state in check_states[k].items()
                if state == "down"
            }
        )
        i = j + 1
        start, end = max(run_start, from_ms), min(run_end, as_of)
        if start >= end:
            continue
        ongoing = run_end == now_ms
        incidents.append(
            {
                "start": instant(start),
                "end": None if ongoing and as_of == now_ms else instant(end),
                "duration_s": (end - start) / 1000,
                "run_start": instant(run_start),
                "run_end": None if ongoing else instant(run_end),
                "checks": checks,
                "error": first_error(series, checks, run_start, run_end),
            }
        )
    return incidents


def first_error(
    series: Mapping[tuple[str, str], list[RefSample]], checks: list[str], start: int, end: int
) -> str | None:
    """The first sample of the earliest failing stretch (of any agent of these checks) that
    starts inside [start, end); if none does, of the earliest one that covers some of it."""
    inside: list[tuple[int, str, str, str | None]] = []
    covering: list[tuple[int, str, str, str | None]] = []
    for (check, agent), value in series.items():
        if check not in checks:
            continue
        for n, s in enumerate(value):
            if s.ok:
                continue
            stretch_start = n
            while (
                stretch_start > 0
                and not value[stretch_start - 1].ok
                and (
                    value[stretch_start - 1].ts_ms + 2 * value[stretch_start - 1].interval_ms
                    >= value[stretch_start].ts_ms
                )
            ):
                stretch_start -= 1
            first = value[stretch_start]
            candidate = (first.ts_ms, check, agent, first.error)
            if stretch_start == n and start <= s.ts_ms < end:
                inside.append(candidate)
            cover_end = s.ts_ms + 2 * s.interval_ms
            if n + 1 < len(value):
                cover_end = min(cover_end, value[n + 1].ts_ms)
            if s.ts_ms < end and cover_end > start and s.ts_ms < cover_end:
                covering.append(candidate)
    found = inside or covering
    return min(found, key=lambda c: c[:3])[3] if found else None
