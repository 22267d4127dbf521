"""The words of every alert, shared by all channels so that they stay small and alike.

`compose(event)` turns an event into a `Message`: a title ("DOWN acme-web"), the one-line summary
that a phone notification shows ("DOWN acme-web — 3/3 agents: connection refused — since 03:12
UTC"), label/value facts, list lines (a storm's changes) and a link. Channel modules only map a
`Message` to their service's markup and limits. Everything here is plain text: each channel
escapes it for its own markup.

Times are shown in UTC (`alerts.formats`); the shape of a message and the channels' layout
helpers are `alerts.layout`'s.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from slawatch.collector.alerts.events import (
    AgentClock,
    AgentSilent,
    AgentView,
    BurnRate,
    BurnWindow,
    Digest,
    DigestIncident,
    DigestSla,
    Down,
    Event,
    Flapping,
    FlappingEnded,
    Grouped,
    NoData,
    ObjectiveBreached,
    Reminder,
    Resolved,
    StateChange,
    Subject,
    Test,
)
from slawatch.collector.alerts.formats import (
    format_date,
    format_duration,
    format_instant,
    format_number,
    format_percent,
    format_rate,
    format_span,
    format_time,
)
from slawatch.collector.alerts.layout import Fact, Message, clip, one_line
from slawatch.collector.engine.verdict import Verdict
from slawatch.collector.reports.words import VERDICT_TEXT

DIGEST_VERDICT_ORDER: tuple[Verdict, ...] = ("breached", "at_risk", "on_track", "met", "no_data")
VERDICT_MARK: dict[Verdict, str] = {
    "met": "✓",
    "on_track": "✓",
    "at_risk": "!",
    "breached": "✗",
    "no_data": "",
}

DASH = " — "
ERROR_SUMMARY_CHARS = 200
"""An error longer than this is cut in the one-line summary (the facts keep more of it)."""
ERROR_FACT_CHARS = 1000
NAMES_IN_SUMMARY = 3
"""A storm's summary names this many subjects, then "+N more"."""

_HEADLINES = {
    "down": "DOWN",
    "reminder": "STILL DOWN",
    "resolved": "RESOLVED",
    "no_data": "NO DATA",
    "agent_silent": "AGENT SILENT",
    "flapping": "FLAPPING",
    "flapping_ended": "STOPPED FLAPPING",
    "burn_rate": "BURN RATE",
    "objective_breached": "BREACHED",
    "grouped": "STORM",
    "digest": "SLA REVIEW",
    "test": "TEST",
}


def compose(event: Event) -> Message:
    match event:
        case Down() | Reminder():
            return _down(event)
        case Resolved():
            return _resolved(event)
        case NoData():
            return _no_data(event)
        case AgentSilent():
            return _agent_silent(event)
        case Flapping():
            return _flapping(event)
        case FlappingEnded():
            return _flapping_ended(event)
        case BurnRate():
            return _burn_rate(event)
        case ObjectiveBreached():
            return _objective_breached(event)
        case Grouped():
            return _grouped(event)
        case Digest():
            return _digest(event)
        case Test():
            return _test(event)
    raise TypeError(f"not an alert event: {type(event).__name__}")


def summary(event: Event) -> str:
    return compose(event).summary


def headline(kind: str) -> str:
    """The upper-case word that opens every summary: DOWN, RESOLVED, NO DATA…"""
    return _HEADLINES[kind]


# ---------------------------------------------------------------------------------- per kind


def _down(event: Down | Reminder) -> Message:
    word = headline(event.kind)
    name = subject_label(event.subject)
    parts = [f"{word} {name}"]
    seen = _what_probes_saw(event.agents, event.error)
    if event.checks:
        parts.append(f"{_count(len(event.checks), 'check')} down: {', '.join(event.checks)}")
        if event.error:
            parts.append(clip(one_line(event.error), ERROR_SUMMARY_CHARS))
    elif seen:
        parts.append(seen)
    since = f"since {format_time(event.since, event.at)}"
    if isinstance(event, Reminder):
        since += f" ({format_duration(event.at - event.since)})"
    parts.append(since)
    facts = [
        *_subject_facts(event.subject),
        Fact("State", f"DOWN for {format_duration(event.at - event.since)}"),
        Fact("Since", format_instant(event.since)),
    ]
    if event.checks:
        facts.append(Fact("Checks down", ", ".join(event.checks)))
    if event.agents:
        facts.append(Fact("Agents", _agent_lines(event.agents), short=False))
    if event.error:
        facts.append(Fact("Error", clip(one_line(event.error), ERROR_FACT_CHARS), short=False))
    return Message(
        kind=event.kind,
        title=f"{word} {name}",
        summary=DASH.join(parts),
        tone="bad",
        at=event.at,
        facts=tuple(facts),
        link=event.link,
    )


def _resolved(event: Resolved) -> Message:
    name = subject_label(event.subject)
    span = format_span(event.down_since, event.up_since, event.at)
    length = format_duration(event.duration_s)
    if event.unknown_s >= 1:
        length += f", {format_duration(event.unknown_s)} of it without data"
    line = f"was down {span} ({length})"
    if event.error:
        line += f": {clip(one_line(event.error), ERROR_SUMMARY_CHARS)}"
    facts = [
        *_subject_facts(event.subject),
        Fact("State", "UP"),
        Fact("Down for", format_duration(event.duration_s)),
        Fact("Down since", format_instant(event.down_since)),
        Fact("Up since", format_instant(event.up_since)),
    ]
    if event.unknown_s >= 1:
        facts.append(Fact("Without data", format_duration(event.unknown_s)))
    if event.checks:
        facts.append(Fact("Checks", ", ".join(event.checks)))
    if event.error:
        facts.append(Fact("Error", clip(one_line(event.error), ERROR_FACT_CHARS), short=False))
    return Message(
        kind=event.kind,
        title=f"RESOLVED {name}",
        summary=DASH.join([f"RESOLVED {name}", line]),
        tone="good",
        at=event.at,
        facts=tuple(facts),
        link=event.link,
    )


def _no_data(event: NoData) -> Message:
    name = subject_label(event.subject)
    if event.last_sample is None:
        silence = "no sample from any agent yet"
        last = "never"
    else:
        silence = (
            f"no sample from any agent since {format_time(event.last_sample, event.at)}"
            f" ({format_duration(event.at - event.last_sample)})"
        )
        last = format_instant(event.last_sample)
    facts = [*_subject_facts(event.subject), Fact("State", "UNKNOWN"), Fact("Last sample", last)]
    if event.interval_s:
        facts.append(Fact("Interval", format_duration(event.interval_s)))
    if event.agents:
        facts.append(Fact("Agents", ", ".join(event.agents), short=False))
    cause = "monitoring is blind"
    if event.clocks_behind:
        cause = _clocks_behind(event.clocks_behind)
        facts.append(Fact("Clock behind", _clock_lines(event.clocks_behind), short=False))
    return Message(
        kind=event.kind,
        title=f"NO DATA {name}",
        summary=DASH.join([f"NO DATA {name}", silence, cause]),
        tone="bad",
        at=event.at,
        facts=tuple(facts),
        link=event.link,
    )


def _agent_silent(event: AgentSilent) -> Message:
    if event.last_seen is None:
        silence = "never pushed"
        last = "never"
    else:
        silence = (
            f"no push since {format_time(event.last_seen, event.at)}"
            f" ({format_duration(event.at - event.last_seen)})"
        )
        last = format_instant(event.last_seen)
    parts = [f"AGENT SILENT {event.agent}", silence]
    if event.checks:
        parts.append(f"{_count(len(event.checks), 'check')} unwatched from there")
    facts = [Fact("Agent", event.agent), Fact("Last push", last)]
    if event.checks:
        facts.append(Fact("Checks", ", ".join(event.checks), short=False))
    return Message(
        kind=event.kind,
        title=f"AGENT SILENT {event.agent}",
        summary=DASH.join(parts),
        tone="bad",
        at=event.at,
        facts=tuple(facts),
        link=event.link,
    )


def _flapping(event: Flapping) -> Message:
    name = subject_label(event.subject)
    parts = [
        f"FLAPPING {name}",
        f"{event.changes} state changes in {format_duration(event.window_s)}, now "
        f"{event.state.upper()}",
    ]
    if event.error:
        parts.append(clip(one_line(event.error), ERROR_SUMMARY_CHARS))
    facts = [
        *_subject_facts(event.subject),
        Fact("State", event.state.upper()),
        Fact("Changes", f"{event.changes} in {format_duration(event.window_s)}"),
        Fact("Flapping since", format_instant(event.since)),
    ]
    if event.error:
        facts.append(Fact("Last error", clip(one_line(event.error), ERROR_FACT_CHARS), False))
    return Message(
        kind=event.kind,
        title=f"FLAPPING {name}",
        summary=DASH.join(parts),
        tone="warning",
        at=event.at,
        facts=tuple(facts),
        link=event.link,
    )


def _flapping_ended(event: FlappingEnded) -> Message:
    name = subject_label(event.subject)
    state = event.state.upper()
    parts = [
        f"STOPPED FLAPPING {name}",
        f"{state} since {format_time(event.since, event.at)}",
        f"no change for {format_duration(event.at - event.since)}",
    ]
    if event.state == "down" and event.error:
        parts.append(clip(one_line(event.error), ERROR_SUMMARY_CHARS))
    facts = [
        *_subject_facts(event.subject),
        Fact("State", f"{state} for {format_duration(event.at - event.since)}"),
        Fact("Since", format_instant(event.since)),
        Fact("Flapping since", format_instant(event.flapping_since)),
    ]
    if event.state == "down" and event.error:
        facts.append(Fact("Error", clip(one_line(event.error), ERROR_FACT_CHARS), short=False))
    return Message(
        kind=event.kind,
        title=f"STOPPED FLAPPING {name}",
        summary=DASH.join(parts),
        tone="bad" if event.state == "down" else "good" if event.state == "up" else "info",
        at=event.at,
        facts=tuple(facts),
        link=event.link,
    )


def _burn_rate(event: BurnRate) -> Message:
    name = subject_label(event.subject)
    left = _budget_left(event.budget_s, event.budget_remaining_s)
    parts = [f"BURN RATE {name}"]
    if event.windows:
        urgent = event.windows[0]
        parts.append(
            f"error budget burning {format_rate(urgent.long_rate)} over "
            f"{format_duration(urgent.long_s)} ({event.severity})"
        )
    parts.append(f"{left} of the {event.period} budget left")
    facts = [
        *_subject_facts(event.subject),
        Fact("Severity", event.severity),
        Fact("Objective", f"{format_percent(event.objective)} ({event.period})"),
        Fact(
            "Budget",
            f"{format_duration(max(event.budget_remaining_s, 0.0))} left of "
            f"{format_duration(event.budget_s)} ({left})",
        ),
        Fact("Burn rates", "\n".join(_burn_line(w) for w in event.windows), short=False),
    ]
    return Message(
        kind=event.kind,
        title=f"BURN RATE {name}",
        summary=DASH.join(parts),
        tone="bad" if event.severity == "page" else "warning",
        at=event.at,
        facts=tuple(facts),
        link=event.link,
    )


def _objective_breached(event: ObjectiveBreached) -> Message:
    name = subject_label(event.subject)
    parts = [
        f"BREACHED {name}",
        f"{event.period} can no longer meet its {format_percent(event.objective)} objective",
        f"{format_duration(event.down_s)} down, over the {format_duration(event.budget_s)} budget",
        f"{format_percent(event.availability)}"
        + (_measured(event.measured_s) if event.measured_s is not None else " so far"),
    ]
    if event.credit_percent:
        parts.append(f"credit {format_number(event.credit_percent)}% certain")
    facts = [
        *_subject_facts(event.subject),
        Fact("Availability", f"{format_percent(event.availability)}{_measured(event.measured_s)}"),
        Fact("Objective", f"{format_percent(event.objective)} ({event.period})"),
        Fact("Down", format_duration(event.down_s)),
        Fact("Budget", format_duration(event.budget_s)),
        Fact("Credit", f"{format_number(event.credit_percent)}%"),
    ]
    if event.projected_availability is not None:
        facts.append(Fact("At most", f"{format_percent(event.projected_availability)} by its end"))
    return Message(
        kind=event.kind,
        title=f"BREACHED {name}",
        summary=DASH.join(parts),
        tone="bad",
        at=event.at,
        facts=tuple(facts),
        link=event.link,
    )


def _grouped(event: Grouped) -> Message:
    per_kind = Counter(headline(e.kind) for e in event.events)
    counts = ", ".join(f"{n} {word}" for word, n in per_kind.most_common())
    names = _unique(_change_name(e) for e in event.events)
    named = ", ".join(names[:NAMES_IN_SUMMARY])
    if len(names) > NAMES_IN_SUMMARY:
        named += f" +{len(names) - NAMES_IN_SUMMARY} more"
    total = _count(len(event.events), "change")
    any_bad = any(compose(e).tone != "good" for e in event.events)
    return Message(
        kind=event.kind,
        title=f"{total}: {counts}",
        summary=DASH.join([f"STORM {total}", counts, named]),
        tone="bad" if any_bad else "good",
        at=event.at,
        lines=tuple(compose(e).summary for e in event.events),
        link=event.link,
    )


def _digest(event: Digest) -> Message:
    verdicts = Counter(_period_verdict(s) for s in event.slas)
    status = ", ".join(
        f"{verdicts[v]} {VERDICT_TEXT[v]}" for v in DIGEST_VERDICT_ORDER if verdicts[v]
    )
    zone = ZoneInfo(event.timezone)
    span = f"{format_date(event.start, zone)} – {format_date(event.end - 0.001, zone)}"
    if event.timezone != "UTC":
        span += f", {event.timezone}"
    return Message(
        kind=event.kind,
        title=f"SLA weekly review {event.week}",
        summary=DASH.join(
            [
                f"SLA weekly review {event.week} ({span})",
                f"{_count(len(event.slas), 'SLA')}: {status}",
            ]
        ),
        tone="bad" if verdicts["breached"] else "warning" if verdicts["at_risk"] else "info",
        at=event.at,
        facts=tuple(_digest_fact(s, zone) for s in event.slas),
        link=event.link,
    )


def _test(event: Test) -> Message:
    return Message(
        kind=event.kind,
        title=f"TEST {event.channel}",
        summary=DASH.join([f"TEST {event.channel}", clip(one_line(event.message), 500)]),
        tone="info",
        at=event.at,
        facts=(Fact("Channel", event.channel), Fact("Sent", format_instant(event.at))),
        link=event.link,
    )


# ------------------------------------------------------------------------------------ pieces


def subject_label(subject: Subject) -> str:
    return subject.id if subject.kind == "check" else f"SLA {subject.id}"


def _subject_facts(subject: Subject) -> list[Fact]:
    if subject.kind == "check":
        facts = [Fact("Check", subject.id)]
    elif subject.name and subject.name != subject.id:
        facts = [Fact("SLA", f"{subject.name} ({subject.id})")]
    else:
        facts = [Fact("SLA", subject.id)]
    if subject.customer:
        facts.append(Fact("Customer", subject.customer))
    return facts


def _what_probes_saw(agents: tuple[AgentView, ...], error: str | None) -> str:
    """ "3/3 agents: connection refused" — DOWN agents out of those with a known state."""
    error = error or next((a.error for a in agents if a.state == "down" and a.error), None)
    text = clip(one_line(error), ERROR_SUMMARY_CHARS) if error else ""
    if not agents:
        return text
    known = [a for a in agents if a.state != "unknown"]
    down = [a for a in known if a.state == "down"]
    seen = f"{len(down)}/{len(known)} agents"
    if len(known) < len(agents):
        seen += f" ({len(agents) - len(known)} silent)"
    return f"{seen}: {text}" if text else seen


def _clocks_behind(clocks: tuple[AgentClock, ...]) -> str:
    """ "agent clock behind by 10m (eu-1): samples arrive stamped in the past, …" """
    worst = max(clocks, key=lambda c: c.behind_s)
    names = ", ".join(c.agent for c in clocks)
    word = "clock" if len(clocks) == 1 else "clocks"
    return (
        f"agent {word} behind by {format_duration(worst.behind_s)} ({names}): samples arrive"
        " stamped in the past, fix the agent's time (NTP)"
    )


def _clock_lines(clocks: tuple[AgentClock, ...]) -> str:
    return "\n".join(f"{c.agent}: about {format_duration(c.behind_s)}" for c in clocks)


def _agent_lines(agents: tuple[AgentView, ...]) -> str:
    lines = []
    for view in agents:
        line = f"{view.agent}: {view.state.upper()}"
        if view.error and view.state == "down":
            line += f" ({clip(one_line(view.error), ERROR_SUMMARY_CHARS)})"
        lines.append(line)
    return "\n".join(lines)


def _change_name(event: StateChange) -> str:
    return event.agent if isinstance(event, AgentSilent) else event.subject.id


def _burn_line(window: BurnWindow) -> str:
    return (
        f"{format_rate(window.long_rate)} over {format_duration(window.long_s)} and "
        f"{format_rate(window.short_rate)} over {format_duration(window.short_s)} "
        f"(threshold {format_rate(window.threshold)})"
    )


def _budget_left(budget_s: float, remaining_s: float) -> str:
    if budget_s <= 0:
        return "0%"
    return f"{max(0, math.floor(100 * remaining_s / budget_s))}%"


def _period_verdict(sla: DigestSla) -> Verdict:
    """The period's verdict (CONTRACT §4.8); a review stored before verdicts existed has only
    `met`, the availability so far against the objective."""
    if sla.period_verdict is not None:
        return sla.period_verdict  # type: ignore[return-value]
    return {True: "met", False: "breached", None: "no_data"}[sla.met]  # type: ignore[return-value]


def _digest_fact(sla: DigestSla, zone: ZoneInfo) -> Fact:
    verdict = _period_verdict(sla)
    projected = sla.period_projected_availability
    in_progress = sla.period_complete is False
    period = (
        f"{sla.period} to date {_percent_or_none(sla.period_availability)}"
        f"{_measured(sla.period_measured_s)} (objective {format_percent(sla.objective)}): "
        f"{VERDICT_TEXT[verdict]} {VERDICT_MARK[verdict]}".rstrip()
    )
    if in_progress and projected is not None and projected != sla.period_availability:
        period += f", at most {format_percent(projected)} by its end"
    credit = "credit certain so far" if in_progress else "credit"
    lines = [
        f"Week {_percent_or_none(sla.week_availability)}{_measured(sla.week_measured_s)} · "
        + period,
        f"Budget left {format_duration(max(sla.budget_remaining_s, 0.0))} of "
        f"{format_duration(sla.budget_s)} ({_budget_left(sla.budget_s, sla.budget_remaining_s)})"
        f" · {credit} {format_number(sla.credit_percent)}%"
        + (f" ({sla.credit_amount} {sla.currency})" if sla.credit_amount is not None else ""),
    ]
    if sla.incidents:
        lines.append(f"{_count(len(sla.incidents), 'incident')} this week:")
        lines.extend(f"• {_incident_line(i, zone)}" for i in sla.incidents)
    else:
        lines.append("No incident this week")
    if sla.link:
        lines.append(f"Report: {sla.link}")
    label = sla.name if sla.name == sla.sla else f"{sla.name} ({sla.sla})"
    return Fact(label, "\n".join(lines), short=False)


def _measured(seconds: float | None) -> str:
    """ " over 6d 4h measured" (CONTRACT §4.8); nothing in a review stored before it."""
    if seconds is None:
        return ""
    return f" over {format_duration(seconds)} measured" if seconds > 0 else ", nothing measured"


def _incident_line(incident: DigestIncident, zone: ZoneInfo) -> str:
    when = datetime.fromtimestamp(incident.start, zone).strftime("%Y-%m-%d %H:%M %Z")
    ongoing = "" if incident.end is not None else ", ongoing"
    line = f"{when}, {format_duration(incident.duration_s)}{ongoing}"
    if incident.checks:
        line += f", {', '.join(incident.checks)}"
    if incident.error:
        line += f": {clip(one_line(incident.error), ERROR_SUMMARY_CHARS)}"
    return line


def _percent_or_none(value: float | None) -> str:
    return "n/a" if value is None else format_percent(value)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
