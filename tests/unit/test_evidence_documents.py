"""The pure parts of evidence bundles: samples.csv lines as `csv.writer` writes them and as
`slawatch verify-evidence` reads them back, and sla.json read back into the SLA."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from slawatch.collector.evidence.bundle import csv_lines
from slawatch.collector.evidence.documents import sla_from_json, sla_json
from slawatch.collector.evidence.verify import _rows
from slawatch.config.schema import CreditTier, LatencyObjective, Sla

ROWS = st.lists(
    st.tuples(
        st.sampled_from(["web", "db.main"]),
        st.sampled_from(["eu-1", "us_2"]),
        st.integers(0, 2**45),
        st.integers(0, 1),
        st.none() | st.floats(0, 1e7, allow_nan=False),
        st.integers(1, 86_400_000),
        st.none() | st.integers(100, 599),
        st.none() | st.text(max_size=30),
    ),
    max_size=20,
)


@given(ROWS)
def test_csv_lines_are_what_csv_writer_writes(rows: list[tuple]) -> None:
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\r\n").writerows(rows)
    assert csv_lines(rows) == expected.getvalue()


@given(ROWS)
def test_verify_reads_back_every_field_the_engine_uses(rows: list[tuple]) -> None:
    header = "check,agent,ts_ms,ok,latency_ms,interval_ms,status_code,error\r\n"
    data = io.BytesIO((header + csv_lines(rows)).encode())
    read = [row for _, row in _rows(data)]
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[7]) for r in read] == [
        (r[0], r[1], r[2], bool(r[3]), r[4], r[5], r[7] or None) for r in rows
    ]


def test_sla_json_reads_back_as_the_sla_without_its_maintenance() -> None:
    sla = Sla(
        id="acme-web", name="ACME", checks=("web", "db"), objective=99.9, customer="acme",
        require="any", period="week", timezone="Europe/Paris", quorum=2, min_downtime=120.0,
        unknown="down", latency=LatencyObjective(0.8, 99.0),
        credits=(CreditTier(99.9, 10.0), CreditTier(99.0, 25.0)),
    )  # fmt: skip
    assert sla_from_json(sla_json(sla)) == sla
