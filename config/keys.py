"""Declarations of config keys: what each key holds, its default, whether it is a secret, and
what it means. The sections, the check types and the channels declare their keys with these; the
reader validates a file against them and `scripts/docs.py` writes docs/configuration.md from them,
so the docs and the loader cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Kind:
    """What a key holds: its name in the docs and the parser of its YAML value.

    `parse` raises `ValueError` with a message for the user that never quotes the value; None
    means the section's own code reads the key (a nested mapping, a key whose meaning depends on
    another)."""

    name: str
    parse: Callable[[Any], Any] | None = None
    from_source: bool = False
    """Parse the YAML source text of a plain scalar rather than its loaded value: YAML 1.1 reads
    an unquoted 02:00 as the number 120."""
    example: str | None = None
    """A value of this kind as one writes it in YAML, for the docs of keys that give none."""


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: Kind
    doc: str
    default: Any = None
    """What an absent (or null) key means, written as in YAML and parsed by `kind`: the docs
    show exactly what the loader uses."""
    default_doc: str | None = None
    """The default in words, when it depends on other keys ("2 × interval")."""
    required: bool = False
    secret: bool = False
    """Never printed (not in problems, not in YAML errors), and given from the environment
    (`${VAR}`) in the example files."""
    example: str | None = None
    """A value as one writes it in YAML, for the docs (default: the kind's)."""
    table: Table | None = None
    """The keys of the mapping this key holds, or of each item of its list."""

    def default_value(self) -> Any:
        if self.default is None or self.kind.parse is None:
            return self.default
        return self.kind.parse(self.default)


@dataclass(frozen=True, slots=True)
class Table:
    """The keys of one mapping: a section, or a nested mapping such as a check's `expect`."""

    keys: tuple[Key, ...]

    def names(self) -> tuple[str, ...]:
        return tuple(key.name for key in self.keys)

    def key(self, name: str) -> Key:
        return next(key for key in self.keys if key.name == name)

    def __iter__(self) -> Iterator[Key]:
        return iter(self.keys)

    def __add__(self, other: Table) -> Table:
        return Table(self.keys + other.keys)
