"""Flapping: rapid DOWN/UP cycles become one "flapping" message instead of a pair per cycle. Pure.

A change is an instant where the target's known state turns from UP to DOWN or back; UNKNOWN
stretches are looked through (DOWN, silence, UP is one change, at the UP). A target is flapping
when `changes` changes fall within the last `window` since it last settled; it has settled once
no change fell within the last `settle`. The evaluator sends one `Flapping` message when
flapping starts, stays quiet while it lasts, and once settled sends `FlappingEnded` (and `down`
if it settled DOWN for the rule's `after`); an outage open before is resolved at its own end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from slawatch.collector.engine.service_timeline import Segment
from slawatch.collector.engine.states import State
from slawatch.config.schema import FlappingSettings


@dataclass(frozen=True, slots=True)
class Flap:
    changes: int
    """Changes within the window."""
    since_ms: int
    """The first of them."""


def changes(segments: Sequence[Segment]) -> list[int]:
    """The instants where the known state changes, from segments in time order."""
    found: list[int] = []
    previous: State | None = None
    for segment in segments:
        if segment.state is State.UNKNOWN:
            continue
        if previous is not None and segment.state is not previous:
            found.append(segment.start_ms)
        previous = segment.state
    return found


def detect(change_ms: Sequence[int], now_ms: int, settings: FlappingSettings) -> Flap | None:
    """Flapping now: at least `settings.changes` changes within the last `settings.window`,
    counting only those after the last settle (a quiet stretch of `settings.settle`, up to now
    included). A settle shorter than the window would otherwise leave the changes of a flapping
    episode already over in the window, and make a second message for it."""
    start = now_ms - round(settings.window * 1000)
    settle_ms = round(settings.settle * 1000)
    within = [instant for instant in change_ms if start < instant <= now_ms]
    if within and now_ms - within[-1] >= settle_ms:
        return None
    for index in range(len(within) - 1, 0, -1):
        if within[index] - within[index - 1] >= settle_ms:
            within = within[index:]
            break
    if len(within) < settings.changes:
        return None
    return Flap(len(within), within[0])


def settled(change_ms: Sequence[int], now_ms: int, settings: FlappingSettings) -> bool:
    """No change within the last `settings.settle`."""
    start = now_ms - round(settings.settle * 1000)
    return not any(start < instant <= now_ms for instant in change_ms)
