"""Where a standalone agent's settings come from, at start and at each reload (SIGHUP): its
config file, or the command line and a token file (`slawatch agent --collector URL --id ID
--token-file F`, CONTRACT §5: no file at all, the checks come from the collector).

Both go through the config loader, so a value given on the command line is judged exactly as
the same value in a file would be (`agent.id: must be an id …`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from slawatch.config.loader import load_config, parse_config
from slawatch.config.reader import ConfigError
from slawatch.config.schema import AgentConfig, Check

COMMAND_LINE = "the command line"
STATE_DIRECTORY = "STATE_DIRECTORY"
"""Set by systemd's `StateDirectory=`: the zero-config agent's spool goes there by default."""


class SettingsError(Exception):
    """The settings cannot be read; the message names the file or option and why."""


@dataclass(frozen=True, slots=True)
class AgentSettings:
    config: AgentConfig
    checks: tuple[Check, ...]
    """The agent's own checks (its file's `checks:` that select it)."""
    token: str


SettingsSource = Callable[[], AgentSettings]
"""Reads the settings anew (at start and at each reload); raises SettingsError."""


def from_file(path: Path) -> SettingsSource:
    def read() -> AgentSettings:
        try:
            config = load_config(path, process="agent")
        except ConfigError as error:
            raise SettingsError(error.render()) from None
        agent = config.agent
        assert agent is not None and agent.token is not None  # the loader requires both
        checks = config.checks_for_agent(agent.id, agent.labels)
        return AgentSettings(agent, checks, agent.token.value)

    return read


def from_command_line(
    *,
    collectors: Sequence[str],
    agent_id: str,
    token_file: Path,
    spool: str | None = None,
    labels: Mapping[str, str] | None = None,
    metrics_listen: str | None = None,
    checks_poll: str | None = None,
) -> SettingsSource:
    """The zero-config agent: the token file is read (and stripped) at start and at each
    reload, so a rotated token is taken with SIGHUP."""

    def read() -> AgentSettings:
        token = read_token_file(token_file)
        section: dict[str, Any] = {
            "id": agent_id,
            "collector": list(collectors) if len(collectors) > 1 else collectors[0],
            "token": token,
            "spool": spool or default_spool(agent_id),
        }
        if labels:
            section["labels"] = dict(labels)
        if metrics_listen:
            section["metrics_listen"] = metrics_listen
        if checks_poll:
            section["checks_poll"] = checks_poll
        text = yaml.safe_dump({"agent": section})
        try:
            config = parse_config(
                text, source=COMMAND_LINE, base_dir=Path.cwd(), process="agent", environ={}
            )
        except ConfigError as error:
            raise SettingsError(_as_options(error)) from None
        assert config.agent is not None
        return AgentSettings(config.agent, (), token)

    return read


def read_token_file(path: Path) -> str:
    """The token in `path`, without surrounding whitespace; SettingsError naming the file."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise SettingsError(f"--token-file {path}: cannot read it: {reason}") from None
    if not token:
        raise SettingsError(f"--token-file {path}: is empty; put the agent's token in it")
    if any(character.isspace() for character in token):
        raise SettingsError(f"--token-file {path}: holds more than one word; only the token")
    return token


def default_spool(agent_id: str) -> str:
    state = os.environ.get(STATE_DIRECTORY, "").split(":")[0]
    folder = Path(state) if state else Path.cwd() / "data"
    return str(folder / f"{agent_id}-spool.db")


_OPTIONS = {
    "agent.id": "--id",
    "agent.collector": "--collector",
    "agent.token": "--token-file",
    "agent.spool": "--spool",
    "agent.labels": "--label",
    "agent.metrics_listen": "--metrics-listen",
    "agent.checks_poll": "--checks-poll",
}


def _as_options(error: ConfigError) -> str:
    """The loader's problems with the generated section, named by the options given."""
    lines = []
    for problem in error.problems:
        key = next((k for k in _OPTIONS if problem.path == k or problem.path.startswith(k)), "")
        where = _OPTIONS[key] + problem.path[len(key) :] if key else problem.path
        lines.append(f"{where}: {problem.message}")
    return "\n".join(lines)
