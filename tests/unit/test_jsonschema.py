"""JSON Schemas generated from typed models (`slawatch.collector.jsonschema`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, TypedDict

import pytest

from slawatch.collector.ingest.routes import PhasesMs
from slawatch.collector.jsonschema import INLINE, Components, Schema, with_keywords
from slawatch.config.contract import PHASES


class Leaf(TypedDict):
    """A leaf."""

    name: Annotated[str, Schema(pattern="^[a-z]+$", max_length=8)]
    size: NotRequired[Annotated[float | None, Schema(minimum=0)]]


@with_keywords(if_={"required": ["kind"]}, then={"required": ["leaf"]})
class Tree(TypedDict):
    from_: str
    kind: Literal["oak", "elm"] | None
    leaf: Leaf | None
    leaves: list[Leaf]
    inline: Annotated[Leaf, INLINE]
    counts: dict[str, int]
    extra: dict[str, Any]
    either: str | int
    constant: Literal["yes"]


def test_a_model_becomes_a_component_with_its_constraints() -> None:
    components = Components()
    assert components.schema_of(Tree) == {"$ref": "#/components/schemas/Tree"}
    assert components.schemas["Leaf"] == {
        "type": "object",
        "description": "A leaf.",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 8},
            "size": {"type": ["number", "null"], "minimum": 0},
        },
    }
    tree = components.schemas["Tree"]
    assert tree["required"] == [
        "from", "kind", "leaf", "leaves", "inline", "counts", "extra", "either", "constant",
    ]  # fmt: skip
    assert tree["properties"] == {
        "from": {"type": "string"},
        "kind": {"enum": ["oak", "elm", None]},
        "leaf": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Leaf"}]},
        "leaves": {"type": "array", "items": {"$ref": "#/components/schemas/Leaf"}},
        "inline": components.schemas["Leaf"],
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "extra": {"type": "object"},
        "either": {"type": ["string", "integer"]},
        "constant": {"const": "yes"},
    }
    assert tree["if"] == {"required": ["kind"]} and tree["then"] == {"required": ["leaf"]}


def test_two_models_of_one_name_are_refused() -> None:
    components = Components()
    components.schema_of(Leaf)
    other = TypedDict("Leaf", {"x": int})  # type: ignore[misc]  # noqa: UP013 - a second Leaf
    with pytest.raises(TypeError, match="two models named Leaf"):
        components.schema_of(other)


@pytest.mark.parametrize("hint", [set[int], tuple[int, str], dict[int, str], object])
def test_a_type_without_a_json_schema_is_refused(hint: Any) -> None:
    with pytest.raises(TypeError):
        Components().schema_of(hint)


def test_the_phases_of_a_sample_are_the_contracts() -> None:
    assert tuple(PhasesMs.__annotations__) == PHASES
