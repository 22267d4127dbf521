"""The pure parts of evidence bundles: samples.csv lines as `csv.writer` writes them and as
`slawatch verify-evidence` reads them back, and sla.json read back into the SLA."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from slawatch.collector.engine.maintenance import Interval
from slawatch.collector.engine.timeline import SampleState, build_runs
from slawatch.collector.evidence import verify
from slawatch.collector.evidence.bundle import csv_lines
from slawatch.collector.evidence.documents import sla_from_json, sla_json
from slawatch.collector.evidence.verify import read_samples
from slawatch.config.schema import CreditTier, LatencyObjective, Sla

LATENCIES = st.none() | st.floats(0, 1e7) | st.floats(0, 1e300) | st.floats(-1e-3, 1e-3)
"""Every form `repr` writes a float in: positional, with an exponent, tiny ("1e-05")."""
SAMPLES = st.lists(
    st.tuples(
        st.integers(0, 2**45),
        st.integers(0, 1),
        LATENCIES,
        st.integers(1, 86_400_000),
        st.none() | st.integers(100, 599),
        st.none() | st.text(max_size=30),
    ),
    min_size=1,
    max_size=20,
    unique_by=lambda sample: sample[0],
).map(sorted)
"""Samples of one check and agent, by time: (ts_ms, ok, latency_ms, interval_ms,
status_code, error)."""


def tail(sample: tuple) -> str:
    """What the store renders of a sample (`CsvSampleRows`): its line after `latency_ms`."""
    written = io.StringIO()
    csv.writer(written, lineterminator="\r\n").writerow(sample[3:])
    return "," + written.getvalue()


def lines(check: str, agent: str, samples: list[tuple]) -> str:
    ts_ms, ok, latency_ms, *_ = zip(*samples, strict=True)
    tails = [tail(sample) for sample in samples]
    return csv_lines(check, agent, ts_ms=ts_ms, ok=ok, latency_ms=latency_ms, tails=tails)


@given(st.sampled_from(["web", "db.main"]), st.sampled_from(["eu-1", "us_2"]), SAMPLES)
def test_csv_lines_are_what_csv_writer_writes(check: str, agent: str, samples: list) -> None:
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\r\n").writerows((check, agent, *s) for s in samples)
    assert lines(check, agent, samples) == expected.getvalue()


def test_tiny_and_huge_latencies_are_written_as_repr_writes_them() -> None:
    samples = [(1000 * i, 1, latency, 30_000, None, None)
               for i, latency in enumerate([1e-05, 0.0, 1e16, 1.5e300, 123.456, 5e-324])]  # fmt: skip
    assert [line.split(",")[4] for line in lines("web", "eu-1", samples).splitlines()] == [
        "1e-05", "0.0", "1e+16", "1.5e+300", "123.456", "5e-324",
    ]  # fmt: skip


@given(SAMPLES, SAMPLES)
def test_verify_reads_back_the_runs_and_latencies_the_engine_uses(
    web: list[tuple], db: list[tuple]
) -> None:
    header = "check,agent,ts_ms,ok,latency_ms,interval_ms,status_code,error\r\n"
    data = io.BytesIO((header + lines("db", "eu-1", db) + lines("web", "eu-1", web)).encode())
    runs, latencies, count = read_samples(data, ["web", "db"], [Interval(0, 2**62)])
    assert count == len(web) + len(db)
    for check, samples in (("web", web), ("db", db)):
        states = [SampleState(s[0], bool(s[1]), s[3], s[5] or None) for s in samples]
        assert runs[check]["eu-1"] == build_runs(states)
    measured = [s[2] for s in db + web if s[1] and s[2] is not None]
    assert latencies == measured


def test_sla_json_reads_back_as_the_sla_without_its_maintenance() -> None:
    sla = Sla(
        id="acme-web", name="ACME", checks=("web", "db"), objective=99.9, customer="acme",
        require="any", period="week", timezone="Europe/Paris", quorum=2, min_downtime=120.0,
        unknown="down", latency=LatencyObjective(0.8, 99.0),
        credits=(CreditTier(99.9, 10.0), CreditTier(99.0, 25.0)),
    )  # fmt: skip
    assert sla_from_json(sla_json(sla)) == sla


@pytest.mark.parametrize("block", [2, 20_000])
@pytest.mark.parametrize(
    ("body", "failure"),
    [
        ("web,eu-1,1000,1,5.0,30000,200,\r\nweb,eu-1,2000,2,5.0,30000,200,\r\n",
         "line 3: not a sample"),
        ("web,eu-1,1000,1,5.0,30000,200,\r\nweb,eu-1,2000,1,x,30000,200,\r\n",
         "line 3: not a sample"),
        ("web,eu-1,1000,1,,30000,200,\r\nweb,eu-1,2000,1,,0,200,\r\n", "line 3: not a sample"),
        ("web,eu-1,1000,1,,30000,200,\r\nweb,eu-1,2000,1,,30000,200\r\n",
         "line 3: not a sample"),
        ("web,eu-1,1000,1,,30000,,\r\nweb,eu-1,3000,1,,30000,,\r\nweb\r\n",
         "line 4: not a sample"),
        ("web,eu-1,1000,1,,30000,,\r\nweb,eu-1,3000,1,,30000,,\r\nweb,eu-1,3000,0,,30000,,\r\n",
         "line 4: not after the line before"),
        ("web,eu-1,1000,1,,30000,,\r\nweb,eu-1,3000,1,,30000,,\r\nweb,eu-1,2000,0,,30000,,\r\n",
         "line 4: not after the line before"),
        ("web,eu-1,1000,1,,30000,,\r\ndb,eu-1,3000,1,,30000,,\r\nweb,eu-1,5000,0,,30000,,\r\n",
         "the samples of web/eu-1 are not together"),
    ],
)  # fmt: skip
def test_a_line_that_is_not_a_sample_in_order_is_named(
    monkeypatch: pytest.MonkeyPatch, block: int, body: str, failure: str
) -> None:
    monkeypatch.setattr(verify, "READ_BLOCK", block)
    header = "check,agent,ts_ms,ok,latency_ms,interval_ms,status_code,error\r\n"
    with pytest.raises(verify.VerificationFailed, match=f"^samples.csv: {failure}$"):
        read_samples(io.BytesIO((header + body).encode()), ["web", "db"], [Interval(0, 10**6)])


@pytest.mark.parametrize(
    ("body", "failure"),
    [
        (b"web,eu-1,1000,1,5.0,30000,200,\r\nweb,eu-1,2000,1,5.0,30000,200,\xff\r\n",
         "not UTF-8 text"),
        (b"web,eu-1,1000,1,5.0,30000,200,\r\nweb,eu-1,2000,1,5.0,30000,200," + b"x" * 200_000,
         "line 3: not CSV"),
    ],
)  # fmt: skip
def test_samples_that_cannot_be_read_as_utf8_csv_fail_naming_the_file(
    body: bytes, failure: str
) -> None:
    header = b"check,agent,ts_ms,ok,latency_ms,interval_ms,status_code,error\r\n"
    with pytest.raises(verify.VerificationFailed, match=f"^samples.csv: {failure} "):
        read_samples(io.BytesIO(header + body), ["web"], [Interval(0, 10**6)])
