"""python -m course_lib.grade: the learner's own grading command.

One module-scoped fixture grades four submissions of 08_adaptive in fresh
kernels: the solved one and the three hostile ones of
test_grading_submissions. The tests read the reports. A second fixture runs
the command line on the untouched exercise.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from test_grading_submissions import (
    HOSTILE,
    HOSTILE_ASSIGNMENT,
    SOLUTIONS,
    solved,
    untouched,
    write,
)

from course_lib.grade import Report, format_report, grade_notebook, main

# Seconds per cell: enough for the first cell's torch import on a busy CPU.
TIMEOUT = 12
MAX_POINTS = 7


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Report]:
    folder = tmp_path_factory.mktemp("learner")
    submissions = {"solved": solved(HOSTILE_ASSIGNMENT)}
    submissions.update({name: build() for name, (build, _) in HOSTILE.items()})
    graded = {}
    for name, notebook in submissions.items():
        path = write(notebook, folder / name / f"{HOSTILE_ASSIGNMENT}.ipynb")
        graded[name] = grade_notebook(
            path,
            solutions=SOLUTIONS,
            timeout=TIMEOUT,
            executed_copy=folder / name / "executed.ipynb",
        )
    return graded


def scores(report: Report) -> dict[str, float]:
    return {result.task.grade_id: result.score for result in report.results}


def test_solved_scores_full_marks(reports):
    assert reports["solved"].score == MAX_POINTS


def test_solved_has_no_hints(reports):
    assert [result.hint for result in reports["solved"].results] == [None] * 3


def test_max_score_counts_every_task(reports):
    assert reports["solved"].max_score == MAX_POINTS


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_task_scores(reports, name):
    assert scores(reports[name]) == HOSTILE[name][1]


def test_endless_loop_reported_as_timeout(reports):
    problems = " ".join(reports["crashes"].problems)
    assert "per-cell timeout" in problems


def test_os_exit_reported_as_stopped_kernel(reports):
    hint = next(
        r.hint
        for r in reports["crashes"].results
        if r.task.grade_id == "test_rmsprop_step"
    )
    assert "not defined" in hint


def test_os_exit_cell_named_in_problems(reports):
    problems = [p for p in reports["crashes"].problems if "'rmsprop_step'" in p]
    assert problems and "kernel stopped" in problems[0]


def test_edited_test_cell_reported(reports):
    assert "test_adagrad_step" in reports["tampers"].restoration.overwritten


def test_deleted_test_cell_reinserted(reports):
    assert reports["tampers"].restoration.inserted == ["test_rmsprop_step"]


def test_eps_mistake_named_despite_edit(reports):
    hint = next(
        r.hint
        for r in reports["tampers"].results
        if r.task.grade_id == "test_adagrad_step"
    )
    assert "Epsilon is inside the square root" in hint


def test_patched_check_caught_by_hidden_test(reports):
    hint = next(
        r.hint
        for r in reports["cheats"].results
        if r.task.grade_id == "test_adagrad_step"
    )
    assert "Epsilon is inside the square root" in hint


def test_always_equal_object_rejected(reports):
    hint = next(
        r.hint
        for r in reports["cheats"].results
        if r.task.grade_id == "test_rmsprop_step"
    )
    assert "AlwaysEqual" in hint


def test_huge_output_cut_in_executed_copy(reports):
    executed = reports["cheats"].path.parent / "executed.ipynb"
    assert executed.stat().st_size < 1_000_000


def test_learner_file_left_unchanged(reports):
    path = reports["tampers"].path
    cells = nbformat.read(path, as_version=4).cells
    assert not any(cell.get("outputs") for cell in cells if cell.cell_type == "code")


def test_report_prints_total_and_hints(reports):
    text = format_report(reports["tampers"])
    assert "Total: 2/7 points" in text
    assert "hint:" in text
    assert "Deleted cells put back: test_rmsprop_step." in text


def test_missing_file_exits_two(tmp_path, capsys):
    status = main([str(tmp_path / "missing.ipynb")])
    assert status == 2
    assert "file not found" in capsys.readouterr().err


def test_invalid_json_exits_two(tmp_path, capsys):
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    status = main([str(path)])
    assert status == 2
    assert "not a Jupyter notebook" in capsys.readouterr().err


def test_other_notebook_exits_two(tmp_path, capsys):
    path = tmp_path / "notes.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), path
    )
    status = main([str(path), "--solutions", str(tmp_path)])
    assert status == 2
    assert "not a course notebook" in capsys.readouterr().err


def test_nonpositive_timeout_rejected(tmp_path):
    with pytest.raises(SystemExit) as raised:
        main([str(tmp_path / "x.ipynb"), "--timeout", "0"])
    assert raised.value.code == 2


@pytest.fixture(scope="module")
def stub_run(tmp_path_factory) -> subprocess.CompletedProcess[str]:
    folder = tmp_path_factory.mktemp("stub")
    path = write(untouched(HOSTILE_ASSIGNMENT), folder / f"{HOSTILE_ASSIGNMENT}.ipynb")
    command = [sys.executable, "-m", "course_lib.grade", str(path)]
    return subprocess.run(
        [*command, "--timeout", str(TIMEOUT)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )


def test_stub_exits_zero(stub_run):
    assert stub_run.returncode == 0, stub_run.stderr


def test_stub_scores_zero(stub_run):
    assert "Total: 0/7 points" in stub_run.stdout


def test_stub_hints_name_not_implemented(stub_run):
    assert stub_run.stdout.count("raises NotImplementedError") == 3
