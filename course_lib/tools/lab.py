"""Open the course in JupyterLab: ``python -m course_lib.tools.lab [ARGS]``.

``make lab`` runs this module, and the test of the open command builds the
same command line with :func:`lab_command`, so the two cannot drift apart.
Extra arguments go to ``jupyter lab`` unchanged (for example
``--no-browser --port 8899``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from course_lib.tools.execute import prefer_this_environment

REPOSITORY = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPOSITORY / "notebooks"


def lab_command(extra: Sequence[str] = (), root_dir: Path = NOTEBOOKS) -> list[str]:
    """Return the argv that starts JupyterLab on the course's notebooks.

    Browser tests pass a copy of the notebooks as ``root_dir``, so that
    running cells there never rewrites the committed files.
    """
    command = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={root_dir}"]
    # Jupyter refuses to run as root without this flag; containers and CI
    # machines often run as root.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    return [*command, *extra]


def main(argv: Sequence[str] | None = None) -> None:
    extra = list(sys.argv[1:] if argv is None else argv)
    prefer_this_environment()
    command = lab_command(extra)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
