"""Reads a config file (CONTRACT §2) into `slawatch.config.schema.Config`, or reports every problem
at once.

Each problem names its key path (`checks[3].interval`) and, where YAML gives one, its line. No
message quotes the value of a secret. `${NAME}` and `${NAME:-default}` are replaced inside string
values after YAML parsing; an unset variable is a problem only in the sections the process reads.
The reading itself is in `reader` (YAML, variables, problems) and `sections` (one module per
top-level key, each declaring its keys).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from slawatch.config.reader import (
    ConfigError,
    ConfigProblem,
    KeyPath,
    Reader,
    read_yaml,
    render_path,
)
from slawatch.config.registry import channel_types, check_types
from slawatch.config.schema import AgentConfig, CollectorConfig, Config
from slawatch.config.sections import (
    TOP,
    agent,
    alerts,
    channels,
    checks,
    collector,
    is_secret,
    references,
    reports,
    secret_paths,
    slas,
)

__all__ = [
    "PROCESS_READS",
    "ConfigError",
    "ConfigProblem",
    "load_config",
    "parse_config",
    "render_path",
]

EVERY_SECTION: tuple[KeyPath, ...] = tuple((name,) for name in TOP.names())
PROCESS_READS: Mapping[str, tuple[KeyPath, ...]] = {
    "agent": (("agent",), ("checks",)),
    "collector": (("collector",), ("checks",), ("slas",), ("alerts",), ("reports",)),
    "up": EVERY_SECTION,
    "report": (("checks",), ("slas",), ("collector", "database")),
    "check": EVERY_SECTION,
}
"""What each process reads, as key-path prefixes: an unset `${VAR}` there is a problem; elsewhere
the value is left unread (an agent host needs none of the collector's secrets)."""
AGENT_SIDE = frozenset({"agent"})
"""Processes that never import the collector's code, so read no channel's own keys: the channel
types are declared in the collector's modules (`slawatch.config.registry`)."""


def load_config(
    path: Path | str, *, process: str = "up", environ: Mapping[str, str] | None = None
) -> Config:
    """Read and validate the file for `process`: agent, collector, up, report, or check (every
    section strict, none required)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(
            str(path), [ConfigProblem("", f"cannot read the file: {reason}")]
        ) from None
    return parse_config(
        text,
        source=str(path),
        base_dir=path.resolve().parent,
        process=process,
        environ=os.environ if environ is None else environ,
    )


def parse_config(
    text: str,
    *,
    source: str = "<config>",
    base_dir: Path,
    process: str = "up",
    environ: Mapping[str, str] | None = None,
) -> Config:
    reads = PROCESS_READS[process]
    typed_channels = process not in AGENT_SIDE
    document = read_yaml(text, source, lambda path: _is_secret(path, typed_channels))
    reader = Reader(document, base_dir, environ or {}, reads)
    config = _read(reader, Path(source), process, typed_channels)
    if reader.problems:
        raise ConfigError(source, sorted(reader.problems, key=lambda p: (p.line or 0, p.path)))
    assert config is not None
    return config


def _read(reader: Reader, source: Path, process: str, typed_channels: bool) -> Config | None:
    data: Any = reader.document.data
    top = reader.table({} if data is None else data, (), TOP)
    top = {key: reader.substitute(value, (key,)) for key, value in top.items()}
    settings = collector.read(reader, top["collector"]) if "collector" in top else None
    agent_settings = agent.read(reader, top["agent"], settings) if "agent" in top else None
    check_list = checks.read(reader, top.get("checks"))
    sla_list = slas.read(reader, top.get("slas"))
    alert_settings = alerts.read(reader, top.get("alerts"), typed_channels=typed_channels)
    report_settings = reports.read(reader, top.get("reports"))
    references.check(
        reader,
        collector=settings,
        agent=agent_settings,
        checks=check_list,
        slas=sla_list,
        alerts=alert_settings,
    )
    _require_sections(reader, process, settings, agent_settings)
    for i, customer in enumerate(settings.customers if settings else ()):
        if customer.report_to and customer.report_to.email and report_settings.smtp is None:
            path = ("collector", "customers", i, "report_to", "email")
            reader.fail(path, "needs reports.smtp: the SMTP server that mail leaves through")
    config = Config(
        path=source,
        folder=reader.base_dir,
        collector=settings,
        agent=agent_settings,
        checks=check_list,
        slas=sla_list,
        alerts=alert_settings,
        reports=report_settings,
    )
    if typed_channels:
        config = channels.attach_shared(reader, config)
    return None if reader.problems else config


def _require_sections(
    reader: Reader, process: str, settings: CollectorConfig | None, agent: AgentConfig | None
) -> None:
    if process in ("collector", "up", "report") and settings is None:
        reader.fail(("collector",), f"is required by slawatch {process}")
    if process == "agent":
        if agent is None:
            reader.fail(("agent",), "is required by slawatch agent")
        elif agent.token is None and not any(p.path == "agent.token" for p in reader.problems):
            reader.fail(("agent", "token"), "is required by slawatch agent")


def _is_secret(path: KeyPath, channels_known: bool) -> bool:
    """For a YAML error at `path`: is it inside a secret's value?"""
    secrets = secret_paths(check_types(), channel_types() if channels_known else None)
    return is_secret(path, secrets, channels_known=channels_known)
