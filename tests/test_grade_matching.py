"""The learner's grader finds the right solution notebook, renamed or not."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from course_lib.grade import GradeError, find_solution, load_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "solutions"
EXERCISES = sorted((ROOT / "exercises").glob("*.ipynb"))


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda path: path.name)
def test_same_name_matches(exercise):
    found = find_solution(load_notebook(exercise), exercise, SOLUTIONS)
    assert found == SOLUTIONS / exercise.name


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda path: path.name)
def test_renamed_copy_matches_by_cell_ids(exercise, tmp_path):
    copy = tmp_path / f"{exercise.stem}-Copy1.ipynb"
    shutil.copy(exercise, copy)
    found = find_solution(load_notebook(copy), copy, SOLUTIONS)
    assert found == SOLUTIONS / exercise.name


def test_copy_without_test_cells_still_matches(tmp_path):
    exercise = ROOT / "exercises" / "09_adam_family.ipynb"
    notebook = nbformat.read(exercise, as_version=4)
    notebook.cells = [
        cell
        for cell in notebook.cells
        if not cell.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")
    ]
    copy = tmp_path / "my attempt.ipynb"
    nbformat.write(notebook, copy)
    found = find_solution(load_notebook(copy), copy, SOLUTIONS)
    assert found == SOLUTIONS / "09_adam_family.ipynb"


def test_unrelated_notebook_is_rejected(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    path = tmp_path / "scratch.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(GradeError) as info:
        find_solution(load_notebook(path), path, SOLUTIONS)
    message = str(info.value)
    assert "scratch.ipynb" in message
    assert "05_learning_rate.ipynb" in message
