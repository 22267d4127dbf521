"""`slawatch agent --config F --check` (issue 18, "Install"): the container's health check of an
agent. Exit 0 with one line when the spool is writable and the collector answers `/healthz`;
exit 1 with one line naming what fails; a bad config is exit 2 as for the agent itself."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.collector_stub import CollectorStub, Reply
from tests.support import SLAWATCH, free_port


def agent_config(tmp_path: Path, collector: str, spool: str = "spool/eu-1.db") -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        "agent:\n"
        "  id: eu-1\n"
        f"  collector: {collector}\n"
        "  token: stub-agent-token\n"
        f"  spool: {spool}\n"
        "checks:\n"
        "  - {id: web, url: 'http://127.0.0.1:9/'}\n",
        encoding="utf-8",
    )
    return path


async def check(config: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *SLAWATCH, "agent", "--config", str(config), "--check",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_healthy_agent_exits_0_and_creates_nothing(tmp_path: Path) -> None:
    async with CollectorStub() as stub:
        code, out, err = await check(agent_config(tmp_path, stub.url))
        assert stub.health_checks >= 1
    assert (code, err) == (0, "")
    assert (
        out
        == f"agent eu-1: ok (spool {tmp_path / 'spool' / 'eu-1.db'} writable, collector answers)\n"
    )
    assert not (tmp_path / "spool" / "eu-1.db").exists()


async def test_collector_down_exits_1_naming_it(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, _ = await check(agent_config(tmp_path, url))
    assert code == 1
    assert out.startswith("agent eu-1: unhealthy: collector ")
    assert f"{url} unreachable" in out
    assert len(out.splitlines()) == 1


async def test_degraded_collector_exits_1_with_its_status(tmp_path: Path) -> None:
    async with CollectorStub() as stub:
        stub.health = Reply(503, {"status": "degraded", "reason": "disk full"})
        code, out, _ = await check(agent_config(tmp_path, stub.url))
    assert code == 1
    assert "answered" in out and "with 503" in out


async def test_spool_that_cannot_be_written_exits_1_naming_it(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file where the spool's folder should be", encoding="utf-8")
    async with CollectorStub() as stub:
        code, out, _ = await check(agent_config(tmp_path, stub.url, "blocker/sub/eu-1.db"))
    assert code == 1
    assert (
        f"spool {tmp_path / 'blocker' / 'sub' / 'eu-1.db'}: {tmp_path / 'blocker'} is not a folder"
        in out
    )


async def test_bad_config_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text("agent:\n  id: eu-1\n  colector: http://127.0.0.1:1\n", encoding="utf-8")
    code, out, err = await check(path)
    assert (code, out) == (2, "")
    assert "colector" in err
