"""The rule evaluator on a real SQLite store, with a clock the tests move: what opens, repeats,
resolves, stays silent; one notification per (channel, target, event, run); rule ids keeping
open alerts; maintenance; no_data and agent_silent. Delivery is the outbox tests' business:
here the decided notifications are read back from the outbox table."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs
from yarl import URL

from slawatch.collector.alerts.evaluator import Evaluator
from slawatch.collector.alerts.outbox import Outbox, decode_event
from slawatch.collector.alerts.service import KEEP_FINISHED_S, KEEP_MARKS_S
from slawatch.collector.alerts.silences import AGENT_SILENT_MIN_S, START_GRACE_S
from slawatch.collector.alerts.targets import rule_key
from slawatch.collector.links import PARAMETERS, VALID_S, LinkSigner
from slawatch.collector.samples import SampleRow
from slawatch.collector.store import Notification, Store
from slawatch.config.contract import MAX_PUSH_BACKOFF_S
from slawatch.config.loader import parse_config
from slawatch.config.schema import Config

T0 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC).timestamp()
INTERVAL = 10.0

CONFIG = """
collector:
  listen: "127.0.0.1:0"
  public_url: "https://sla.example.com"
  customers: [{id: acme, name: ACME}]
checks:
  - {id: web, url: "http://127.0.0.1:1/", interval: 10s}
  - {id: db, host: 127.0.0.1, port: 1, interval: 10s, quorum: any}
slas:
  - {id: shop, customer: acme, checks: [web, db], objective: 99.9}
alerts:
  group_window: 0s
  channels:
    - {id: ops, type: slack, url: "https://hooks.example/ops"}
    - {id: tickets, type: webhook, url: "https://tickets.example/hook", secret: s3cret}
  rules:
"""


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def config_with(rules: str, tmp_path: Path, extra: str = "") -> Config:
    text = CONFIG + rules + extra
    return parse_config(text, base_dir=tmp_path, process="collector")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def sample(ts: float, ok: bool, check: str = "web", error: str | None = None) -> SampleRow:
    return SampleRow(round(ts * 1000), ok, 12.0 if ok else None, round(INTERVAL * 1000),
                     200 if ok else None, None if ok else (error or "connection refused"),
                     None, None, None, None, None, None, check, "http")  # fmt: skip


async def probe(
    store: Store,
    clock: Clock,
    until: float,
    ok: bool,
    *,
    check: str = "web",
    agents: Sequence[str] = ("eu-1",),
    error: str | None = None,
) -> None:
    """Each agent probes every INTERVAL from the clock's time up to `until`, then the clock
    stands at `until`."""
    times = []
    ts = clock.now
    while ts < until:
        times.append(ts)
        ts += INTERVAL
    for agent in agents:
        rows = [sample(t, ok, check, error) for t in times]
        await store.ingest(agent, rows, labels=None, now_ms=round(until * 1000))
    clock.now = until


async def unsigned(store: Store, link: str | None, now: float) -> str:
    """The link without its signature, once checked: valid now, for 30 days."""
    assert link is not None
    url = URL(link)
    signer = LinkSigner(await store.link_key())
    assert signer.verify(url.path, url.query, now=now)
    assert signer.verify(url.path, url.query, now=now + VALID_S - 1)
    assert not signer.verify(url.path, url.query, now=now + VALID_S)
    return str(url.with_query([(k, v) for k, v in url.query.items() if k not in PARAMETERS]))


def evaluator(store: Store, config: Config, clock: Clock) -> Evaluator:
    return Evaluator(store, config, Outbox(store, config.alerts, clock=clock), clock=clock)


async def notifications(store: Store, **filters: object) -> list[Notification]:
    rows = await store.notifications(limit=1000, **filters)  # type: ignore[arg-type]
    return sorted(rows, key=lambda r: r.seq)


async def kinds(store: Store, channel: str = "ops") -> list[tuple[str, str]]:
    return [(r.kind, r.status) for r in await notifications(store, channel=channel)]


RULE = "    - {checks: [web], channels: [ops], after: 30s}\n"


# ---------------------------------------------------------------------------- down, resolved


async def test_down_after_the_delay_from_the_first_failing_sample(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    judge = evaluator(store, config_with(RULE, tmp_path), clock)
    await probe(store, clock, T0 + 60, ok=True)
    first_failure = clock.now
    await probe(store, clock, T0 + 80, ok=False, error="connection refused")
    await judge.evaluate()
    assert await kinds(store) == []  # DOWN for 20 s only
    await probe(store, clock, T0 + 100, ok=False, error="timeout")
    await judge.evaluate()
    await judge.evaluate()
    (down,) = await notifications(store)
    event = decode_event(down.event)
    assert (down.kind, down.subject, down.run_ms) == ("down", "check:web", first_failure * 1000)
    assert event.since == first_failure  # type: ignore[union-attr]
    assert event.error == "connection refused"  # type: ignore[union-attr]
    assert [(a.agent, a.state) for a in event.agents] == [("eu-1", "down")]  # type: ignore[union-attr]
    link = await unsigned(store, event.link, clock.now)  # type: ignore[union-attr]
    assert link == "https://sla.example.com/status/acme"
    assert json.loads(down.body)["text"].startswith("DOWN web — 1/1 agents: connection refused")


async def test_resolved_tells_the_whole_outage_and_replaces_a_waiting_down(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [ops], after: 0s}\n"
    judge = evaluator(store, config_with(rules, tmp_path, "  max_age: 1h\n"), clock)
    await probe(store, clock, T0 + 30, ok=True)
    await probe(store, clock, T0 + 100, ok=False)
    await judge.evaluate()
    assert await kinds(store) == [("down", "pending")]  # queued, not sent yet
    await probe(store, clock, T0 + 130, ok=True)
    await judge.evaluate()
    down, resolved = await notifications(store)
    assert (down.status, down.merged_into) == ("merged", resolved.id)
    assert resolved.kind == "resolved" and resolved.status == "pending"
    event = decode_event(resolved.event)
    assert event.down_since == T0 + 30 and event.duration_s == 70  # type: ignore[union-attr]
    assert "was down 03:00–03:01 UTC (1m 10s)" in json.loads(resolved.body)["text"]
    await judge.evaluate()
    assert len(await notifications(store)) == 2


async def test_a_down_already_sent_stays_and_resolved_follows(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    judge = evaluator(store, config_with(RULE, tmp_path), clock)
    await probe(store, clock, T0 + 60, ok=False)
    await judge.evaluate()
    (down,) = await notifications(store)
    await store.notification_sent(down.seq, round(clock.now * 1000), attempts=1, status=200)
    await probe(store, clock, T0 + 90, ok=True)
    await judge.evaluate()
    assert await kinds(store) == [("down", "sent"), ("resolved", "pending")]


async def test_reminders_every_repeat_while_down(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [ops], after: 0s, repeat: 1m}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 10, ok=False)
    await judge.evaluate()
    await probe(store, clock, T0 + 60, ok=False)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down"]
    await probe(store, clock, T0 + 80, ok=False)
    await judge.evaluate()
    await probe(store, clock, T0 + 130, ok=False)
    await judge.evaluate()
    await probe(store, clock, T0 + 150, ok=False)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down", "reminder", "reminder"]
    reminders = [r for r in await notifications(store) if r.kind == "reminder"]
    assert len({r.id for r in reminders}) == 2


async def test_unknown_neither_opens_nor_resolves(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [ops], events: [down, resolved, no_data]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 20, ok=False)
    await judge.evaluate()
    clock.now = T0 + 600  # every agent silent: UNKNOWN
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down", "no_data"]
    await probe(store, clock, T0 + 630, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down", "no_data", "resolved"]
    row = (await notifications(store))[-1]
    resolved = decode_event(row.event)
    assert resolved.down_since == T0 and resolved.duration_s == 600  # type: ignore[union-attr]
    # the last failing sample (T0+10) covered 2 intervals; then nobody saw anything
    assert resolved.unknown_s == 570  # type: ignore[union-attr]
    assert (
        "was down 03:00–03:10 UTC (10m, 9m 30s of it without data)" in json.loads(row.body)["text"]
    )


async def test_unknown_time_of_a_long_outage_is_counted_from_its_start(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [tickets], after: 0s, events: [down, resolved]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 20, ok=False)
    await judge.evaluate()
    clock.now = T0 + 300  # silent: 4 m 30 s without data, long before the runs usually read
    await probe(store, clock, T0 + 7200, ok=False)
    await judge.evaluate()
    await probe(store, clock, T0 + 7230, ok=True)
    await judge.evaluate()
    body = json.loads((await notifications(store, channel="tickets"))[-1].body)
    assert (body["event"], body["duration_s"], body["unknown_s"]) == ("resolved", 7200, 270)


async def test_unknown_from_the_start_opens_nothing(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [ops], after: 0s, events: [down, resolved]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await judge.evaluate()
    clock.now += 3600
    await judge.evaluate()
    assert await kinds(store) == []


async def test_late_samples_of_an_outage_already_over_send_nothing(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    judge = evaluator(store, config_with(RULE, tmp_path), clock)
    await probe(store, clock, T0 + 100, ok=True, agents=("us-1",))
    await judge.evaluate()
    # eu-1 was cut off: its spool arrives newest first, the outage in it is long over
    await store.ingest("eu-1", [sample(T0 + t, True) for t in range(60, 100, 10)],
                       labels=None, now_ms=round(clock.now * 1000))  # fmt: skip
    await judge.evaluate()
    await store.ingest("eu-1", [sample(T0 + t, False) for t in range(0, 60, 10)],
                       labels=None, now_ms=round(clock.now * 1000))  # fmt: skip
    await judge.evaluate()
    assert await kinds(store) == []
    report_runs = await store.runs(["web"], round(T0 * 1000), round(clock.now * 1000))
    assert [run.ok for run in report_runs["web"]["eu-1"]] == [False, True]  # history kept


async def test_resolve_after_holds_short_recoveries_in_the_same_outage(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [ops], after: 0s, resolve_after: 1m}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=False)
    await judge.evaluate()
    await probe(store, clock, T0 + 60, ok=True)
    await judge.evaluate()
    await probe(store, clock, T0 + 90, ok=False)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down"]
    await probe(store, clock, T0 + 140, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down"]  # UP for 50 s only
    await probe(store, clock, T0 + 160, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down", "resolved"]
    resolved = decode_event((await notifications(store))[-1].event)
    assert resolved.down_since == T0 and resolved.duration_s == 90  # type: ignore[union-attr]


# ----------------------------------------------------------------- rules, channels, dedupe


async def test_one_notification_per_channel_target_event_and_run(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = (
        "    - {checks: ['*'], channels: [ops], after: 0s, events: [down, resolved]}\n"
        "    - {checks: ['w*'], channels: [ops, tickets], after: 20s}\n"
        "    - {checks: [web], channels: [ops], after: 0s, repeat: 1h}\n"
    )
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=False)
    await judge.evaluate()
    assert await kinds(store, "ops") == [("down", "pending")]
    assert await kinds(store, "tickets") == [("down", "pending")]
    ops = await notifications(store, channel="ops")
    tickets = await notifications(store, channel="tickets")
    assert ops[0].id != tickets[0].id
    await probe(store, clock, T0 + 60, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store, "ops")] == ["down", "resolved"]
    assert [k for k, _ in await kinds(store, "tickets")] == ["down", "resolved"]


async def test_events_filter_and_resolved_false(store: Store, clock: Clock, tmp_path: Path) -> None:
    rules = (
        "    - {checks: [web], channels: [ops], after: 0s, resolved: false}\n"
        "    - {checks: [web], channels: [tickets], after: 0s, events: [resolved]}\n"
    )
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=False)
    await judge.evaluate()
    await probe(store, clock, T0 + 60, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store, "ops")] == ["down"]
    assert [k for k, _ in await kinds(store, "tickets")] == ["resolved"]


async def test_a_rule_id_keeps_open_alerts_across_an_edit(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    before = "    - {id: web-down, checks: [web], channels: [ops], after: 0s, repeat: 10m}\n"
    judge = evaluator(store, config_with(before, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=False)
    await judge.evaluate()
    (opened,) = await store.open_alerts()
    assert opened.rule == "web-down"
    edited = "    - {id: web-down, checks: ['we*'], channels: [ops], after: 20s, repeat: 15m}\n"
    clock.now += 5 * 60
    await probe(store, clock, clock.now + 10, ok=False)
    judge = evaluator(store, config_with(edited, tmp_path), clock)  # a restart, new config
    await judge.evaluate()
    assert await store.open_alerts() == [opened]
    clock.now = T0 + 30 + 15 * 60
    await probe(store, clock, clock.now + 10, ok=False)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down", "reminder"]  # 15 m after the down
    await probe(store, clock, clock.now + 30, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down", "reminder", "resolved"]
    assert await store.open_alerts() == []


async def test_an_edited_rule_without_id_starts_afresh_without_a_second_down(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    before = config_with("    - {checks: [web], channels: [ops], after: 0s}\n", tmp_path)
    after = config_with("    - {checks: [web], channels: [ops], after: 5s}\n", tmp_path)
    assert rule_key(before.alerts.rules[0]) != rule_key(after.alerts.rules[0])
    await probe(store, clock, T0 + 30, ok=False)
    await evaluator(store, before, clock).evaluate()
    await probe(store, clock, T0 + 60, ok=False)
    judge = evaluator(store, after, clock)
    await judge.evaluate()
    (opened,) = await store.open_alerts()
    assert opened.rule == rule_key(after.alerts.rules[0])
    assert [k for k, _ in await kinds(store)] == ["down"]  # same channel, target, event, run
    await probe(store, clock, T0 + 90, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down", "resolved"]


async def test_a_removed_rule_forgets_its_open_alerts_quietly(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    await probe(store, clock, T0 + 30, ok=False)
    await evaluator(store, config_with(RULE.replace("30s", "0s"), tmp_path), clock).evaluate()
    assert len(await store.open_alerts()) == 1
    other = "    - {checks: [db], channels: [ops], after: 0s, events: [down]}\n"
    judge = evaluator(store, config_with(other, tmp_path), clock)
    await judge.evaluate()
    assert await store.open_alerts() == []
    await probe(store, clock, T0 + 60, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down"]


async def test_quorum_of_the_check_decides(store: Store, clock: Clock, tmp_path: Path) -> None:
    rules = "    - {checks: ['*'], channels: [ops], after: 0s, events: [down]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    agents = ("eu-1", "us-1", "ap-1")
    for check in ("web", "db"):  # web: majority; db: any — one agent is enough
        clock.now = T0
        await probe(store, clock, T0 + 30, ok=True, check=check, agents=agents)
        await probe(store, clock, T0 + 60, ok=False, check=check, agents=("eu-1",))
        clock.now = T0 + 30
        await probe(store, clock, T0 + 60, ok=True, check=check, agents=("us-1", "ap-1"))
    await judge.evaluate()
    assert [(r.kind, r.subject) for r in await notifications(store)] == [("down", "check:db")]
    event = decode_event((await notifications(store))[0].event)
    views = {a.agent: a.state for a in event.agents}  # type: ignore[union-attr]
    assert views == {"eu-1": "down", "us-1": "up", "ap-1": "up"}


async def test_sla_rules_follow_the_service_state(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {slas: [shop], channels: [tickets], after: 0s, burn_rate: false}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=True, check="db")
    clock.now = T0
    await probe(store, clock, T0 + 30, ok=False, check="web", error="HTTP 503")
    await judge.evaluate(budgets=False)
    (down,) = await notifications(store)
    event = decode_event(down.event)
    assert down.subject == "sla:shop"
    assert event.checks == ("web",) and event.error == "HTTP 503"  # type: ignore[union-attr]
    assert event.subject.customer == "acme"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ maintenance


MAINTENANCE = """
    maintenance:
      - {start: "2026-11-27T03:00:00Z", end: "2026-11-27T03:10:00Z", reason: upgrade}
"""


async def test_maintenance_silences_then_an_outage_that_outlasts_it_alerts(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    text = (
        CONFIG.replace(
            "  - {id: shop, customer: acme, checks: [web, db], objective: 99.9}\n",
            "  - id: shop\n    customer: acme\n    checks: [web, db]\n    objective: 99.9\n"
            + MAINTENANCE,
        )
        + "    - {checks: [web], channels: [ops], after: 0s, repeat: 1m}\n"
    )
    judge = evaluator(store, parse_config(text, base_dir=tmp_path, process="collector"), clock)
    await probe(store, clock, T0 + 300, ok=False)
    await judge.evaluate()
    await probe(store, clock, T0 + 595, ok=False)
    await judge.evaluate()
    assert await kinds(store) == []
    await probe(store, clock, T0 + 610, ok=False)
    await judge.evaluate()
    (down,) = await notifications(store)
    assert decode_event(down.event).since == T0  # type: ignore[union-attr]


async def test_declared_maintenance_silences_and_resolved_still_goes(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [ops], after: 0s, repeat: 1m}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=False)
    await judge.evaluate()
    now_ms = round(clock.now * 1000)
    await store.add_maintenance(["shop"], now_ms, now_ms + 600_000, "hotfix", created_ms=now_ms)
    await probe(store, clock, T0 + 200, ok=False)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down"]  # no reminder in maintenance
    await probe(store, clock, T0 + 230, ok=True)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down", "resolved"]


# -------------------------------------------------------------------------- silent monitors


async def test_no_data_once_when_every_agent_is_silent(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [ops], events: [no_data]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=True, agents=("eu-1", "us-1"))
    clock.now = T0 + 30 + 2 * INTERVAL - 10.001  # last sample at T0+20: 2 intervals not over
    await judge.evaluate()
    assert await kinds(store) == []
    clock.now = T0 + 20 + 2 * INTERVAL
    await judge.evaluate()
    clock.now += 600
    await judge.evaluate()
    (no_data,) = await notifications(store)
    event = decode_event(no_data.event)
    assert event.last_sample == T0 + 20 and event.agents == ("eu-1", "us-1")  # type: ignore[union-attr]
    assert json.loads(no_data.body)["text"].startswith("NO DATA web — no sample from any agent")


async def test_a_long_silence_is_told_once_and_a_new_one_again(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """Finished notifications are forgotten after 30 days; a silence that lasts longer must not
    be told again."""
    rules = "    - {checks: [web], channels: [ops], events: [no_data, agent_silent]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    decided: list[str] = []

    async def day(offset_s: float) -> None:
        clock.now += offset_s
        await judge.evaluate()
        now_ms = round(clock.now * 1000)
        for row in await notifications(store, statuses=("held", "pending")):
            event = decode_event(row.event)
            decided.extend(e.kind for e in getattr(event, "events", (event,)))  # grouped or not
            await store.notification_sent(row.seq, now_ms, attempts=1, status=200)
        await store.prune_notifications(
            now_ms - round(KEEP_FINISHED_S * 1000),
            marks_before_ms=now_ms - round(KEEP_MARKS_S * 1000),
        )

    await probe(store, clock, T0 + 30, ok=True)
    for offset in (120, 86_400, 30 * 86_400, 31 * 86_400, 40 * 86_400):
        await day(offset)
    assert decided == ["no_data", "agent_silent"]
    await probe(store, clock, clock.now + 30, ok=True)  # back
    await day(0)
    assert {(a.subject, a.topic) for a in await store.open_alerts()} == set()
    await day(120)  # silent again: a new silence
    assert decided == ["no_data", "agent_silent"] * 2


async def test_a_collector_restart_is_not_silence(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: [web], channels: [ops], events: [no_data, agent_silent]}\n"
    await probe(store, clock, T0 + 30, ok=True)
    clock.now += 3600  # the collector was down for an hour
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await judge.evaluate()
    assert await kinds(store) == []
    clock.now += 30
    await probe(store, clock, clock.now + 15, ok=True)  # the agent is back
    await judge.evaluate()
    await probe(store, clock, clock.now + 30, ok=True)
    await judge.evaluate()
    assert await kinds(store) == []


async def test_a_skewed_agent_clock_is_one_silence_and_named(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """Issue 15: an agent 10 minutes behind pushes on time samples stamped 10 minutes ago. Each
    one used to open a "new" silence; it is one, told once, naming the clock."""
    rules = "    - {checks: [web], channels: [tickets], events: [no_data]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    for _ in range(30):  # five minutes of pushes, each evaluated
        await store.ingest("eu-1", [sample(clock.now - 600, True)], labels=None,
                           now_ms=round(clock.now * 1000))  # fmt: skip
        await judge.evaluate()
        clock.now += INTERVAL
    (no_data,) = await notifications(store, channel="tickets")
    body = json.loads(no_data.body)
    assert body["event"] == "no_data"
    assert body["clocks_behind"] == [{"agent": "eu-1", "behind_s": 600.0}]
    assert "agent clock behind by 10m (eu-1)" in body["summary"]
    await probe(store, clock, clock.now + 30, ok=True)  # its clock fixed: on time again
    await judge.evaluate()
    assert await store.open_alerts() == []
    assert len(await notifications(store)) == 1


async def test_a_restart_waits_for_the_agents_backoff_before_calling_them_silent(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """Issue 15: after a collector restart, agents backing off come back within
    MAX_PUSH_BACKOFF_S; checks of short intervals must not all be called silent meanwhile."""
    rules = "    - {checks: ['*'], channels: [tickets], events: [no_data, agent_silent]}\n"
    await probe(store, clock, T0 + 30, ok=True, agents=("eu-1",))
    clock.now = T0
    await probe(store, clock, T0 + 30, ok=True, check="db", agents=("us-1",))
    clock.now += 600  # the collector was down for ten minutes
    started = clock.now
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    for seconds in (0, START_GRACE_S / 2, START_GRACE_S - 1):
        clock.now = started + seconds
        await judge.evaluate()
    assert await notifications(store) == []
    clock.now = started + MAX_PUSH_BACKOFF_S - 5  # eu-1's backoff ends: it pushes again
    await probe(store, clock, started + START_GRACE_S - 0.001, ok=True, agents=("eu-1",))
    await judge.evaluate()
    assert await notifications(store) == []
    clock.now = started + START_GRACE_S  # us-1 did not come back: its check is silent
    await judge.evaluate()
    rows = await notifications(store, channel="tickets")
    assert ("no_data", "check:db") in [(r.kind, r.subject) for r in rows]
    later = started + max(START_GRACE_S, AGENT_SILENT_MIN_S)  # and so is the agent
    await probe(store, clock, later, ok=True, agents=("eu-1",))  # while eu-1 keeps pushing
    await judge.evaluate()
    rows = await notifications(store, channel="tickets")
    assert sorted((r.kind, r.subject) for r in rows) == [
        ("agent_silent", "agent:us-1"), ("no_data", "check:db")
    ]  # fmt: skip


async def test_agent_silent_after_twice_its_shortest_interval_or_a_minute(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: ['*'], channels: [ops], events: [agent_silent]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=True, agents=("eu-1", "us-1"))
    clock.now = T0
    await probe(store, clock, T0 + 30, ok=True, check="db", agents=("eu-1",))
    last_push = clock.now
    await probe(store, clock, last_push + 59, ok=True, agents=("us-1",))
    await judge.evaluate()
    assert await kinds(store) == []
    clock.now = last_push + 60
    await judge.evaluate()
    clock.now += 5
    await judge.evaluate()
    (silent,) = await notifications(store)
    event = decode_event(silent.event)
    assert (event.agent, event.checks) == ("eu-1", ("db", "web"))  # type: ignore[union-attr]
    assert event.last_seen == last_push  # type: ignore[union-attr]


async def test_a_target_whose_runs_cannot_be_read_does_not_stop_the_others(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    rules = "    - {checks: ['*'], channels: [ops], after: 0s, events: [down]}\n"
    judge = evaluator(store, config_with(rules, tmp_path), clock)
    await probe(store, clock, T0 + 30, ok=False, check="web")
    clock.now = T0
    await probe(store, clock, T0 + 30, ok=False, check="db")
    with sqlite3.connect(store.path) as db:  # two runs overlapping: a corrupt stretch
        db.execute(
            "INSERT INTO runs SELECT series, start_ms + 5000, end_ms + 5000, ok, error,"
            " last_ts_ms, last_interval_ms, samples FROM runs WHERE series ="
            " (SELECT id FROM series WHERE check_id = 'web')"
        )
    with capture_logs() as logs:
        await judge.evaluate()
    assert [(r.kind, r.subject) for r in await notifications(store)] == [("down", "check:db")]
    assert [e["target"] for e in logs if e["event"] == "alert_target_failed"] == ["check:web"]


async def test_a_check_is_silenced_only_when_every_sla_using_it_is_in_maintenance(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    shop = "  - {id: shop, customer: acme, checks: [web, db], objective: 99.9}\n"
    intranet = "  - id: intranet\n    checks: [web]\n    objective: 99\n" + MAINTENANCE.lstrip("\n")
    text = CONFIG.replace(shop, shop + intranet)
    rules = "    - {checks: [web], channels: [ops], after: 0s, events: [down]}\n"
    judge = evaluator(store, parse_config(text + rules, base_dir=tmp_path, process="collector"),
                      clock)  # fmt: skip
    await probe(store, clock, T0 + 30, ok=False)
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down"]  # shop is not in maintenance
    now_ms = round(clock.now * 1000)
    await store.add_maintenance(["shop"], now_ms, now_ms + 600_000, "hotfix", created_ms=now_ms)
    await probe(store, clock, T0 + 60, ok=True)
    await probe(store, clock, T0 + 90, ok=False, check="web")
    await judge.evaluate()
    assert [k for k, _ in await kinds(store)] == ["down"]  # both in maintenance: silence


async def test_only_in_hours_waits_for_service_hours_and_other_rules_do_not(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """Friday 03:00 UTC; service from 03:05. The plain rule alerts at once; the `only_in_hours`
    rule stays quiet until hours begin, then alerts the outage from its start."""
    text = (
        CONFIG.replace(
            "  - {id: shop, customer: acme, checks: [web, db], objective: 99.9}\n",
            "  - id: shop\n    customer: acme\n    checks: [web, db]\n    objective: 99.9\n"
            '    hours: [{days: mon-fri, from: "03:05", to: "24:00"}]\n',
        )
        + "    - {checks: [web], channels: [ops], after: 0s, repeat: 1m, only_in_hours: true}\n"
        + "    - {checks: [web], channels: [tickets], after: 0s}\n"
    )
    judge = evaluator(store, parse_config(text, base_dir=tmp_path, process="collector"), clock)
    await probe(store, clock, T0 + 120, ok=False)
    await judge.evaluate()
    assert await kinds(store, "ops") == []
    assert [kind for kind, _ in await kinds(store, "tickets")] == ["down"]
    await probe(store, clock, T0 + 290, ok=False)
    await judge.evaluate()
    assert await kinds(store, "ops") == []
    await probe(store, clock, T0 + 310, ok=False)
    await judge.evaluate()
    (down,) = await notifications(store, channel="ops")
    assert down.kind == "down"
    assert decode_event(down.event).since == T0  # type: ignore[union-attr]
    await probe(store, clock, T0 + 340, ok=True)
    await judge.evaluate()
    assert [kind for kind, _ in await kinds(store, "ops")] == ["down", "resolved"]


async def test_only_in_hours_keeps_reminders_quiet_after_hours_and_still_resolves(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """Service until 03:02: an alert opened at 03:00 gets no reminder at 03:03 or later, and its
    recovery is still told."""
    text = (
        CONFIG.replace(
            "  - {id: shop, customer: acme, checks: [web, db], objective: 99.9}\n",
            "  - id: shop\n    customer: acme\n    checks: [web, db]\n    objective: 99.9\n"
            '    hours: [{days: fri, from: "00:00", to: "03:02"}]\n',
        )
        + "    - {checks: [web], channels: [ops], after: 0s, repeat: 1m, only_in_hours: true}\n"
    )
    judge = evaluator(store, parse_config(text, base_dir=tmp_path, process="collector"), clock)
    await probe(store, clock, T0 + 30, ok=False)
    await judge.evaluate()
    await probe(store, clock, T0 + 100, ok=False)
    await judge.evaluate()
    assert [kind for kind, _ in await kinds(store)] == ["down", "reminder"]
    await probe(store, clock, T0 + 300, ok=False)
    await judge.evaluate()
    assert [kind for kind, _ in await kinds(store)] == ["down", "reminder"]
    await probe(store, clock, T0 + 320, ok=True)
    await judge.evaluate()
    assert [kind for kind, _ in await kinds(store)] == ["down", "reminder", "resolved"]
