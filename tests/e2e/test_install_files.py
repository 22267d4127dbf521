"""The install files (issue 18, "Install"): the Dockerfile passes hadolint and is pinned, healthy
and keeps its data on a volume; the compose example starts the agent once the collector is
healthy, publishes on 127.0.0.1 only, documents every variable in .env.example, and is UP out
of the box (its two config files run for real here, on loopback); the systemd units pass
`systemd-analyze verify`, and the sysusers file creates the `slawatch` user."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import (
    free_port,
    run_slawatch,
    running_collector,
    start_slawatch,
    stop_process,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
CONTRIB = ROOT / "contrib"
COMPOSE = CONTRIB / "docker-compose.yml"
SYSTEMD = CONTRIB / "systemd"
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?]([^}]*))?\}")
TOKENS = {
    "SLAWATCH_ADMIN_TOKEN": "compose-admin-token-0123456789",
    "EU1_TOKEN": "compose-eu1-token-0123456789",
    "ACME_TOKEN": "compose-acme-token-0123456789",
}


def bin_of(name: str) -> Path:
    """A program installed in the test environment (beside its Python)."""
    return Path(sys.executable).parent / name


# ---------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [str(bin_of("hadolint")), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_dockerfile_is_pinned_healthy_non_root_with_a_volume() -> None:
    lines = (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
    bases = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert bases, "no FROM"
    for base in bases:  # an exact release (python:3.12.8-slim-bookworm) or a digest
        assert "@sha256:" in base or re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", base), base
    text = "\n".join(lines)
    assert re.search(r"^HEALTHCHECK .*\\\n\s+CMD \[.*/healthz\"\]$", text, re.M)
    assert "VOLUME /var/lib/slawatch" in lines
    user = next(line for line in reversed(lines) if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in ("0", "root")


# -------------------------------------------------------------------------------------- compose


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def with_defaults(text: str) -> str:
    """`text` as compose reads it when .env sets nothing: `${X:-d}` is d."""
    return VARIABLE.sub(lambda m: m.group(2) or "", text)


def test_compose_agent_waits_for_a_healthy_collector() -> None:
    services = compose()["services"]
    assert services["agent"]["depends_on"] == {"collector": {"condition": "service_healthy"}}
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] == "CMD", name
    assert services["collector"]["healthcheck"]["test"][-1] == "http://127.0.0.1:8480/healthz"
    assert services["agent"]["healthcheck"]["test"][-1] == "--check"


def test_compose_publishes_on_loopback_only_by_default() -> None:
    published = [p for s in compose()["services"].values() for p in s.get("ports", [])]
    assert published
    for port in published:
        assert with_defaults(str(port)).startswith("127.0.0.1:"), port


def test_env_example_names_every_variable_compose_requires() -> None:
    example = (CONTRIB / ".env.example").read_text(encoding="utf-8")
    names = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    used = set(VARIABLE.findall(COMPOSE.read_text(encoding="utf-8")))
    assert {name for name, _ in used} <= names
    assert "SLAWATCH_PUBLIC_URL" in names


def test_compose_configs_pass_check_config_and_agree_on_checks() -> None:
    collector = yaml.safe_load((CONTRIB / "compose" / "collector.yaml").read_text(encoding="utf-8"))
    agent = yaml.safe_load((CONTRIB / "compose" / "agent.yaml").read_text(encoding="utf-8"))
    assert collector["collector"]["public_url"]
    assert collector["checks"] == agent["checks"]  # one check, the same on both sides
    for name in ("collector.yaml", "agent.yaml"):
        result = run_slawatch(["check-config", str(CONTRIB / "compose" / name)], env=TOKENS)
        assert result.returncode == 0, result.stderr


def check_states(url: str) -> dict[str, str]:
    request = urllib.request.Request(
        f"{url}/api/v1/checks",
        headers={"Authorization": f"Bearer {TOKENS['SLAWATCH_ADMIN_TOKEN']}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return {c["id"]: c["state"] for c in json.loads(response.read())["checks"]}


def test_compose_example_is_up_out_of_the_box(tmp_path: Path) -> None:
    """The compose files' collector and agent, run as processes on loopback (the compose file
    sets the same variables to the containers' values): the example check is UP."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **TOKENS,
        "SLAWATCH_LISTEN": f"127.0.0.1:{port}",
        "SLAWATCH_COLLECTOR_URL": url,
        "SLAWATCH_DATA": str(tmp_path),
        "SLAWATCH_PUBLIC_URL": url,
    }
    with running_collector(CONTRIB / "compose" / "collector.yaml", url, env=env):
        health = run_slawatch(
            ["agent", "--config", str(CONTRIB / "compose" / "agent.yaml"), "--check"], env=env
        )
        assert health.returncode == 0, health.stdout + health.stderr
        agent = start_slawatch(
            ["agent", "--config", str(CONTRIB / "compose" / "agent.yaml")], env=env
        )
        try:
            wait_until(
                lambda: check_states(url).get("collector-health") == "up", timeout=60, interval=0.5
            )
        finally:
            code, _, err = stop_process(agent)
        assert code == 0, err


# -------------------------------------------------------------------------------------- systemd


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD / name, encoding="utf-8")
    return parser


@pytest.mark.parametrize("name", ["slawatch-agent.service", "slawatch-collector.service"])
def test_units_keep_their_limits_state_and_reload(name: str) -> None:
    service = unit(name)["Service"]
    assert service["LimitNOFILE"] == "65536"
    assert service["StateDirectory"] == "slawatch"
    assert service["User"] == "slawatch"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_agent_unit_runs_without_a_config_file_from_a_token_credential() -> None:
    service = unit("slawatch-agent.service")["Service"]
    assert service["LoadCredential"] == "token:/etc/slawatch/agent.token"
    assert "--token-file %d/token" in service["ExecStart"]
    assert "--collector ${SLAWATCH_COLLECTOR}" in service["ExecStart"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="scripts/test installs systemd; this host has none",
)
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    slawatch = bin_of("slawatch")
    for name in ("slawatch-agent.service", "slawatch-collector.service"):
        text = (SYSTEMD / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(
            text.replace("/usr/local/bin/slawatch", str(slawatch)), encoding="utf-8"
        )
    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(p) for p in sorted(tmp_path.iterdir()))],
        capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None,
    reason="scripts/test installs systemd; this host has none",
)
def test_sysusers_creates_the_slawatch_user(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        ["systemd-sysusers", f"--root={tmp_path}", str(SYSTEMD / "slawatch.sysusers")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    users = {
        line.split(":")[0]: line.split(":")
        for line in (tmp_path / "etc" / "passwd").read_text().splitlines()
    }
    assert users["slawatch"][5] == "/var/lib/slawatch"
    assert users["slawatch"][6].endswith("nologin")
    assert "slawatch" in {
        line.split(":")[0] for line in (tmp_path / "etc" / "group").read_text().splitlines()
    }
