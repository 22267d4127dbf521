"""JSON Schemas (2020-12, as OpenAPI 3.1 uses them) from Python types: one source for a body's
shape and its documentation.

A JSON object is a `TypedDict`; its keys are required unless marked `NotRequired`, its
docstring is the schema's description. Constraints ride on the type with `Annotated`:

    class Sample(TypedDict):
        check: Annotated[str, Schema(pattern=ID_REGEX)]
        latency_ms: NotRequired[Annotated[float | None, Schema(minimum=0)]]

gives `{"type": "object", "required": ["check"], "properties": {"check": {"type": "string",
"pattern": …}, "latency_ms": {"type": ["number", "null"], "minimum": 0}}}`.

`str`, `int`, `float`, `bool`, `bytes` (a binary string), `Any`, `None`, `Literal[…]` (an
enum, or a const of one value), `list[T]` and `tuple[T, ...]` (arrays), `dict[str, T]` (objects
of T), unions (`T | None` is nullable) and TypedDicts: each named TypedDict becomes a component
(`{"$ref": "#/components/schemas/Name"}`) unless marked `INLINE`. A key that is a Python keyword
is written with a trailing underscore (`from_: Instant` is the key `from`).
"""

from __future__ import annotations

import keyword
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, NotRequired, Required, TypeVar, Union

REF_PREFIX = "#/components/schemas/"
SCALARS: Mapping[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_MODEL_KEYWORDS = "__json_schema__"


class Schema:
    """JSON Schema keywords added to the schema of the type they annotate. Keyword arguments
    in snake case name the camel-case keywords (`exclusive_minimum=0`); a trailing underscore
    frees a Python keyword (`if_=…`)."""

    __slots__ = ("keywords",)

    def __init__(self, **keywords: Any) -> None:
        self.keywords: dict[str, Any] = {_camel(name): value for name, value in keywords.items()}

    def __repr__(self) -> str:
        return f"Schema({self.keywords!r})"


class Inline:
    """Marks a TypedDict to be written in place rather than as a component."""

    __slots__ = ()


INLINE = Inline()

Model = TypeVar("Model")


def with_keywords(**keywords: Any) -> Callable[[Model], Model]:
    """A TypedDict's own keywords beyond its fields (`if`/`then`), as a class decorator."""

    def decorate(model: Model) -> Model:
        setattr(model, _MODEL_KEYWORDS, Schema(**keywords).keywords)
        return model

    return decorate


class Components:
    """Schemas of types, gathering the components (named TypedDicts) they refer to."""

    def __init__(self) -> None:
        self.schemas: dict[str, dict[str, Any]] = {}
        self._models: dict[str, type] = {}

    def schema_of(self, hint: Any, *, inline: bool = False) -> dict[str, Any]:
        origin = typing.get_origin(hint)
        arguments = typing.get_args(hint)
        if origin is Annotated:
            metadata = hint.__metadata__
            schema = self.schema_of(
                arguments[0], inline=inline or any(isinstance(m, Inline) for m in metadata)
            )
            for meta in metadata:
                if isinstance(meta, Schema):
                    schema = {**schema, **meta.keywords}
            return schema
        if origin in (NotRequired, Required):
            return self.schema_of(arguments[0], inline=inline)
        if origin in (Union, types.UnionType):
            return self._union(arguments, inline)
        if origin is Literal:
            return {"const": arguments[0]} if len(arguments) == 1 else {"enum": list(arguments)}
        if origin in (list, tuple, Sequence, frozenset):
            if origin is tuple and (len(arguments) != 2 or arguments[1] is not Ellipsis):
                raise TypeError(f"only tuples of any length have a JSON schema, not {hint!r}")
            return {"type": "array", "items": self.schema_of(arguments[0])}
        if origin in (dict, Mapping):
            if arguments[0] is not str:
                raise TypeError(f"JSON object keys are strings, not those of {hint!r}")
            if arguments[1] is Any:
                return {"type": "object"}
            return {"type": "object", "additionalProperties": self.schema_of(arguments[1])}
        return self._plain(hint, inline)

    def _plain(self, hint: Any, inline: bool) -> dict[str, Any]:
        if hint is Any:
            return {}
        if hint is None or hint is types.NoneType:
            return {"type": "null"}
        if hint is bytes:
            return {"type": "string", "format": "binary"}
        if hint in SCALARS:
            return {"type": SCALARS[hint]}
        if typing.is_typeddict(hint):
            return self._object(hint) if inline else self._ref(hint)
        raise TypeError(f"no JSON schema for {hint!r}")

    def _union(self, members: Sequence[Any], inline: bool) -> dict[str, Any]:
        nullable = any(m is None or m is types.NoneType for m in members)
        schemas = [
            self.schema_of(m, inline=inline)
            for m in members
            if m is not None and m is not types.NoneType
        ]
        if len(schemas) == 1:
            (schema,) = schemas
            if not nullable:
                return schema
            if isinstance(schema.get("type"), str):
                return {**schema, "type": [schema["type"], "null"]}
            if "enum" in schema:
                return {**schema, "enum": [*schema["enum"], None]}
            return {"oneOf": [{"type": "null"}, schema]}
        if all(set(s) == {"type"} and isinstance(s["type"], str) for s in schemas):
            return {"type": [s["type"] for s in schemas] + (["null"] if nullable else [])}
        return {"oneOf": ([{"type": "null"}] if nullable else []) + schemas}

    def _ref(self, model: type) -> dict[str, Any]:
        name = model.__name__
        known = self._models.get(name)
        if known is None:
            self._models[name] = model
            self.schemas[name] = {}  # taken before the fields: a model may refer to itself
            self.schemas[name] = self._object(model)
        elif known is not model:
            raise TypeError(f"two models named {name}: {known.__module__} and {model.__module__}")
        return {"$ref": REF_PREFIX + name}

    def _object(self, model: type) -> dict[str, Any]:
        hints = typing.get_type_hints(model, include_extras=True)
        total = getattr(model, "__total__", True)
        required = [
            _key(name)
            for name, hint in hints.items()
            if typing.get_origin(hint) is Required
            or (total and typing.get_origin(hint) is not NotRequired)
        ]
        schema: dict[str, Any] = {"type": "object"}
        if model.__doc__:
            schema["description"] = " ".join(model.__doc__.split())
        if required:
            schema["required"] = required
        schema["properties"] = {_key(name): self.schema_of(hint) for name, hint in hints.items()}
        schema.update(getattr(model, _MODEL_KEYWORDS, {}))
        return schema


def _key(field: str) -> str:
    """The JSON key of a field: `from_` is `from`, a Python keyword freed by an underscore."""
    stem = field.removesuffix("_")
    return stem if keyword.iskeyword(stem) else field


def _camel(name: str) -> str:
    first, *rest = name.removesuffix("_").split("_")
    return first + "".join(word.capitalize() for word in rest)
