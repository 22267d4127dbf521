"""`slawatch up`: a collector and its embedded agent in one process, as the quick start runs it."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

from tests.support import free_port, start_slawatch, stop_process, wait_until

ADMIN = "up-admin-token-0123456789"


def write_config(folder: Path, port: int) -> Path:
    path = folder / "slawatch.yaml"
    path.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/slawatch.db
  admin_token: ${{UP_ADMIN_TOKEN}}
agent:
  id: local
  labels: {{region: test}}
checks:
  - id: self-health
    url: http://127.0.0.1:{port}/healthz
    interval: 200ms
    expect: {{status: [200], body_contains: ok}}
  - id: self-port
    host: 127.0.0.1
    port: {port}
    interval: 200ms
  - id: nothing-there
    host: 127.0.0.1
    port: {free_port()}
    interval: 200ms
""",
        encoding="utf-8",
    )
    return path


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return 0, ""


def metric(text: str, name: str, **labels: str) -> float | None:
    label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    match = re.search(rf"^{name}{{{re.escape(label_text)}}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def test_up_probes_itself_and_stores_what_its_agent_pushes(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    process = start_slawatch(["up", "--config", str(config)], env={"UP_ADMIN_TOKEN": ADMIN})
    base = f"http://127.0.0.1:{port}"
    try:

        def metrics_show_both_sides() -> str | None:
            status, text = get(f"{base}/metrics")
            ingested = metric(text, "slawatch_samples_ingested_total", agent="local") or 0
            return (
                text
                if status == 200 and ingested >= 6 and "slawatch_probe_success" in text
                else None
            )

        text = wait_until(metrics_show_both_sides, timeout=30)
        assert metric(text, "slawatch_probe_success", check="self-health") == 1
        assert metric(text, "slawatch_probe_success", check="nothing-there") == 0

        def checks_known() -> dict | None:
            status, body = get(f"{base}/api/v1/checks", ADMIN)
            checks = {c["id"]: c for c in json.loads(body)["checks"]} if status == 200 else {}
            return checks if len(checks) == 3 else None

        checks = wait_until(checks_known, timeout=30)
        assert checks["self-health"]["state"] == "up"
        assert checks["nothing-there"]["state"] == "down"
    finally:
        code, _, err = stop_process(process)
    assert code == 0, err
    assert "Traceback" not in err
    assert (tmp_path / "data" / "slawatch.db").exists()
    assert (tmp_path / "data" / "local-spool.db").exists()


def test_up_without_an_agent_section_runs_a_default_local_agent(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "minimal.yaml"
    config.write_text(
        f"collector:\n  listen: 127.0.0.1:{port}\nchecks:\n"
        f"  - {{id: self, url: 'http://127.0.0.1:{port}/healthz', interval: 200ms}}\n",
        encoding="utf-8",
    )
    process = start_slawatch(["up", "--config", str(config)])
    try:
        wait_until(
            lambda: (
                (
                    metric(
                        get(f"http://127.0.0.1:{port}/metrics")[1],
                        "slawatch_samples_ingested_total",
                        agent="local",
                    )
                    or 0
                )
                >= 2
            ),
            timeout=30,
        )
    finally:
        code, _, err = stop_process(process)
    assert code == 0, err
    assert (tmp_path / "data" / "local-spool.db").exists()


def test_up_reports_a_port_in_use_and_exits_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, port)
        process = start_slawatch(["up", "--config", str(config)], env={"UP_ADMIN_TOKEN": ADMIN})
        code, _, err = (
            stop_process(process, timeout=30)
            if process.wait(timeout=30) is not None
            else (None, "", "")
        )
    assert code == 1
    assert "collector_cannot_start" in err
    assert "Traceback" not in err


def test_the_quick_start_file_runs_out_of_the_box(tmp_path: Path) -> None:
    """README's `slawatch up --config config/slawatch.yaml`, with no secret set: the shipped
    example carries none, yet runs (only its port is moved off 8480 here)."""
    example = Path(__file__).resolve().parents[2] / "config" / "slawatch.yaml"
    (tmp_path / "config").mkdir()
    config = tmp_path / "config" / "slawatch.yaml"
    config.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    port = free_port()
    env = {"SLAWATCH_LISTEN": f"127.0.0.1:{port}", "SLAWATCH_ADMIN_TOKEN": ""}
    process = start_slawatch(["up", "--config", str(config)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:

        def both_checks_up() -> str | None:
            status, text = get(f"{base}/metrics")
            checks = ("collector-health", "collector-port")
            ups = [metric(text, "slawatch_probe_success", check=c) for c in checks]
            return text if status == 200 and ups == [1, 1] else None

        wait_until(both_checks_up, timeout=30)
        status, body = get(f"{base}/status/demo.json")
        assert status == 200
        assert [sla["id"] for sla in json.loads(body)["slas"]] == ["demo-platform"]
    finally:
        code, _, err = stop_process(process)
    assert code == 0, err
    assert (tmp_path / "data" / "slawatch.db").exists()
