"""`slawatch import uptime-kuma|gatus FILE [--env-file F] [--history --config F]`.

Prints the YAML on stdout, so `> slawatch.yaml` keeps it; every problem is one line on stderr
naming the file: exit 2 for a source that is not the tool's (or a usage error), 1 for a history
that cannot be stored.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from slawatch.importers.model import Imported, SourceError
from slawatch.importers.render import render_yaml, write_env_file

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
TOOLS = ("uptime-kuma", "gatus")


def run(
    tool: str,
    source: Path,
    *,
    env_file: Path | None = None,
    history: bool = False,
    config: Path | None = None,
) -> int:
    if history and tool != "uptime-kuma":
        return _fail("--history: only Uptime Kuma keeps a history to import")
    if history and config is None:
        return _fail("--history needs --config FILE: the collector's, whose database gets it")
    if env_file is not None and env_file.exists():
        return _fail(f"{env_file} exists: the secrets are written to a new file only")
    try:
        imported = _read(tool, source)
    except SourceError as error:
        return _fail(str(error))
    if history:
        assert config is not None
        code = _load_history(imported, source, config)
        if code != EXIT_OK:
            return code
    if env_file is not None and imported.secrets:
        try:
            write_env_file(env_file, imported.secrets)
        except (OSError, ValueError) as error:
            return _fail(f"{env_file}: cannot write the secrets: {error}", EXIT_FAILURE)
    sys.stdout.write(render_yaml(imported, env_file=str(env_file) if env_file else None))
    return EXIT_OK


def _read(tool: str, source: Path) -> Imported:
    if tool == "uptime-kuma":
        from slawatch.importers.kuma import import_database

        return import_database(source)
    from slawatch.importers.gatus import import_config

    return import_config(source)


def _load_history(imported: Imported, source: Path, config_path: Path) -> int:
    from slawatch.collector.store import StoreUnavailableError, create_store, database_label
    from slawatch.config.loader import ConfigError, load_config
    from slawatch.config.values import parse_duration
    from slawatch.importers.history import AGENT, load_history, series_of

    try:
        config = load_config(config_path, process="report")
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return EXIT_USAGE
    assert config.collector is not None  # the loader requires it of this process
    intervals = {
        check.origin: round(parse_duration(check.data["interval"]))
        for check in imported.checks
        if check.origin is not None
    }
    series = series_of(imported, intervals)
    database = config.collector.database
    try:
        store = create_store(database)
    except StoreUnavailableError as error:
        return _fail(str(error), EXIT_FAILURE)

    async def load() -> tuple[int, int, int]:
        await store.open()
        try:
            result = await load_history(store, source, series, round(time.time() * 1000))
        finally:
            await store.close()
        return result.accepted, result.duplicates, result.left_out

    failures: tuple[type[Exception], ...] = (OSError, RuntimeError, *store.errors)
    try:
        accepted, duplicates, left_out = asyncio.run(load())
    except SourceError as error:
        return _fail(str(error))
    except failures as error:
        label = database_label(database)
        return _fail(f"cannot store the history in {label}: {error}", EXIT_FAILURE)
    print(
        f"history of {source}: {accepted} samples stored as agent {AGENT!r} in "
        f"{database_label(database)}, {duplicates} already there, {left_out} heartbeats left out "
        "(maintenance, or UP without a response time)",
        file=sys.stderr,
    )
    return EXIT_OK


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"slawatch import: {message}", file=sys.stderr)
    return code
