"""`create_store` picks the backend from `collector.database`; the config keeps a URL as written
and resolves a path against the config's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from slawatch.collector.store import StoreUnavailableError, create_store, database_label
from slawatch.collector.store.postgres import PostgresStore
from slawatch.collector.store.sqlite import SqliteStore
from slawatch.config.loader import parse_config


def test_a_path_is_an_sqlite_store(tmp_path: Path) -> None:
    store = create_store(tmp_path / "c.db")
    assert isinstance(store, SqliteStore) and store.path == tmp_path / "c.db"


@pytest.mark.parametrize("url", ["postgresql://u@h/db", "POSTGRES://u@h/db"])
def test_a_postgresql_url_is_a_postgresql_store(url: str) -> None:
    # made, not opened: no server is asked until `open()`
    assert isinstance(create_store(url), PostgresStore)


def test_an_unknown_url_scheme_is_named() -> None:
    with pytest.raises(StoreUnavailableError, match="unknown database URL scheme 'mysql'"):
        create_store("mysql://u@h/db")


def test_a_database_is_shown_without_its_password() -> None:
    assert database_label("postgresql://u:pw@h:5432/db?sslmode=require") == (
        "postgresql://u:***@h:5432/db?sslmode=require"
    )
    assert database_label("postgresql://u@h/db") == "postgresql://u@h/db"
    assert database_label(Path("/var/lib/slawatch/c.db")) == "/var/lib/slawatch/c.db"


def test_the_config_keeps_a_database_url_and_resolves_a_path(tmp_path: Path) -> None:
    def database(value: str) -> Path | str:
        text = f"collector:\n  database: '{value}'\n"
        loaded = parse_config(text, base_dir=tmp_path, process="collector")
        assert loaded.collector is not None
        return loaded.collector.database

    assert database(" postgresql://u@db:5432/sla ") == "postgresql://u@db:5432/sla"
    assert database("data/c.db") == tmp_path / "data" / "c.db"
    assert database("/srv/c.db") == Path("/srv/c.db")
