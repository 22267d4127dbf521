"""Arrays sent to PostgreSQL as one text literal each (`'{1,2,3}'`, cast in SQL:
`$1::text::bigint[]`), not as lists.

asyncpg encodes a list parameter element by element, asking of each whether it is an array
itself (`isinstance` against two abstract base classes, ~1 µs an element): a batch of samples
shuffled over a day (1,000 runs of eight columns, 1,000 hourly histograms of ~50 buckets) spent
more of the collector's time there than on the batch's own work. A literal is one string, read
by the server in C.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def int_array(values: Iterable[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def float_array(values: Iterable[float]) -> str:
    """`repr` is the shortest form that reads back as the same double, as PostgreSQL reads it."""
    return "{" + ",".join(map(repr, values)) + "}"


def bool_array(values: Iterable[bool]) -> str:
    return "{" + ",".join("t" if value else "f" for value in values) + "}"


def text_array(values: Iterable[str | None]) -> str:
    """Each string quoted (its quotes and backslashes escaped); None is NULL."""
    return "{" + ",".join("NULL" if value is None else _quoted(value) for value in values) + "}"


def int_arrays(arrays: Iterable[Sequence[int]]) -> str:
    """A text[] literal of int array literals (`'{"{1,2}","{3}"}'`), for `x::smallint[]` each."""
    return "{" + ",".join('"{' + ",".join(map(str, array)) + '}"' for array in arrays) + "}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
