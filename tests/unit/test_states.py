"""Quorum (CONTRACT §4.2) and the service of an SLA (§4.3)."""

from __future__ import annotations

import pytest

from slawatch.collector.engine.states import State, quorum_state, service_state

U, D, X = State.UP, State.DOWN, State.UNKNOWN


@pytest.mark.parametrize(
    ("states", "quorum", "expected"),
    [
        ([], "any", X),
        ([X, X], "majority", X),
        ([U, D], "any", D),
        ([U, U], "any", U),
        ([U, D], "majority", U),  # 2d > k: 2 > 2 is false
        ([U, D, D], "majority", D),
        ([U, D, X], "majority", U),  # unknown agents do not count: k = 2
        ([D, X, X], "majority", D),
        ([U, D], "all", U),
        ([D, D, X], "all", D),
        ([U, D, D], 2, D),
        ([U, U, D], 2, U),
        ([D, X, X], 3, D),  # d >= min(N, k) with k = 1
    ],
)
def test_quorum(states: list[State], quorum: str | int, expected: State) -> None:
    assert quorum_state(states, quorum) is expected


@pytest.mark.parametrize(
    ("states", "require", "expected"),
    [
        ([U, U], "all", U),
        ([U, X], "all", X),
        ([D, X], "all", D),
        ([U, D], "all", D),
        ([U, D], "any", U),
        ([X, D], "any", D),
        ([X, X], "any", X),
        ([U, X], "any", U),
    ],
)
def test_service(states: list[State], require: str, expected: State) -> None:
    assert service_state(states, require) is expected
