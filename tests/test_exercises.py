"""solutions/ and exercises/: structure, and exercises/ in sync with nbgrader.

The sync test regenerates exercises/ from solutions/ with ``nbgrader
generate_assignment`` and compares, cell by cell, the cell type, the source
and the nbgrader metadata (checksums included), and the kernel spec. Only
these fields are compared; nbgrader writes no volatile field into them (no
timestamp, and the cell ids are copied from the source notebook).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from course_lib.grading import CHECKS
from course_lib.grading.notebooks import grade_id, is_test_cell, tasks
from course_lib.tools import instructor

REPOSITORY = Path(__file__).resolve().parents[1]
SOLUTIONS = REPOSITORY / "solutions"
EXERCISES = REPOSITORY / "exercises"
CHAPTERS = [
    "01_loss",
    "02_backprop",
    "03_gradient_descent",
    "04_batch_size",
    "05_learning_rate",
    "06_momentum",
    "07_nesterov",
    "08_adaptive",
    "09_adam_family",
]
KERNELSPEC = {
    "name": "python3",
    "display_name": "Python 3 (course)",
    "language": "python",
}


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def region(source: str, begin: str, end: str) -> list[str]:
    """Return the lines between two marker lines, without the markers."""
    lines, inside = [], False
    for line in source.splitlines():
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def telling(lines: list[str]) -> list[str]:
    """Keep the lines long enough to give a hidden region away if copied."""
    return [line.strip() for line in lines if len(line.strip()) > 12]


def cell_summary(notebook: nbformat.NotebookNode) -> list[tuple[str, str, dict]]:
    return [
        (cell.cell_type, cell.source, cell.metadata.get("nbgrader", {}))
        for cell in notebook.cells
    ]


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exercises")
    instructor.release_exercises(folder, solutions=SOLUTIONS)
    return folder


def test_solution_files_are_the_chapters():
    assert sorted(path.stem for path in SOLUTIONS.glob("*.ipynb")) == CHAPTERS


def test_exercise_files_are_the_chapters():
    assert sorted(path.stem for path in EXERCISES.glob("*.ipynb")) == CHAPTERS


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercises_match_regenerated(regenerated, name):
    committed = read(EXERCISES / f"{name}.ipynb")
    fresh = read(regenerated / f"{name}.ipynb")
    assert cell_summary(committed) == cell_summary(fresh), (
        f"exercises/{name}.ipynb is out of date: run "
        "`python -m course_lib.tools.instructor release`"
    )


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercise_kernelspec_matches_regenerated(regenerated, name):
    committed = read(EXERCISES / f"{name}.ipynb").metadata.get("kernelspec")
    assert committed == read(regenerated / f"{name}.ipynb").metadata.get("kernelspec")


@pytest.mark.parametrize("folder", [SOLUTIONS, EXERCISES])
@pytest.mark.parametrize("name", CHAPTERS)
def test_kernelspec_is_course_python(folder, name):
    assert read(folder / f"{name}.ipynb").metadata.get("kernelspec") == KERNELSPEC


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercise_has_no_hidden_marker(name):
    assert "HIDDEN TESTS" not in (EXERCISES / f"{name}.ipynb").read_text()


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercise_has_no_hidden_line(name):
    exercise = read(EXERCISES / f"{name}.ipynb")
    visible = {
        line.strip() for cell in exercise.cells for line in cell.source.splitlines()
    }
    hidden = []
    for cell in read(SOLUTIONS / f"{name}.ipynb").cells:
        hidden += telling(region(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))
    assert [line for line in hidden if line in visible] == []


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercise_has_no_solution_line(name):
    exercise = read(EXERCISES / f"{name}.ipynb")
    visible = {
        line.strip() for cell in exercise.cells for line in cell.source.splitlines()
    }
    solution = []
    for cell in read(SOLUTIONS / f"{name}.ipynb").cells:
        solution += telling(region(cell.source, "BEGIN SOLUTION", "END SOLUTION"))
    assert [line for line in solution if line in visible] == []


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercise_stubs_raise(name):
    exercise = read(EXERCISES / f"{name}.ipynb")
    stubs = [
        cell
        for cell in exercise.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    ]
    assert stubs
    assert all("raise NotImplementedError()" in cell.source for cell in stubs)


@pytest.mark.parametrize("name", CHAPTERS)
def test_exercise_has_no_outputs(name):
    cells = read(EXERCISES / f"{name}.ipynb").cells
    assert [cell.outputs for cell in cells if cell.cell_type == "code"] == [
        [] for cell in cells if cell.cell_type == "code"
    ]


@pytest.mark.parametrize("name", CHAPTERS)
def test_two_to_four_tasks(name):
    assert 2 <= len(tasks(read(SOLUTIONS / f"{name}.ipynb"))) <= 4


@pytest.mark.parametrize("name", CHAPTERS)
def test_tasks_have_points(name):
    assert all(task.points > 0 for task in tasks(read(SOLUTIONS / f"{name}.ipynb")))


@pytest.mark.parametrize("name", CHAPTERS)
def test_grade_ids_unique(name):
    identifiers = [grade_id(c) for c in read(SOLUTIONS / f"{name}.ipynb").cells]
    present = [identifier for identifier in identifiers if identifier]
    assert len(present) == len(set(present))


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_test_cell_has_hidden_tests(name):
    cells = [c for c in read(SOLUTIONS / f"{name}.ipynb").cells if is_test_cell(c)]
    assert all("### BEGIN HIDDEN TESTS" in cell.source for cell in cells)


@pytest.mark.parametrize("name", CHAPTERS)
def test_hidden_tests_reload_checks(name):
    cells = [c for c in read(SOLUTIONS / f"{name}.ipynb").cells if is_test_cell(c)]
    hidden = ["\n".join(region(c.source, "BEGIN HIDDEN", "END HIDDEN")) for c in cells]
    assert all("importlib.reload" in source for source in hidden)


@pytest.mark.parametrize("name", CHAPTERS)
def test_test_cells_call_known_checks(name):
    cells = [c for c in read(SOLUTIONS / f"{name}.ipynb").cells if is_test_cell(c)]
    called = {m for c in cells for m in re.findall(r"\b(check_\w+)\(", c.source)}
    assert called and called <= set(CHECKS)


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_solution_cell_follows_a_task_text(name):
    cells = read(SOLUTIONS / f"{name}.ipynb").cells
    for index, cell in enumerate(cells):
        if cell.metadata.get("nbgrader", {}).get("solution"):
            assert cells[index - 1].cell_type == "markdown"
            assert cells[index + 1].metadata["nbgrader"]["grade"] is True
