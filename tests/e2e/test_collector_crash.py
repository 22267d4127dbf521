"""`slawatch collector` as a process: acknowledged samples survive kill -9, clean SIGTERM, backup.

A pusher thread sends batches and records which were answered 200; the collector is killed
with SIGKILL in the middle; after a restart every acknowledged sample is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from slawatch.collector.engine.timeline import Run, SampleState, build_runs
from slawatch.collector.store import create_store
from tests.support import (
    free_port,
    run_slawatch,
    start_collector,
    stop_process,
    wait_until,
)

ADMIN = "admin-token-0123456789-secret"
AGENT = "agent-token-0123456789-secret"
BATCH = 200
START = time.time() - 3600
"""Batch n's samples are START + n·size ms onwards, whichever thread pushes it when."""


def write_config(folder: Path, port: int) -> Path:
    config = folder / "collector.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{port}
  database: data/collector.db
  admin_token: {ADMIN}
  agents:
    - {{id: eu-1, token: {AGENT}}}
""",
        encoding="utf-8",
    )
    return config


def start(config: Path, url: str) -> subprocess.Popen[str]:
    return start_collector(config, url)


def push(url: str, batch_number: int, token: str = AGENT, size: int = BATCH) -> int:
    """Push batch `batch_number`: its samples carry latencies n*size .. n*size+size-1."""
    base = START + batch_number * size / 1000  # a ms each: no two batches share a timestamp
    samples = [
        {"check": f"c{i % 10}", "ts": base + i * 0.001, "ok": True,
         "latency_ms": batch_number * size + i, "interval_s": 60}
        for i in range(size)
    ]  # fmt: skip
    request = urllib.request.Request(
        f"{url}/api/v1/samples",
        data=json.dumps({"agent": "eu-1", "samples": samples}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def stored_latencies(database: Path) -> set[float]:
    async def read() -> set[float]:
        store = create_store(database)
        await store.open()
        try:
            checks = [f"c{i}" for i in range(10)]
            return set(await store.latency_values(checks, 0, 2**62))
        finally:
            await store.close()

    return asyncio.run(read())


def children(pid: int) -> set[int]:
    """The processes `pid` started that still run (zombies, already ended, excluded)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(
    "size", [BATCH, 2000], ids=["judged-in-place", "judged-in-worker-processes"]
)
def test_every_acknowledged_sample_survives_a_kill_9_mid_ingest(tmp_path: Path, size: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port)
    process = start(config, url)
    acknowledged: list[int] = []
    attempted: list[int] = []
    stop = threading.Event()

    def pusher() -> None:
        number = 0
        while not stop.is_set() and number < 5000:
            attempted.append(number)
            try:
                if push(url, number, size=size) == 200:
                    acknowledged.append(number)
            except OSError:
                return  # the collector is gone
            number += 1

    thread = threading.Thread(target=pusher)
    thread.start()
    try:
        wait_until(lambda: len(acknowledged) >= 30, timeout=60)
        workers = children(process.pid)
        process.kill()  # SIGKILL: no chance to flush anything more
        process.wait(timeout=10)
        # Big batches had worker processes, which leave once their collector is gone.
        assert bool(workers) == (size > BATCH)
        wait_until(lambda: not any(running(pid) for pid in workers), timeout=10)
    finally:
        stop.set()
        thread.join(timeout=30)
        stop_process(process)
    assert not thread.is_alive()
    assert len(attempted) > len(acknowledged) or attempted[-1] == acknowledged[-1]

    restarted = start(config, url)
    try:
        latencies = stored_latencies(tmp_path / "data" / "collector.db")
        expected = {float(n * size + i) for n in acknowledged for i in range(size)}
        assert expected <= latencies
        # An unacknowledged batch is simply sent again: all or nothing, and idempotent.
        assert push(url, attempted[-1], size=size) == 200
        assert push(url, attempted[-1], size=size) == 200
    finally:
        code, _, err = stop_process(restarted)
    assert code == 0, err


def test_sigterm_stops_cleanly_and_no_token_is_ever_logged(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start(write_config(tmp_path, port), url)
    try:
        assert push(url, 1) == 200
        assert push(url, 2, token="wrong-" + AGENT) == 401
        request = urllib.request.Request(
            f"{url}/api/v1/checks", headers={"Authorization": f"Bearer {AGENT}"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 403
    finally:
        code, out, err = stop_process(process)
    assert code == 0
    assert "collector_stopped" in err + out
    for secret in (ADMIN, AGENT, "wrong-"):
        assert secret not in out + err


def test_backup_is_an_online_consistent_copy(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port)
    process = start(config, url)
    acknowledged: list[int] = []
    stop = threading.Event()

    def pusher() -> None:
        number = 0
        while not stop.is_set():
            if push(url, number) == 200:
                acknowledged.append(number)
            number += 1

    thread = threading.Thread(target=pusher)
    try:
        assert push(url, 3000) == 200
        thread.start()
        wait_until(lambda: len(acknowledged) >= 5, timeout=30)
        before = len(acknowledged)
        out = tmp_path / "copy" / "backup.db"
        out.parent.mkdir()
        result = run_slawatch(["backup", "--config", str(config), str(out)])
        assert result.returncode == 0, result.stderr
        assert str(out) in result.stdout
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=30)
        code, _, err = stop_process(process)
    assert code == 0, err
    copied = stored_latencies(out)
    assert len(copied) % BATCH == 0  # whole batches only: a consistent snapshot
    assert len(copied) >= (before + 1) * BATCH


def test_backup_without_a_database_fails_clearly(tmp_path: Path) -> None:
    config = write_config(tmp_path, free_port())
    result = run_slawatch(["backup", "--config", str(config), str(tmp_path / "out.db")])
    assert result.returncode == 1
    assert "no database" in result.stderr
    assert "Traceback" not in result.stderr


def test_backup_to_a_missing_folder_or_of_a_broken_database_says_which_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, free_port())
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "collector.db").write_bytes(b"not sqlite at all" * 100)
    missing = tmp_path / "no" / "such" / "out.db"
    result = run_slawatch(["backup", "--config", str(config), str(missing)])
    assert result.returncode == 2, result.stderr
    assert f"the folder {missing.parent} does not exist" in result.stderr
    out = tmp_path / "out.db"
    result = run_slawatch(["backup", "--config", str(config), str(out)])
    assert result.returncode == 1
    assert f"collector.db to {out} failed: file is not a database" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["collector.yaml", "data"]


@pytest.mark.parametrize("problem", ["database under a file", "not a database", "port taken"])
def test_a_collector_that_cannot_start_says_why_and_exits_1(tmp_path: Path, problem: str) -> None:
    (tmp_path / "afile").write_text("x")
    (tmp_path / "bad.db").write_bytes(b"not sqlite at all" * 100)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1] if problem == "port taken" else free_port()
    database = {"database under a file": "afile/x.db", "not a database": "bad.db"}.get(
        problem, "data/ok.db"
    )
    config = tmp_path / "c.yaml"
    config.write_text(
        f"collector:\n  listen: 127.0.0.1:{port}\n  database: {database}\n", encoding="utf-8"
    )
    try:
        result = run_slawatch(["collector", "--config", str(config)], timeout=60)
    finally:
        taken.close()
    assert result.returncode == 1
    assert "collector_cannot_start" in result.stderr
    assert database.split("/")[0] in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "size", [BATCH, 2000], ids=["judged-in-place", "judged-in-worker-processes"]
)
def test_sigterm_under_load_answers_or_refuses_each_push_and_keeps_every_acknowledged_one(
    tmp_path: Path, size: int
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start(write_config(tmp_path, port), url)
    acknowledged: list[int] = []
    stop = threading.Event()

    def pusher(offset: int) -> None:
        number = offset
        while not stop.is_set():
            try:
                if push(url, number, size=size) == 200:
                    acknowledged.append(number)
            except OSError:
                return
            number += 2

    threads = [threading.Thread(target=pusher, args=(offset,)) for offset in (0, 1)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(acknowledged) >= 10, timeout=60)
        process.terminate()
        code = process.wait(timeout=30)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        _, _, err = stop_process(process)
    assert code == 0, err
    latencies = stored_latencies(tmp_path / "data" / "collector.db")
    assert {float(n * size + i) for n in acknowledged for i in range(size)} <= latencies
    assert len(latencies) % size == 0  # whole batches: nothing half-written


def push_samples(url: str, samples: list[dict[str, object]]) -> int:
    request = urllib.request.Request(
        f"{url}/api/v1/samples",
        data=json.dumps({"agent": "eu-1", "samples": samples}).encode(),
        headers={"Authorization": f"Bearer {AGENT}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_late_samples_acknowledged_then_killed_are_merged_at_the_next_start(
    tmp_path: Path,
) -> None:
    """Late samples are set aside and merged into runs in batches: killed with SIGKILL right
    after answering them, the collector merges them when it starts again."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = write_config(tmp_path, port)
    minute = 60_000
    start_ms = int(START * 1000) // minute * minute

    def sample(k: int) -> dict[str, object]:
        ok = k not in (13, 15)
        return {"check": "web", "ts": (start_ms + k * minute) / 1000, "ok": ok,
                "latency_ms": 10.0 + k, "interval_s": 60, "error": None if ok else "refused"}  # fmt: skip

    process = start(config, url)
    try:
        assert push_samples(url, [sample(k) for k in range(0, 60, 2)]) == 200
        assert push_samples(url, [sample(k) for k in range(57, 0, -2)]) == 200  # late, all
        process.kill()
        process.wait(timeout=10)
    finally:
        stop_process(process)
    database = tmp_path / "data" / "collector.db"
    with contextlib.closing(sqlite3.connect(database)) as db:
        (aside,) = db.execute("SELECT COUNT(*) FROM late_samples").fetchone()
    assert aside == 29  # acknowledged, stored, not merged: the kill came first

    restarted = start(config, url)
    code, _, err = stop_process(restarted)
    assert code == 0, err

    async def read() -> list[Run]:
        store = create_store(database)
        await store.open()
        try:
            return (await store.runs(["web"], 0, 2**62))["web"]["eu-1"]
        finally:
            await store.close()

    states = [SampleState(start_ms + k * minute, k not in (13, 15), minute,
                          None if k not in (13, 15) else "refused") for k in range(59)]  # fmt: skip
    assert asyncio.run(read()) == build_runs(states)
    with contextlib.closing(sqlite3.connect(database)) as db:
        assert db.execute("SELECT COUNT(*) FROM late_samples").fetchone() == (0,)
