"""The OpenAPI document matches the real API: schemathesis against a running collector process.

Every operation gets generated requests (valid and invalid); no answer may be a 5xx, and every
answer must conform to the document (status codes, content types, bodies).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings

from slawatch.collector import openapi
from slawatch.collector.main import Collector
from slawatch.config.loader import parse_config
from tests.openapi_rig import ADMIN, operations, sends_what_it_says

OWN_OPERATIONS = {
    "GET /healthz": False,
    "GET /metrics": False,
    "POST /api/v1/samples": True,
    "GET /api/v1/checks": False,
}
"""The routes of `slawatch.collector.monitoring` and `slawatch.collector.ingest`, and whether
they take input. Other modules' routes are in the
same document (`documented_operations`) and are theirs to test the same way."""
POSITIVE, NEGATIVE = schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE
CASES = [(label, POSITIVE) for label in OWN_OPERATIONS] + [
    (label, NEGATIVE) for label, has_input in OWN_OPERATIONS.items() if has_input
]
"""Negative cases only where there is an input to make invalid."""


def documented_operations(folder: Path) -> set[str]:
    """Every operation the collector documents, built in-process (the document itself left
    out: schemathesis leaves out the URL it loaded)."""
    config = parse_config(
        "collector: {listen: 127.0.0.1:0}\n", base_dir=folder, process="collector"
    )
    document = openapi.document(Collector(config).app)
    return {
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if path != "/api/v1/openapi.json"
    }


def test_the_served_document_is_the_one_built_in_process(
    api_schema: schemathesis.schemas.BaseSchema, tmp_path: Path
) -> None:
    served = set(operations(api_schema))
    assert served == documented_operations(tmp_path)
    assert set(OWN_OPERATIONS) <= served


@pytest.mark.parametrize(("label", "mode"), CASES, ids=str)
def test_every_operation_conforms_to_the_document(
    api_schema: schemathesis.schemas.BaseSchema, label: str, mode: schemathesis.GenerationMode
) -> None:
    """Positive cases must be accepted; negative ones refused with a documented 4xx."""
    found = operations(api_schema)

    @given(case=found[label].as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        assume(sends_what_it_says(case))
        if mode is POSITIVE:
            _stamp_now(case)
        case.call_and_validate(headers={"Authorization": f"Bearer {ADMIN}"})

    conforms()


def _stamp_now(case: schemathesis.Case) -> None:
    """Put every sample's `ts` in the window the collector accepts (it moves with its clock, so
    the document cannot state it as bounds): the body stays valid against the document."""
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("samples"), list):
        for sample in body["samples"]:
            if isinstance(sample, dict) and "ts" in sample:
                sample["ts"] = time.time() - 1
