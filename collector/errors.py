"""The one shape of every error the collector's HTTP API returns (CONTRACT §3).

`{"error": "what went wrong", "details": [...]}`: handlers raise `ApiError`, and the error
middleware of `slawatch.collector.app` turns it (and every other exception) into this JSON.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from aiohttp import web


class Error(TypedDict):
    error: str
    details: list[dict[str, Any]]


class ApiError(Exception):
    """A refusal with its HTTP status, a message for people and optional structured details."""

    def __init__(
        self,
        status: int,
        message: str,
        details: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = list(details)
        self.headers = dict(headers or {})


def error_response(
    status: int,
    message: str,
    details: Sequence[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return web.json_response(
        {"error": message, "details": list(details)}, status=status, headers=headers
    )
