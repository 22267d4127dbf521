"""Evidence bundles through the real collector app (CONTRACT §7): the scene of
`test_report_api` (a day of `web` by three agents, one incident, a gap, maintenance), a bundle
fetched over HTTP, checked by `slawatch.collector.evidence.verify` and by the command line."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from slawatch.collector.evidence.keys import load_or_create, parse_public_key
from slawatch.collector.evidence.verify import VerificationFailed, verify
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.integration.test_report_api import (
    ACME,
    ADMIN,
    CONFIG,
    DAY,
    EXPECTED_DAY,
    GLOBEX,
    HOUR,
    NOW,
    Clock,
    day_samples,
    declare,
    push,
    push_day,
)
from tests.support import SLAWATCH, auth

FILES = ("report.json", "samples.csv", "windows.json", "sla.json", "manifest.json", "manifest.sig")
DATA = ("report.json", "samples.csv", "windows.json", "sla.json")


@pytest.fixture
def collector(tmp_path: Path) -> Collector:
    config = parse_config(CONFIG, base_dir=tmp_path, process="collector")
    return Collector(config, clock=Clock(NOW))


@pytest.fixture
async def client(aiohttp_client: Callable[..., Any], collector: Collector) -> TestClient:
    return await aiohttp_client(collector.app)


async def scene(client: TestClient) -> None:
    await push_day(client)
    status, _ = await declare(
        client,
        {"slas": ["acme-web"], "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z",
         "reason": "kernel upgrade"},
    )  # fmt: skip
    assert status == 201


async def bundle(client: TestClient, token: str = ADMIN, period: str = "2026-11-03") -> bytes:
    response = await client.get(
        f"/api/v1/slas/acme-web/evidence?period={period}", headers=auth(token)
    )
    assert response.status == 200, await response.text()
    assert response.content_type == "application/zip"
    return await response.read()


def write(folder: Path, data: bytes, name: str = "bundle.zip") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


# ------------------------------------------------------------------------------------ the key


async def test_the_key_is_made_at_first_start_beside_the_database_and_kept(
    tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    config = parse_config(CONFIG, base_dir=tmp_path, process="collector")
    first = await aiohttp_client(Collector(config, clock=Clock(NOW)).app)
    response = await first.get("/api/v1/evidence-key")
    assert response.status == 200
    published = await response.json()
    key_file = tmp_path / "data" / "collector.db.evidence-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert published["algorithm"] == "Ed25519"
    assert parse_public_key(published["public_key_pem"]).raw == load_or_create(key_file).public.raw
    await first.close()
    again = await aiohttp_client(Collector(config, clock=Clock(NOW)).app)
    assert (await (await again.get("/api/v1/evidence-key")).json()) == published


def test_an_unreadable_key_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    config_file = tmp_path / "collector.yaml"
    config_file.write_text(CONFIG.replace("127.0.0.1:0", "127.0.0.1:0"), encoding="utf-8")
    key_file = tmp_path / "data" / "collector.db.evidence-key"
    key_file.parent.mkdir()
    key_file.write_text("not a key\n", encoding="utf-8")
    result = subprocess.run(
        [*SLAWATCH, "--log-format", "json", "collector", "--config", str(config_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "collector.db.evidence-key is not a PEM private key" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert key_file.read_text(encoding="utf-8") == "not a key\n"


# --------------------------------------------------------------------------------- the bundle


async def test_a_bundle_holds_the_report_the_samples_the_windows_and_verifies(
    client: TestClient, tmp_path: Path
) -> None:
    await scene(client)
    data = await bundle(client)
    files = members(data)
    assert sorted(files) == sorted(FILES)
    report = json.loads(files["report.json"])
    for field in ("up_s", "down_s", "unknown_s", "maintenance_s", "availability", "incidents"):
        assert report[field] == EXPECTED_DAY[field], field
    assert report["latency"]["count"] == 3910
    samples = files["samples.csv"].decode().splitlines()
    assert samples[0].startswith("check,agent,ts_ms,ok,latency_ms,interval_ms")
    assert len(samples) - 1 == 3 * 23 * 60  # the day, the empty hour left out
    windows = json.loads(files["windows.json"])
    assert [w["reason"] for w in windows["maintenance"]] == ["kernel upgrade"]
    assert windows["exclusions"] == [] and windows["hours"] == []
    manifest = json.loads(files["manifest.json"])
    for name in DATA:
        assert manifest["files"][name]["sha256"] == hashlib.sha256(files[name]).hexdigest()
    key = (await (await client.get("/api/v1/evidence-key")).json())["public_key"]
    assert manifest["key"]["public_key"] == key
    result = verify(write(tmp_path, data), parse_public_key(key))
    assert result.samples == 3 * 23 * 60
    assert result.key_source == "the key given with --key"


async def test_only_the_admin_and_the_slas_customer_get_its_bundle(client: TestClient) -> None:
    await push(client, "eu-1", day_samples("eu-1")[:10])
    await bundle(client, ACME)
    other = await client.get(
        "/api/v1/slas/acme-web/evidence?period=2026-11-03", headers=auth(GLOBEX)
    )
    assert other.status == 404
    assert (await client.get("/api/v1/slas/acme-web/evidence?period=2026-11-03")).status == 401
    bad = await client.get("/api/v1/slas/acme-web/evidence?perod=2026-11", headers=auth(ADMIN))
    assert bad.status == 400


@pytest.mark.parametrize("name", FILES)
async def test_one_byte_changed_in_any_file_fails_naming_it(
    client: TestClient, tmp_path: Path, name: str
) -> None:
    await scene(client)
    files = members(await bundle(client))
    changed = bytearray(files[name])
    changed[len(changed) // 2] ^= 0x01
    files[name] = bytes(changed)
    with pytest.raises(VerificationFailed) as failure:
        verify(write(tmp_path, rezip(files)))
    failed_on = "manifest.sig" if name in ("manifest.json", "manifest.sig") else name
    assert str(failure.value).startswith(failed_on), failure.value


async def test_a_changed_sample_fails_even_when_hashed_and_signed_again(
    client: TestClient, collector: Collector, tmp_path: Path
) -> None:
    """The recomputation is a check of its own: with the collector's key (what an insider has),
    a sample made UP in samples.csv changes the report, which no longer matches report.json."""
    await scene(client)
    files = members(await bundle(client))
    lines = files["samples.csv"].decode().split("\n")
    index = next(i for i, line in enumerate(lines) if ",0," in line and "HTTP 503" in line)
    fields = lines[index].split(",")
    fields[3], fields[4], fields[7] = "1", "100.0", ""
    lines[index] = ",".join(fields)
    files["samples.csv"] = "\n".join(lines).encode()
    manifest = json.loads(files["manifest.json"])
    manifest["files"]["samples.csv"] = {
        "sha256": hashlib.sha256(files["samples.csv"]).hexdigest(),
        "bytes": len(files["samples.csv"]),
    }
    files["manifest.json"] = json.dumps(manifest).encode()
    key = load_or_create(tmp_path / "data" / "collector.db.evidence-key")
    files["manifest.sig"] = key.sign(files["manifest.json"])
    with pytest.raises(VerificationFailed) as failure:
        verify(write(tmp_path, rezip(files)), key.public)
    assert str(failure.value).startswith("report.json: "), failure.value


async def test_late_samples_give_the_same_bundle_as_samples_in_time(
    tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    bundles = []
    for order in ("in time", "late"):
        folder = tmp_path / order.replace(" ", "-")
        config = parse_config(CONFIG, base_dir=folder, process="collector")
        client = await aiohttp_client(Collector(config, clock=Clock(NOW)).app)
        if order == "in time":
            await scene(client)
        else:
            await scene_late(client)
        bundles.append(members(await bundle(client)))
    in_time, late = bundles
    for name in DATA:
        assert in_time[name] == late[name], name
    manifests = [json.loads(b["manifest.json"]) for b in bundles]
    for manifest in manifests:
        manifest.pop("key")
    assert manifests[0] == manifests[1]


async def scene_late(client: TestClient) -> None:
    """The scene with the outage's hour and the afternoon held back, pushed newest first after
    the rest (an agent emptying its spool)."""
    status, _ = await declare(
        client,
        {"slas": ["acme-web"], "start": "2026-11-03T02:00:00Z", "end": "2026-11-03T03:00:00Z",
         "reason": "kernel upgrade"},
    )  # fmt: skip
    assert status == 201
    late = lambda s: DAY + 10 * HOUR <= s["ts"] * 1000 < DAY + 16 * HOUR  # noqa: E731
    for agent in ("eu-1", "us-1", "ap-1"):
        samples = day_samples(agent)
        await push(client, agent, [s for s in samples if not late(s)])
    for agent in ("ap-1", "us-1", "eu-1"):
        held = [s for s in day_samples(agent) if late(s)]
        for start in range(len(held) - 50, -50, -50):
            await push(client, agent, held[max(0, start) : start + 50])


async def test_the_command_verifies_and_names_what_fails(
    client: TestClient, tmp_path: Path
) -> None:
    await scene(client)
    data = await bundle(client)
    good = write(tmp_path, data)
    key_file = tmp_path / "key.pem"
    key_file.write_text(
        (await (await client.get("/api/v1/evidence-key")).json())["public_key_pem"],
        encoding="utf-8",
    )
    ok = run_verify(good, "--key", str(key_file))
    assert ok.returncode == 0, ok.stderr
    assert "checked with the key given with --key" in ok.stdout
    named = run_verify(good)
    assert named.returncode == 0, named.stderr
    assert "the key named in manifest.json" in named.stdout
    files = members(data)
    files["windows.json"] = files["windows.json"].replace(b"kernel upgrade", b"kernel_upgrade")
    bad = run_verify(write(tmp_path, rezip(files), "bad.zip"), "--key", str(key_file))
    assert bad.returncode == 1
    assert "windows.json" in bad.stderr
    other = tmp_path / "other.pem"
    other.write_text(load_or_create(tmp_path / "other-key").public.pem, encoding="utf-8")
    wrong_key = run_verify(good, "--key", str(other))
    assert wrong_key.returncode == 1
    assert "manifest.sig: the signature of manifest.json does not verify" in wrong_key.stderr
    assert "the bundle names key" in wrong_key.stderr
    assert run_verify(tmp_path / "missing.zip").returncode == 2


def run_verify(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SLAWATCH, "verify-evidence", str(path), *args],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )  # fmt: skip


async def test_collector_evidence_key_names_the_key_file(
    tmp_path: Path, aiohttp_client: Callable[..., Any]
) -> None:
    text = CONFIG.replace("  database: data/collector.db\n",
                          "  database: data/collector.db\n  evidence_key: keys/evidence.pem\n")  # fmt: skip
    config = parse_config(text, base_dir=tmp_path, process="collector")
    client = await aiohttp_client(Collector(config, clock=Clock(NOW)).app)
    published = await (await client.get("/api/v1/evidence-key")).json()
    key_file = tmp_path / "keys" / "evidence.pem"
    assert load_or_create(key_file).public.base64 == published["public_key"]
    assert not (tmp_path / "data" / "collector.db.evidence-key").exists()
