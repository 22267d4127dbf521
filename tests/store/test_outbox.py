"""The alert outbox, open alerts and marks: one notification per (channel, id), superseded ones
merged unless being sent, held ones released alone or as one group, every outcome kept."""

from __future__ import annotations

from slawatch.collector.store import (
    AlertChanges,
    NewNotification,
    Notification,
    OpenAlert,
    OutboxStore,
    Store,
)

NOW = 1_790_000_000_000


def note(id: str, *, channel: str = "ops", kind: str = "down", created_ms: int = NOW,
         grouped: bool = False, subject: str | None = "check:web", run_ms: int | None = 1,
         supersedes: tuple[str, ...] = ()) -> NewNotification:  # fmt: skip
    return NewNotification(id=id, channel=channel, kind=kind, event=f'{{"id": "{id}"}}',
                           body=id.encode(), headers='{"X-Id": "' + id + '"}',
                           created_ms=created_ms, due_ms=created_ms, grouped=grouped,
                           subject=subject, run_ms=run_ms, supersedes=supersedes)  # fmt: skip


async def by_id(store: OutboxStore) -> dict[str, Notification]:
    return {n.id: n for n in await store.notifications(limit=1000)}


async def test_a_notification_is_stored_once_per_channel_and_id(store: Store) -> None:
    first = note("n1")
    assert await store.commit_alerts(AlertChanges(notifications=[first])) == ["n1"]
    changed = note("n1", kind="resolved")  # the same id again: left as it is
    other_channel = note("n1", channel="chat")
    stored = await store.commit_alerts(AlertChanges(notifications=[changed, other_channel]))
    assert stored == ["n1"]
    rows = await store.notifications(limit=10)
    assert sorted((n.channel, n.kind) for n in rows) == [("chat", "down"), ("ops", "down")]
    (ops,) = await store.notifications(channel="ops")
    assert (ops.body, ops.headers, ops.event) == (b"n1", '{"X-Id": "n1"}', '{"id": "n1"}')
    assert (ops.status, ops.grouped, ops.released_ms, ops.attempts) == ("pending", False, NOW, 0)


async def test_a_newer_notification_merges_the_waiting_ones_it_supersedes(store: Store) -> None:
    await store.commit_alerts(
        AlertChanges(notifications=[note("down"), note("reminder", kind="reminder")])
    )
    (busy,) = [n.seq for n in await store.notifications() if n.id == "reminder"]
    resolved = note(
        "resolved", kind="resolved", created_ms=NOW + 5, supersedes=("down", "reminder")
    )
    await store.commit_alerts(AlertChanges(notifications=[resolved]), busy=[busy])
    rows = await by_id(store)
    assert (rows["down"].status, rows["down"].merged_into, rows["down"].finished_ms) == (
        "merged", "resolved", NOW + 5,
    )  # fmt: skip
    assert rows["reminder"].status == "pending"  # being sent: not replaced
    assert rows["resolved"].status == "pending"


async def test_held_notifications_leave_alone_or_as_one_group(store: Store) -> None:
    held = [
        note(f"h{i}", grouped=True, created_ms=NOW + i, subject=f"check:c{i}") for i in range(3)
    ]
    await store.commit_alerts(AlertChanges(notifications=held))
    waiting = await store.held_notifications("ops")
    assert [(n.id, n.status, n.released_ms) for n in waiting] == [
        ("h0", "held", None), ("h1", "held", None), ("h2", "held", None),
    ]  # fmt: skip
    head = await store.next_notification("ops")
    assert head is not None and head.id == "h0"
    await store.release_notifications("ops", [waiting[0].seq], NOW + 10, None)
    group = note("storm", kind="storm", created_ms=NOW + 1, grouped=True, subject=None, run_ms=None)
    await store.release_notifications("ops", [w.seq for w in waiting[1:]], NOW + 20, group)
    rows = await by_id(store)
    assert (rows["h0"].status, rows["h0"].released_ms, rows["h0"].due_ms) == (
        "pending",
        NOW + 10,
        NOW + 10,
    )
    assert [rows[i].merged_into for i in ("h1", "h2")] == ["storm", "storm"]
    assert (rows["storm"].status, rows["storm"].grouped, rows["storm"].released_ms) == (
        "pending",
        True,
        NOW + 20,
    )
    assert await store.held_notifications("ops") == []
    assert await store.released_since("ops", NOW + 10) == [NOW + 10, NOW + 20]
    assert await store.released_since("ops", NOW + 11) == [NOW + 20]


async def test_the_queue_head_is_the_oldest_decided_not_yet_delivered(store: Store) -> None:
    await store.commit_alerts(AlertChanges(notifications=[note("late", created_ms=NOW + 9)]))
    await store.commit_alerts(
        AlertChanges(notifications=[note("early", created_ms=NOW + 1, run_ms=2)])
    )
    head = await store.next_notification("ops")
    assert head is not None and head.id == "early"
    await store.notification_sent(head.seq, NOW + 20, attempts=1, status=200)
    head = await store.next_notification("ops")
    assert head is not None and head.id == "late"
    assert await store.next_notification("other") is None


async def test_attempts_and_outcomes_are_kept(store: Store) -> None:
    await store.commit_alerts(AlertChanges(notifications=[note("a"), note("b", run_ms=2)]))
    a, b = (await by_id(store))["a"], (await by_id(store))["b"]
    await store.notification_failed(
        a.seq, attempts=1, due_ms=NOW + 500, status=503, error="HTTP 503"
    )
    rows = await by_id(store)
    assert (rows["a"].status, rows["a"].attempts, rows["a"].due_ms) == ("pending", 1, NOW + 500)
    assert (rows["a"].last_status, rows["a"].last_error) == (503, "HTTP 503")
    await store.notification_sent(a.seq, NOW + 600, attempts=2, status=200)
    await store.notification_given_up(b.seq, NOW + 700, attempts=5, error="timeout")
    await store.notification_given_up(
        a.seq, NOW + 800, attempts=9, error="too late"
    )  # sent already
    rows = await by_id(store)
    assert (rows["a"].status, rows["a"].finished_ms, rows["a"].last_error) == (
        "sent",
        NOW + 600,
        None,
    )
    assert (rows["b"].status, rows["b"].finished_ms, rows["b"].attempts) == (
        "given_up",
        NOW + 700,
        5,
    )
    assert await store.notification_counts() == {("ops", "sent"): 1, ("ops", "given_up"): 1}


async def test_notifications_are_listed_newest_first_with_filters_and_pages(store: Store) -> None:
    notes = [note(f"n{i}", channel="ops" if i % 2 else "chat", run_ms=i) for i in range(6)]
    await store.commit_alerts(AlertChanges(notifications=notes))
    every = await store.notifications()
    assert [n.id for n in every] == ["n5", "n4", "n3", "n2", "n1", "n0"]
    page = await store.notifications(limit=2)
    assert [n.id for n in page] == ["n5", "n4"]
    rest = await store.notifications(before_seq=page[-1].seq, limit=10)
    assert [n.id for n in rest] == ["n3", "n2", "n1", "n0"]
    assert [n.id for n in await store.notifications(channel="ops")] == ["n5", "n3", "n1"]
    await store.notification_sent(every[0].seq, NOW, attempts=1, status=200)
    assert [n.id for n in await store.notifications(statuses=["sent"])] == ["n5"]
    assert len(await store.notifications(statuses=["pending", "held"])) == 5


async def test_open_alerts_and_marks_change_in_one_commit(store: Store) -> None:
    opened = OpenAlert("down", "check:web", "", '{"since": 1}')
    await store.commit_alerts(AlertChanges(opened=[opened, OpenAlert("down", "check:db", "", "{}")],
                                           marks=[("breach:shop:2026-11", NOW)]))  # fmt: skip
    assert [a.subject for a in await store.open_alerts()] == ["check:db", "check:web"]
    changed = OpenAlert("down", "check:web", "", '{"since": 2}')
    await store.commit_alerts(AlertChanges(opened=[changed], closed=[("down", "check:db", "")],
                                           marks=[("breach:shop:2026-11", NOW + 1)]))  # fmt: skip
    assert await store.open_alerts() == [changed]
    assert await store.alert_marks(["breach:shop:2026-11", "digest:w48"]) == {"breach:shop:2026-11"}
    assert not AlertChanges()


async def test_pruning_forgets_finished_notifications_and_old_marks(store: Store) -> None:
    await store.commit_alerts(AlertChanges(notifications=[note("done"), note("waiting", run_ms=2)],
                                           marks=[("old", NOW - 1), ("recent", NOW)]))  # fmt: skip
    done = (await by_id(store))["done"]
    await store.notification_sent(done.seq, NOW, attempts=1, status=200)
    assert await store.prune_notifications(NOW, marks_before_ms=NOW) == 0
    assert await store.prune_notifications(NOW + 1, marks_before_ms=NOW) == 1
    assert list(await by_id(store)) == ["waiting"]
    assert await store.alert_marks(["old", "recent"]) == {"recent"}


async def test_many_marks_are_looked_up_at_once(store: Store) -> None:
    keys = [f"mark:{i}" for i in range(2000)]
    await store.commit_alerts(AlertChanges(marks=[(key, NOW) for key in keys[::2]]))
    assert await store.alert_marks(keys) == set(keys[::2])
    assert await store.alert_marks([]) == set()
