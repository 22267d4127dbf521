"""The OpenAPI 3 document of the collector's HTTP API, served at `GET /api/v1/openapi.json`.

Built in code next to the routes it describes. A module that adds routes documents them with one
call, `document(app).add(paths, schemas)`, before the application starts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from slawatch import __version__
from slawatch.collector.ingest.batch import MAX_LABEL_LENGTH, MAX_LABELS, MAX_TYPE_LENGTH
from slawatch.config.contract import MAX_BATCH_SAMPLES, MAX_INTERVAL_S, PHASES

ID_REGEX = "^[a-z0-9][a-z0-9._-]{0,127}$"

JSON = "application/json"


def error_response(description: str) -> dict[str, Any]:
    """A response of the collector's one error shape (`slawatch.collector.errors`)."""
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


def json_response(description: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": dict(schema)}}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


UNAUTHORIZED = error_response("Missing or unknown bearer token")
FORBIDDEN = error_response("The token may not do this")

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "details"],
        "properties": {
            "error": {"type": "string"},
            "details": {"type": "array", "items": {"type": "object"}},
        },
    },
    "SampleProblem": {
        "type": "object",
        "required": ["index", "field", "error"],
        "properties": {
            "index": {"type": ["integer", "null"]},
            "field": {"type": "string"},
            "error": {"type": "string"},
        },
    },
    "Sample": {
        "type": "object",
        "required": ["check", "ts", "ok", "interval_s"],
        "properties": {
            "check": {"type": "string", "pattern": ID_REGEX},
            "ts": {
                "type": "number",
                "description": "Unix seconds when the probe started; refused more than 5 minutes"
                " ahead of the collector's clock or older than its max_sample_age",
            },
            "ok": {"type": "boolean"},
            "latency_ms": {"type": ["number", "null"], "minimum": 0},
            "interval_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_INTERVAL_S},
            "type": {"type": ["string", "null"], "minLength": 1, "maxLength": MAX_TYPE_LENGTH},
            "status_code": {"type": ["integer", "null"], "minimum": 100, "maximum": 599},
            "error": {"type": ["string", "null"]},
            "phases_ms": {
                "type": ["object", "null"],
                "description": "Durations in ms; names other than these are ignored",
                "properties": {phase: {"type": "number", "minimum": 0} for phase in PHASES},
            },
            "tls_expires": {"type": ["number", "null"]},
        },
        "if": {"required": ["ok"], "properties": {"ok": {"const": True}}},
        "then": {"required": ["latency_ms"], "properties": {"latency_ms": {"type": "number"}}},
    },
    "SampleBatch": {
        "type": "object",
        "required": ["agent", "samples"],
        "properties": {
            "agent": {"type": "string", "pattern": ID_REGEX},
            "labels": {
                "type": "object",
                "maxProperties": MAX_LABELS,
                "propertyNames": {"maxLength": MAX_LABEL_LENGTH},
                "additionalProperties": {"type": "string", "maxLength": MAX_LABEL_LENGTH},
            },
            "samples": {"type": "array", "maxItems": MAX_BATCH_SAMPLES, "items": _ref("Sample")},
        },
    },
    "IngestResult": {
        "type": "object",
        "required": ["accepted", "duplicates"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "duplicates": {"type": "integer", "minimum": 0},
        },
    },
    "AgentView": {
        "type": "object",
        "required": ["agent", "state", "since", "last_sample"],
        "properties": {
            "agent": {"type": "string"},
            "state": {"enum": ["up", "down", "unknown"]},
            "since": {"type": ["string", "null"], "format": "date-time"},
            "last_sample": {
                "type": ["object", "null"],
                "properties": {
                    "ts": {"type": "number"},
                    "ok": {"type": "boolean"},
                    "latency_ms": {"type": ["number", "null"]},
                    "status_code": {"type": ["integer", "null"]},
                    "error": {"type": ["string", "null"]},
                },
            },
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "CheckView": {
        "type": "object",
        "required": ["id", "state", "quorum", "agents"],
        "properties": {
            "id": {"type": "string"},
            "type": {"type": ["string", "null"]},
            "interval_s": {"type": ["number", "null"]},
            "configured": {"type": "boolean"},
            "first_seen": {"type": ["string", "null"], "format": "date-time"},
            "last_seen": {"type": ["string", "null"], "format": "date-time"},
            "quorum": {"type": ["string", "integer"]},
            "state": {"enum": ["up", "down", "unknown"]},
            "agents": {"type": "array", "items": _ref("AgentView")},
        },
    },
}

PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Health: can the collector keep what it is sent?",
            "security": [],
            "responses": {
                "200": json_response(
                    "Healthy",
                    {
                        "type": "object",
                        "required": ["status"],
                        "properties": {"status": {"const": "ok"}},
                    },
                ),
                "503": json_response(
                    "Degraded: the store cannot write (disk full…) or the database is corrupt",
                    {
                        "type": "object",
                        "required": ["status", "reason"],
                        "properties": {
                            "status": {"const": "degraded"},
                            "reason": {"type": "string"},
                        },
                    },
                ),
            },
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics",
            "description": "Open to anyone, unless `collector.metrics_token` is set: then that "
            "token (or the admin token) is needed.",
            "security": [{}, {"bearer": []}],
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "security": [],
            "responses": {"200": json_response("OpenAPI 3 document", {"type": "object"})},
        }
    },
    "/api/v1/samples": {
        "post": {
            "summary": "Push a batch of samples (agent token; all or nothing; idempotent)",
            "description": "Bodies may be gzip-compressed (`Content-Encoding: gzip`); at most "
            "10 MiB, also after decompression. 200 only once the batch is committed.",
            "requestBody": {
                "required": True,
                "content": {JSON: {"schema": _ref("SampleBatch")}},
            },
            "responses": {
                "200": json_response("Stored", _ref("IngestResult")),
                "400": {
                    "description": "Invalid batch: nothing of it stored",
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "required": ["error", "details"],
                                "properties": {
                                    "error": {"type": "string"},
                                    "details": {
                                        "type": "array",
                                        "items": _ref("SampleProblem"),
                                    },
                                },
                            }
                        }
                    },
                },
                "401": UNAUTHORIZED,
                "403": error_response("Not an agent token, or pushing as another agent"),
                "408": error_response("The body did not arrive within 30 s"),
                "413": error_response("Body over 10 MiB (also after decompression)"),
                "415": error_response("Unsupported Content-Encoding"),
                "429": error_response(
                    "The collector is shedding load: push again after `Retry-After` seconds"
                ),
                "503": error_response(
                    "The store cannot take it now (I/O error, corruption): retry after"
                    " Retry-After seconds"
                ),
                "507": error_response(
                    "The collector's disk is full: retry after Retry-After seconds"
                ),
            },
        }
    },
    "/api/v1/checks": {
        "get": {
            "summary": "Every check seen, with its state now per agent and under its quorum",
            "responses": {
                "200": json_response(
                    "Checks",
                    {
                        "type": "object",
                        "required": ["checks", "now"],
                        "properties": {
                            "now": {"type": "string", "format": "date-time"},
                            "checks": {"type": "array", "items": _ref("CheckView")},
                        },
                    },
                ),
                "401": UNAUTHORIZED,
                "403": FORBIDDEN,
            },
        }
    },
}


class OpenApiDocument:
    def __init__(self) -> None:
        self._document: dict[str, Any] = {
            "openapi": "3.1.0",
            "info": {
                "title": "slawatch collector",
                "version": __version__,
                "description": "Ingest of agents' samples, SLA reports, status and metrics.",
            },
            "paths": copy.deepcopy(PATHS),
            "components": {
                "schemas": copy.deepcopy(SCHEMAS),
                "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            },
            "security": [{"bearer": []}],
        }

    def add(self, paths: Mapping[str, Any], schemas: Mapping[str, Any] | None = None) -> None:
        """Document more routes (path → operations) and the schemas they refer to."""
        for path, operations in paths.items():
            self._document["paths"].setdefault(path, {}).update(copy.deepcopy(operations))
        self._document["components"]["schemas"].update(copy.deepcopy(dict(schemas or {})))

    def as_dict(self) -> dict[str, Any]:
        return self._document


OPENAPI = web.AppKey("openapi", OpenApiDocument)


def document(app: web.Application) -> OpenApiDocument:
    return app[OPENAPI]


async def serve(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI].as_dict())


def setup(app: web.Application) -> None:
    app[OPENAPI] = OpenApiDocument()
    app.router.add_get("/api/v1/openapi.json", serve)
