"""docs/configuration.md and docs/api.md are written by scripts/docs.py from the code: the
committed files must be exactly what it writes, and cover every key, type, channel and route."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from slawatch.config.registry import channel_types, check_types
from slawatch.config.sections import declared_keys

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "docs.py"


def docs_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_committed_docs_are_what_the_script_writes() -> None:
    result = run_script("--check")
    assert result.returncode == 0, result.stderr


def test_the_check_fails_on_a_file_that_differs(tmp_path: Path) -> None:
    assert run_script("--docs", str(tmp_path)).returncode == 0
    assert run_script("--check", "--docs", str(tmp_path)).returncode == 0
    page = tmp_path / "configuration.md"
    page.write_text(page.read_text().replace("`max_sample_age`", "`max_age_of_samples`"))
    result = run_script("--check", "--docs", str(tmp_path))
    assert result.returncode == 1
    assert "configuration.md differ from the code: run" in result.stderr


def test_every_declared_key_type_and_channel_is_in_the_configuration_page() -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for names, key in declared_keys(check_types(), channel_types()):
        row = f"## `{key.name}`\n" if len(names) == 1 else f"| `{key.name}` |"
        assert row in page, ".".join(names)
        assert key.doc and key.doc in page.replace("\\|", "|"), ".".join(names)
    for name in (*check_types(), *channel_types()):
        assert f"`type: {name}`" in page


@pytest.mark.parametrize(
    "option", ["method", "headers", "body_regex", "send", "agents", "no_data", "credits"]
)
def test_the_options_users_could_not_find_are_documented(option: str) -> None:
    assert f"| `{option}` |" in (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


def test_every_route_and_parameter_is_in_the_api_page() -> None:
    document = docs_script().openapi_document()
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert f"### {method.upper()} {path}\n" in page
            for parameter in operation.get("parameters", []):
                assert f"| `{parameter['name']}` | {parameter['in']} |" in page
    for name in document["components"]["schemas"]:
        assert f"### {name}\n" in page
    assert "| `before` | query |" in page


def test_the_readme_links_the_references_and_no_contract() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/configuration.md)" in readme and "(docs/api.md)" in readme
    assert "CONTRACT" not in readme
