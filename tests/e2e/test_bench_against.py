"""`bench/ingest.py --against DIR` runs another source tree's slawatch with this venv: its
`sitecustomize` maps the other tree's packages in, in the process and in the worker processes it
spawns (an editable install maps them to this tree whatever PYTHONPATH says)."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import importlib.util, multiprocessing
from concurrent.futures import ProcessPoolExecutor

def origins():
    return [importlib.util.find_spec(name).origin
            for name in ("slawatch.cli", "slawatch.collector.store", "slawatch.config")]

if __name__ == "__main__":
    print(origins())
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        print(pool.submit(origins).result())
"""


def load_bench() -> object:
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_another_trees_packages_are_imported_in_the_process_and_its_workers(
    tmp_path: Path,
) -> None:
    other = tmp_path / "other"
    for folder in ("slawatch", "agent", "collector", "config"):
        shutil.copytree(ROOT / folder, other / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "origins.py").write_text(SCRIPT, encoding="utf-8")
    bench = load_bench()
    env = bench._running_tree(other)  # type: ignore[attr-defined]
    found = subprocess.run(
        [sys.executable, str(tmp_path / "origins.py")],
        capture_output=True, text=True, env=env, cwd=other, timeout=60, check=True,
    )  # fmt: skip
    parent, child = found.stdout.splitlines()
    for origins in (parent, child):
        assert origins.count(str(other)) == 3, origins
        assert str(ROOT / "collector") not in origins
    assert bench._running_tree(None) is None  # type: ignore[attr-defined]
