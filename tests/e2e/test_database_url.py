"""`collector.database` as a URL (CONTRACT §6): a database that cannot be reached, or a scheme
slawatch has no backend for, is said clearly by every command that opens the store (exit 1;
`slawatch backup` and `--check-db`, SQLite only: exit 2), never showing the URL's password, and
no stray SQLite file is made named after the URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import free_port, run_slawatch

PASSWORD = "s3cret-pw-0123456789"


def write_config(folder: Path, database: str) -> Path:
    config = folder / "collector.yaml"
    config.write_text(
        f"""
collector:
  listen: 127.0.0.1:{free_port()}
  database: "{database}"
slas:
  - id: shop
    checks: [web]
    objective: 99.9
""",
        encoding="utf-8",
    )
    return config


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


NOWHERE = free_port()
"""A port of 127.0.0.1 where no database listens."""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"postgresql://slawatch:{PASSWORD}@127.0.0.1:{NOWHERE}/sla", "database unreachable"),
        (f"postgres://slawatch:{PASSWORD}@127.0.0.1:{NOWHERE}/sla", "database unreachable"),
        (f"mysql://root:{PASSWORD}@db/sla", "unknown database URL scheme 'mysql'"),
    ],
)  # fmt: skip
def test_the_collector_refuses_to_start_on_a_database_url_it_cannot_open(
    tmp_path: Path, url: str, message: str
) -> None:
    config = write_config(tmp_path, url)
    result = run_slawatch(["collector", "--config", str(config)], timeout=60)
    assert result.returncode == 1
    assert "collector_cannot_start" in result.stderr and message in result.stderr
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert "slawatch:***@" in result.stderr or "root:***@" in result.stderr
    assert files_under(tmp_path) == ["collector.yaml"]


def test_report_says_it_cannot_reach_the_postgresql_database(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"postgresql://slawatch:{PASSWORD}@127.0.0.1:{NOWHERE}/sla")
    result = run_slawatch(["report", "--config", str(config), "--sla", "shop"])
    assert (result.returncode, result.stdout) == (1, "")
    assert "cannot read the database postgresql://slawatch:***@127.0.0.1" in result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    assert files_under(tmp_path) == ["collector.yaml"]


def test_backup_copies_sqlite_only(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"postgresql://slawatch:{PASSWORD}@127.0.0.1:5432/sla")
    result = run_slawatch(["backup", "--config", str(config), str(tmp_path / "out.db")])
    assert result.returncode == 2
    assert "slawatch backup copies an SQLite database" in result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    assert files_under(tmp_path) == ["collector.yaml"]


def test_check_db_checks_sqlite_only(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"postgresql://slawatch:{PASSWORD}@127.0.0.1:5432/sla")
    result = run_slawatch(["collector", "--config", str(config), "--check-db"])
    assert result.returncode == 2
    assert "--check-db checks an SQLite database" in result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    assert files_under(tmp_path) == ["collector.yaml"]
