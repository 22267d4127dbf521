"""Routes of evidence (CONTRACT §7): the public key, and the bundle of an SLA's window.

- `GET /api/v1/evidence-key` (anyone: it is public): the Ed25519 key bundles are signed with,
  as JSON with both the base64 of its 32 raw bytes (`public_key`) and PEM (`public_key_pem`).
- `GET /api/v1/slas/{sla}/evidence?period=…` (admin, or the SLA's customer; another customer
  gets the 404 of an SLA that does not exist, §3): the ZIP of `slawatch.collector.evidence.
  bundle`, the kept one for a closed period (`kept`), else made now into an anonymous temporary
  file and streamed from it.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import IO, Literal, TypedDict

import structlog
from aiohttp import web

from slawatch.collector.app import CLOCK, CONFIG, STORE
from slawatch.collector.errors import ApiError
from slawatch.collector.evidence import kept
from slawatch.collector.evidence.bundle import EvidenceUnavailable, write_bundle
from slawatch.collector.evidence.feature import EVIDENCE_KEY, key_context
from slawatch.collector.reports.queries import WINDOW_PARAMETERS, find_sla, requested_window
from slawatch.collector.routing import Id, Reply, Route, add_routes, caller, error, path_param

log = structlog.get_logger()

EVIDENCE_PARAMETERS = ("period", "from", "to")
STREAM_CHUNK = 256 * 1024


def setup(app: web.Application) -> None:
    add_routes(app, ROUTES)
    app.cleanup_ctx.append(key_context)


async def get_key(request: web.Request) -> web.Response:
    return web.json_response(request.app[EVIDENCE_KEY].public.to_json())


async def get_evidence(request: web.Request) -> web.StreamResponse:
    app = request.app
    principal = caller(request)
    sla = find_sla(app[CONFIG], principal, request.match_info["sla"])
    unknown = sorted(set(request.query) - set(EVIDENCE_PARAMETERS))
    if unknown:
        raise ApiError(
            400,
            f"unknown query parameter {unknown[0][:64]!r}: this route takes "
            f"{', '.join(EVIDENCE_PARAMETERS)}",
        )
    now_ms = round(app[CLOCK]() * 1000)
    window, period = requested_window(request.query, sla, now_ms)
    name = f"{sla.id}-{period or 'window'}-evidence.zip"
    stored = kept.path_of(app[CONFIG], sla.id, period) if period is not None else None
    if stored is not None and await asyncio.to_thread(stored.is_file):
        handle = await asyncio.to_thread(_open_kept, stored)
    else:
        handle = await asyncio.to_thread(tempfile.TemporaryFile)
        try:
            await write_bundle(
                app[STORE], sla, window, now_ms, app[EVIDENCE_KEY], target=handle, period=period
            )
        except EvidenceUnavailable as unavailable:
            handle.close()
            raise ApiError(410, str(unavailable)) from None
        except BaseException:
            handle.close()
            raise
    try:
        return await _stream(request, handle, name)
    finally:
        await asyncio.to_thread(handle.close)


def _open_kept(path: Path) -> IO[bytes]:
    return path.open("rb")


async def _stream(request: web.Request, handle: IO[bytes], name: str) -> web.StreamResponse:
    size = await asyncio.to_thread(handle.seek, 0, 2)
    await asyncio.to_thread(handle.seek, 0)
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="{name}"',
        }
    )
    response.content_length = size
    await response.prepare(request)
    while chunk := await asyncio.to_thread(handle.read, STREAM_CHUNK):
        await response.write(chunk)
    await response.write_eof()
    return response


# ------------------------------------------------------------------------------------- routes


class EvidenceKey(TypedDict):
    algorithm: Literal["Ed25519"]
    key_id: str
    public_key: str
    public_key_pem: str


ROUTES = (
    Route(
        "GET",
        "/api/v1/evidence-key",
        get_key,
        "The Ed25519 public key that signs evidence bundles (CONTRACT §7)",
        security="none",
        replies={
            200: Reply(
                "`public_key`: base64 of the 32 raw bytes (RFC 8032); `public_key_pem`: the "
                "same as PEM (SubjectPublicKeyInfo); `key_id`: the first 16 hex digits of its "
                "SHA-256, as bundles name it",
                EvidenceKey,
            )
        },
    ),
    Route(
        "GET",
        "/api/v1/slas/{sla}/evidence",
        get_evidence,
        "The signed evidence bundle (ZIP) of an SLA over a period or window (CONTRACT §7); for "
        "a closed period, the bundle kept at its close",
        scopes=("admin", "customer"),
        parameters=(path_param("sla", Id), *WINDOW_PARAMETERS),
        replies={
            200: Reply(
                "report.json, samples.csv, windows.json, sla.json, manifest.json and "
                "manifest.sig; check it with `slawatch verify-evidence`",
                media=(("application/zip", bytes),),
            ),
            400: error("Bad period or from/to"),
            404: error("No such SLA (or not the caller's)"),
            410: error("The raw samples of this window are pruned and no bundle was kept"),
        },
    ),
)
