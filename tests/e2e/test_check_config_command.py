"""`slawatch check-config FILE` as a user runs it: exit codes and messages (CONTRACT §1)."""

from __future__ import annotations

from pathlib import Path

from tests.support import run_slawatch

EXAMPLES = Path(__file__).resolve().parents[2] / "config"


def test_valid_file_exits_0() -> None:
    result = run_slawatch(["check-config", str(EXAMPLES / "slawatch.yaml")])
    assert result.returncode == 0, result.stderr
    assert "ok (2 checks, 1 SLAs" in result.stdout


def test_every_problem_printed_with_its_path_and_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "collector:\n  admin_token: ${UNSET_ADMIN_TOKEN_VAR}\nslas:\n"
        "  - {id: s, checks: [a], objective: 101}\n  - {id: s2, checks: [a], objective: 99, timezone: Nowhere/City}\n",
        encoding="utf-8",
    )
    result = run_slawatch(["check-config", str(path)])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{path}:2: collector.admin_token: environment variable UNSET_ADMIN_TOKEN_VAR is not set",
        f"{path}:4: slas[0].objective: must be between 0 and 100",
        f"{path}:5: slas[1].timezone: unknown timezone 'Nowhere/City'",
    ]
    assert "Traceback" not in result.stderr


def test_for_agent_needs_only_the_agent_secrets(tmp_path: Path) -> None:
    path = tmp_path / "shared.yaml"
    path.write_text(
        "collector:\n  admin_token: ${SOME_COLLECTOR_SECRET}\n"
        "agent:\n  id: eu-1\n  collector: http://127.0.0.1:8480\n  token: ${SOME_AGENT_TOKEN}\n",
        encoding="utf-8",
    )
    env = {"SOME_AGENT_TOKEN": "agent-token-0123456789"}
    assert run_slawatch(["check-config", "--for", "agent", str(path)], env=env).returncode == 0
    assert run_slawatch(["check-config", str(path)], env=env).returncode == 2


def test_secret_values_are_not_printed(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text(
        'collector:\n  admin_token: ${TOKEN_A}\n  agents:\n    - {id: eu-1, token: "${TOKEN_A}"}\n',
        encoding="utf-8",
    )
    result = run_slawatch(["check-config", str(path)], env={"TOKEN_A": "very-secret-token-XYZZY"})
    assert result.returncode == 2
    assert "collector.agents[0].token: is the same token as collector.admin_token" in result.stderr
    assert "XYZZY" not in result.stderr + result.stdout


def test_unreadable_file_exits_2(tmp_path: Path) -> None:
    result = run_slawatch(["check-config", str(tmp_path / "missing.yaml")])
    assert result.returncode == 2
    assert "cannot read the file" in result.stderr
