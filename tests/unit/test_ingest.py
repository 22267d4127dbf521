"""Validation of pushed batches (CONTRACT §3.1): every refusal names its sample and field."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slawatch.collector.ingest.batch import (
    NOT_JSON_NUMBER,
    BatchError,
    Problem,
    _checked_row,
    _fast_row,
    parse_batch,
    parse_json,
    validate_batch,
)
from slawatch.collector.samples import SampleRow
from slawatch.config.contract import MAX_BATCH_SAMPLES

NOW = 1_790_000_000.0
MAX_AGE = 45 * 86_400.0


def sample(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "check": "acme-web",
        "ts": NOW - 10,
        "ok": True,
        "latency_ms": 84.1,
        "interval_s": 30,
        "type": "http",
        "status_code": 200,
        "error": None,
        "phases_ms": {"dns": 1.2, "connect": 3.4, "tls": 21.0, "ttfb": 58.1, "transfer": 0.4},
        "tls_expires": 1_800_000_000,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def batch(*samples: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"agent": "eu-1", "samples": list(samples), **changes}


def problems(document: Any) -> list[tuple[int | None, str]]:
    with pytest.raises(BatchError) as caught:
        validate_batch(document, now=NOW, max_sample_age=MAX_AGE)
    return [(p.index, p.field) for p in caught.value.problems]


def test_a_valid_sample_becomes_a_store_row_in_milliseconds() -> None:
    result = validate_batch(
        batch(sample(ts=NOW - 0.25, status_code=200.0), labels={"region": "eu", "rack": "7"}),
        now=NOW,
        max_sample_age=MAX_AGE,
    )
    assert result.agent == "eu-1"
    assert result.labels == {"region": "eu", "rack": "7"}
    assert result.samples == [
        SampleRow(
            check="acme-web",
            ts_ms=round((NOW - 0.25) * 1000),
            ok=True,
            latency_ms=84.1,
            interval_ms=30_000,
            type="http",
            status_code=200,
            error=None,
            dns_us=1200,
            connect_us=3400,
            tls_us=21000,
            ttfb_us=58100,
            transfer_us=400,
            tls_expires=1_800_000_000.0,
        )
    ]


def test_only_the_required_fields_are_required_and_unknown_ones_are_ignored() -> None:
    minimal = {"check": "db", "ts": NOW, "ok": False, "interval_s": 0.5, "whatever": [1, 2]}
    (row,) = validate_batch(batch(minimal), now=NOW, max_sample_age=MAX_AGE).samples
    assert (row.ok, row.latency_ms, row.interval_ms, row.type, row.dns_us) == (
        False, None, 500, None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("ms", "us"),
    [(0, 0), (0.0004, 0), (0.0006, 1), (58.1234567, 58_123), (86_400_000.25, 86_400_000_250),
     (1e300, 1e300 * 1000)],
)  # fmt: skip
def test_phases_are_kept_in_whole_microseconds(ms: float, us: float) -> None:
    """Phases are diagnostics: the store keeps them to the microsecond, in a few bytes each."""
    (row,) = validate_batch(
        batch(sample(phases_ms={"ttfb": ms})), now=NOW, max_sample_age=MAX_AGE
    ).samples
    assert (row.dns_us, row.ttfb_us, row.latency_ms) == (None, us, 84.1)
    assert float(row.ttfb_us).is_integer()


def test_timestamps_are_identified_to_the_nearest_millisecond() -> None:
    # 1790000000.123 * 1000 is 1790000000122.9998 in binary floating point
    (row,) = validate_batch(
        batch(sample(ts=1_790_000_000.123)), now=NOW, max_sample_age=MAX_AGE
    ).samples
    assert row.ts_ms == 1_790_000_000_123


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"check": "Acme Web"}, "check"),
        ({"check": 12}, "check"),
        ({"check": ...}, "check"),
        ({"check": "a" * 129}, "check"),
        ({"ts": "1790000000"}, "ts"),
        ({"ts": True}, "ts"),
        ({"ts": ...}, "ts"),
        ({"ts": NOW + 301}, "ts"),
        ({"ts": NOW - MAX_AGE - 1}, "ts"),
        ({"ts": 1e999}, "ts"),
        ({"ok": "true"}, "ok"),
        ({"ok": 1}, "ok"),
        ({"ok": ...}, "ok"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"latency_ms": None}, "latency_ms"),
        ({"latency_ms": ...}, "latency_ms"),
        ({"latency_ms": "84"}, "latency_ms"),
        ({"latency_ms": float("inf")}, "latency_ms"),
        ({"interval_s": 0}, "interval_s"),
        ({"interval_s": -30}, "interval_s"),
        ({"interval_s": 86_401}, "interval_s"),
        ({"interval_s": ...}, "interval_s"),
        ({"interval_s": False}, "interval_s"),
        ({"status_code": 99}, "status_code"),
        ({"status_code": 600}, "status_code"),
        ({"status_code": 200.5}, "status_code"),
        ({"status_code": "200"}, "status_code"),
        ({"error": 5}, "error"),
        ({"type": 5}, "type"),
        ({"type": ""}, "type"),
        ({"phases_ms": [1, 2]}, "phases_ms"),
        ({"phases_ms": {"dns": -1}}, "phases_ms.dns"),
        ({"phases_ms": {"tls": "fast"}}, "phases_ms.tls"),
        ({"tls_expires": "soon"}, "tls_expires"),
        ({"tls_expires": float("nan")}, "tls_expires"),
    ],
)
def test_each_refusal_names_the_sample_and_the_field(changes: dict[str, Any], field: str) -> None:
    assert problems(batch(sample(), sample(**changes))) == [(1, field)]


def test_a_failure_may_omit_its_latency_and_the_edges_of_ranges_are_accepted() -> None:
    rows = validate_batch(
        batch(
            sample(ok=False, latency_ms=None, error="timeout"),
            sample(ts=NOW + 300, interval_s=86_400, status_code=100, latency_ms=0),
            sample(ts=NOW - MAX_AGE, status_code=599),
        ),
        now=NOW,
        max_sample_age=MAX_AGE,
    ).samples
    assert [row.ok for row in rows] == [False, True, True]


def test_every_bad_field_of_every_sample_is_named_once() -> None:
    found = problems(batch(sample(), sample(ts="x", ok="y"), "not a sample", sample(interval_s=0)))
    assert found == [(1, "ts"), (1, "ok"), (2, ""), (3, "interval_s")]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ([], ""),
        ("samples", ""),
        ({"samples": []}, "agent"),
        ({"agent": "EU 1", "samples": []}, "agent"),
        ({"agent": "eu-1"}, "samples"),
        ({"agent": "eu-1", "samples": {"0": {}}}, "samples"),
        ({"agent": "eu-1", "samples": [], "labels": ["eu"]}, "labels"),
        ({"agent": "eu-1", "samples": [], "labels": {"region": {"x": 1}}}, "labels.region"),
        ({"agent": "eu-1", "samples": [], "labels": {"rack": 7}}, "labels.rack"),
    ],
)
def test_batch_level_problems_name_no_sample(document: Any, field: str) -> None:
    assert problems(document) == [(None, field)]


def test_more_than_the_batch_limit_is_refused_and_the_limit_itself_is_not() -> None:
    many = [sample(ts=NOW - i / 1000) for i in range(MAX_BATCH_SAMPLES)]
    assert len(validate_batch(batch(*many), now=NOW, max_sample_age=MAX_AGE).samples) == len(many)
    assert problems(batch(*many, sample())) == [(None, "samples")]


@pytest.mark.parametrize(
    "body",
    [
        b'{"agent": "eu-1", "samples": [{"check": "a", "ts": NaN}]}',
        b'{"agent": "eu-1", "samples": [{"check": "a", "ts": Infinity}]}',
        b'{"agent": "eu-1", "samples": [{"check": "a", "latency_ms": -Infinity}]}',
        b'{"agent": "eu-1", "samples": [',
        b"\xff\xfe not utf-8",
        b"",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"agent": "eu-1", "samples": [], "n": ' + b"9" * 5000 + b"}",
    ],
)
def test_malformed_json_is_a_batch_error_never_a_crash(body: bytes) -> None:
    with pytest.raises(BatchError) as caught:
        parse_json(body)
    assert caught.value.message


def test_nan_and_infinity_are_refused_and_named_by_sample_and_field() -> None:
    body = (
        b'{"agent": "eu-1", "labels": {"region": NaN}, "samples": ['
        b'{"check": "a", "ts": 1, "ok": true},'
        b'{"check": "a", "ts": NaN, "phases_ms": {"dns": -Infinity}, "extra": [1, Infinity]},'
        b'{"check": "a", "ts": 1, "latency_ms": 1e999}]}'
    )
    with pytest.raises(BatchError) as caught:
        parse_json(body)
    assert caught.value.message.startswith("body is not valid JSON: ")
    assert [(p.index, p.field, p.error) for p in caught.value.problems] == [
        (1, "ts", NOT_JSON_NUMBER),
        (1, "phases_ms.dns", NOT_JSON_NUMBER),
        (1, "extra[1]", NOT_JSON_NUMBER),
        (2, "latency_ms", NOT_JSON_NUMBER),
        (None, "labels.region", NOT_JSON_NUMBER),
    ]


@pytest.mark.parametrize(
    "body", [b"[NaN]", b'{"samples": NaN', b"[" * 5000 + b"NaN" + b"]" * 5000, b'{"s": "NaN"} x']
)
def test_a_body_broken_otherwise_names_nothing(body: bytes) -> None:
    with pytest.raises(BatchError) as caught:
        parse_json(body)
    assert caught.value.problems == []


def test_parse_batch_reads_bytes() -> None:
    body = json.dumps(batch(sample())).encode()
    assert len(parse_batch(body, now=NOW, max_sample_age=MAX_AGE).samples) == 1


def test_an_agent_token_pushes_as_its_own_agent_only() -> None:
    body = json.dumps(batch(sample(ts="late"))).encode()  # invalid, and for eu-1
    with pytest.raises(BatchError) as caught:
        parse_batch(body, now=NOW, max_sample_age=MAX_AGE, pushing_as="us-1")
    assert (caught.value.status, caught.value.problems) == (403, [])
    assert "'us-1'" in caught.value.message
    with pytest.raises(BatchError) as caught:
        parse_batch(body, now=NOW, max_sample_age=MAX_AGE, pushing_as="eu-1")
    assert (caught.value.status, [(p.index, p.field) for p in caught.value.problems]) == (
        400,
        [(0, "ts")],
    )


def test_a_refusal_crosses_process_boundaries_whole() -> None:
    error = BatchError("invalid batch", [Problem(2, "ts", "must be Unix time")], status=400)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.problems, copy.status) == (error.message, error.problems, 400)


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.sampled_from([-1, 0, 1, 99, 100, 599, 600, 86_400, 86_401, 200.0, 0.5, -0.0]),
    st.floats(NOW - MAX_AGE - 10, NOW + 400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.sampled_from(["acme-web", "http", "Bad Id", "", "x" * 40]),
    st.lists(st.integers(), max_size=2),
)
SCALAR_FIELDS = ("check", "ts", "ok", "latency_ms", "interval_s", "type", "status_code", "error",
                 "tls_expires")  # fmt: skip
phases = st.one_of(values, st.dictionaries(st.sampled_from(["dns", "tls", "x"]), values))
fields = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(SCALAR_FIELDS, values) | {"phases_ms": phases}
)


@settings(max_examples=600, deadline=None)
@given(
    changes=st.one_of(
        fields,
        st.tuples(st.sampled_from([*SCALAR_FIELDS, "phases_ms"]), values).map(
            lambda kv: dict([kv])
        ),
    ),
    base=st.sampled_from([sample(), sample(ok=False, latency_ms=None), {}]),
)
def test_the_fast_path_accepts_only_what_the_full_rules_accept(
    changes: dict[str, Any], base: dict[str, Any]
) -> None:
    candidate = {**base, **changes}
    oldest, newest = NOW - MAX_AGE, NOW + 300
    fast = _fast_row(candidate, oldest, newest)
    found: list[Problem] = []
    checked = _checked_row(0, candidate, oldest, newest, found)
    if fast is not None:
        assert not found
        assert fast == checked
    assert (checked is None) == bool(found)


INTERESTING = [None, True, False, -1, 0, 1, 99, 100, 599, 600, 86_400, 86_401, 200.0, 0.5, -0.0,
               1e308, float("inf"), float("-inf"), float("nan"), NOW, NOW + 301, NOW - MAX_AGE - 1,
               "", "acme-web", "x" * 40, "Bad Id", [], {}, {"dns": -1}, {"tls": 1.5},
               {"x": "y"}]  # fmt: skip


def test_the_fast_path_agrees_with_the_full_rules_on_every_single_field_edge() -> None:
    oldest, newest = NOW - MAX_AGE, NOW + 300
    for base in (sample(), sample(ok=False, latency_ms=None)):
        for name in (*SCALAR_FIELDS, "phases_ms"):
            for value in INTERESTING:
                candidate = {**base, name: value}
                fast = _fast_row(candidate, oldest, newest)
                found: list[Problem] = []
                checked = _checked_row(0, candidate, oldest, newest, found)
                assert fast is None or (not found and fast == checked), (name, value)
