"""nbgrader's own command line, end to end, through the instructor tool.

One module-scoped course directory grades, in a single ``nbgrader
autograde`` call, a student who solved all nine assignments, one who
handed in the untouched exercises, and the three hostile submissions of
08_adaptive from test_grading_submissions. It is the slowest module of the
grading tests: its fixture took 260 s on this project's 2-core CPU while
other jobs ran (load average about 5).
"""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest
from test_grading_submissions import (
    HOSTILE,
    HOSTILE_ASSIGNMENT,
    SOLUTIONS,
    assignments,
    solved,
    untouched,
    write,
)
from traitlets.config import Config

from course_lib.tools import instructor

# Seconds per cell: enough for the first cell's torch import on a busy CPU.
TIMEOUT = 12


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("nbgrader")
    submissions = root / "submissions"
    for name in assignments():
        write(solved(name), submissions / "solver" / f"{name}.ipynb")
        write(untouched(name), submissions / "blank" / f"{name}.ipynb")
    for student, (build, _) in HOSTILE.items():
        write(build(), submissions / student / f"{HOSTILE_ASSIGNMENT}.ipynb")
    course = root / "course"
    result = instructor.grade_submissions(
        submissions,
        course,
        csv_path=root / "grades.csv",
        tasks_csv_path=root / "tasks.csv",
        solutions=SOLUTIONS,
        timeout=TIMEOUT,
    )
    with (root / "grades.csv").open() as handle:
        grades = list(csv.DictReader(handle))
    return {"result": result, "course": course, "grades": grades, "root": root}


def grade_row(graded, student: str, assignment: str) -> dict[str, str]:
    rows = [
        row
        for row in graded["grades"]
        if row["student_id"] == student and row["assignment"] == assignment
    ]
    assert len(rows) == 1, f"{student} has {len(rows)} rows for {assignment}"
    return rows[0]


def task_table(graded) -> dict[tuple[str, str, str], float]:
    with (graded["root"] / "tasks.csv").open() as handle:
        return {
            (row["student_id"], row["assignment"], row["task"]): float(row["score"])
            for row in csv.DictReader(handle)
        }


def test_autograde_reports_no_failure(graded):
    result = graded["result"]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize("assignment", assignments())
def test_solutions_score_full_marks(graded, assignment):
    row = grade_row(graded, "solver", assignment)
    assert float(row["score"]) == float(row["max_score"])


@pytest.mark.parametrize("assignment", assignments())
def test_stubs_score_zero(graded, assignment):
    row = grade_row(graded, "blank", assignment)
    assert float(row["score"]) == 0.0


@pytest.mark.parametrize("assignment", assignments())
def test_every_assignment_has_points(graded, assignment):
    row = grade_row(graded, "blank", assignment)
    assert float(row["max_score"]) > 0


@pytest.mark.parametrize("student", sorted(HOSTILE))
def test_hostile_task_scores(graded, student):
    table = task_table(graded)
    scores = {
        task: score
        for (who, assignment, task), score in table.items()
        if who == student and assignment == HOSTILE_ASSIGNMENT
    }
    assert scores == {
        task: float(points) for task, points in HOSTILE[student][1].items()
    }


def test_csv_has_row_per_student_and_assignment(graded):
    # nbgrader export lists every student for every assignment, with a
    # score of 0 where nothing was submitted.
    students = 2 + len(HOSTILE)
    assert len(graded["grades"]) == students * len(assignments())


def autograded(graded, student: str) -> nbformat.NotebookNode:
    path = (
        graded["course"]
        / "autograded"
        / student
        / HOSTILE_ASSIGNMENT
        / f"{HOSTILE_ASSIGNMENT}.ipynb"
    )
    return nbformat.read(path, as_version=4)


def cell_source(notebook: nbformat.NotebookNode, identifier: str) -> str:
    return next(
        cell.source
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade_id") == identifier
    )


def test_deleted_test_cell_restored_with_hidden_tests(graded):
    source = cell_source(autograded(graded, "tampers"), "test_rmsprop_step")
    assert "### BEGIN HIDDEN TESTS" in source


def test_edited_test_cell_restored(graded):
    source = cell_source(autograded(graded, "tampers"), "test_adagrad_step")
    assert "check_adagrad_step(adagrad_step)" in source


def test_stopped_kernel_noted_in_cell(graded):
    notebook = autograded(graded, "crashes")
    cell = next(
        c
        for c in notebook.cells
        if c.metadata.get("nbgrader", {}).get("grade_id") == "rmsprop_step"
    )
    enames = [o.get("ename") for o in cell.outputs if o.output_type == "error"]
    assert enames == ["DeadKernelError"]


def test_huge_output_cut(graded):
    path = (
        graded["course"]
        / "autograded"
        / "cheats"
        / HOSTILE_ASSIGNMENT
        / f"{HOSTILE_ASSIGNMENT}.ipynb"
    )
    assert path.stat().st_size < 1_000_000


def test_config_selects_resilient_execute(tmp_path):
    path = instructor.write_config(tmp_path, timeout=7)
    namespace = {"get_config": Config}
    exec(path.read_text(), namespace)
    config = namespace["c"]
    assert config.Autograde.autograde_preprocessors[0] == (
        "course_lib.grading.nbgrader_execute.ResilientExecute"
    )
    assert config.Execute.timeout == 7
    assert config.OverwriteCells.add_missing_cells is True


def test_missing_submissions_folder_fails(tmp_path, capsys):
    status = instructor.main(
        ["grade", str(tmp_path / "nothing"), "--course", str(tmp_path / "course")]
    )
    assert status == 1
    assert "submissions folder not found" in capsys.readouterr().err


def test_make_course_copies_sources(tmp_path):
    names = instructor.make_course(tmp_path, solutions=SOLUTIONS)
    copied = sorted(
        path.parent.name for path in (tmp_path / "source").glob("*/*.ipynb")
    )
    assert copied == names


def test_unknown_notebook_skipped(tmp_path):
    folder = tmp_path / "submissions" / "student"
    folder.mkdir(parents=True)
    write(untouched(HOSTILE_ASSIGNMENT), folder / f"{HOSTILE_ASSIGNMENT}.ipynb")
    write(untouched(HOSTILE_ASSIGNMENT), folder / "scratch.ipynb")
    collected = instructor.collect_submissions(
        tmp_path / "course", tmp_path / "submissions", [HOSTILE_ASSIGNMENT]
    )
    assert collected == {"student": [HOSTILE_ASSIGNMENT]}


def test_collected_into_nbgrader_layout(tmp_path):
    folder = tmp_path / "submissions" / "student"
    write(untouched(HOSTILE_ASSIGNMENT), folder / f"{HOSTILE_ASSIGNMENT}.ipynb")
    instructor.collect_submissions(
        tmp_path / "course", tmp_path / "submissions", [HOSTILE_ASSIGNMENT]
    )
    target = Path(tmp_path / "course" / "submitted" / "student" / HOSTILE_ASSIGNMENT)
    assert (target / f"{HOSTILE_ASSIGNMENT}.ipynb").is_file()
