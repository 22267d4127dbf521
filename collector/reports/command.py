"""`slawatch report --config F --sla ID [--period P | --from T --to T] [--format F]`.

Prints an SLA report on stdout from the collector's database, read directly (no server needed;
a running collector may keep writing it). Exit 2 for an unknown SLA or a bad window, 1 when the
database is missing or cannot be read.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from slawatch.collector.engine.periods import Window
from slawatch.collector.reports.build import SlaReport, report_window, sla_report
from slawatch.collector.reports.formats import report_csv, report_page
from slawatch.collector.store import Store, StoreUnavailableError, create_store, database_label
from slawatch.config.schema import Config, Sla

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def run(
    config: Config,
    *,
    sla_id: str,
    period: str | None,
    from_: str | None,
    to: str | None,
    output_format: str,
) -> int:
    sla = config.sla(sla_id)
    if sla is None:
        known = ", ".join(s.id for s in config.slas[:20]) or "none"
        if len(config.slas) > 20:
            known += f", … ({len(config.slas)} in all)"
        return _fail(EXIT_USAGE, f"no SLA {sla_id!r} in {config.path} (SLAs: {known})")
    now_ms = round(time.time() * 1000)
    try:
        window, label = report_window(sla, now_ms, period=period, from_text=from_, to_text=to)
    except ValueError as error:
        return _fail(EXIT_USAGE, str(error))
    assert config.collector is not None  # the loader requires it of `slawatch report`
    database = config.collector.database
    try:
        store = create_store(database)
    except StoreUnavailableError as error:
        return _fail(EXIT_FAILURE, str(error))
    failures: tuple[type[Exception], ...] = (OSError, *store.errors)
    try:
        found = asyncio.run(_report(store, sla, now_ms, window, label))
    except failures as error:
        return _fail(EXIT_FAILURE, f"cannot read the database {database_label(database)}: {error}")
    sys.stdout.write(render(config, found, output_format, now_ms))
    return EXIT_OK


async def _report(
    store: Store, sla: Sla, now_ms: int, window: Window, label: str | None
) -> SlaReport:
    try:
        await store.open_readonly()
        return await sla_report(store, sla, window, now_ms, period=label)
    finally:
        await store.close()


def render(config: Config, found: SlaReport, output_format: str, now_ms: int) -> str:
    if output_format == "csv":
        return report_csv([found])
    if output_format == "html":
        return report_page(found, config, now_ms)
    return json.dumps(found.to_json(), indent=2) + "\n"


def _fail(code: int, message: str) -> int:
    print(f"slawatch report: {message}", file=sys.stderr)
    return code
