"""Time to load a big config file: ours against PyYAML's pure-Python parser in the same run.

    .venv/bin/python bench/config_load.py [--checks 2000] [--runs 7]

The file has N checks (half http with an `expect`, half tcp), SLAs over them and a collector.
Measured, median of the runs, after a warm-up (imports of the registries):
- ours: `parse_config` as the processes call it (libyaml's parser when PyYAML has it);
- baseline: the same with `reader.FAST_LOADER` off, i.e. PyYAML's pure-Python parser, which is
  what the loader used before and what still explains a file libyaml refuses.
Also the share of our time spent reading the parsed data (the sections) rather than YAML.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from slawatch.config import reader
from slawatch.config.loader import parse_config


def config_text(checks: int) -> str:
    lines = ["collector: {listen: '127.0.0.1:0', customers: [{id: acme}]}", "checks:"]
    for i in range(checks):
        if i % 2:
            lines.append(
                f"  - {{id: c{i}, url: 'https://h{i}.example/x', interval: 30s,"
                " expect: {status: [200], body_contains: ok}}"
            )
        else:
            lines.append(f"  - {{id: c{i}, host: db{i}.example, port: 5432, interval: 30s}}")
    lines.append("slas:")
    for i in range(0, checks, 10):
        ids = ", ".join(f"c{j}" for j in range(i, min(i + 10, checks)))
        lines.append(f"  - {{id: s{i}, customer: acme, checks: [{ids}], objective: 99.9}}")
    return "\n".join(lines) + "\n"


def median_seconds(action: Callable[[], object], runs: int) -> float:
    action()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if args.runs < 1 or args.checks < 1:
        parser.error("--checks and --runs must be at least 1")
    text = config_text(args.checks)

    def load() -> object:
        return parse_config(text, base_dir=Path("/tmp"), process="collector", environ={})

    def parse_only() -> object:
        return reader.read_yaml(text, "bench", lambda _: False)

    fast = reader.FAST_LOADER
    ours = median_seconds(load, args.runs)
    yaml_part = median_seconds(parse_only, args.runs)
    reader.FAST_LOADER = None
    try:
        baseline = median_seconds(load, args.runs)
    finally:
        reader.FAST_LOADER = fast
    print(f"{args.checks} checks, {len(text) / 1024:.0f} KiB, median of {args.runs} runs")
    print(f"  ours:     {ours * 1000:8.1f} ms  (libyaml: {'yes' if fast else 'no'})")
    print(f"  baseline: {baseline * 1000:8.1f} ms  (PyYAML's pure-Python parser)")
    print(f"  ratio ours/baseline: {ours / baseline:.2f}")
    print(f"  reading the parsed data: {(ours - yaml_part) / ours:.0%} of ours")


if __name__ == "__main__":
    main()
