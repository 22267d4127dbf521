"""Request bodies read with limits: a size (413), a time to arrive (408), an encoding (415).

The app turns aiohttp's own decompression off: it would answer an encoding it cannot decode with
a plain-text error, before any handler runs, and inflate a gzip bomb whole; `ingest.inflate`
stops at the limit.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from slawatch.collector.errors import ApiError
from slawatch.collector.ingest.batch import COMPRESSED_ENCODINGS
from slawatch.config.contract import MAX_BODY_BYTES

ACCEPTED_ENCODINGS = frozenset({"", "identity", *COMPRESSED_ENCODINGS})
READ_CHUNK_BYTES = 256 * 1024
BODY_TIMEOUT_S = 30.0
"""A request body must arrive whole within this (408 past it): a connection busy with a request
is never closed to make room (`connections`), so it must not be kept busy at will."""
SMALL_BODY_BYTES = 64 * 1024
"""The body of an admin request (a maintenance window, a test message)."""


async def read_small_json(request: web.Request) -> Any:
    """The JSON document of a small request body: 413 past `SMALL_BODY_BYTES`, 400 if it is
    not JSON, 408 if it takes longer than `BODY_TIMEOUT_S` to arrive."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            body = await request.content.read(SMALL_BODY_BYTES + 1)
    except TimeoutError:
        raise _body_too_slow() from None
    if len(body) > SMALL_BODY_BYTES:
        raise ApiError(413, f"body over {SMALL_BODY_BYTES} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"body is not valid JSON: {error}") from None


async def read_body(request: web.Request) -> tuple[bytes, str]:
    """The request body as sent and its Content-Encoding; 413 past `MAX_BODY_BYTES`, 415 for an
    encoding other than gzip, deflate or none, 408 past `BODY_TIMEOUT_S`."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ACCEPTED_ENCODINGS:
        raise ApiError(415, "Content-Encoding must be gzip, deflate or none")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise ApiError(413, f"body over {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    received = 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.content.iter_chunked(READ_CHUNK_BYTES):
                received += len(chunk)
                if received > MAX_BODY_BYTES:
                    raise ApiError(413, f"body over {MAX_BODY_BYTES} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise _body_too_slow() from None
    return b"".join(chunks), encoding


def _body_too_slow() -> ApiError:
    return ApiError(408, f"the body did not arrive within {BODY_TIMEOUT_S:g} s")
