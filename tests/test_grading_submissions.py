"""Submissions for the grading tests: solved, untouched and hostile notebooks.

Every submission starts from the released exercise notebook, as a student
receives it, and replaces solution or test cells. The hostile ones target
``08_adaptive`` (three tasks: Adagrad 2 points, RMSprop 2, Adadelta 3), one
hostile act per task, with the score each task must get.
"""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat
import pytest
from nbformat import NotebookNode

from course_lib.grading.notebooks import grade_id, is_test_cell, tasks

REPOSITORY = Path(__file__).resolve().parents[1]
SOLUTIONS = REPOSITORY / "solutions"
EXERCISES = REPOSITORY / "exercises"
HOSTILE_ASSIGNMENT = "08_adaptive"

ENDLESS_LOOP = """\
import time

# An endless loop that swallows the timeout's KeyboardInterrupt.
while True:
    try:
        time.sleep(0.05)
    except KeyboardInterrupt:
        pass
"""

LIAR = """\
class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


def rmsprop_step(param, grad, state, lr, alpha, eps):
    return AlwaysEqual()
"""

PATCH_CHECK = """\
import course_lib.grading
import course_lib.grading.adaptive


def passed(*args, **kwargs):
    return "adagrad_step takes the same steps as torch.optim.Adagrad."


course_lib.grading.check_adagrad_step = passed
course_lib.grading.adaptive.check_adagrad_step = passed
check_adagrad_step = passed
"""

ADAGRAD_EPS_INSIDE = """\
def adagrad_step(param, grad, state, lr, eps):
    state["sum"] = state["sum"] + grad * grad
    return param - lr * grad / torch.sqrt(state["sum"] + eps)
"""


def assignments() -> list[str]:
    """Return the names of the assignments, from solutions/."""
    return sorted(path.stem for path in SOLUTIONS.glob("*.ipynb"))


def read(path: Path) -> NotebookNode:
    return nbformat.read(path, as_version=4)


def solution_code(name: str) -> dict[str, str]:
    """Return each solution cell's code, by grade_id, without the markers."""
    code = {}
    for cell in read(SOLUTIONS / f"{name}.ipynb").cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            lines = [
                line
                for line in cell.source.splitlines()
                if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
            ]
            code[grade_id(cell)] = "\n".join(lines)
    return code


def cell_by_id(notebook: NotebookNode, identifier: str) -> NotebookNode:
    return next(cell for cell in notebook.cells if grade_id(cell) == identifier)


def untouched(name: str) -> NotebookNode:
    """Return the exercise notebook as released, stubs and all."""
    return read(EXERCISES / f"{name}.ipynb")


def solved(name: str) -> NotebookNode:
    """Return the exercise notebook with every solution cell filled in."""
    notebook = untouched(name)
    for identifier, code in solution_code(name).items():
        cell_by_id(notebook, identifier).source = code
    return notebook


def crashes() -> NotebookNode:
    """Hang past the timeout, os._exit, sys.exit: scores 0, 0, 3."""
    notebook = solved(HOSTILE_ASSIGNMENT)
    code = solution_code(HOSTILE_ASSIGNMENT)
    cell_by_id(notebook, "adagrad_step").source = ENDLESS_LOOP + code["adagrad_step"]
    cell_by_id(notebook, "rmsprop_step").source = (
        code["rmsprop_step"] + "\n\nimport os\n\nos._exit(1)\n"
    )
    cell_by_id(notebook, "adadelta_step").source = (
        code["adadelta_step"] + "\n\nimport sys\n\nsys.exit()\n"
    )
    return notebook


def tampers() -> NotebookNode:
    """Edit a test, delete a test, raise an error: scores 0, 2, 0."""
    notebook = solved(HOSTILE_ASSIGNMENT)
    cell_by_id(notebook, "adagrad_step").source = ADAGRAD_EPS_INSIDE
    cell_by_id(notebook, "test_adagrad_step").source = 'print("all tests pass")\n'
    notebook.cells.remove(cell_by_id(notebook, "test_rmsprop_step"))
    cell_by_id(notebook, "adadelta_step").source = (
        'raise ValueError("not finished yet")\n\n'
        + solution_code(HOSTILE_ASSIGNMENT)["adadelta_step"]
    )
    return notebook


def cheats() -> NotebookNode:
    """Patch the check, return an always-equal object, print 5 MB: 0, 0, 3."""
    notebook = solved(HOSTILE_ASSIGNMENT)
    cell_by_id(notebook, "adagrad_step").source = (
        ADAGRAD_EPS_INSIDE + "\n\n" + PATCH_CHECK
    )
    cell_by_id(notebook, "rmsprop_step").source = LIAR
    cell_by_id(notebook, "adadelta_step").source = (
        solution_code(HOSTILE_ASSIGNMENT)["adadelta_step"]
        + '\n\nprint("x" * 5_000_000)\n'
    )
    return notebook


# Each hostile submission with the score of each task of 08_adaptive.
HOSTILE = {
    "crashes": (
        crashes,
        {"test_adagrad_step": 0, "test_rmsprop_step": 0, "test_adadelta_step": 3},
    ),
    "tampers": (
        tampers,
        {"test_adagrad_step": 0, "test_rmsprop_step": 2, "test_adadelta_step": 0},
    ),
    "cheats": (
        cheats,
        {"test_adagrad_step": 0, "test_rmsprop_step": 0, "test_adadelta_step": 3},
    ),
}


def write(notebook: NotebookNode, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
    return path


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submission_is_valid_notebook(name):
    notebook = HOSTILE[name][0]()
    nbformat.validate(notebook)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_expectations_name_every_task(name):
    expected = HOSTILE[name][1]
    names = [
        task.grade_id for task in tasks(read(SOLUTIONS / f"{HOSTILE_ASSIGNMENT}.ipynb"))
    ]
    assert sorted(expected) == sorted(names)


def test_solved_fills_every_solution_cell():
    notebook = solved(HOSTILE_ASSIGNMENT)
    stubs = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "NotImplementedError" in cell.source
    ]
    assert stubs == []


def test_tampered_submission_lacks_rmsprop_test():
    identifiers = [grade_id(cell) for cell in tampers().cells if is_test_cell(cell)]
    assert "test_rmsprop_step" not in identifiers


def test_untouched_is_a_copy_of_the_release():
    released = read(EXERCISES / f"{HOSTILE_ASSIGNMENT}.ipynb")
    assert [cell.source for cell in untouched(HOSTILE_ASSIGNMENT).cells] == [
        cell.source for cell in copy.deepcopy(released).cells
    ]
