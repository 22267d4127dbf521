"""Runs slawatch from another source tree (`bench/ingest.py --against DIR`), in this process and
in every process it spawns (the collector's batch workers).

An editable install maps `slawatch.agent`, `slawatch.collector` and `slawatch.config` to the tree
it was installed from, whatever PYTHONPATH says. Python imports this module at start-up when its
folder is on PYTHONPATH: it puts the tree named by `SLAWATCH_SOURCE_TREE` first and makes that
tree's top-level folders the subpackages of its `slawatch`, found before the editable install's
finder (which Python asks last).
"""

import os
import sys

_tree = os.environ["SLAWATCH_SOURCE_TREE"]
sys.path.insert(0, _tree)

import slawatch  # noqa: E402  (the tree's own, now first on the path)

slawatch.__path__.append(_tree)

import slawatch.collector  # noqa: E402

for _module in (slawatch, slawatch.collector):
    if not os.path.realpath(_module.__file__).startswith(os.path.realpath(_tree) + os.sep):
        raise SystemExit(f"{_module.__name__} comes from {_module.__file__}, not from {_tree}")
