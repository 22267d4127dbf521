"""Writing a bundle from a real SQLite store: the bytes it streams, and a store that fails in
the middle of samples.csv."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from slawatch.collector.engine.periods import Window
from slawatch.collector.evidence.bundle import write_bundle
from slawatch.collector.evidence.keys import SigningKey
from slawatch.collector.evidence.verify import verify
from slawatch.collector.store import CsvSampleRows
from slawatch.collector.store.sqlite import SqliteStore
from slawatch.config.schema import Sla
from tests.store.support import MINUTE, T0, ingest, row

SLA = Sla(id="web", name="Web", checks=("web",), objective=99.9)
WINDOW = Window(T0, T0 + 200 * MINUTE)
NOW = T0 + 200 * MINUTE


class FailingStore(SqliteStore):
    """Its samples stop with a database error after the first chunk."""

    async def raw_sample_csv_rows(
        self, checks: Sequence[str], start_ms: int, end_ms: int, *, chunk: int = 20_000
    ) -> AsyncIterator[CsvSampleRows]:
        async for rows in super().raw_sample_csv_rows(checks, start_ms, end_ms, chunk=chunk):
            yield rows
            raise sqlite3.OperationalError("disk I/O error")


async def filled(store: SqliteStore) -> SqliteStore:
    await store.open()
    samples = [row(T0 + i * MINUTE, ok=i % 50 != 7, latency=40.0 + i % 13, error=None
                   if i % 50 != 7 else "refused, twice") for i in range(200)]  # fmt: skip
    await ingest(store, samples)
    await ingest(store, samples[:150], agent="us-1")
    return store


async def test_a_bundle_in_chunks_is_the_bundle_in_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await filled(SqliteStore(tmp_path / "db"))
    key = SigningKey.generate()
    made = []
    try:
        for chunk in (20_000, 7):
            monkeypatch.setattr("slawatch.collector.evidence.bundle.SAMPLE_CHUNK", chunk)
            target = io.BytesIO()
            await write_bundle(store, SLA, WINDOW, NOW, key, target=target, period=None)
            made.append(target.getvalue())
    finally:
        await store.close()
    assert made[0] == made[1]
    (tmp_path / "b.zip").write_bytes(made[0])
    assert verify(tmp_path / "b.zip").samples == 350


async def test_a_store_failing_mid_samples_fails_the_bundle_with_its_error(
    tmp_path: Path,
) -> None:
    store = await filled(FailingStore(tmp_path / "db"))
    target = io.BytesIO()
    try:
        with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
            await write_bundle(
                store, SLA, WINDOW, NOW, SigningKey.generate(), target=target, period=None
            )
    finally:
        await store.close()
    with zipfile.ZipFile(target) as archive:  # closed after the writing thread: readable
        assert archive.namelist() == ["samples.csv"]
        assert archive.read("samples.csv").startswith(b"check,agent,ts_ms,ok,")
