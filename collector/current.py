"""The state of every check now (CONTRACT §3.2): per agent, and under the check's own quorum.

A check known only from samples gets the defaults (`majority`); one in the config's `checks:`
gets its `quorum`. Used by `/metrics` (`slawatch_check_up`) and `GET /api/v1/checks`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from slawatch.collector.engine.states import State, quorum_state
from slawatch.collector.engine.timeline import Run
from slawatch.collector.store import SampleStore
from slawatch.config.schema import Config, Quorum

DEFAULT_QUORUM: Quorum = "majority"


@dataclass(frozen=True, slots=True)
class CheckNow:
    check: str
    quorum: Quorum
    state: State
    agents: Mapping[str, State]
    """Every agent that ever sent a sample of the check."""
    runs: Mapping[str, Run]
    """The run covering now, per agent whose state is known."""


def agent_state(run: Run | None) -> State:
    if run is None:
        return State.UNKNOWN
    return State.UP if run.ok else State.DOWN


async def check_states(store: SampleStore, config: Config, now_ms: int) -> dict[str, CheckNow]:
    """Every check's state at `now_ms`, decided in a thread (5,000 checks: tens of ms) from
    what the store reads on the event loop."""
    covering = await store.runs_at(now_ms)
    last_runs = await store.last_runs()
    return await asyncio.to_thread(_decide, config, covering, last_runs)


def _decide(
    config: Config,
    covering: Mapping[str, Mapping[str, Run]],
    last_runs: Mapping[str, Mapping[str, Run]],
) -> dict[str, CheckNow]:
    result: dict[str, CheckNow] = {}
    for check, agents in sorted(last_runs.items()):
        runs = covering.get(check, {})
        states = {agent: agent_state(runs.get(agent)) for agent in sorted(agents)}
        configured = config.check(check)
        quorum = configured.quorum if configured else DEFAULT_QUORUM
        result[check] = CheckNow(check, quorum, quorum_state(states.values(), quorum), states, runs)
    return result
