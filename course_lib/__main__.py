"""Command line of the course: ``python -m course_lib doctor``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib", description="Tools of the course."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "doctor",
        help="check the installation: versions, device and JupyterLab extensions",
    )
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from course_lib.doctor import format_report, run_checks

        findings = run_checks()
        print(format_report(findings))
        return 0 if all(finding.ok for finding in findings) else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
