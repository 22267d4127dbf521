"""DNS and ICMP checks end to end: `slawatch up` probes a DNS server of the test and the loopback,
and the collector stores what its agent pushes, with the errors that name the rcode."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.dns_server import dns_server
from tests.e2e.test_up import get, metric
from tests.support import async_wait_until, free_port, start_slawatch, stop_process

ADMIN = "up-admin-token-0123456789"


async def test_up_runs_dns_and_icmp_checks(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with dns_server({("acme.example", "A"): ["192.0.2.10"]}) as dns:
        config = tmp_path / "slawatch.yaml"
        config.write_text(
            f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/slawatch.db
  admin_token: {ADMIN}
checks:
  - {{id: acme-dns, url: "dns://127.0.0.1:{dns.port}/acme.example", interval: 200ms,
     expect: {{answer_contains: "192.0.2.10"}}}}
  - {{id: gone-dns, type: dns, server: 127.0.0.1, port: {dns.port}, name: gone.acme.example,
     interval: 200ms}}
  - {{id: loopback, url: "icmp://127.0.0.1", interval: 200ms}}
""",
            encoding="utf-8",
        )
        process = start_slawatch(["up", "--config", str(config)])
        try:

            async def every_check_probed() -> str | None:
                status, text = await asyncio.to_thread(get, f"{base}/metrics")
                names = ("acme-dns", "gone-dns", "loopback")
                probed = all(metric(text, "slawatch_check_up", check=n) is not None for n in names)
                return text if status == 200 and probed else None

            text = await async_wait_until(every_check_probed, timeout=30)
            _, listed = await asyncio.to_thread(get, f"{base}/api/v1/checks", ADMIN)
            checks = {c["id"]: c for c in json.loads(listed)["checks"]}
        finally:
            returncode, _, stderr = stop_process(process)
    assert returncode == 0, stderr
    assert metric(text, "slawatch_probe_success", check="acme-dns") == 1
    assert metric(text, "slawatch_probe_success", check="loopback") == 1
    assert metric(text, "slawatch_probe_success", check="gone-dns") == 0
    assert metric(text, "slawatch_check_up", check="acme-dns") == 1  # stored and decided
    assert metric(text, "slawatch_check_up", check="gone-dns") == 0
    gone = json.dumps(checks["gone-dns"])
    assert "rcode NXDOMAIN, expected NOERROR" in gone, gone
    assert ("udp", "acme.example", "A") in dns.queries
