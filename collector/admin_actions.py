"""Admin actions that the pages' forms offer (`slawatch.collector.pages.actions`), registered by
the modules of routes that own them, so that a form goes through the very code of the API route
without the pages importing a module of routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from slawatch.collector.auth import Principal


@dataclass(frozen=True, slots=True)
class MaintenanceActions:
    declare: Callable[[web.Application, Any, int, Principal], Awaitable[web.Response]]
    """(app, the request body, now in ms, who) → the answer of `POST /api/v1/maintenance`."""
    delete: Callable[[web.Application, str, int, Principal], Awaitable[web.Response]]
    """(app, the id as the path gives it, now in ms, who) → the answer of
    `DELETE /api/v1/maintenance/{id}`."""


MAINTENANCE_ACTIONS = web.AppKey("maintenance_actions", MaintenanceActions)
