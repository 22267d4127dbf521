"""`slawatch backup` as a user runs it (issue 14, "Operations that fail badly"): a folder gets a
dated file, an existing file is kept unless `--force`, and every failure is one line, exit 1 or
2, never a traceback."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from tests.support import run_slawatch

DATED = re.compile(r"slawatch-\d{8}-\d{6}\.db")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A collector config whose database exists and holds one row."""
    database = tmp_path / "data" / "collector.db"
    database.parent.mkdir()
    db = sqlite3.connect(database)
    db.execute("CREATE TABLE marker (x)")
    db.execute("INSERT INTO marker VALUES ('original')")
    db.commit()
    db.close()
    path = tmp_path / "collector.yaml"
    path.write_text("collector:\n  database: data/collector.db\n", encoding="utf-8")
    return path


def marker(database: Path) -> str:
    db = sqlite3.connect(database)
    try:
        return db.execute("SELECT x FROM marker").fetchone()[0]
    finally:
        db.close()


def backup(config: Path, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    result = run_slawatch(["backup", "--config", str(config), *args], cwd=cwd)
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, result.stderr


@pytest.mark.parametrize("folder", [".", "backups", "backups/"])
def test_a_folder_gets_a_file_named_by_the_date(config: Path, tmp_path: Path, folder: str) -> None:
    (tmp_path / "backups").mkdir()
    code, out, err = backup(config, folder, cwd=tmp_path)
    assert code == 0, err
    where = tmp_path if folder == "." else tmp_path / "backups"
    [made] = [p for p in where.iterdir() if DATED.fullmatch(p.name)]
    assert marker(made) == "original"
    assert f"to {Path(folder) / made.name} (" in out
    assert not list(where.glob("*.partial"))


def test_an_existing_file_is_kept_unless_force(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "copy.db"
    out.write_bytes(b"an older backup")
    code, _, err = backup(config, str(out))
    assert code == 2
    assert err == f"{out} exists: give --force to replace it\n"
    assert out.read_bytes() == b"an older backup"
    code, _, err = backup(config, "--force", str(out))
    assert code == 0, err
    assert marker(out) == "original"


@pytest.mark.parametrize(
    ("out", "code", "message"),
    [
        (
            "no/such/folder/x.db",
            2,
            "cannot back up to no/such/folder/x.db: the folder no/such/folder does not exist",
        ),
        ("nofolder/", 2, "cannot back up to nofolder/: no such folder"),
        ("afile/x.db", 2, "cannot back up to afile/x.db: the folder afile is not a folder"),
        ("data/collector.db", 2, "cannot back up to data/collector.db: it is the database itself"),
        ("/proc", 1, "failed: "),
    ],
    ids=["missing-folder", "missing-folder-slash", "under-a-file", "itself", "unwritable"],
)
def test_each_failure_is_one_line_exit_1_or_2(
    config: Path, tmp_path: Path, out: str, code: int, message: str
) -> None:
    (tmp_path / "afile").write_text("x")
    got, stdout, err = backup(config, out, cwd=tmp_path)
    assert got == code
    assert stdout == ""
    assert len(err.splitlines()) == 1
    assert message in err
    assert ".partial" not in err


def test_without_a_database_there_is_nothing_to_back_up(tmp_path: Path) -> None:
    config = tmp_path / "collector.yaml"
    config.write_text("collector:\n  database: data/none.db\n", encoding="utf-8")
    code, _, err = backup(config, str(tmp_path))
    assert code == 1
    assert err == f"no database at {tmp_path / 'data' / 'none.db'}: nothing to back up\n"
