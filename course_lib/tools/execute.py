"""Execute notebooks in place, as they are committed.

Each notebook runs top to bottom in a fresh ``python3`` kernel started from
this Python environment, with ``COURSE_DEVICE=cpu`` unless the caller sets
it, and is written back with its new outputs. Widget state is not stored:
each dashboard's output carries a static PNG that renderers without a
kernel fall back to.

Usage::

    python -m course_lib.tools.execute notebooks/*.ipynb
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "python3"


def prefer_this_environment() -> None:
    """Put this environment's Jupyter data first, so ``python3`` is its kernel.

    A ``python3`` kernel spec in the user's own Jupyter folder would
    otherwise win and could start another interpreter.
    """
    here = str(Path(sys.prefix) / "share" / "jupyter")
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if here not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([here, *paths])


def execute_notebook(path: Path, *, timeout: int = 600) -> float:
    """Execute one notebook in place and return its wall time in seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(path.parent)}},
        store_widget_state=False,
        record_timing=False,
    )
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebook files")
    parser.add_argument(
        "--timeout", type=int, default=600, help="per-cell timeout in seconds"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("COURSE_DEVICE", "cpu")
    prefer_this_environment()
    failed = 0
    for path in args.notebooks:
        try:
            seconds = execute_notebook(path, timeout=args.timeout)
        except Exception as error:  # report every notebook, then fail
            failed += 1
            print(f"FAILED {path}: {type(error).__name__}: {error}", file=sys.stderr)
        else:
            print(f"{path}: {seconds:.1f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
