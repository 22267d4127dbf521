"""Bundles kept at period close, beside the database: `<database>.evidence/<sla>/<period>.zip`.

Raw samples are pruned after `retention.raw`; a closed period's bundle, made at its close, is
kept here for good, so evidence outlives the raw samples. Written to a temporary file in the
same folder, synced, then renamed: a kept bundle is whole or absent.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from slawatch.config.schema import Config

FOLDER_SUFFIX = ".evidence"


def folder_of(config: Config) -> Path | None:
    """Where bundles are kept; None when the database is not an SQLite file."""
    database = config.collector.database if config.collector else None
    if not isinstance(database, Path):
        return None
    return database.with_name(database.name + FOLDER_SUFFIX)


def path_of(config: Config, sla: str, period: str) -> Path | None:
    folder = folder_of(config)
    return None if folder is None else folder / sla / f"{period}.zip"


def temporary_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")


def publish(temporary: Path, path: Path) -> None:
    """Sync `temporary` and rename it to `path` (atomic)."""
    with temporary.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
