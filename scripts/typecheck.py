"""Type-check slawatch with mypy, as it is imported: `slawatch.agent`, `slawatch.collector`, …

    python scripts/typecheck.py [MYPY ARGUMENTS]

The folders `agent/`, `collector/` and `config/` sit at the top of the repository and install as
subpackages of `slawatch` (pyproject's `package-dir`), which mypy cannot map. So this script
mirrors the installed layout with symbolic links in `.cache/typecheck/` (kept, so that mypy's
cache stays valid between runs) and checks the package `slawatch` there, with the settings of
`[tool.mypy]` in pyproject.toml. Exits with mypy's status.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parent.parent
SUBPACKAGES = ("agent", "collector", "config")


def stage(target: Path) -> None:
    """`target/slawatch`: the files of `slawatch/` and the subpackage folders, as links."""
    package = target / "slawatch"
    package.mkdir(parents=True, exist_ok=True)
    wanted = {
        entry.name: entry for entry in (ROOT / "slawatch").iterdir() if entry.name != "__pycache__"
    }
    wanted.update({name: ROOT / name for name in SUBPACKAGES})
    for link in package.iterdir():
        if link.name not in wanted or not link.is_symlink() or link.resolve() != wanted[link.name]:
            link.unlink()
    for name, source in wanted.items():
        link = package / name
        if not link.is_symlink():
            link.symlink_to(source, target_is_directory=source.is_dir())


def main(arguments: list[str]) -> int:
    staged = ROOT / ".cache" / "typecheck"
    stage(staged)
    os.chdir(staged)
    stdout, stderr, status = api.run(
        [
            "--config-file", str(ROOT / "pyproject.toml"),
            "--cache-dir", str(ROOT / ".cache" / "mypy"),
            "-p", "slawatch",
            *arguments,
        ]
    )  # fmt: skip
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
