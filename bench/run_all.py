"""Run every benchmark under bench/ and regenerate the tables in BENCHMARKS.md.

Usage::

    .venv/bin/python bench/run_all.py [--quick]

Each ``bench/bench_*.py`` script is run with ``--write`` (and ``--quick``
when given), in a subprocess of this interpreter, one after the other so
that they do not compete for the CPU.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="pass --quick to scripts that take it"
    )
    args = parser.parse_args()
    failed = []
    for script in sorted(BENCH.glob("bench_*.py")):
        command = [sys.executable, str(script), "--write"]
        if args.quick and "--quick" in script.read_text():
            command.append("--quick")
        print(f"== {script.name}", flush=True)
        start = time.perf_counter()
        result = subprocess.run(command, cwd=BENCH.parent)
        print(
            f"== {script.name}: exit {result.returncode}, "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
