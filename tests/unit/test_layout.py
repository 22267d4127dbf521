"""The arrows between the rooms of the code point one way (shared/DESIGN.md's layout).

Read from the source with `ast`, so that an import added anywhere (inside a function too) is seen.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"slawatch": "slawatch", "agent": "slawatch.agent", "collector": "slawatch.collector",
           "config": "slawatch.config"}  # fmt: skip
DRIVERS = ("aiohttp", "sqlite3", "aiosqlite", "asyncpg", "psycopg", "jinja2")


def _imports() -> Iterator[tuple[str, str]]:
    """(importing module, imported module) for every absolute import of the package."""
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            module = ".".join((package, *parts)).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    yield module, node.module
                    # `from package import submodule` reaches the submodule
                    yield from ((module, f"{node.module}.{alias.name}") for alias in node.names)
                elif isinstance(node, ast.Import):
                    yield from ((module, alias.name) for alias in node.names)


IMPORTS = sorted(set(_imports()))


def _within(module: str, *packages: str) -> bool:
    return any(module == package or module.startswith(package + ".") for package in packages)


def _breaking(rule: Callable[[str, str], bool]) -> list[str]:
    return [f"{source} -> {target}" for source, target in IMPORTS if rule(source, target)]


def test_the_imports_are_read() -> None:
    # the rules below would pass on nothing: make sure something was read
    assert ("slawatch.collector.reports.build", "slawatch.collector.engine.sla") in IMPORTS


def test_the_engine_is_pure() -> None:
    """The SLA engine computes from values: no store, no HTTP, no other room of the collector."""
    assert (
        _breaking(
            lambda source, target: (
                _within(source, "slawatch.collector.engine")
                and (
                    (
                        _within(target, "slawatch.collector")
                        and not _within(target, "slawatch.collector.engine")
                    )
                    or target.split(".")[0] in DRIVERS
                )
            )
        )
        == []
    )


def test_the_store_looks_down_only() -> None:
    """The store knows rows and the pure rules, never the features that use it, nor HTTP."""
    allowed = ("slawatch.collector.store", "slawatch.collector.samples", "slawatch.collector.engine",
               "slawatch.collector.log_throttle", "slawatch.collector.storage_errors")  # fmt: skip
    assert (
        _breaking(
            lambda source, target: (
                _within(source, "slawatch.collector.store")
                and (
                    (_within(target, "slawatch.collector") and not _within(target, *allowed))
                    or target.split(".")[0] in ("aiohttp", "jinja2")
                )
            )
        )
        == []
    )


def test_no_module_imports_routes() -> None:
    """Routes only route: what they share lives in a module of its own, and only the
    collector's assembly (`main`) knows the modules of routes."""
    assert (
        _breaking(
            lambda source, target: (
                _within(target, "slawatch.collector")
                and target.endswith(".routes")
                and source != "slawatch.collector.main"
            )
        )
        == []
    )


@pytest.mark.parametrize(
    ("source", "forbidden"),
    [
        ("slawatch.agent", ("slawatch.collector", "slawatch.cli", "slawatch.up")),
        (
            "slawatch.config",
            ("slawatch.agent", "slawatch.collector", "slawatch.cli", "slawatch.up"),
        ),
        ("slawatch.collector", ("slawatch.agent", "slawatch.cli", "slawatch.up")),
    ],
)
def test_packages_do_not_reach_up_or_across(source: str, forbidden: tuple[str, ...]) -> None:
    assert (
        _breaking(
            lambda importer, target: _within(importer, source) and _within(target, *forbidden)
        )
        == []
    )
