"""Reading, repairing and scoring nbgrader notebooks, without nbgrader.

The course's notebooks mark their cells the nbgrader way, in
``cell.metadata["nbgrader"]``: solution cells (``solution: true``), test
cells (``grade: true`` with ``points``, locked) and read-only cells
(``locked: true``), each with a ``grade_id`` unique in the notebook. This
module gives the learner command what nbgrader's own ``autograde`` does:
:func:`restore_locked_cells` puts every locked cell back from the source
notebook by its ``grade_id`` (nbgrader's ``OverwriteCells`` with
``add_missing_cells``), and :func:`score_cell` scores an executed test cell
by nbgrader's rule (``nbgrader.utils.determine_grade`` in nbgrader 0.9).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from nbformat import NotebookNode

_TASK_TITLE = re.compile(r"^#\s*(Task\s+\d+:.*)$")

BEGIN_HIDDEN_TESTS = "### BEGIN HIDDEN TESTS"
END_HIDDEN_TESTS = "### END HIDDEN TESTS"


def without_hidden_tests(source: str) -> str:
    """Remove the hidden-test regions from a cell's source.

    The delimiter lines go with them, as nbgrader's ``ClearHiddenTests``
    removes them from the released copy.
    """
    kept = []
    hidden = False
    for line in source.split("\n"):
        if BEGIN_HIDDEN_TESTS in line:
            hidden = True
        elif END_HIDDEN_TESTS in line:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def nbgrader_metadata(cell: NotebookNode) -> dict[str, Any]:
    """Return a cell's nbgrader metadata, or an empty dict."""
    metadata = cell.get("metadata", {}).get("nbgrader", {})
    return metadata if isinstance(metadata, dict) else {}


def grade_id(cell: NotebookNode) -> str | None:
    """Return a cell's nbgrader ``grade_id``, or None."""
    value = nbgrader_metadata(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_test_cell(cell: NotebookNode) -> bool:
    """Tell whether a cell is an autograded test cell (graded, not a solution)."""
    metadata = nbgrader_metadata(cell)
    return (
        cell.get("cell_type") == "code"
        and bool(metadata.get("grade"))
        and not metadata.get("solution")
    )


def is_locked(cell: NotebookNode) -> bool:
    """Tell whether nbgrader restores a cell's source when grading.

    Test cells are always locked and solution cells never are. Other cells
    are locked when their metadata sets ``locked`` (as in
    ``nbgrader.utils.is_locked``).
    """
    metadata = nbgrader_metadata(cell)
    if not metadata or metadata.get("solution"):
        return False
    return bool(metadata.get("grade")) or bool(metadata.get("locked"))


@dataclass(frozen=True)
class Task:
    """A graded task: one test cell of a notebook.

    Attributes:
        grade_id: the test cell's nbgrader ``grade_id``.
        title: the cell's first line ``# Task N: ...`` without the ``#``, or
            the ``grade_id`` when there is none.
        points: the cell's points.
    """

    grade_id: str
    title: str
    points: float


def tasks(notebook: NotebookNode) -> list[Task]:
    """List the tasks of a notebook, in the order of their test cells."""
    found = []
    for cell in notebook.cells:
        if not is_test_cell(cell):
            continue
        identifier = grade_id(cell)
        if identifier is None:
            continue
        first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
        match = _TASK_TITLE.match(first_line)
        title = match.group(1).strip() if match else identifier
        points = float(nbgrader_metadata(cell).get("points", 0) or 0)
        found.append(Task(grade_id=identifier, title=title, points=points))
    return found


@dataclass
class Restoration:
    """The cells that :func:`restore_locked_cells` changed, by ``grade_id``."""

    overwritten: list[str] = field(default_factory=list)
    inserted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


def restore_locked_cells(
    submission: NotebookNode, source: NotebookNode
) -> tuple[NotebookNode, Restoration]:
    """Put the source notebook's locked cells into a copy of a submission.

    Every locked cell of ``source`` (test cells with their hidden tests,
    and read-only cells) replaces the submission's cell of the same
    ``grade_id``: its source, type and nbgrader metadata, with the outputs
    cleared. A cell counts as overwritten when it differed from both the
    source and the released copy, which lacks the hidden tests. A locked
    cell missing from the submission is inserted after the submission's cell
    that holds the nearest preceding ``grade_id`` of the source, or first if
    there is none. A second cell with an already
    seen ``grade_id`` loses its nbgrader metadata, so it is neither graded
    nor restored, as nbgrader's ``DeduplicateIds`` does.

    Returns:
        The repaired copy and a record of the cells it changed.
    """
    repaired = copy.deepcopy(submission)
    record = Restoration()
    locked = {grade_id(cell): cell for cell in source.cells if is_locked(cell)}
    locked.pop(None, None)

    seen: set[str] = set()
    for cell in repaired.cells:
        identifier = grade_id(cell)
        if identifier is None:
            continue
        if identifier in seen:
            cell.metadata.pop("nbgrader", None)
            record.duplicates.append(identifier)
            continue
        seen.add(identifier)
        original = locked.get(identifier)
        if original is None:
            continue
        released = (original.source, without_hidden_tests(original.source))
        if cell.get("cell_type") != original.cell_type or cell.source not in released:
            record.overwritten.append(identifier)
        _copy_cell_into(cell, original)

    source_order = [grade_id(cell) for cell in source.cells]
    for position, identifier in enumerate(source_order):
        if identifier is None or identifier not in locked or identifier in seen:
            continue
        index = _insertion_index(repaired, source_order[:position])
        repaired.cells.insert(index, _fresh_copy(locked[identifier]))
        seen.add(identifier)
        record.inserted.append(identifier)
    return repaired, record


def _insertion_index(notebook: NotebookNode, earlier_ids: list[str | None]) -> int:
    positions = {grade_id(cell): index for index, cell in enumerate(notebook.cells)}
    for identifier in reversed(earlier_ids):
        if identifier is not None and identifier in positions:
            return positions[identifier] + 1
    return 0


def _fresh_copy(cell: NotebookNode) -> NotebookNode:
    fresh = copy.deepcopy(cell)
    if fresh.cell_type == "code":
        fresh.outputs = []
        fresh.execution_count = None
    return fresh


def _copy_cell_into(target: NotebookNode, original: NotebookNode) -> None:
    target.cell_type = original.cell_type
    target.source = original.source
    target.metadata["nbgrader"] = copy.deepcopy(original.metadata["nbgrader"])
    if original.cell_type == "code":
        target.outputs = []
        target.execution_count = None
    else:
        target.pop("outputs", None)
        target.pop("execution_count", None)


def first_error(cell: NotebookNode) -> tuple[str, str] | None:
    """Return the ``(ename, evalue)`` of a code cell's first error output."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return str(output.get("ename", "Error")), str(output.get("evalue", ""))
    return None


def writes_stderr(cell: NotebookNode) -> bool:
    """Tell whether an executed code cell wrote to stderr."""
    return any(
        output.get("output_type") == "stream" and output.get("name") == "stderr"
        for output in cell.get("outputs", [])
    )


def score_cell(cell: NotebookNode) -> float:
    """Score an executed test cell as nbgrader's autograde does.

    An error output or any text on stderr gives 0 points. Otherwise a result
    (``execute_result``) that reads as a number from 0 to the cell's points
    is a partial score, and anything else gives full points.
    """
    points = float(nbgrader_metadata(cell).get("points", 0) or 0)
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "error" or (kind == "stream" and output.get("name") == "stderr"):
            return 0.0
        if kind == "execute_result":
            text = output.get("data", {}).get("text/plain", "")
            if isinstance(text, list):
                text = "".join(text)
            try:
                value = float(text)
            except ValueError:
                return points
            return value if 0.0 <= value <= points else points
    return points
