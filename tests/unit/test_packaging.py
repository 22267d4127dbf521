"""The distribution installs one top-level package, `slawatch`, with every subpackage in it.

The folders `agent/`, `collector/` and `config/` stay at the top of the repository and install as
`slawatch.agent`, `slawatch.collector` and `slawatch.config` (setuptools `package-dir`), so no
package named `agent`, `collector` or `config` lands in site-packages beside other projects'.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"slawatch": "slawatch", "agent": "slawatch.agent", "collector": "slawatch.collector"}
FOLDERS["config"] = "slawatch.config"


def _listed_packages() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return set(project["tool"]["setuptools"]["packages"])


def _packages_on_disk() -> set[str]:
    found = set()
    for folder, package in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *parts)))
    return found


def test_every_package_on_disk_is_listed_for_installation() -> None:
    assert _listed_packages() == _packages_on_disk()


def test_the_wheel_holds_only_the_slawatch_package(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("slawatch-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.startswith("slawatch-")}
    assert tops == {"slawatch"}
    assert "slawatch/collector/templates/report.html" in names
    assert "slawatch/config/slawatch.yaml" in names
    assert "slawatch/collector/engine/sla.py" in names
