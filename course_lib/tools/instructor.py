"""Grade the exercises with nbgrader's own command line, with no server.

The repository keeps ``solutions/NN_name.ipynb`` (the nbgrader source
notebooks) and ``exercises/NN_name.ipynb`` (the release copies) flat. This
tool builds an nbgrader course directory from them, with the standard
layout ``source/<assignment>/``, ``release/``, ``submitted/<student>/
<assignment>/``, ``autograded/``, a SQLite gradebook ``gradebook.db`` and an
``nbgrader_config.py``, and runs ``nbgrader`` as subprocesses in it.

Commands::

    # Regenerate exercises/ from solutions/ (nbgrader generate_assignment).
    python -m course_lib.tools.instructor release

    # Grade a folder of submissions end to end, one subfolder per student
    # holding that student's notebooks, named as in exercises/:
    python -m course_lib.tools.instructor grade SUBMISSIONS --course grading \\
        --csv grades.csv

    # Only build the course directory, e.g. for a JupyterHub with nbgrader.
    python -m course_lib.tools.instructor init --course grading

``grade`` runs ``nbgrader generate_assignment``, copies the submissions
into ``submitted/``, runs ``nbgrader autograde`` for every assignment and
student at once, then ``nbgrader export`` to CSV (one row per student and
assignment) and writes a second CSV with the score of every task. Autograde
restores edited and deleted test cells, interrupts a cell after
``--timeout`` seconds, restarts a kernel that a cell stopped
(:mod:`course_lib.grading.nbgrader_execute`) and cuts huge outputs.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from course_lib.tools.execute import prefer_this_environment

log = logging.getLogger(__name__)

REPOSITORY = Path(__file__).resolve().parents[2]
COURSE_ID = "optimization-in-deep-learning"
DEFAULT_TIMEOUT = 30
# Limits of nbgrader's LimitOutput preprocessor, per cell.
MAX_OUTPUT_LINES = 1000
MAX_TRACEBACK_LINES = 100
# nbgrader may take a while per submission; this bounds one whole command.
NBGRADER_TIMEOUT = 3600

CONFIG_TEMPLATE = """\
# nbgrader configuration of the course "Optimization in deep learning".
# Written by `python -m course_lib.tools.instructor`, which rewrites it on
# every run: change the options of that command instead of this file.
c = get_config()  # noqa: F821

c.CourseDirectory.root = {root!r}
c.CourseDirectory.course_id = {course_id!r}

# Autograde: nbgrader's default preprocessors, with Execute replaced by a
# version that restarts the kernel when a cell stops it.
c.Autograde.autograde_preprocessors = [
    "course_lib.grading.nbgrader_execute.ResilientExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# Seconds a cell may run before it is interrupted.
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
# Test cells that a student deleted are put back and run.
c.OverwriteCells.add_missing_cells = True
c.LimitOutput.max_lines = {max_lines}
c.LimitOutput.max_traceback = {max_traceback}
c.ClearSolutions.code_stub = {{
    "python": "# YOUR CODE HERE\\nraise NotImplementedError()"
}}
"""


class InstructorError(Exception):
    """A step failed; the message names the step and what to do next."""


def assignment_names(solutions: Path) -> list[str]:
    """List the assignments: the stems of the notebooks in ``solutions``."""
    names = sorted(path.stem for path in solutions.glob("*.ipynb"))
    if not names:
        raise InstructorError(f"no notebooks found in {solutions}")
    return names


def write_config(course: Path, *, timeout: int = DEFAULT_TIMEOUT) -> Path:
    """Write the course's ``nbgrader_config.py`` and return its path."""
    config = course / "nbgrader_config.py"
    config.write_text(
        CONFIG_TEMPLATE.format(
            root=str(course.resolve()),
            course_id=COURSE_ID,
            timeout=int(timeout),
            max_lines=MAX_OUTPUT_LINES,
            max_traceback=MAX_TRACEBACK_LINES,
        )
    )
    return config


def make_course(
    course: Path,
    *,
    solutions: Path = REPOSITORY / "solutions",
    assignments: Sequence[str] | None = None,
    timeout: int = DEFAULT_TIMEOUT,
) -> list[str]:
    """Lay out an nbgrader course directory and return its assignment names.

    Each ``solutions/NN.ipynb`` becomes ``source/NN/NN.ipynb``. Other files
    in ``course`` stay as they are, so a course directory can be reused and
    its gradebook kept.
    """
    names = list(assignments) if assignments else assignment_names(solutions)
    course.mkdir(parents=True, exist_ok=True)
    write_config(course, timeout=timeout)
    for name in names:
        notebook = solutions / f"{name}.ipynb"
        if not notebook.is_file():
            raise InstructorError(f"no solution notebook {notebook} for {name!r}")
        target = course / "source" / name
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, target / f"{name}.ipynb")
    return names


def nbgrader_environment() -> dict[str, str]:
    """Return the environment for nbgrader, with this Python's tools first.

    Its kernel spec comes first on ``JUPYTER_PATH``, and its ``bin`` folder
    first on ``PATH``: nbgrader 0.9 runs the ``alembic`` command when it
    creates a gradebook.
    """
    prefer_this_environment()
    environment = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    paths = environment.get("PATH", "").split(os.pathsep)
    if scripts not in paths:
        environment["PATH"] = os.pathsep.join([scripts, *[p for p in paths if p]])
    environment.setdefault("COURSE_DEVICE", "cpu")
    return environment


def run_nbgrader(
    course: Path, *arguments: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader ARGUMENTS`` in the course directory and return the result.

    Raises:
        InstructorError: the command failed and ``check`` is true; the
            message contains the end of its log.
    """
    command = [sys.executable, "-m", "nbgrader", *arguments]
    log.info("running %s in %s", " ".join(command[2:]), course)
    result = subprocess.run(
        command,
        cwd=course,
        env=nbgrader_environment(),
        capture_output=True,
        text=True,
        timeout=NBGRADER_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise InstructorError(
            f"`nbgrader {' '.join(arguments)}` failed with exit status "
            f"{result.returncode} in {course}:\n{_tail(result)}"
        )
    return result


def _tail(result: subprocess.CompletedProcess[str], lines: int = 40) -> str:
    text = (result.stdout or "") + (result.stderr or "")
    return "\n".join(text.splitlines()[-lines:])


def generate_assignments(course: Path) -> None:
    """Run ``nbgrader generate_assignment`` for every assignment in ``source/``."""
    run_nbgrader(course, "generate_assignment", "*", "--force")


def release_exercises(
    exercises: Path = REPOSITORY / "exercises",
    *,
    solutions: Path = REPOSITORY / "solutions",
    assignments: Sequence[str] | None = None,
) -> list[Path]:
    """Regenerate the exercise notebooks from the solutions with nbgrader.

    Returns:
        The paths written, one per assignment.
    """
    exercises.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nbgrader-release-") as folder:
        course = Path(folder)
        names = make_course(course, solutions=solutions, assignments=assignments)
        generate_assignments(course)
        written = []
        for name in names:
            released = course / "release" / name / f"{name}.ipynb"
            target = exercises / f"{name}.ipynb"
            shutil.copyfile(released, target)
            written.append(target)
    return written


def collect_submissions(
    course: Path, submissions: Path, assignments: Sequence[str]
) -> dict[str, list[str]]:
    """Copy each student's notebooks into nbgrader's ``submitted/`` layout.

    ``submissions`` contains one folder per student, named by the student's
    id, with notebooks named as the assignments (``05_learning_rate.ipynb``)
    at any depth, so nbgrader's own ``submitted/`` layout also fits. Other
    notebooks are skipped with a warning.

    Returns:
        The assignments collected for each student id.
    """
    if not submissions.is_dir():
        raise InstructorError(f"submissions folder not found: {submissions}")
    known = set(assignments)
    collected: dict[str, list[str]] = {}
    for student_folder in sorted(submissions.iterdir()):
        if not student_folder.is_dir() or student_folder.name.startswith("."):
            continue
        student = student_folder.name
        for notebook in sorted(student_folder.rglob("*.ipynb")):
            if ".ipynb_checkpoints" in notebook.parts:
                continue
            if notebook.stem not in known:
                log.warning(
                    "skipping %s: no assignment named %r", notebook, notebook.stem
                )
                continue
            target = course / "submitted" / student / notebook.stem
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, target / notebook.name)
            collected.setdefault(student, []).append(notebook.stem)
    if not collected:
        raise InstructorError(
            f"no submissions found in {submissions}: expected one folder per "
            "student holding notebooks named as the assignments"
        )
    return collected


def autograde(course: Path) -> subprocess.CompletedProcess[str]:
    """Run ``nbgrader autograde`` for every assignment and student at once.

    nbgrader grades the other submissions when one fails and then exits
    with status 1; the result is returned so the caller can report that.
    """
    return run_nbgrader(course, "autograde", "*", "--force", check=False)


def export_grades(course: Path, destination: Path) -> Path:
    """Run ``nbgrader export`` to a CSV file with a row per student and assignment."""
    destination = destination.resolve()
    run_nbgrader(course, "export", f"--to={destination}")
    return destination


def task_scores(course: Path) -> list[dict[str, object]]:
    """Read the score of every task of every submission from the gradebook."""
    from nbgrader.api import Gradebook

    rows: list[dict[str, object]] = []
    database = f"sqlite:///{(course / 'gradebook.db').resolve()}"
    with Gradebook(database, COURSE_ID) as gradebook:
        for assignment in gradebook.assignments:
            for submission in gradebook.assignment_submissions(assignment.name):
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        rows.append(
                            {
                                "student_id": submission.student.id,
                                "assignment": assignment.name,
                                "task": grade.name,
                                "score": grade.score,
                                "max_score": grade.max_score,
                            }
                        )
    return sorted(
        rows, key=lambda row: (row["student_id"], row["assignment"], row["task"])
    )


def write_task_csv(rows: list[dict[str, object]], destination: Path) -> Path:
    """Write the rows of :func:`task_scores` to a CSV file."""
    with destination.open("w", newline="") as handle:
        writer = csv.DictWriter(
            handle,
            fieldnames=["student_id", "assignment", "task", "score", "max_score"],
        )
        writer.writeheader()
        writer.writerows(rows)
    return destination


def grade_submissions(
    submissions: Path,
    course: Path,
    *,
    csv_path: Path,
    tasks_csv_path: Path | None = None,
    solutions: Path = REPOSITORY / "solutions",
    assignments: Sequence[str] | None = None,
    timeout: int = DEFAULT_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Grade every submission end to end; return nbgrader autograde's result."""
    if not submissions.is_dir():
        raise InstructorError(f"submissions folder not found: {submissions}")
    names = make_course(
        course, solutions=solutions, assignments=assignments, timeout=timeout
    )
    generate_assignments(course)
    collect_submissions(course, submissions, names)
    result = autograde(course)
    export_grades(course, csv_path)
    if tasks_csv_path is not None:
        write_task_csv(task_scores(course), tasks_csv_path)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.tools.instructor",
        description="Build exercises and grade submissions with nbgrader.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    release = commands.add_parser(
        "release", help="regenerate exercises/ from solutions/"
    )
    release.add_argument(
        "--solutions",
        type=Path,
        default=REPOSITORY / "solutions",
        help="folder of the nbgrader source notebooks (default: solutions/)",
    )
    release.add_argument(
        "--exercises",
        type=Path,
        default=REPOSITORY / "exercises",
        help="folder to write the release copies to (default: exercises/)",
    )

    init = commands.add_parser("init", help="build an nbgrader course directory")
    init.add_argument("--course", type=Path, required=True, help="course directory")
    init.add_argument(
        "--solutions",
        type=Path,
        default=REPOSITORY / "solutions",
        help="folder of the nbgrader source notebooks (default: solutions/)",
    )
    init.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        help="per-cell timeout in seconds",
    )

    grade = commands.add_parser("grade", help="grade a folder of submissions")
    grade.add_argument(
        "submissions", type=Path, help="folder with one subfolder per student id"
    )
    grade.add_argument(
        "--course",
        type=Path,
        required=True,
        help="nbgrader course directory to create or reuse (keeps the gradebook)",
    )
    grade.add_argument(
        "--csv", type=Path, default=Path("grades.csv"), help="CSV file of total grades"
    )
    grade.add_argument(
        "--tasks-csv",
        type=Path,
        default=None,
        help="CSV file of the score of every task (default: tasks.csv beside --csv)",
    )
    grade.add_argument(
        "--solutions",
        type=Path,
        default=REPOSITORY / "solutions",
        help="folder of the nbgrader source notebooks (default: solutions/)",
    )
    grade.add_argument(
        "--assignment",
        action="append",
        default=None,
        help="grade only this assignment (repeatable); default: all",
    )
    grade.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        help="per-cell timeout in seconds",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.command == "release":
            for path in release_exercises(args.exercises, solutions=args.solutions):
                print(f"wrote {path}")
            return 0
        if args.command == "init":
            names = make_course(
                args.course, solutions=args.solutions, timeout=args.timeout
            )
            generate_assignments(args.course)
            print(f"course directory {args.course}: {', '.join(names)}")
            return 0
        tasks_csv = args.tasks_csv or args.csv.with_name("tasks.csv")
        result = grade_submissions(
            args.submissions,
            args.course,
            csv_path=args.csv,
            tasks_csv_path=tasks_csv,
            solutions=args.solutions,
            assignments=args.assignment,
            timeout=args.timeout,
        )
    except InstructorError as error:
        print(f"instructor: {error}", file=sys.stderr)
        return 1
    print(f"grades: {args.csv}")
    print(f"task scores: {tasks_csv}")
    if result.returncode != 0:
        print(
            "nbgrader autograde could not grade some submissions; they are "
            f"missing from the grades. Its log:\n{_tail(result)}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
