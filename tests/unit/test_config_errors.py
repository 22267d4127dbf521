"""Config errors a user can act on: YAML syntax errors with line, column and token (unless the
token sits in a secret), and well-known or example secrets refused."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from slawatch.config import reader
from slawatch.config.loader import ConfigError, parse_config
from slawatch.config.registry import channel_types, check_types
from slawatch.config.sections import is_secret, secret_paths

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def rendered(text: str, process: str = "check", environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            text, source="f.yaml", base_dir=Path("/cfg"), process=process, environ=environ or {}
        )
    return caught.value.render()


# ------------------------------------------------------------------------------ YAML syntax


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "checks:\n  - {id: w, url: 'http://x.test', interval: @5s}\n",
            "f.yaml:2:45: checks[0].interval: invalid YAML: found character '@' that cannot "
            "start any token; quote a value that starts with this character",
        ),
        (
            "checks:\n  - id: w\n\turl: http://x.test\n",
            "f.yaml:3:1: checks[0].id: invalid YAML: found character '\\t' that cannot start "
            "any token; indent with spaces: YAML allows no tabs there",
        ),
        (
            "slas:\n  - id: s\n    name: Web: the shop\n",
            "f.yaml:3:14: slas[0].name: invalid YAML: mapping values are not allowed here; "
            "check the indentation of this line, or quote a value that contains ': '",
        ),
        (
            "checks:\n  - {id: w, url: 'http://x.test\n",
            "f.yaml:3:1: checks[0].url: invalid YAML: found unexpected end of stream (in the "
            "quoted scalar that starts at line 2, column 18); close the quote",
        ),
    ],
)
def test_syntax_errors_give_line_column_key_and_token(text: str, expected: str) -> None:
    assert rendered(text) == expected


@pytest.mark.parametrize("process", ["check", "collector", "agent"])
@pytest.mark.parametrize(
    "text",
    [
        "collector:\n  admin_token: *S3cretXYZZY\n",
        "collector:\n  admin_token: !S3cretXYZZY value\n",
        "collector:\n  agents:\n    - {id: a, token: @S3cretXYZZY}\n",
        "alerts:\n  channels:\n    - {id: c, type: slack, url: @hooks/S3cretXYZZY}\n",
        "alerts:\n  channels:\n    - id: c\n      type: telegram\n      bot_token: 'S3cret\n",
        "checks:\n  - {id: w, url: 'http://x.test', headers: {Authorization: @S3cretXYZZY}}\n",
    ],
)
def test_a_syntax_error_inside_a_secret_hides_the_token(text: str, process: str) -> None:
    message = rendered(text, process=process)
    assert "S3cret" not in message
    assert re.match(r"f\.yaml:\d+:\d+: [\w.\[\]]+: invalid YAML: ", message)


def test_outside_a_secret_the_token_is_shown() -> None:
    assert "found undefined alias 'oops'" in rendered("slas:\n  - {id: s, name: *oops}\n")


def test_a_date_that_is_no_date_is_an_error_not_a_crash() -> None:
    text = "slas:\n  - id: s\n    checks: [w]\n    objective: 99\n    maintenance:\n"
    text += "      - {start: 2026-13-01, end: 2026-12-02}\n"
    assert rendered(text) == (
        "f.yaml:6:17: slas[0].maintenance[0].start: invalid YAML: not a valid date or time "
        "(month must be in 1..12); quote it if it is text"
    )


def test_several_documents_are_refused_with_their_place() -> None:
    assert rendered("checks: []\n---\nslas: []\n") == (
        "f.yaml:2:1: checks: invalid YAML: expected a single document in the stream, but found "
        "another document"
    )


# ------------------------------------------------------------------------------- secrets

WEAK = hashlib.sha256(b"changeme").hexdigest()


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        (
            f"collector:\n  agents: [{{id: eu-1, token_sha256: {WEAK}}}]\n",
            "f.yaml:2: collector.agents[0].token_sha256: is the SHA-256 of a well-known "
            "password, which anyone can push with: make one with `openssl rand -hex 32`",
        ),
        (
            f"collector:\n  admin_token_sha256: {WEAK.upper()}\n",
            "f.yaml:2: collector.admin_token_sha256: is the SHA-256 of a well-known password",
        ),
        (
            "collector:\n  customers: [{id: acme, token: passwordpassword}]\n",
            "f.yaml:2: collector.customers[0].token: is a well-known placeholder, not a secret",
        ),
        (
            "collector:\n  agents: [{id: eu-1, token: changeme}]\n",
            "f.yaml:2: collector.agents[0].token: is too short: use at least 16 characters",
        ),
    ],
)
def test_well_known_tokens_are_refused_in_either_form(snippet: str, expected: str) -> None:
    message = rendered(snippet)
    assert message.startswith(expected)
    assert WEAK not in message and WEAK.upper() not in message


def test_a_strong_token_sha256_is_taken() -> None:
    digest = hashlib.sha256(b"5f0c1e0a2b7d4c39a8e1f6b2d9c04e7a").hexdigest()
    config = parse_config(
        f"collector:\n  agents: [{{id: eu-1, token_sha256: {digest}}}]\n",
        base_dir=Path("/cfg"),
        process="collector",
        environ={},
    )
    assert config.collector.agents[0].token.sha256.hex() == digest


def secret_values(data: Any, path: tuple[str | int, ...]) -> Iterator[tuple[str, Any]]:
    secrets = secret_paths(check_types(), channel_types())
    if isinstance(data, dict):
        for key, value in data.items():
            if is_secret((*path, key), secrets, channels_known=True):
                yield ".".join(str(p) for p in (*path, key)), value
            else:
                yield from secret_values(value, (*path, key))
    elif isinstance(data, list):
        for i, item in enumerate(data):
            yield from secret_values(item, (*path, i))


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_files_carry_no_usable_secret(example: Path) -> None:
    """Every secret of a shipped example comes from the environment, without a default."""
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    found = list(secret_values(data, ()))
    assert found or example.name == "slawatch.yaml"
    for path, value in found:
        assert isinstance(value, str) and re.fullmatch(r"\$\{[A-Z0-9_]+(:-)?\}", value), path


@pytest.mark.skipif(reader.FAST_LOADER is None, reason="PyYAML without libyaml")
@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_libyaml_reads_a_file_as_pyyaml_does(example: Path) -> None:
    """Files are parsed by libyaml for speed; PyYAML's parser explains errors: the same reading."""
    text = example.read_text(encoding="utf-8") + "times: {at: 02:30, on: 2026-11-08}\n"
    fast, slow = (reader._parse(loader, text) for loader in (reader.FAST_LOADER, yaml.SafeLoader))
    assert (fast.data, fast.lines, fast.raw) == (slow.data, slow.lines, slow.raw)
