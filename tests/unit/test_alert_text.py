"""The words of alerts: the one-line summaries people read on a phone at 3 a.m., and formats."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from slawatch.collector.alerts.events import (
    AgentClock,
    AgentView,
    Digest,
    DigestIncident,
    DigestSla,
    Down,
    Grouped,
    NoData,
    Reminder,
    Resolved,
    new_notification_id,
    stable_notification_id,
)
from slawatch.collector.alerts.formats import (
    format_duration,
    format_percent,
    format_span,
    format_time,
    rfc3339,
)
from slawatch.collector.alerts.layout import clip, fit_lines, one_line, utf16_len
from slawatch.collector.alerts.outbox import decode_event
from slawatch.collector.alerts.text import compose, summary
from slawatch.collector.store import create_store
from tests.chat_services import ACME_SLA, ACME_WEB, AT, SINCE, sample_events, storm
from tests.unit.test_alert_digest import config as digest_config
from tests.unit.test_alert_digest import history as digest_history
from tests.unit.test_alert_evaluator import Clock as DigestClock
from tests.unit.test_alert_evaluator import evaluator as digest_evaluator
from tests.unit.test_alert_evaluator import notifications as digest_notifications


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


# ------------------------------------------------------------------------------- summaries


def test_down_summary_says_what_where_what_probes_saw_and_since_when() -> None:
    assert summary(sample_events()["down"]) == (
        "DOWN acme-web — 3/3 agents: connection refused — since 03:12 UTC"
    )


def test_down_summary_counts_only_agents_that_see_a_state() -> None:
    agents = (
        AgentView("eu-1", "down", "timeout"),
        AgentView("us-1", "up"),
        AgentView("ap-1", "unknown"),
    )
    event = Down("n", AT, ACME_WEB, SINCE, None, agents)
    assert summary(event) == "DOWN acme-web — 1/2 agents (1 silent): timeout — since 03:12 UTC"


def test_sla_down_names_the_checks_that_are_down() -> None:
    event = Down("n", AT, ACME_SLA, SINCE, "timeout", checks=("acme-web", "acme-db"))
    assert summary(event) == (
        "DOWN SLA acme-website — 2 checks down: acme-web, acme-db — timeout — since 03:12 UTC"
    )
    facts = {f.label: f.value for f in compose(event).facts}
    assert facts["SLA"] == "ACME website (acme-website)"
    assert facts["Customer"] == "acme"


def test_reminder_says_how_long_it_has_been_down() -> None:
    assert summary(sample_events()["reminder"]) == (
        "STILL DOWN acme-web — 3/3 agents: connection refused — since 02:12 UTC (1h 8m)"
    )


def test_resolved_tells_the_whole_outage() -> None:
    assert summary(sample_events()["resolved"]) == (
        "RESOLVED acme-web — was down 03:12–03:19 UTC (7m 4s): connection refused"
    )


def test_resolved_across_midnight_shows_dates() -> None:
    event = Resolved("n", ts(2026, 11, 28, 0, 30), ACME_WEB, ts(2026, 11, 27, 23, 50), 1800.0)
    assert summary(event) == (
        "RESOLVED acme-web — was down 2026-11-27 23:50 – 2026-11-28 00:20 UTC (30m)"
    )


def test_resolved_says_how_much_of_the_outage_had_no_data() -> None:
    down_since = ts(2026, 11, 27, 3, 12)
    event = Resolved("n", down_since + 60, ACME_WEB, down_since, 15.0, unknown_s=9.4)
    assert summary(event) == (
        "RESOLVED acme-web — was down 03:12–03:12 UTC (15s, 9s of it without data)"
    )
    facts = {fact.label: fact.value for fact in compose(event).facts}
    assert (facts["Down for"], facts["Without data"]) == ("15s", "9s")
    assert "Without data" not in {f.label for f in compose(replace(event, unknown_s=0.5)).facts}


def test_since_yesterday_shows_the_date() -> None:
    event = Down("n", ts(2026, 11, 28, 1, 0), ACME_WEB, ts(2026, 11, 27, 23, 0), "timeout")
    assert summary(event).endswith("since 2026-11-27 23:00 UTC")


def test_no_data_says_monitoring_is_blind() -> None:
    assert summary(sample_events()["no_data"]) == (
        "NO DATA acme-web — no sample from any agent since 03:12 UTC (8m) — monitoring is blind"
    )
    never = NoData("n", AT, ACME_WEB, None)
    assert "no sample from any agent yet" in summary(never)


def test_no_data_names_an_agent_clock_behind() -> None:
    late = AgentClock("eu-1", 612.4)
    event = NoData("n", AT, ACME_WEB, AT - 615, ("eu-1",), 30.0, clocks_behind=(late,))
    message = compose(event)
    assert message.summary == (
        "NO DATA acme-web — no sample from any agent since 03:09 UTC (10m 15s) — agent clock"
        " behind by 10m 12s (eu-1): samples arrive stamped in the past, fix the agent's time"
        " (NTP)"
    )
    assert ("Clock behind", "eu-1: about 10m 12s") in [(f.label, f.value) for f in message.facts]


def test_every_kind_has_a_useful_single_line() -> None:
    expected = {
        "agent_silent": "AGENT SILENT eu-1 — no push since 03:12 UTC (8m) — 2 checks unwatched",
        "flapping": "FLAPPING acme-web — 6 state changes in 10m, now DOWN — connection refused",
        "flapping_ended": "STOPPED FLAPPING acme-web — UP since 03:10 UTC — no change for 10m",
        "burn_rate": "BURN RATE SLA acme-website — error budget burning 15.2× over 1h (page) — "
        "38% of the 2026-11 budget left",
        "objective_breached": "BREACHED SLA acme-website — 2026-11 can no longer meet its 99.9%"
        " objective — 1h 2m down, over the 43m 12s budget — 99.85% so far — credit 10% certain",
        "grouped": "STORM 2 changes — 1 DOWN, 1 RESOLVED — acme-web",
        "digest": "SLA weekly review 2026-W47 (2026-11-16 – 2026-11-22) — 1 SLA: 1 on track",
        "test": "TEST ops-chat — Test notification",
    }
    events = sample_events()
    for kind, start in expected.items():
        line = summary(events[kind])
        assert line.startswith(start), (kind, line)
        assert "\n" not in line


def test_tones_colour_bad_news_and_good_news() -> None:
    events = sample_events()
    tones = {kind: compose(event).tone for kind, event in events.items()}
    assert tones["down"] == tones["no_data"] == tones["burn_rate"] == "bad"
    assert tones["resolved"] == "good"
    assert tones["flapping"] == "warning"
    assert tones["flapping_ended"] == "good"
    assert tones["test"] == "info"


def test_storm_names_a_few_and_counts_the_rest() -> None:
    message = compose(storm(200))
    assert message.summary == (
        "STORM 200 changes — 200 DOWN — check-000, check-001, check-002 +197 more"
    )
    assert len(message.lines) == 200
    assert message.lines[0].startswith("DOWN check-000 — connection refused")


def test_grouped_needs_events() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Grouped("n", AT, ())


def test_digest_lists_each_sla_with_budget_credit_and_incidents() -> None:
    fact = compose(sample_events()["digest"]).facts[0]
    assert fact.label == "ACME website (acme-website)"
    assert (
        "Week 99.95% over 7d measured · 2026-11 to date 99.97% over 20d 3h measured (objective "
        "99.9%): on track ✓, at most 99.99% by its end"
    ) in fact.value
    assert "Budget left 41m 10s of 43m 12s (95%) · credit certain so far 0%" in fact.value
    assert "1 incident this week:" in fact.value
    assert "2026-11-21 03:12 UTC, 2m, acme-web: connection refused" in fact.value


def test_a_hostile_error_stays_on_one_short_line() -> None:
    error = "line one\nline two\r\n\tthree\x00" + "x" * 10_000
    line = summary(Down("n", AT, ACME_WEB, SINCE, error))
    assert "\n" not in line and "\x00" not in line
    assert "line one line two three" in line
    assert len(line) < 300
    details = {f.label: f.value for f in compose(Down("n", AT, ACME_WEB, SINCE, error)).facts}
    assert details["Error"].endswith("…") and len(details["Error"]) == 1000


# ---------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0s"),
        (0, "0s"),
        (59.9, "59s"),
        (60, "1m"),
        (424, "7m 4s"),
        (3600, "1h"),
        (3900, "1h 5m"),
        (3659, "1h"),
        (2 * 86_400 + 3 * 3600 + 59, "2d 3h"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (99.9, "99.9%"),
        (99.95, "99.95%"),
        (99.99, "99.99%"),
        (95.0, "95%"),
        (100.0, "100%"),
        (99.8999, "99.899%"),
        (99.9999, "99.999%"),
    ],
)
def test_percent_is_rounded_down_so_a_miss_never_reads_as_met(value: float, text: str) -> None:
    assert format_percent(value) == text


def test_times_are_utc_with_a_date_only_when_needed() -> None:
    assert format_time(ts(2026, 11, 27, 3, 12, 59), ts(2026, 11, 27, 9, 0)) == "03:12 UTC"
    assert format_time(ts(2026, 11, 26, 3, 12), ts(2026, 11, 27, 9, 0)) == "2026-11-26 03:12 UTC"
    assert format_span(ts(2026, 11, 26, 3, 12), ts(2026, 11, 26, 3, 19), ts(2026, 11, 27)) == (
        "2026-11-26 03:12–03:19 UTC"
    )


def test_rfc3339_keeps_milliseconds_only_when_there_are_some() -> None:
    assert rfc3339(ts(2026, 11, 27, 3, 12, 5)) == "2026-11-27T03:12:05Z"
    assert rfc3339(ts(2026, 11, 27, 3, 12, 5) + 0.25) == "2026-11-27T03:12:05.250Z"


def test_clip_cuts_with_an_ellipsis_within_the_limit() -> None:
    assert clip("short", 10) == "short"
    assert clip("a" * 20, 10) == "a" * 9 + "…"
    emoji = "🔥" * 10
    clipped = clip(emoji, 7, measure=utf16_len)
    assert utf16_len(clipped) <= 7 and clipped == "🔥" * 3 + "…"


def test_one_line_collapses_whitespace_and_controls() -> None:
    assert one_line(" a\n\tb\x07c  ") == "a b c"


def test_fit_lines_keeps_what_fits_and_counts_the_rest() -> None:
    lines = [f"line {i}" for i in range(100)]
    kept = fit_lines(lines, 60)
    assert kept[-1].startswith("… and ")
    assert len("\n".join(kept)) < 60
    assert kept[:-1] == lines[: len(kept) - 1]
    assert int(kept[-1].split()[2]) == 100 - (len(kept) - 1)
    assert fit_lines(["a", "b"], 60) == ["a", "b"]


# -------------------------------------------------------------------------------------- ids


def test_notification_ids() -> None:
    assert new_notification_id() != new_notification_id()
    one = stable_notification_id("ops-chat", "acme-web", "down", 1764213120.0)
    assert one == stable_notification_id("ops-chat", "acme-web", "down", 1764213120.0)
    assert one != stable_notification_id("ops-chat", "acme-web", "down", 1764213121.0)
    assert one != stable_notification_id("ops-chat", "acme-web", "reminder", 1764213120.0)


def test_reminder_and_down_share_their_shape() -> None:
    down = sample_events()["down"]
    assert isinstance(down, Down)
    reminder = Reminder(down.id, down.at, down.subject, down.since, down.error, down.agents)
    assert compose(reminder).facts == compose(down).facts


# --------------------------------------------------------------------- digest in its timezone


def paris_week_digest() -> Digest:
    """2026-W48 in Paris: Monday 23 November 00:00 CET is Sunday 22 November 23:00 UTC."""
    paris = ZoneInfo("Europe/Paris")
    start = datetime(2026, 11, 23, tzinfo=paris).timestamp()
    end = datetime(2026, 11, 30, tzinfo=paris).timestamp()
    late_evening = datetime(2026, 11, 24, 23, 30, tzinfo=UTC).timestamp()  # 00:30 CET on the 25th
    sla = DigestSla(
        "acme-website", "ACME website", 99.9, "2026-11", 99.9, 99.95, 2592.0, 2000.0,
        incidents=(DigestIncident(late_evening, late_evening + 600, 600.0, ("acme-web",), "timeout"),),
    )  # fmt: skip
    return Digest("n", end + 9 * 3600, "2026-W48", start, end, (sla,), timezone="Europe/Paris")


def test_digest_shows_its_week_and_incidents_in_the_digest_timezone() -> None:
    message = compose(paris_week_digest())
    assert message.summary.startswith(
        "SLA weekly review 2026-W48 (2026-11-23 – 2026-11-29, Europe/Paris)"
    )
    assert "2026-11-22" not in message.summary  # the UTC date of the week's first instant
    (fact,) = message.facts
    assert "• 2026-11-25 00:30 CET, 10m, acme-web: timeout" in fact.value


def test_digest_in_utc_reads_as_before() -> None:
    utc = replace(paris_week_digest(), timezone="UTC", start=ts(2026, 11, 23), end=ts(2026, 11, 30))
    message = compose(utc)
    assert message.summary.startswith("SLA weekly review 2026-W48 (2026-11-23 – 2026-11-29) — ")
    assert "• 2026-11-24 23:30 UTC, 10m" in message.facts[0].value


async def test_the_evaluator_sends_the_digest_in_the_configured_timezone(tmp_path: Path) -> None:
    store = create_store(tmp_path / "collector.db")
    await store.open()
    try:
        paris = ZoneInfo("Europe/Paris")
        now = datetime(2026, 11, 30, 9, 0, 30, tzinfo=paris).timestamp()
        await digest_history(store, "web", now - 14 * 86_400, now, down=None)
        await digest_evaluator(store, digest_config(tmp_path), DigestClock(now)).evaluate()
        (row,) = await digest_notifications(store)
        event = decode_event(row.event)
        assert isinstance(event, Digest) and event.timezone == "Europe/Paris"
        assert "(2026-11-23 – 2026-11-29, Europe/Paris)" in compose(event).summary
    finally:
        await store.close()


def test_a_review_stored_before_verdicts_still_reads() -> None:
    """A digest stored without the §4.8 fields (an outbox row from before) falls back on `met`."""
    (fact,) = compose(paris_week_digest()).facts
    assert "Week 99.9% · 2026-11 to date 99.95% (objective 99.9%): objective met ✓" in fact.value
    assert "credit 0%" in fact.value


def test_a_digest_with_a_breached_sla_is_red_and_one_at_risk_amber() -> None:
    base = paris_week_digest()
    (sla,) = base.slas
    at_risk = replace(
        sla, period_verdict="at_risk", period_projected_availability=99.91, period_complete=False
    )
    breached = replace(
        at_risk, sla="b", period_verdict="breached", period_projected_availability=99.5
    )
    assert compose(replace(base, slas=(at_risk,))).tone == "warning"
    message = compose(replace(base, slas=(at_risk, breached)))
    assert message.tone == "bad"
    assert message.summary.endswith("2 SLAs: 1 objective breached, 1 at risk")


def test_a_digest_gives_the_credit_as_money_when_the_sla_has_a_fee() -> None:
    base = paris_week_digest()
    sla = replace(base.slas[0], credit_percent=10.0, credit_amount="45.00", currency="EUR")
    (fact,) = compose(replace(base, slas=(sla,))).facts
    assert "credit 10% (45.00 EUR)" in fact.value
    (plain,) = compose(base).facts
    assert "EUR" not in plain.value
