"""A local aiohttp server standing in for the collector's `POST /api/v1/samples`.

It checks the bearer token, gunzips the body itself (so a test sees that the agent compressed it),
records every request and the batches it acknowledged, and answers as the test says: 200, 400 with
`details` naming some samples, 413, 500, 429 with Retry-After, slowly, with a skewed Date header,
or not at all (`await stub.go_down()`). `GET /healthz` answers `health` (200 by default) and
counts the requests in `health_checks`.

Use: `async with CollectorStub() as stub: ... stub.url ...`, also around an agent subprocess.
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

from tests.support import free_port

DEFAULT_TOKEN = "stub-agent-token"


@dataclass(frozen=True, slots=True)
class Reply:
    """One planned answer: status, JSON body, headers, and a delay before answering."""

    status: int = 200
    body: dict[str, Any] | None = None
    """None: for a 200, the collector's acknowledgement of the whole batch."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the stub saw it."""

    status: int
    """What the stub answered."""
    gzipped: bool
    payload: dict[str, Any] | None
    at: float = field(default_factory=time.monotonic)
    """When the request's body had arrived."""
    headers: dict[str, str] = field(default_factory=dict)


class CollectorStub:
    def __init__(self, *, token: str = DEFAULT_TOKEN, port: int | None = None) -> None:
        self.token = token
        self.port = port or free_port()
        self.requests: list[Received] = []
        self.batches: list[dict[str, Any]] = []
        """Payloads of the batches acknowledged with 200, in arrival order."""
        self.script: list[Reply] = []
        """Answers for the next requests, first first; then `default` (or 200)."""
        self.default: Reply | None = None
        self.refuse: Callable[[dict[str, Any]], str | None] = lambda sample: None
        """sample → an error: the stub answers 400 with `details` naming those samples."""
        self.max_batch: int | None = None
        """Batches with more samples get 413."""
        self.date_offset = 0.0
        """Seconds added to the Date header (a collector whose clock is off)."""
        self.health = Reply(200, {"status": "ok"})
        self.health_checks = 0
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def samples(self) -> list[dict[str, Any]]:
        """Every acknowledged sample, in arrival order (duplicates included)."""
        return [sample for batch in self.batches for sample in batch["samples"]]

    def sample_keys(self) -> set[tuple[str, float]]:
        return {(s["check"], s["ts"]) for s in self.samples}

    async def __aenter__(self) -> CollectorStub:
        await self.go_up()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.go_down()

    async def go_up(self) -> None:
        app = web.Application(client_max_size=11 * 1024 * 1024)
        app.router.add_post("/api/v1/samples", self._samples)
        app.router.add_get("/healthz", self._healthz)
        self._runner = web.AppRunner(
            app, access_log=None, auto_decompress=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def go_down(self) -> None:
        """Stop listening: the agent sees connection refused until `go_up`."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _samples(self, request: web.Request) -> web.Response:
        reply = await self._answer(request)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = {"Date": formatdate(time.time() + self.date_offset, usegmt=True)}
        return web.json_response(
            reply.body or {}, status=reply.status, headers={**headers, **reply.headers}
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        self.health_checks += 1
        reply = self.health
        return web.json_response(reply.body or {}, status=reply.status, headers=reply.headers)

    async def _answer(self, request: web.Request) -> Reply:
        presented = request.headers.get("Authorization", "")
        if not hmac.compare_digest(presented.encode(), f"Bearer {self.token}".encode()):
            return self._record(request, Reply(401, {"error": "bad token"}), None)
        raw = await request.read()
        try:
            gzipped = request.headers.get("Content-Encoding") == "gzip"
            payload = json.loads(gzip.decompress(raw) if gzipped else raw)
        except (OSError, ValueError):
            return self._record(request, Reply(400, {"error": "body is not (gzipped) JSON"}), None)
        if self.script:
            return self._record(request, self.script.pop(0), payload)
        if self.max_batch is not None and len(payload["samples"]) > self.max_batch:
            return self._record(request, Reply(413, {"error": "batch too large"}), payload)
        details = [
            {"index": i, "field": "check", "error": error}
            for i, sample in enumerate(payload["samples"])
            if (error := self.refuse(sample))
        ]
        if details:
            reply = Reply(400, {"error": "invalid samples", "details": details})
            return self._record(request, reply, payload)
        return self._record(request, self.default or Reply(), payload)

    def _record(self, request: web.Request, reply: Reply, payload: dict[str, Any] | None) -> Reply:
        gzipped = request.headers.get("Content-Encoding") == "gzip"
        headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        self.requests.append(Received(reply.status, gzipped, payload, headers=headers))
        if reply.status == 200 and payload is not None:
            self.batches.append(payload)
            if reply.body is None:
                n = len(payload["samples"])
                reply = Reply(200, {"accepted": n, "duplicates": 0}, reply.headers, reply.delay)
        return reply
