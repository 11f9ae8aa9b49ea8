"""Time the execution of every chapter notebook, as nbval and CI run them.

Each notebook runs top to bottom in a fresh kernel on a temporary copy, so
the committed files are untouched. Budget: under 60 s per notebook on a
2-core CPU.

Usage::

    python bench/bench_notebooks.py [--write] [NOTEBOOK ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from machine import machine_description, replace_section

from course_lib.tools.execute import execute_notebook, prefer_this_environment

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 60.0


def time_notebooks(paths: list[Path]) -> list[tuple[str, float]]:
    os.environ.setdefault("COURSE_DEVICE", "cpu")
    # As in the test suite: one thread per kernel process.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    prefer_this_environment()
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        for path in paths:
            copy = Path(folder) / path.name
            shutil.copy(path, copy)
            timings.append((path.name, execute_notebook(copy)))
    return timings


def table(timings: list[tuple[str, float]]) -> str:
    lines = [
        "## Notebook execution time",
        "",
        f"Machine: {machine_description()}.",
        "Command: `.venv/bin/python bench/bench_notebooks.py --write`",
        "(fresh kernel per notebook, `COURSE_DEVICE=cpu`, "
        "`OMP_NUM_THREADS=1` as in the test suite). "
        f"Budget: {BUDGET_SECONDS:.0f} s per notebook.",
        "",
        "| notebook | seconds | within budget |",
        "|---|---:|---|",
    ]
    for name, seconds in timings:
        verdict = "yes" if seconds < BUDGET_SECONDS else "**no**"
        lines.append(f"| {name} | {seconds:.1f} | {verdict} |")
    total = sum(seconds for _, seconds in timings)
    lines.append(f"| **total** | {total:.1f} | |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args()
    paths = args.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    text = table(time_notebooks(paths))
    print(text)
    if args.write:
        replace_section("bench_notebooks", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
