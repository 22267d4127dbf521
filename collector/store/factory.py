"""`create_store`: the backend `collector.database` names.

An SQLite file path (the embedded default) gives the SQLite store; a `postgresql://` URL (CONTRACT
§6) will give the PostgreSQL one, a package beside `sqlite/` implementing the same Protocols.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from slawatch.collector.store.protocols import Store

_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
POSTGRESQL_SCHEMES = ("postgresql", "postgres")


class StoreUnavailableError(RuntimeError):
    """The database names a backend this slawatch cannot use."""


def create_store(database: Path | str) -> Store:
    """A store, not yet open, on `database`: an SQLite file path, or a database URL."""
    scheme = _URL_SCHEME.match(database) if isinstance(database, str) else None
    if scheme is None:
        from slawatch.collector.store.sqlite import SqliteStore

        return SqliteStore(Path(database))
    if scheme.group(1).lower() in POSTGRESQL_SCHEMES:
        raise StoreUnavailableError(
            "collector.database: PostgreSQL support is not installed/available yet in this"
            " slawatch; use an SQLite file path"
        )
    raise StoreUnavailableError(
        f"collector.database: unknown database URL scheme {scheme.group(1)!r}: an SQLite file"
        " path or a postgresql:// URL"
    )


def database_label(database: Path | str) -> str:
    """`database` as it may be logged or shown: a URL without its password."""
    if not isinstance(database, str) or not _URL_SCHEME.match(database):
        return str(database)
    parts = urlsplit(database)
    if parts.password is None:
        return database
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
