"""The durable outbox and its dispatcher (CONTRACT §3.2): notifications are committed before they
are sent, delivered in order per channel, retried until the channel answers 2xx, and given up
only after `alerts.max_age`.

How a notification travels:
1. The evaluator decides an event; `Outbox.notification` gives it its id for one channel
   (stable: the same (channel, target, event, run) always gets the same id, so deciding it twice
   stores it once) and renders it once into the channel's native body.
2. `Outbox.commit` stores it with the evaluator's state in one transaction. A state change
   (down, resolved, no_data…) for a chat channel is *held*, then released at once when the
   channel's group window is not open, or when it closes (`storms`); other kinds (burn rate,
   breaches, digests) and everything for a channel that does not group (`groups`: the
   `webhook`, PagerDuty) are queued at once. In a chat channel, a `resolved` supersedes the
   `down` and reminders of its run still waiting: they are merged into it (status `merged`,
   `merged_into` its id), and the resolved message tells the whole story ("was down
   03:12–03:19"): people need not read an outage that is already over. A channel that does not
   group gets every event, in order, never merged: its receiver (a ticketing system, a script,
   PagerDuty's trigger and resolve) may need each.
3. The dispatcher runs one loop per channel: it releases what is held when the window closes
   (one grouped message for a storm, within the rate limit), then sends the channel's oldest
   notification (by when it was decided; a storm's message takes the place of its first
   change), the same stored bytes at each attempt. While that oldest one is held, nothing of
   the channel leaves: a burn-rate message never overtakes the changes held before it. 2xx:
   sent. Otherwise the next attempt waits `delivery.retry_delay` (the service's Retry-After, or
   backoff), and the channel waits with it, so messages never overtake each other. A backoff
   that would reach past `alerts.max_age` after the notification was decided is cut short: the
   last attempt is made just before that deadline; if it fails too, the notification is given
   up, logged and counted.

A notification is sent again only if the process dies between the channel's 2xx and the commit
of `sent`; receivers dedupe on its id. Time comes from the injected clock (tests drive it);
only the waiting between attempts is real time, and `wake` cuts it short.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import random
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp
import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from slawatch.collector.alerts import channels, events
from slawatch.collector.alerts.delivery import (
    DEFAULT_TIMEOUT_S,
    DeliveryResult,
    RenderedMessage,
    retry_delay,
)
from slawatch.collector.alerts.events import Event, Grouped, StateChange, stable_notification_id
from slawatch.collector.alerts.storms import Held, plan_release
from slawatch.collector.store import (
    AlertChanges,
    NewNotification,
    Notification,
    OpenAlert,
    OutboxStore,
)
from slawatch.config.schema import AlertsConfig, Channel

log = structlog.get_logger()

STOP_WAIT_S = 5.0
"""On a graceful stop, a delivery in flight gets this long to finish and have its outcome
committed (a chat message sent and not recorded would be sent again after the restart)."""
MAX_IDLE_S = 30.0
"""A channel loop looks again at least this often, even when nothing wakes it."""
DEADLINE_GRACE_S = 1.0
"""The last attempt is due 1 ms before `alerts.max_age` is over; a timer that wakes it a little
late still makes it. Later than this (the collector was stopped), it is given up untried."""
STATE_CHANGES = tuple(typing.get_args(StateChange))
"""The event types a storm groups (held while the channel's group window is open)."""


def ms(seconds: float) -> int:
    return round(seconds * 1000)


# ------------------------------------------------------------------------------------ metrics


class AlertMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter(
            "slawatch_alerts_sent",
            "Notifications delivered (the channel answered 2xx), by channel",
            ["channel"],
            registry=registry,
        )
        self.failed = Counter(
            "slawatch_alerts_failed",
            "Failed delivery attempts (each is retried until alerts.max_age), by channel",
            ["channel"],
            registry=registry,
        )
        self.given_up = Counter(
            "slawatch_alerts_given_up",
            "Notifications given up: not delivered within alerts.max_age, by channel",
            ["channel"],
            registry=registry,
        )
        self.pending = Gauge(
            "slawatch_alerts_pending",
            "Notifications not delivered yet (in their group window or queued), by channel",
            ["channel"],
            registry=registry,
        )

    def count_channels(self, channel_ids: Iterable[str]) -> None:
        """Make every configured channel's series visible at 0 before anything happens."""
        for channel in channel_ids:
            for metric in (self.sent, self.failed, self.given_up, self.pending):
                metric.labels(channel)

    async def refresh(self, store: OutboxStore, channel_ids: Iterable[str]) -> None:
        counts = await store.notification_counts()
        waiting: dict[str, int] = dict.fromkeys(channel_ids, 0)
        for (channel, status), count in counts.items():
            if status in ("held", "pending"):
                waiting[channel] = waiting.get(channel, 0) + count
        for channel, count in waiting.items():
            self.pending.labels(channel).set(count)


# -------------------------------------------------------------------------------- event codec


_EVENT_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in vars(events).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == events.__name__
}


def encode_event(event: Event) -> str:
    """The event as JSON (stored with the notification: storms list it, the API shows it)."""
    return json.dumps(_encode(event), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode_event(text: str) -> Event:
    event = _decode(json.loads(text))
    if not isinstance(event, typing.get_args(Event)):
        raise ValueError("not an alert event")
    return event


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, "fields": fields}
    if isinstance(value, tuple | list):
        return [_encode(item) for item in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        cls = _EVENT_CLASSES[value["type"]]
        return cls(**{name: _decode(item) for name, item in value["fields"].items()})
    if isinstance(value, list):
        return tuple(_decode(item) for item in value)
    return value


# ------------------------------------------------------------------------------------ outbox


@dataclasses.dataclass(frozen=True, slots=True)
class Decision:
    """An event the evaluator decided for some channels, before it has an id per channel."""

    event: Event
    key: tuple[object, ...]
    """What makes it unique besides the channel: (subject, kind, run, reminder number…)."""
    channels: tuple[str, ...]
    subject: str | None = None
    run_ms: int | None = None
    supersedes: tuple[str, ...] = ()


@dataclasses.dataclass(slots=True)
class Pass:
    """What one evaluation decides, committed at its end in one transaction (`Outbox.commit`):
    notifications to store, open alerts opened (or updated) and closed, marks set."""

    now_ms: int
    decisions: list[Decision] = dataclasses.field(default_factory=list)
    opened: list[OpenAlert] = dataclasses.field(default_factory=list)
    closed: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    marks: list[tuple[str, int]] = dataclasses.field(default_factory=list)

    @property
    def at(self) -> float:
        return self.now_ms / 1000


class Outbox:
    """Stores decided notifications and hands them to the dispatcher."""

    def __init__(
        self,
        store: OutboxStore,
        alerts: AlertsConfig,
        *,
        clock: Callable[[], float] = time.time,
        metrics: AlertMetrics | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.rng = rng
        """The jitter of the backoff (tests pin it)."""
        self.metrics = metrics if metrics is not None else AlertMetrics(CollectorRegistry())
        self.busy: dict[str, int] = {}
        """channel → seq of the notification being sent right now."""
        self._wake: dict[str, asyncio.Event] = {}
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self._release_locks: dict[str, asyncio.Lock] = {}

    def notifications(self, decision: Decision, now_ms: int) -> list[NewNotification]:
        """The decision rendered for each of its channels, with its id there."""
        found = []
        for channel_id in dict.fromkeys(decision.channels):
            channel = self.alerts.channel(channel_id)
            if channel is None:
                continue
            notification_id = stable_notification_id(channel_id, *decision.key)
            event = dataclasses.replace(decision.event, id=notification_id)
            try:
                found.append(
                    self.render(
                        event,
                        channel,
                        now_ms,
                        subject=decision.subject,
                        run_ms=decision.run_ms,
                        supersedes=decision.supersedes,
                    )
                )
            except ValueError as error:  # a channel that cannot be used: the others still can
                log.error(
                    "alert_render_failed", channel=channel_id, kind=event.kind, error=str(error)
                )
        return found

    def render(
        self,
        event: Event,
        channel: Channel,
        now_ms: int,
        *,
        subject: str | None = None,
        run_ms: int | None = None,
        supersedes: tuple[str, ...] = (),
    ) -> NewNotification:
        message = channels.render(event, channel)
        chat = groups(channel)
        grouped = isinstance(event, STATE_CHANGES) and chat
        return NewNotification(
            id=event.id,
            channel=channel.id,
            kind=event.kind,
            event=encode_event(event),
            body=message.body,
            headers=json.dumps(dict(message.headers)),
            created_ms=now_ms,
            due_ms=now_ms,
            grouped=grouped,
            subject=subject,
            run_ms=run_ms,
            supersedes=supersedes if chat else (),
        )

    async def commit(self, changes: AlertChanges) -> list[str]:
        """Store `changes` in one transaction, release the state changes that need not wait
        (`storms`), and wake the channels that got something new."""
        if not changes:
            return []
        inserted = await self.store.commit_alerts(changes, busy=self.busy.values())
        fresh = set(inserted)
        new = [n for n in changes.notifications if n.id in fresh]
        for notification in new:
            log.info(
                "alert_decided",
                channel=notification.channel,
                notification=notification.id,
                kind=notification.kind,
                subject=notification.subject,
            )
        for channel_id in dict.fromkeys(n.channel for n in new if n.grouped):
            await self.release(channel_id, ms(self.clock()))
        for channel_id in dict.fromkeys(n.channel for n in new):
            self.wake(channel_id)
        return inserted

    # ------------------------------------------------------------------------------ storms

    async def release(self, channel_id: str, now_ms: int) -> int | None:
        """Let what is held for the channel leave if its window is not open (`storms`); returns
        when to look again, None if nothing is held any more. One release at a time per
        channel: two would list the same changes in two messages."""
        async with self._release_locks.setdefault(channel_id, asyncio.Lock()):
            return await self._release(channel_id, now_ms)

    async def _release(self, channel_id: str, now_ms: int) -> int | None:
        rows = await self.store.held_notifications(channel_id)
        if not rows:
            return None
        held, broken = [], []
        for row in rows:
            try:
                event = decode_event(row.event)
            except (ValueError, KeyError, TypeError):
                broken.append(row)
                continue
            if isinstance(event, STATE_CHANGES):
                held.append(Held(row.seq, row.created_ms, event))
            else:
                broken.append(row)
        for row in broken:
            await self._give_up(row, now_ms, "its stored event cannot be read")
        limit = self.alerts.rate_limit
        window_ms = ms(self.alerts.group_window)
        since_ms = now_ms - max(window_ms, ms(limit.per) if limit else 0)
        released = await self.store.released_since(channel_id, since_ms)
        plan = plan_release(
            held, now_ms, window_ms=window_ms, rate_limit=limit, released_ms=released
        )
        for group in plan.groups:
            await self._release_group(channel_id, group, now_ms)
        return plan.look_again_ms

    async def _release_group(self, channel_id: str, group: tuple[Held, ...], now_ms: int) -> None:
        """One message for the group; each on its own for a channel that does not group."""
        seqs = [h.seq for h in group]
        channel = self.alerts.channel(channel_id)
        if len(group) == 1 or channel is None or not groups(channel):
            await self.store.release_notifications(channel_id, seqs, now_ms, None)
            return
        members = tuple(h.event for h in group)
        grouped = Grouped(
            id=stable_notification_id(channel_id, "grouped", *(e.id for e in members)),
            at=now_ms / 1000,
            events=members,
            link=next((e.link for e in members if e.link), None),
        )
        notification = dataclasses.replace(
            self.render(grouped, channel, now_ms),
            grouped=True,
            created_ms=min(h.created_ms for h in group),  # its place in the channel's queue
        )
        await self.store.release_notifications(channel_id, seqs, now_ms, notification)
        log.info("alert_storm_grouped", channel=channel_id, changes=len(group))

    # ---------------------------------------------------------------------------- delivery

    async def deliver_next(
        self, session: aiohttp.ClientSession, channel_id: str, *, timeout: float
    ) -> int | None:
        """Release what may leave, then make at most one attempt at the channel's oldest queued
        notification. Returns when to look again (ms on the clock; now or earlier: at once),
        None when nothing waits. One caller at a time per channel."""
        async with self._channel_locks.setdefault(channel_id, asyncio.Lock()):
            now_ms = ms(self.clock())
            look_again = await self.release(channel_id, now_ms)
            row = await self.store.next_notification(channel_id)
            if row is None or row.status == "held":  # nothing overtakes what is held
                return look_again
            if row.due_ms > now_ms:
                return row.due_ms if look_again is None else min(row.due_ms, look_again)
            await self._attempt(session, row, timeout=timeout)
            return ms(self.clock())

    async def _attempt(
        self, session: aiohttp.ClientSession, row: Notification, *, timeout: float
    ) -> None:
        deadline_ms = row.created_ms + ms(self.alerts.max_age)
        if ms(self.clock()) >= deadline_ms + ms(DEADLINE_GRACE_S):
            await self._give_up(row, ms(self.clock()), row.last_error or "not sent in time")
            return
        self.busy[row.channel] = row.seq  # not merged away until its outcome is stored
        try:
            result = await self._send(session, row, timeout=timeout)
            await self._record(row, result, deadline_ms)
        finally:
            self.busy.pop(row.channel, None)

    async def _send(
        self, session: aiohttp.ClientSession, row: Notification, *, timeout: float
    ) -> DeliveryResult:
        channel = self.alerts.channel(row.channel)
        if channel is None:
            return DeliveryResult("rejected", error="the channel is no longer in the config")
        message = RenderedMessage(row.channel, row.id, row.kind, row.body, _headers(row.headers))
        return await channels.deliver(session, channel, message, timeout=timeout, clock=self.clock)

    async def _record(self, row: Notification, result: DeliveryResult, deadline_ms: int) -> None:
        now_ms = ms(self.clock())
        attempts = row.attempts + 1
        if result.delivered:
            await self.store.notification_sent(
                row.seq, now_ms, attempts=attempts, status=result.status
            )
            self.metrics.sent.labels(row.channel).inc()
            return
        self.metrics.failed.labels(row.channel).inc()
        due_ms = min(now_ms + ms(retry_delay(result, attempts, self.rng)), deadline_ms - 1)
        if due_ms <= now_ms:  # no time left for another attempt before the deadline
            await self._give_up(dataclasses.replace(row, attempts=attempts), now_ms, result.error)
            return
        await self.store.notification_failed(
            row.seq, attempts=attempts, due_ms=due_ms, status=result.status, error=result.error
        )

    async def give_up_orphans(self) -> int:
        """Give up what waits for channels no longer in the config: nothing would send it."""
        configured = {c.id for c in self.alerts.channels}
        counts = await self.store.notification_counts()
        orphans = sorted({channel for channel, _ in counts if channel not in configured})
        given_up = 0
        for channel_id in orphans:
            for row in await self.store.notifications(
                statuses=("held", "pending"), channel=channel_id, limit=1_000_000
            ):
                await self._give_up(row, ms(self.clock()), "the channel is no longer in the config")
                given_up += 1
        return given_up

    async def _give_up(self, row: Notification, now_ms: int, error: str | None) -> None:
        await self.store.notification_given_up(row.seq, now_ms, attempts=row.attempts, error=error)
        self.metrics.given_up.labels(row.channel).inc()
        log.error(
            "alert_given_up",
            channel=row.channel,
            notification=row.id,
            kind=row.kind,
            attempts=row.attempts,
            age_s=round((now_ms - row.created_ms) / 1000, 3),
            error=error,
        )

    # ----------------------------------------------------------------------------- waking

    def wake(self, channel_id: str | None = None) -> None:
        """Make the channel's loop (every loop: None) look again now."""
        targets = self._wake.values() if channel_id is None else [self._event(channel_id)]
        for event in targets:
            event.set()

    async def sleep(self, channel_id: str, seconds: float) -> None:
        """Wait up to `seconds` (real time) or until woken."""
        event = self._event(channel_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(0.0, seconds))
        event.clear()

    def _event(self, channel_id: str) -> asyncio.Event:
        return self._wake.setdefault(channel_id, asyncio.Event())


# -------------------------------------------------------------------------------- dispatcher


class Dispatcher:
    """One loop per configured channel, each delivering that channel's queue in order."""

    def __init__(
        self,
        outbox: Outbox,
        session: aiohttp.ClientSession,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self.outbox = outbox
        self.session = session
        self.timeout = timeout
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    @property
    def channel_ids(self) -> list[str]:
        return [c.id for c in self.outbox.alerts.channels]

    async def step(self, channel_id: str) -> float | None:
        """One release and at most one attempt; seconds until worth looking again (0: at
        once), None when the channel has nothing waiting."""
        look_again = await self.outbox.deliver_next(self.session, channel_id, timeout=self.timeout)
        if look_again is None:
            return None
        return max(0.0, (look_again - ms(self.outbox.clock())) / 1000)

    async def run_due(self) -> int:
        """Do everything due now on every channel (tests drive the clock and call this);
        returns how many steps did something."""
        steps = 0
        for channel_id in self.channel_ids:
            while await self.step(channel_id) == 0:
                steps += 1
        return steps

    def start(self) -> None:
        self._stopping = False
        self._tasks = {
            channel_id: asyncio.create_task(self._loop(channel_id), name=f"alerts-{channel_id}")
            for channel_id in self.channel_ids
        }

    async def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop the channel loops: each finishes the attempt it is making (up to `wait_s`, then
        it is cancelled and the notification stays pending), records it, and starts no other."""
        self._stopping = True
        self.outbox.wake()
        tasks = self._tasks
        if tasks:
            await asyncio.wait(tasks.values(), timeout=wait_s)
            for channel_id, task in tasks.items():
                if not task.done():
                    log.warning("alert_delivery_interrupted", channel=channel_id, wait_s=wait_s)
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = {}

    async def _loop(self, channel_id: str) -> None:
        while not self._stopping:
            try:
                wait = await self.step(channel_id)
            except Exception:
                log.exception("alert_dispatch_failed", channel=channel_id)
                wait = MAX_IDLE_S
            if self._stopping:
                return
            if wait == 0:
                await asyncio.sleep(0)
                continue
            idle = MAX_IDLE_S if wait is None else min(wait, MAX_IDLE_S)
            await self.outbox.sleep(channel_id, idle)


def groups(channel: Channel) -> bool:
    """Whether the channel's state changes may be held, grouped and merged: chat channels, read
    by people (`ChannelSpec.groups`). A `webhook` gets every event on its own, in CONTRACT
    §3.2's body, and PagerDuty each trigger and its resolve."""
    return channels.spec_for(channel).groups


def _headers(text: str) -> Mapping[str, str]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}
