"""The evidence feature's state in the collector's application: its signing key, loaded (or
made, at the first start) before the routes and the period close use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import structlog
from aiohttp import web

from slawatch.collector.app import CONFIG
from slawatch.collector.evidence.keys import SigningKey, key_path, load_or_create

log = structlog.get_logger()

EVIDENCE_KEY = web.AppKey("evidence_key", SigningKey)


async def key_context(app: web.Application) -> AsyncIterator[None]:
    """The signing key, made at the first start beside the database (EvidenceKeyError, which
    names the file, if it cannot be read or made: the collector does not start)."""
    settings = app[CONFIG].collector
    path = settings.evidence_key if settings else None
    if path is None and settings is not None and isinstance(settings.database, Path):
        path = key_path(settings.database)
    if path is None:
        app[EVIDENCE_KEY] = SigningKey.generate()
        log.warning(
            "evidence_key_ephemeral",
            hint="set collector.evidence_key: without it, and without an SQLite file to keep it "
            "beside, evidence is signed with a key made for this process only",
        )
    else:
        app[EVIDENCE_KEY] = await asyncio.to_thread(load_or_create, path)
    yield
