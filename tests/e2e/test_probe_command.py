"""`slawatch probe` as a user runs it: a real subprocess against local targets.

The subprocess runs in a thread so that this test's event loop keeps serving the target.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import time

from tests.dns_server import dns_server
from tests.support import run_slawatch
from tests.targets import (
    HOST,
    HttpTargetServer,
    LocalCa,
    closed_port,
    http_target,
    http_target_fixture,  # noqa: F401 - registers the fixture
    local_ca_fixture,  # noqa: F401 - registers the fixture
    tcp_server,
)

SAMPLE_FIELDS = {
    "check",
    "ts",
    "ok",
    "latency_ms",
    "interval_s",
    "type",
    "status_code",
    "error",
    "phases_ms",
    "tls_expires",
}


async def probe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_slawatch, ["probe", *args], env=env)


def assert_valid_sample(sample: dict[str, object]) -> None:
    """The shape CONTRACT §3.1 asks of a pushed sample."""
    assert set(sample) == SAMPLE_FIELDS
    assert isinstance(sample["check"], str)
    assert isinstance(sample["ts"], float) and abs(sample["ts"] - time.time()) < 60
    assert isinstance(sample["ok"], bool)
    assert isinstance(sample["interval_s"], int | float) and 0 < sample["interval_s"] <= 86_400
    phases = sample["phases_ms"]
    assert isinstance(phases, dict)
    assert set(phases) <= {"dns", "connect", "tls", "ttfb", "transfer"}
    assert all(isinstance(ms, int | float) and ms >= 0 for ms in phases.values())
    latency = sample["latency_ms"]
    if sample["ok"]:
        assert isinstance(latency, int | float)
    if sample["ok"] and sample["type"] != "icmp":  # a ping's round trip has no phase
        assert math.isclose(sum(phases.values()), latency, abs_tol=0.0015)


async def test_up_exits_0_and_prints_phases(http_target: HttpTargetServer) -> None:
    done = await probe(http_target.url("/ok"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"UP  {http_target.url('/ok')}  status 200  ")
    phases = [line.split()[0] for line in lines[2:]]
    assert phases == ["dns", "connect", "ttfb", "transfer", "total"]
    assert done.stderr == ""


async def test_down_exits_1_with_the_error(http_target: HttpTargetServer) -> None:
    done = await probe(http_target.url("/status/503"))
    assert done.returncode == 1
    assert done.stdout.splitlines()[0].endswith("status 503 not in [200-399]")


async def test_json_is_one_valid_sample(http_target: HttpTargetServer) -> None:
    started = time.time()
    done = await probe(http_target.url("/ok"), "--json", "--id", "web-1", "--timeout", "5s")
    assert done.returncode == 0, done.stderr
    sample = json.loads(done.stdout)
    assert_valid_sample(sample)
    assert sample["check"] == "web-1"
    assert sample["type"] == "http"
    assert sample["ok"] is True
    assert sample["status_code"] == 200
    assert sample["error"] is None
    assert started - 1 <= sample["ts"] <= time.time()


async def test_json_of_a_refused_tcp_port() -> None:
    async with closed_port() as port:
        done = await probe(f"{HOST}:{port}", "--json")
    assert done.returncode == 1
    sample = json.loads(done.stdout)
    assert_valid_sample(sample)
    assert sample["check"] == "127.0.0.1"
    assert sample["type"] == "tcp"
    assert sample["ok"] is False
    assert sample["error"] == "connection refused"


async def test_timeout_option_bounds_the_probe(http_target: HttpTargetServer) -> None:
    done = await probe(http_target.url("/delay/10"), "--json", "--timeout", "300ms")
    assert done.returncode == 1
    sample = json.loads(done.stdout)
    assert sample["error"] == "timeout after 300ms"
    assert 300 <= sample["latency_ms"] < 1000


async def test_tcp_target_up() -> None:
    async with tcp_server(b"220 ready\r\n") as server:
        done = await probe(f"tcp://{HOST}:{server.port}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"UP  tcp://{HOST}:{server.port}  ")


async def test_tls_trust_comes_from_ssl_cert_file_or_insecure(local_ca: LocalCa) -> None:
    async with http_target(local_ca.server_context()) as target:
        untrusted = await probe(target.url("/ok"))
        trusted = await probe(target.url("/ok"), env={"SSL_CERT_FILE": str(local_ca.pem_file)})
        insecure = await probe(target.url("/ok"), "--insecure")
    assert untrusted.returncode == 1
    assert "certificate verify failed" in untrusted.stdout
    assert trusted.returncode == 0, trusted.stdout
    assert "tls" in trusted.stdout
    assert "certificate expires 3000-01-01" in trusted.stdout
    assert insecure.returncode == 0, insecure.stdout


async def test_bad_target_exits_2_with_a_message_and_no_traceback() -> None:
    for args in (
        ["not a target"],
        ["ftp://example.com/"],
        ["example.com:99999"],
        ["http://[::1"],
        ["http://h/", "--timeout", "forever"],
        ["http://h/", "--id", "UPPER"],
    ):
        done = await probe(*args)
        assert done.returncode == 2, (args, done.stdout)
        assert done.stderr.startswith("slawatch probe: "), done.stderr
        assert "Traceback" not in done.stderr
        assert done.stdout == ""


async def test_dns_urls_exit_0_up_and_1_down_naming_the_rcode() -> None:
    async with dns_server({("acme.example", "A"): ["192.0.2.10"]}) as server:
        up = await probe(f"dns://{HOST}:{server.port}/acme.example?type=A")
        down = await probe(f"dns://{HOST}:{server.port}/gone.acme.example", "--json")
    assert up.returncode == 0, up.stderr
    lines = up.stdout.splitlines()
    assert lines[0].startswith(f"UP  dns://{HOST}:{server.port}/acme.example?type=A  ")
    assert [line.split()[0] for line in lines[2:]] == ["dns", "total"]
    assert down.returncode == 1, down.stderr
    sample = json.loads(down.stdout)
    assert_valid_sample(sample)
    assert (sample["type"], sample["ok"]) == ("dns", False)
    assert sample["error"] == "rcode NXDOMAIN, expected NOERROR"
    assert list(sample["phases_ms"]) == ["dns"]


async def test_icmp_url_pings_the_loopback() -> None:
    done = await probe(f"icmp://{HOST}", "--json", "--id", "loopback")
    assert done.returncode == 0, done.stderr
    sample = json.loads(done.stdout)
    assert_valid_sample(sample)
    assert (sample["check"], sample["type"], sample["ok"]) == ("loopback", "icmp", True)
    assert sample["phases_ms"] == {}
    assert 0 < sample["latency_ms"] < 1000


async def test_bad_dns_and_icmp_urls_exit_2() -> None:
    for target in ("dns://127.0.0.1", "dns://127.0.0.1/a..b", "icmp://", "icmp://h/path"):
        done = await probe(target)
        assert done.returncode == 2, (target, done.stdout)
        assert done.stderr.startswith(f"slawatch probe: '{target}': url: must be "), done.stderr
