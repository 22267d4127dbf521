"""An `Imported` as slawatch YAML text, and its secrets as an environment file.

The YAML is meant to be read and edited by a person: a comment above each check says which
monitor it came from, each thing not imported is a comment saying why, each rule says how the
source's retries became its `after`. Secrets never appear in it: they are `${VARIABLES}`, whose
values go to the environment file only (`--env-file`), written readable by its owner alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from slawatch.importers.model import Imported

INDENT = "  "


def render_yaml(imported: Imported, *, env_file: str | None) -> str:
    lines = [
        f"# Imported from {imported.tool}: {imported.file}",
        "# by `slawatch import`. Check it with `slawatch check-config FILE`.",
    ]
    if imported.secrets:
        where = (
            f"their values are in {env_file}"
            if env_file
            else "run the import again with --env-file FILE to have their values written there"
        )
        lines.append(f"# Secrets are ${{VARIABLES}} of the environment: {where}.")
    lines.append("checks:" if imported.checks else "checks: []")
    for check in imported.checks:
        lines.append(f"{INDENT}# {check.source}")
        lines += [f"{INDENT}# {note}" for note in check.notes]
        lines += _item(check.data, INDENT)
    lines += _skipped(imported, "checks", INDENT)
    channels_skipped = _skipped(imported, "channels", INDENT * 2)
    if imported.channels or imported.rules or channels_skipped:
        lines.append("alerts:")
        lines.append(f"{INDENT}channels:" if imported.channels else f"{INDENT}channels: []")
        for channel in imported.channels:
            lines.append(f"{INDENT * 2}# {channel.source}")
            lines += [f"{INDENT * 2}# {note}" for note in channel.notes]
            lines += _item(channel.data, INDENT * 2)
        lines += channels_skipped
        lines.append(f"{INDENT}rules:" if imported.rules else f"{INDENT}rules: []")
        for rule in imported.rules:
            lines.append(f"{INDENT * 2}# {rule.why}")
            lines += _item(rule.data, INDENT * 2)
    return "\n".join(lines) + "\n"


def _skipped(imported: Imported, section: str, indent: str) -> list[str]:
    return [
        f"{indent}# not imported: {s.what}: {s.why}"
        for s in imported.skipped
        if s.section == section
    ]


def _item(data: Mapping[str, Any], indent: str) -> list[str]:
    """One list item, a key a line; lists and mappings in flow style (`{status: [200]}`)."""
    return [
        f"{indent}- {key}: {_scalar(value)}" if i == 0 else f"{indent}  {key}: {_scalar(value)}"
        for i, (key, value) in enumerate(data.items())
    ]


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=10_000
    )
    text = text.strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def write_env_file(path: Path, secrets: Mapping[str, str]) -> None:
    """`NAME=value` lines, readable and writable by the owner only; values single-quoted so
    that a shell, systemd's EnvironmentFile and docker compose's env_file read them as is."""
    text = "".join(f"{name}={_env_value(value)}\n" for name, value in secrets.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(path, 0o600)


def _env_value(value: str) -> str:
    if "'" in value or "\n" in value:
        raise ValueError("a secret with a quote or a newline cannot be written to an env file")
    return f"'{value}'"
