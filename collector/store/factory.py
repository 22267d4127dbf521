"""`create_store`: the backend `collector.database` names.

The config gives an SQLite file path (a `Path`, the embedded default) or a database URL as
written (a `str`); a `postgresql://` URL (CONTRACT §6) gives the PostgreSQL store (`postgres/`,
beside `sqlite/`, implementing the same Protocols).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from slawatch.collector.store.protocols import Store

POSTGRESQL_SCHEMES = ("postgresql", "postgres")


class StoreUnavailableError(RuntimeError):
    """The database names a backend this slawatch cannot use."""


def create_store(database: Path | str) -> Store:
    """A store, not yet open, on `database`: an SQLite file path, or a database URL."""
    if isinstance(database, Path):
        from slawatch.collector.store.sqlite import SqliteStore

        return SqliteStore(database)
    scheme = urlsplit(database).scheme.lower()
    if scheme in POSTGRESQL_SCHEMES:
        try:
            from slawatch.collector.store.postgres import PostgresStore
        except ImportError as missing:
            raise StoreUnavailableError(
                f"collector.database: PostgreSQL needs the asyncpg driver ({missing}):"
                " pip install 'slawatch[postgres]'"
            ) from None
        return PostgresStore(database)
    raise StoreUnavailableError(
        f"collector.database: unknown database URL scheme {scheme!r}: an SQLite file path or a"
        " postgresql:// URL"
    )


def database_label(database: Path | str) -> str:
    """`database` as it may be logged or shown: a URL without its password."""
    if isinstance(database, Path):
        return str(database)
    parts = urlsplit(database)
    if parts.password is None:
        return database
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
