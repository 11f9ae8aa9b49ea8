"""Grade your own exercise notebook, as the instructor's autograder would.

The command puts every test cell back from the matching notebook in
``solutions/``, so edited or deleted tests do not count and the hidden
tests run. It executes the notebook top to bottom in a fresh kernel with a
per-cell timeout, and prints each task's score, the total and, for each
failed task, the check's hint. It keeps going past errors, infinite loops
and crashed kernels, and it never changes your notebook.

Usage::

    python -m course_lib.grade exercises/05_learning_rate.ipynb
    python -m course_lib.grade my_copy.ipynb --solutions solutions --timeout 60

Exit status: 0 when the notebook was graded (at any score); 2 when it could
not be (the file is missing, is not a notebook, or is not a course
notebook).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from course_lib.grading.feedback import hint_for_error, shorten
from course_lib.grading.notebooks import (
    Restoration,
    Task,
    first_error,
    grade_id,
    is_test_cell,
    nbgrader_metadata,
    restore_locked_cells,
    score_cell,
    tasks,
    writes_stderr,
)

KERNEL_NAME = "python3"
DEFAULT_TIMEOUT = 60
REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_SOLUTIONS = REPOSITORY / "solutions"


class GradeError(Exception):
    """The notebook cannot be graded; the message gives the reason."""


@dataclass
class TaskResult:
    """The score of one task and, when it lost points, the reason."""

    task: Task
    score: float
    hint: str | None = None


@dataclass
class Report:
    """Everything the learner command prints."""

    path: Path
    solution: Path
    restoration: Restoration
    results: list[TaskResult]
    problems: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Return the total points scored."""
        return sum(result.score for result in self.results)

    @property
    def max_score(self) -> float:
        """Return the points available."""
        return sum(result.task.points for result in self.results)


def load_notebook(path: Path) -> NotebookNode:
    """Read a notebook file, raising :class:`GradeError` when it is not one."""
    if not path.is_file():
        raise GradeError(f"file not found: {path}")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as error:  # nbformat raises several unrelated types
        raise GradeError(f"{path} is not a Jupyter notebook: {error}") from None


def grade_notebook(
    path: Path,
    *,
    solutions: Path = DEFAULT_SOLUTIONS,
    timeout: int = DEFAULT_TIMEOUT,
    executed_copy: Path | None = None,
) -> Report:
    """Grade one notebook and return the report.

    Args:
        path: the learner's notebook; it is read, never written.
        solutions: the folder with the source notebooks; the one of the same
            name, or of the same nbgrader cell ids (:func:`find_solution`),
            supplies the test cells, hidden tests included, that replace the
            learner's.
        timeout: seconds each cell may run before it is interrupted.
        executed_copy: where to write the executed notebook, if anywhere.

    Raises:
        GradeError: the notebook cannot be graded.
    """
    # Imported here so that --help and argument errors need no Jupyter stack.
    from course_lib.grading.execution import execute_for_grading
    from course_lib.tools.execute import prefer_this_environment

    submission = load_notebook(path)
    solution_path = find_solution(submission, path, solutions)
    source = load_notebook(solution_path)
    notebook, restoration = restore_locked_cells(submission, source)
    task_list = tasks(source)
    if not task_list:
        raise GradeError(
            f"{path} is not a course notebook: its solution {solution_path} has "
            "no graded test cells"
        )

    notebook.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": "Python 3 (course)",
        "language": "python",
    }
    prefer_this_environment()
    # The checks compute on the CPU in float64; a GPU would only add start-up.
    kernel_environment = {"COURSE_DEVICE": "cpu", **os.environ}
    client = execute_for_grading(
        notebook,
        timeout=timeout,
        cwd=path.resolve().parent,
        kernel_name=KERNEL_NAME,
        env=kernel_environment,
    )
    if executed_copy is not None:
        nbformat.write(notebook, executed_copy)

    cells = {grade_id(cell): cell for cell in notebook.cells if is_test_cell(cell)}
    results = [_score_task(task, cells.get(task.grade_id)) for task in task_list]
    problems = _problems(notebook, client.stopped_cells, client.timed_out_cells)
    return Report(path, solution_path, restoration, results, problems)


# Cell ids that every chapter's notebook has, so they do not identify a chapter.
_SHARED_GRADE_IDS = {"intro", "setup", "summary"}


def _chapter_ids(notebook: NotebookNode) -> set[str]:
    ids = {grade_id(cell) for cell in notebook.cells}
    return {name for name in ids if name} - _SHARED_GRADE_IDS


def find_solution(submission: NotebookNode, path: Path, solutions: Path) -> Path:
    """Find the solution notebook whose test cells grade ``submission``.

    A notebook named as in ``solutions`` is matched by name. A renamed copy
    (JupyterLab's "Duplicate" gives ``05_learning_rate-Copy1.ipynb``) is
    matched by the nbgrader cell ids it shares with exactly one solution.

    Raises:
        GradeError: no solution notebook matches, or several match equally.
    """
    by_name = solutions / path.name
    if by_name.is_file():
        return by_name
    ids = _chapter_ids(submission)
    overlaps = {}
    for candidate in sorted(solutions.glob("*.ipynb")):
        shared = len(ids & _chapter_ids(load_notebook(candidate)))
        if shared:
            overlaps[candidate] = shared
    if overlaps:
        best = max(overlaps.values())
        matches = [candidate for candidate, n in overlaps.items() if n == best]
        if len(matches) == 1:
            return matches[0]
    names = ", ".join(p.name for p in sorted(solutions.glob("*.ipynb"))) or "none"
    raise GradeError(
        f"no solution notebook in {solutions} matches {path.name}, so its hidden "
        f"tests cannot run; name the copy after its chapter (one of: {names}) "
        "or pass --solutions DIR"
    )


def _score_task(task: Task, cell: NotebookNode | None) -> TaskResult:
    if cell is None:
        return TaskResult(task, 0.0, "The test cell is missing.")
    score = score_cell(cell)
    if score >= task.points:
        return TaskResult(task, score)
    error = first_error(cell)
    if error is not None:
        return TaskResult(task, score, hint_for_error(*error))
    if writes_stderr(cell):
        hint = (
            "The test cell wrote to stderr, which nbgrader scores as a failure; "
            "remove prints to sys.stderr from your function."
        )
        return TaskResult(task, score, hint)
    return TaskResult(task, score, "The test cell gave a partial score.")


def _problems(
    notebook: NotebookNode, stopped: dict[int, str], timed_out: set[int]
) -> list[str]:
    # Errors in cells other than test cells, which explain failed tests.
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or is_test_cell(cell):
            continue
        error = first_error(cell)
        if error is None:
            continue
        name = grade_id(cell)
        role = "solution cell" if nbgrader_metadata(cell).get("solution") else "cell"
        where = f"{role} {name!r}" if name else f"cell {index}"
        if index in stopped or index in timed_out:
            last = [o for o in cell.outputs if o.get("output_type") == "error"][-1]
            message = str(last.get("evalue", ""))
        else:
            message = hint_for_error(*error)
        problems.append(f"{where} (cell {index}): {shorten(message, 300)}")
    return problems


def _points(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def format_report(report: Report) -> str:
    """Render a report as the lines the command prints."""
    lines = [f"Grading {report.path}"]
    lines.append(f"Test cells, hidden tests included, come from {report.solution}.")

    restored = report.restoration
    if restored.overwritten:
        changed = ", ".join(restored.overwritten)
        lines.append(f"Edited test or read-only cells put back: {changed}.")
    if restored.inserted:
        lines.append(f"Deleted cells put back: {', '.join(restored.inserted)}.")

    lines.append("")
    width = max(
        len(f"{_points(r.task.points)}/{_points(r.task.points)}")
        for r in report.results
    )
    for result in report.results:
        score = f"{_points(result.score)}/{_points(result.task.points)}"
        lines.append(f"  {score:>{width}}  {result.task.title}")
        if result.hint:
            lines.append(f"  {'':>{width}}  hint: {result.hint}")

    if report.problems:
        lines.append("")
        lines.append("Errors in other cells:")
        lines.extend(f"  {problem}" for problem in report.problems)

    lines.append("")
    lines.append(f"Total: {_points(report.score)}/{_points(report.max_score)} points")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; return its exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m course_lib.grade",
        description="Grade an exercise notebook with its hidden tests.",
    )
    parser.add_argument("notebook", type=Path, help="the notebook to grade")
    parser.add_argument(
        "--solutions",
        type=Path,
        default=DEFAULT_SOLUTIONS,
        help="folder with the source notebooks whose test cells are used "
        "(default: the repository's solutions/)",
    )
    parser.add_argument(
        "--timeout",
        type=int,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each cell may run before it is interrupted "
        f"(default {DEFAULT_TIMEOUT})",
    )
    parser.add_argument(
        "--executed",
        type=Path,
        default=None,
        help="also write the executed notebook, with its outputs, to this path",
    )
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(
            f"--timeout must be a positive number of seconds, got {args.timeout}"
        )
    try:
        report = grade_notebook(
            args.notebook,
            solutions=args.solutions,
            timeout=args.timeout,
            executed_copy=args.executed,
        )
    except GradeError as error:
        print(f"course_lib.grade: {error}", file=sys.stderr)
        return 2
    print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
