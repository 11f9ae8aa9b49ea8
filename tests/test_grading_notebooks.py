"""course_lib.grading.notebooks and limit_outputs on small handmade notebooks."""

from __future__ import annotations

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib.grading.execution import limit_outputs
from course_lib.grading.notebooks import (
    grade_id,
    is_locked,
    restore_locked_cells,
    score_cell,
    tasks,
    without_hidden_tests,
)

HIDDEN_TEST = """\
# Task 1: add
assert add(1, 2) == 3
### BEGIN HIDDEN TESTS
assert add(2, 2) == 4
### END HIDDEN TESTS"""


def nbgrader(identifier, *, grade=False, solution=False, locked=False, points=None):
    metadata = {
        "grade": grade,
        "grade_id": identifier,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if points is not None:
        metadata["points"] = points
    return {"nbgrader": metadata}


def source_notebook():
    return new_notebook(
        cells=[
            new_markdown_cell("# Title", metadata=nbgrader("intro", locked=True)),
            new_code_cell("import math", metadata=nbgrader("setup", locked=True)),
            new_code_cell(
                "def add(a, b):\n    return a + b",
                metadata=nbgrader("add", solution=True),
            ),
            new_code_cell(
                HIDDEN_TEST,
                metadata=nbgrader("test_add", grade=True, locked=True, points=2),
            ),
            new_code_cell(
                "def sub(a, b):\n    return a - b",
                metadata=nbgrader("sub", solution=True),
            ),
            new_code_cell(
                "# Task 2: sub\nassert sub(3, 1) == 2",
                metadata=nbgrader("test_sub", grade=True, locked=True, points=1),
            ),
        ]
    )


def released_notebook():
    notebook = source_notebook()
    notebook.cells[3].source = without_hidden_tests(HIDDEN_TEST)
    return notebook


def ids(notebook):
    return [grade_id(cell) for cell in notebook.cells]


def test_tasks_lists_test_cells():
    assert [task.grade_id for task in tasks(source_notebook())] == [
        "test_add",
        "test_sub",
    ]


def test_tasks_read_titles():
    assert [task.title for task in tasks(source_notebook())] == [
        "Task 1: add",
        "Task 2: sub",
    ]


def test_tasks_read_points():
    assert [task.points for task in tasks(source_notebook())] == [2.0, 1.0]


def test_without_hidden_tests_drops_region():
    assert without_hidden_tests(HIDDEN_TEST) == "# Task 1: add\nassert add(1, 2) == 3"


def test_locked_cells():
    assert [is_locked(cell) for cell in source_notebook().cells] == [
        True,
        True,
        False,
        True,
        False,
        True,
    ]


def test_restore_puts_hidden_tests_back():
    repaired, record = restore_locked_cells(released_notebook(), source_notebook())
    assert repaired.cells[3].source == HIDDEN_TEST
    assert record.overwritten == []


def test_restore_reports_edited_test():
    submission = released_notebook()
    submission.cells[3].source = "pass"
    repaired, record = restore_locked_cells(submission, source_notebook())
    assert repaired.cells[3].source == HIDDEN_TEST
    assert record.overwritten == ["test_add"]


def test_restore_keeps_solution_cells():
    submission = released_notebook()
    submission.cells[2].source = "def add(a, b):\n    return b + a"
    repaired, _ = restore_locked_cells(submission, source_notebook())
    assert repaired.cells[2].source == "def add(a, b):\n    return b + a"


def test_restore_inserts_deleted_test_after_its_solution():
    submission = released_notebook()
    del submission.cells[3]
    repaired, record = restore_locked_cells(submission, source_notebook())
    assert ids(repaired) == ids(source_notebook())
    assert record.inserted == ["test_add"]


def test_restore_inserts_deleted_first_cell_first():
    submission = released_notebook()
    del submission.cells[0]
    repaired, _ = restore_locked_cells(submission, source_notebook())
    assert grade_id(repaired.cells[0]) == "intro"


def test_restore_strips_duplicate_ids():
    submission = released_notebook()
    copy_of_test = new_code_cell(
        "pass", metadata=nbgrader("test_add", grade=True, points=2)
    )
    submission.cells.append(copy_of_test)
    repaired, record = restore_locked_cells(submission, source_notebook())
    assert "nbgrader" not in repaired.cells[-1].metadata
    assert record.duplicates == ["test_add"]


def test_restore_fixes_changed_cell_type():
    submission = released_notebook()
    submission.cells[5] = new_markdown_cell(
        "gone", metadata=submission.cells[5].metadata
    )
    repaired, _ = restore_locked_cells(submission, source_notebook())
    assert repaired.cells[5].cell_type == "code"


def test_restore_clears_outputs():
    submission = released_notebook()
    submission.cells[3].outputs = [new_output("stream", name="stdout", text="old")]
    repaired, _ = restore_locked_cells(submission, source_notebook())
    assert repaired.cells[3].outputs == []


def test_restore_leaves_submission_unchanged():
    submission = released_notebook()
    del submission.cells[3]
    restore_locked_cells(submission, source_notebook())
    assert "test_add" not in ids(submission)


def executed(*outputs, points=2):
    cell = new_code_cell("check()", metadata=nbgrader("t", grade=True, points=points))
    cell.outputs = list(outputs)
    return cell


def test_score_full_without_output():
    assert score_cell(executed()) == 2.0


def test_score_full_with_stdout():
    assert score_cell(executed(new_output("stream", name="stdout", text="ok"))) == 2.0


def test_score_zero_on_error():
    error = new_output("error", ename="AssertionError", evalue="", traceback=[])
    assert score_cell(executed(error)) == 0.0


def test_score_zero_on_stderr():
    assert score_cell(executed(new_output("stream", name="stderr", text="w"))) == 0.0


def test_score_partial_from_result():
    result = new_output("execute_result", data={"text/plain": "1.5"}, execution_count=1)
    assert score_cell(executed(result)) == 1.5


def test_score_full_for_text_result():
    result = new_output(
        "execute_result", data={"text/plain": "'done'"}, execution_count=1
    )
    assert score_cell(executed(result)) == 2.0


def test_limit_cuts_long_stream():
    cell = executed(new_output("stream", name="stdout", text="x" * 50_000))
    limit_outputs(cell, 1000)
    assert len(cell.outputs[0].text) < 1100


def test_limit_keeps_stderr_stream():
    cell = executed(
        new_output("stream", name="stdout", text="x" * 5000),
        new_output("stream", name="stderr", text="warning " * 100),
    )
    limit_outputs(cell, 1000)
    assert cell.outputs[1].name == "stderr"
    assert cell.outputs[1].text.startswith("warning")


def test_limit_keeps_errors():
    cell = executed(
        new_output("stream", name="stdout", text="x" * 5000),
        new_output(
            "error", ename="ValueError", evalue="v" * 9000, traceback=["t"] * 500
        ),
    )
    limit_outputs(cell, 100)
    assert cell.outputs[1].ename == "ValueError"
    assert len(cell.outputs[1].traceback) == 100
    assert len(cell.outputs[1].evalue) < 5100


def test_limit_replaces_large_display():
    image = new_output("display_data", data={"image/png": "A" * 10_000})
    cell = executed(image)
    limit_outputs(cell, 1000)
    assert list(cell.outputs[0].data) == ["text/plain"]
