"""Error-budget burn rate, multiwindow, as the Google SRE workbook (ch. 5, "Alerting on SLOs")
recommends: page when 2 % of a 30-day budget burns in 1 h (14.4× over 1 h and 5 m) or 5 % in
6 h (6× over 6 h and 30 m); open a ticket when 10 % burns in 3 days (1× over 3 d and 6 h). The
long window makes an alert significant, the short one makes it stop soon after the burn does.

The burn rate over a window ending now is (down time / eligible time in the window) /
(1 − objective/100), both times exactly as the SLA's report counts them (quorum, `require`,
`min_downtime`, maintenance, `unknown`): the numbers come from the SLA engine through
`slawatch.collector.reports.build`, never from a second implementation of the arithmetic. A window
without
eligible time has no rate and fires nothing; an objective of 100 % has no budget to burn (the
"objective breached" alert covers it).

A window is judged only when at least half of it holds eligible time (`MIN_ELIGIBLE_SHARE`):
the long window is there to make an alert significant, and 5 s down in the 36 s a new SLA has
seen reads as 139× over an hour while meaning nothing. Half keeps at least half of the
workbook's significance (1 % of a 30-day budget for the 1 h page) and tolerates a gap or a
maintenance window in the short one. So a new SLA pages after 30 minutes of data at the
earliest, opens a ticket after a day and a half, and time in maintenance or without data
(`unknown: exclude`) may hold a condition back.

Per rule and SLA, a page and a ticket are open while one of their conditions fires. A page
sends one message when it opens; a ticket too, unless a page is open (the page said it all).
Both close quietly. The ticket's 6-hour window keeps it open long after an outage, while the
page closes within 30 minutes, so a new fast burn pages again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from slawatch.collector.alerts.events import BurnWindow
from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.periods import Window
from slawatch.collector.engine.sla import Report
from slawatch.collector.reports.build import compute_from_store
from slawatch.collector.store import Store
from slawatch.config.schema import BurnRateWindow, Sla

Severity = Literal["page", "ticket"]
MIN_ELIGIBLE_SHARE = 0.5
"""A window with less eligible time than this share of its length has no burn rate."""
_URGENCY: Mapping[str, int] = {"page": 0, "ticket": 1}


@dataclass(frozen=True, slots=True)
class BurnCheck:
    """What fires now: the worst severity and the conditions behind it, most urgent first."""

    severity: Severity | None
    windows: tuple[BurnWindow, ...] = ()
    ticket: bool = False
    """A ticket condition fires (with or without a page one)."""


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """When the open page and ticket opened (their identities); None: not open."""

    page_ms: int | None = None
    ticket_ms: int | None = None


def burn_rate(report: Report) -> float | None:
    """How many times faster than sustainable the window spent the budget; None without
    eligible time or without a budget."""
    if report.eligible_ms <= 0 or report.sla.objective >= 100:
        return None
    allowed = 1 - report.sla.objective / 100
    return report.down_ms / report.eligible_ms / allowed


def judge(conditions: Sequence[BurnRateWindow], rates: Mapping[float, float | None]) -> BurnCheck:
    """Which conditions fire given the burn rate over each window length (seconds)."""
    fired = []
    for condition in conditions:
        long_rate, short_rate = rates.get(condition.long), rates.get(condition.short)
        if long_rate is None or short_rate is None:
            continue
        if long_rate > condition.factor and short_rate > condition.factor:
            fired.append((condition, long_rate, short_rate))
    fired.sort(key=lambda item: (_URGENCY[item[0].severity], -item[0].factor, item[0].long))
    if not fired:
        return BurnCheck(None)
    windows = tuple(
        BurnWindow(c.long, c.short, c.factor, long_rate, short_rate)
        for c, long_rate, short_rate in fired
    )
    ticket = any(c.severity == "ticket" for c, _, _ in fired)
    return BurnCheck(fired[0][0].severity, windows, ticket)


def step(
    alert: BurnAlert | None, check: BurnCheck, now_ms: int
) -> tuple[BurnAlert | None, Severity | None]:
    """The alert after this evaluation, and the severity of the message to send, if any."""
    before = alert or BurnAlert()
    paging = check.severity == "page"
    page_ms = (before.page_ms or now_ms) if paging else None
    ticket_ms = (before.ticket_ms or now_ms) if check.ticket else None
    notify: Severity | None = None
    if paging and before.page_ms is None:
        notify = "page"
    elif check.ticket and before.ticket_ms is None and not paging:
        notify = "ticket"
    if page_ms is None and ticket_ms is None:
        return None, None
    return BurnAlert(page_ms, ticket_ms), notify


async def rates(
    store: Store,
    sla: Sla,
    conditions: Sequence[BurnRateWindow],
    now_ms: int,
    declared: Sequence[Interval],
) -> dict[float, float | None]:
    """The burn rate over each window length the conditions use, each window ending now; None
    for a window with too little eligible time to judge (`MIN_ELIGIBLE_SHARE`).

    Without a DOWN run in the longest window (and unknown time not counted as down), nothing
    burns: every rate is 0 without asking the engine (a rate of 0 fires nothing either way).
    """
    lengths = sorted({c.long for c in conditions} | {c.short for c in conditions})
    if not lengths:
        return {}
    if sla.unknown != "down":
        runs = await store.runs(sla.checks, now_ms - round(lengths[-1] * 1000), now_ms)
        if not any(not run.ok for agents in runs.values() for r in agents.values() for run in r):
            return dict.fromkeys(lengths, 0.0)
    found: dict[float, float | None] = {}
    for seconds in lengths:
        window = Window(now_ms - round(seconds * 1000), now_ms)
        report = await compute_from_store(
            store, sla, window, now_ms, declared=declared, latency=False
        )
        enough = report.eligible_ms >= MIN_ELIGIBLE_SHARE * window.duration_ms
        found[seconds] = burn_rate(report) if enough else None
    return found
