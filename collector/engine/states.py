"""The three states and how several of them make one (CONTRACT §4.2, §4.3). Pure."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from slawatch.config.schema import Quorum


class State(Enum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


def quorum_state(agent_states: Iterable[State], quorum: Quorum) -> State:
    """One check from all its agents: only agents whose state is known take part."""
    known = down = 0
    for state in agent_states:
        if state is State.UNKNOWN:
            continue
        known += 1
        down += state is State.DOWN
    return quorum_of(known, down, quorum)


def quorum_of(known: int, down: int, quorum: Quorum) -> State:
    """The check's state when `known` agents have a state and `down` of them see DOWN."""
    if known == 0:
        return State.UNKNOWN
    if quorum == "any":
        is_down = down >= 1
    elif quorum == "majority":
        is_down = 2 * down > known
    elif quorum == "all":
        is_down = down == known
    else:
        is_down = down >= min(int(quorum), known)
    return State.DOWN if is_down else State.UP


def service_state(check_states: Iterable[State], require: str) -> State:
    """An SLA's service from its checks: `all` needs every check, `any` one of them."""
    states = set(check_states)
    if require == "all":
        if State.DOWN in states:
            return State.DOWN
        return State.UNKNOWN if State.UNKNOWN in states or not states else State.UP
    if State.UP in states:
        return State.UP
    return State.DOWN if State.DOWN in states else State.UNKNOWN
