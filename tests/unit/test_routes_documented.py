"""The router and the OpenAPI document are made from the same route declarations
(`slawatch.collector.routing`): every route the collector serves is in the document, but the
pages for people, which are declared as such, and every documented operation is served."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from slawatch.collector import openapi
from slawatch.collector.main import Collector
from slawatch.collector.routing import DECLARED_ROUTES
from slawatch.config.loader import parse_config


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> web.Application:
    folder = tmp_path_factory.mktemp("routes")
    config = parse_config("collector: {listen: '127.0.0.1:0'}\n", base_dir=folder,
                          process="collector")  # fmt: skip
    return Collector(config).app


def served(app: web.Application) -> Iterator[tuple[str, str]]:
    """(METHOD, path) of every route of the router, HEAD (which aiohttp adds to GET) left out."""
    for route in app.router.routes():
        resource = route.resource
        assert resource is not None
        if route.method != "HEAD":
            yield route.method, resource.canonical


def documented(app: web.Application) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in openapi.document(app)["paths"].items()
        for method in item
    }


def test_every_route_served_is_declared(app: web.Application) -> None:
    declared = {(route.method, route.path) for route in app[DECLARED_ROUTES]}
    assert sorted(set(served(app)) - declared) == []
    assert len(list(served(app))) == len(set(served(app)))


def test_every_route_served_is_documented_but_the_pages(app: web.Application) -> None:
    pages = {(r.method, r.path) for r in app[DECLARED_ROUTES] if not r.documented}
    assert sorted(set(served(app)) - documented(app) - pages) == []
    assert ("GET", "/login") in pages and ("GET", "/api/v1/slas") not in pages


def test_every_documented_operation_is_served(app: web.Application) -> None:
    served_by = {(r.method, r.path): r.served_by for r in app[DECLARED_ROUTES] if r.served_by}
    for method, path in documented(app):
        assert (method, served_by.get((method, path), path)) in set(served(app)), (method, path)
    assert ("GET", "/status/{customer}.json") in served_by


def test_the_document_names_every_component_it_refers_to(app: web.Application) -> None:
    document = openapi.document(app)
    text = repr(document)
    schemas = document["components"]["schemas"]
    for name in schemas:
        assert f"#/components/schemas/{name}" in text, f"{name} is never referred to"
    for reference in text.split("'$ref': '#/components/schemas/")[1:]:
        assert reference.split("'", 1)[0] in schemas


def test_a_route_with_a_token_says_who_is_refused(app: web.Application) -> None:
    for path, item in openapi.document(app)["paths"].items():
        for method, operation in item.items():
            if operation.get("security") != []:
                assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"
            else:
                assert "401" not in operation["responses"], f"{method} {path}"


def test_the_packages_folder_has_no_hand_written_document() -> None:
    """One source: no module of the collector writes paths of the document by hand."""
    root = Path(__file__).resolve().parents[2] / "collector"
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert '"responses":' not in text and "PATHS: dict" not in text, path
