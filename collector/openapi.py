"""The OpenAPI 3.1 document of the collector's HTTP API, served at `GET /api/v1/openapi.json`.

Made from the routes as declared (`slawatch.collector.routing`): paths, parameters, who may call
them, and the JSON Schemas of bodies generated from their typed models
(`slawatch.collector.jsonschema`). Nothing here is written by hand but the document's head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from slawatch import __version__
from slawatch.collector.jsonschema import Components
from slawatch.collector.routing import DECLARED_ROUTES, Param, Reply, Route, add_routes

JSON = "application/json"
SECURITY: dict[str, list[dict[str, list[str]]]] = {"none": [], "optional": [{}, {"bearer": []}]}
"""Each route's `security` but the default (bearer, the document's)."""


def document(app: web.Application) -> dict[str, Any]:
    """The document of the routes added to `app` so far."""
    components = Components()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.get(DECLARED_ROUTES, []):
        if route.documented:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "slawatch collector",
            "version": __version__,
            "description": "Ingest of agents' samples, SLA reports, status and metrics.",
        },
        "paths": paths,
        "components": {
            "schemas": components.schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


def _operation(route: Route, components: Components) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": route.summary}
    if route.description is not None:
        operation["description"] = route.description
    if route.security in SECURITY:
        operation["security"] = SECURITY[route.security]
    elif route.scopes:
        operation["security"] = [{"bearer": list(route.scopes)}]
    if route.parameters:
        operation["parameters"] = [_parameter(p, components) for p in route.parameters]
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON: {"schema": components.schema_of(route.body)}},
        }
    operation["responses"] = {
        str(status): _response(reply, components) for status, reply in route.all_replies().items()
    }
    return operation


def _parameter(parameter: Param, components: Components) -> dict[str, Any]:
    described: dict[str, Any] = {
        "name": parameter.name,
        "in": parameter.where,
        "required": parameter.required,
        "schema": components.schema_of(parameter.type),
    }
    if parameter.description is not None:
        described["description"] = parameter.description
    if parameter.explode is not None:
        described["style"] = "form"
        described["explode"] = parameter.explode
    return described


def _response(reply: Reply, components: Components) -> dict[str, Any]:
    media = ((JSON, reply.json),) if reply.json is not None else ()
    content = {
        name: {"schema": components.schema_of(body)} for name, body in (*media, *reply.media)
    }
    described: dict[str, Any] = {"description": reply.description}
    if content:
        described["content"] = content
    return described


@dataclass(slots=True)
class _Served:
    """The document as served, made at the first request (every route is added by then)."""

    text: str | None = None


SERVED = web.AppKey("openapi_served", _Served)


async def serve(request: web.Request) -> web.Response:
    served = request.app[SERVED]
    if served.text is None:
        served.text = orjson.dumps(document(request.app)).decode()
    return web.json_response(text=served.text)


ROUTES = (
    Route("GET", "/api/v1/openapi.json", serve, "This document", security="none",
          replies={200: Reply("OpenAPI 3 document", dict[str, Any])}),
)  # fmt: skip


def setup(app: web.Application) -> None:
    app[SERVED] = _Served()
    add_routes(app, ROUTES)
