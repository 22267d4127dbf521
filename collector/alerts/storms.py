"""Storms: a channel's state changes that come close together go out as one message. Pure.

The first state change (down, resolved, no_data…) after a quiet stretch leaves at once: the
people on call read it on the evaluation that decided it. Its release opens the channel's group
window (`alerts.group_window`, default 30 s): what follows within the window is *held* in the
outbox, and leaves when the window closes, together: alone as itself, or, two or more, as one
`Grouped` message listing them. That release opens the next window, so a storm that goes on is
one message per window. A network partition that takes 200 checks down at once is one message,
not 200.

The per-channel rate limit (`alerts.rate_limit`, default 20 per 10 min) sits on top: while the
channel has had its share of messages within `per`, what is held stays held and keeps growing,
and it leaves as one group when a slot frees. Nothing is dropped; the excess is grouped.

Grouping is for people reading chat: a `webhook` channel (machines, ticketing) never holds
anything and gets every event on its own (`slawatch.collector.alerts.outbox`).

`plan_release` decides; the outbox (`slawatch.collector.alerts.outbox`) stores the held
notifications and carries out the plan in one transaction, so a restart loses nothing held.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slawatch.collector.alerts.events import StateChange
from slawatch.config.schema import RateLimit

MAX_GROUP = 500
"""Changes listed in one grouped message at most; a bigger storm is several messages."""


@dataclass(frozen=True, slots=True)
class Held:
    seq: int
    created_ms: int
    event: StateChange


@dataclass(frozen=True, slots=True)
class Release:
    groups: tuple[tuple[Held, ...], ...] = ()
    """Each is one message: a group of one is sent as itself."""
    look_again_ms: int | None = None
    """When something still held may leave; None when nothing is held after this release."""


def plan_release(
    held: Sequence[Held],
    now_ms: int,
    *,
    window_ms: int,
    rate_limit: RateLimit | None,
    released_ms: Sequence[int] = (),
    max_group: int = MAX_GROUP,
) -> Release:
    """What of a channel's `held` changes (oldest first) leaves at `now_ms`.

    `released_ms`: when the channel's earlier state-change messages left their hold, at least
    those within the group window and the rate limit's `per` before now.
    """
    if not held:
        return Release()
    last_ms = max(released_ms, default=None)
    if last_ms is not None and now_ms < last_ms + window_ms:
        return Release(look_again_ms=last_ms + window_ms)
    groups = [tuple(held[i : i + max_group]) for i in range(0, len(held), max_group)]
    if rate_limit is None:
        return Release(tuple(groups))
    per_ms = round(rate_limit.per * 1000)
    recent = sorted(t for t in released_ms if t > now_ms - per_ms)
    room = rate_limit.messages - len(recent)
    if room <= 0:
        return Release(look_again_ms=recent[-room] + per_ms)
    if len(groups) <= room:
        return Release(tuple(groups))
    return Release(tuple(groups[:room]), look_again_ms=now_ms)
