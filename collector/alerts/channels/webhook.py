"""Our own signed JSON event (CONTRACT §3.2), for ticketing systems and scripts.

Every body has `version`, `event`, `id` (unique per notification: receivers dedupe on it), `at`,
`summary` (the chat line), `check`, `sla`, `since` (RFC 3339), `error`, `state`, `link`, then the
fields of its kind (`agents`, `duration_s`, `windows`…); keys that do not apply are null rather
than absent, so receivers can read them blindly. The body is rendered once; `delivery.send`
signs it at each attempt with `X-Slawatch-Timestamp` and `X-Slawatch-Signature` (see
`slawatch.collector.alerts.signing`, whose `verify_signature` receivers may use).
"""

from __future__ import annotations

from typing import Any

from slawatch.collector.alerts.delivery import RenderedMessage, channel_secret
from slawatch.collector.alerts.events import (
    AgentSilent,
    AgentView,
    BurnRate,
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
    Subject,
    Test,
)
from slawatch.collector.alerts.formats import rfc3339
from slawatch.collector.alerts.layout import clip
from slawatch.collector.alerts.text import ERROR_FACT_CHARS, summary
from slawatch.config.keys import Key, Table
from slawatch.config.registry import ChannelSpec
from slawatch.config.schema import Channel, Secret
from slawatch.config.values import SECRET_TEXT, SECRET_URL

VERSION = 1


def endpoint(channel: Channel) -> Secret:
    return channel_secret(channel, "url")


def render(event: Event, channel: Channel) -> RenderedMessage:
    return RenderedMessage.of_json(channel, event.id, event.kind, payload(event))


def payload(event: Event) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": VERSION,
        "event": event.kind,
        "id": event.id,
        "at": rfc3339(event.at),
        "summary": summary(event),
        "check": None,
        "sla": None,
        "since": None,
        "error": None,
        "state": None,
        "link": event.link,
    }
    body.update(_fields(event))
    return body


def _fields(event: Event) -> dict[str, Any]:
    match event:
        case Down() | Reminder():
            return {
                **_subject(event.subject),
                "state": "down",
                "since": _time(event.since),
                "duration_s": event.at - event.since,
                "error": _error(event.error),
                "agents": [_agent(a) for a in event.agents],
                "checks": list(event.checks),
            }
        case Resolved():
            return {
                **_subject(event.subject),
                "state": "up",
                "since": _time(event.down_since),
                "down_since": _time(event.down_since),
                "up_since": _time(event.up_since),
                "duration_s": event.duration_s,
                "unknown_s": event.unknown_s,
                "error": _error(event.error),
                "checks": list(event.checks),
            }
        case NoData():
            return {
                **_subject(event.subject),
                "state": "unknown",
                "since": _time(event.last_sample),
                "last_sample": _time(event.last_sample),
                "interval_s": event.interval_s,
                "agents": [_agent(AgentView(a, "unknown")) for a in event.agents],
                "clocks_behind": [
                    {"agent": c.agent, "behind_s": c.behind_s} for c in event.clocks_behind
                ],
            }
        case AgentSilent():
            return {
                "agent": event.agent,
                "state": "unknown",
                "since": _time(event.last_seen),
                "last_seen": _time(event.last_seen),
                "checks": list(event.checks),
            }
        case Flapping():
            return {
                **_subject(event.subject),
                "state": event.state,
                "since": _time(event.since),
                "error": _error(event.error),
                "changes": event.changes,
                "window_s": event.window_s,
            }
        case FlappingEnded():
            return {
                **_subject(event.subject),
                "state": event.state,
                "since": _time(event.since),
                "flapping_since": _time(event.flapping_since),
                "error": _error(event.error),
            }
        case BurnRate():
            return {
                **_subject(event.subject),
                "severity": event.severity,
                "objective": event.objective,
                "period": event.period,
                "budget_s": event.budget_s,
                "budget_remaining_s": event.budget_remaining_s,
                "windows": [
                    {
                        "long_s": w.long_s,
                        "short_s": w.short_s,
                        "threshold": w.threshold,
                        "long_rate": w.long_rate,
                        "short_rate": w.short_rate,
                    }
                    for w in event.windows
                ],
            }
        case ObjectiveBreached():
            return {
                **_subject(event.subject),
                "period": event.period,
                "availability": event.availability,
                "objective": event.objective,
                "down_s": event.down_s,
                "budget_s": event.budget_s,
                "credit_percent": event.credit_percent,
                "measured_s": event.measured_s,
                "projected_availability": event.projected_availability,
            }
        case Grouped():
            return {"events": [payload(e) for e in event.events]}
        case Digest():
            return {
                "week": event.week,
                "from": _time(event.start),
                "to": _time(event.end),
                "timezone": event.timezone,
                "slas": [_digest_sla(s) for s in event.slas],
            }
        case Test():
            return {"channel": event.channel, "message": event.message}
    raise TypeError(f"not an alert event: {type(event).__name__}")


def _error(error: str | None) -> str | None:
    """Errors come from remote servers: kept whole up to a size no receiver chokes on."""
    return None if error is None else clip(error, ERROR_FACT_CHARS)


def _time(ts: float | None) -> str | None:
    return None if ts is None else rfc3339(ts)


def _subject(subject: Subject) -> dict[str, Any]:
    return {
        "check": subject.id if subject.kind == "check" else None,
        "sla": subject.id if subject.kind == "sla" else None,
        "name": subject.name,
        "customer": subject.customer,
    }


def _agent(view: AgentView) -> dict[str, Any]:
    return {"agent": view.agent, "state": view.state, "error": _error(view.error)}


def _digest_sla(sla: DigestSla) -> dict[str, Any]:
    return {
        "sla": sla.sla,
        "name": sla.name,
        "customer": sla.customer,
        "objective": sla.objective,
        "period": sla.period,
        "week_availability": sla.week_availability,
        "period_availability": sla.period_availability,
        "met": sla.met,
        "verdict": sla.period_verdict,
        "period_measured_s": sla.period_measured_s,
        "period_projected_availability": sla.period_projected_availability,
        "period_complete": sla.period_complete,
        "week_measured_s": sla.week_measured_s,
        "budget_s": sla.budget_s,
        "budget_remaining_s": sla.budget_remaining_s,
        "credit_percent": sla.credit_percent,
        "incidents": [_incident(i) for i in sla.incidents],
        "link": sla.link,
    }


def _incident(incident: DigestIncident) -> dict[str, Any]:
    return {
        "start": _time(incident.start),
        "end": _time(incident.end),
        "duration_s": incident.duration_s,
        "checks": list(incident.checks),
        "error": _error(incident.error),
    }


CHANNEL = ChannelSpec(
    name="webhook",
    doc="Our own JSON event, signed: `X-Slawatch-Timestamp` and `X-Slawatch-Signature: "
    'sha256=HMAC(secret, TIMESTAMP + "." + body)`; receivers dedupe on `id`.',
    keys=Table(
        (
            Key(
                "url",
                SECRET_URL,
                "Where the event is POSTed.",
                required=True,
                secret=True,
                example="${TICKETS_HOOK_URL}",
            ),
            Key(
                "secret",
                SECRET_TEXT,
                "The HMAC-SHA256 key the receiver checks signatures with.",
                required=True,
                secret=True,
                example="${HOOK_SECRET}",
            ),
        )
    ),
    render=render,
    endpoint=endpoint,
    signing_key="secret",
    groups=False,
)
