"""`slawatch collector` killed with SIGKILL between handing a closed period's report to the SMTP
server and committing it as sent (CONTRACT §7): started again, it sends the report again, the
same message under the same Message-ID; the e-mail arrives at most twice, never zero times."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

from tests.smtp_server import Received, smtp_server
from tests.support import free_port, start_slawatch, stop_process, wait_until

ADMIN = "admin-token-0123456789-secret"


def write_config(folder: Path, port: int, smtp_port: int) -> Path:
    config = folder / "collector.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  admin_token: {ADMIN}
  customers:
    - {{id: acme, name: ACME, report_to: {{email: [sla@acme.example]}}}}
slas:
  - {{id: acme-web, customer: acme, checks: [web], objective: 99.9, period: day}}
reports:
  delay: 0s
  smtp: {{host: 127.0.0.1, port: {smtp_port}, starttls: false, from: slawatch@provider.example}}
""",
        encoding="utf-8",
    )
    return config


def test_a_report_mailed_then_killed_before_its_commit_arrives_again_the_same(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, smtp_port := free_port())
    processes: list[subprocess.Popen[str]] = []

    def kill_the_collector(received: Received) -> None:
        """At DATA, before the server's 250: the collector dies between send and commit."""
        if len(processes) == 1:
            processes[0].kill()

    with smtp_server(port=smtp_port) as server:
        server.on_message = kill_the_collector
        processes.append(start_slawatch(["--log-level", "warning", "collector", "--config",
                                         str(config)]))  # fmt: skip
        first = processes[0]
        server.wait_for_messages(1, timeout=30)
        first.wait(timeout=30)
        first.communicate()
        assert first.returncode == -9

        processes.append(start_slawatch(["--log-level", "warning", "collector", "--config",
                                         str(config)]))  # fmt: skip
        try:
            messages = server.wait_for_messages(2, timeout=30)
            wait_until(lambda: sent(port), timeout=30)
        finally:
            code, _, err = stop_process(processes[1])
        assert code == 0, err
    assert len(messages) == 2
    ids = {m.mail["Message-ID"] for m in messages}
    assert len(ids) == 1, ids
    assert {m.mail["Subject"].strip() for m in messages} == {messages[0].mail["Subject"].strip()}


def sent(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/notifications",
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            rows = json.loads(response.read())["notifications"]
    except OSError:
        return False
    return len(rows) == 1 and rows[0]["status"] == "sent" and rows[0]["attempts"] >= 1
