"""course_lib.grading.execution on a small notebook without torch.

One module-scoped run executes a notebook whose cells stop the kernel in
every way the grader must survive (os._exit, exit(), sys.exit, a loop that
ignores interrupts, a plain endless loop, megabytes of output), with a
3-second per-cell timeout; the tests read the outputs. About 20 s.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from course_lib.grading.execution import GradingClient, execute_for_grading
from course_lib.tools.execute import prefer_this_environment

TIMEOUT = 3
CELLS = [
    "import os, sys, time\na = 1",  # 0
    "b = 2\nos._exit(1)",  # 1: the kernel dies while running it
    "c = 3\nsys.exit()",  # 2: SystemExit, the kernel lives on
    # 3: ignores the timeout's interrupt, so the kernel is killed
    "while True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n"
    "        pass",
    "d = 4",  # 4
    "while True:\n    pass",  # 5: interrupted at the timeout
    "e = 5\nexit()",  # 6: asks the kernel to exit after the cell
    "print(a, c, d)",  # 7: needs the state from before the restarts
    "print(b)",  # 8: b was set by the skipped cell 1
    "print('x' * 3_000_000)",  # 9
    "print(a + d)",  # 10
]


def error_names(cell) -> list[str]:
    return [output.ename for output in cell.outputs if output.output_type == "error"]


def stdout(cell) -> str:
    return "".join(
        output.text
        for output in cell.outputs
        if output.output_type == "stream" and output.name == "stdout"
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> GradingClient:
    prefer_this_environment()
    notebook = new_notebook(cells=[new_code_cell(source) for source in CELLS])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    folder: Path = tmp_path_factory.mktemp("execution")
    return execute_for_grading(notebook, timeout=TIMEOUT, cwd=folder)


def test_os_exit_cell_marked_dead(run):
    assert run.stopped_cells[1] == "dead"


def test_os_exit_cell_gets_error(run):
    assert error_names(run.nb.cells[1]) == ["DeadKernelError"]


def test_sys_exit_does_not_stop_kernel(run):
    assert 2 not in run.stopped_cells
    assert error_names(run.nb.cells[2]) == ["SystemExit"]


def test_uninterruptible_loop_marked_hung(run):
    assert run.stopped_cells[3] == "hung"


def test_uninterruptible_loop_gets_timeout_error(run):
    assert error_names(run.nb.cells[3])[-1] == "CellTimeoutError"


def test_plain_loop_interrupted(run):
    assert 5 in run.timed_out_cells
    assert 5 not in run.stopped_cells


def test_plain_loop_gets_timeout_error(run):
    assert error_names(run.nb.cells[5]) == ["KeyboardInterrupt", "CellTimeoutError"]


def test_exit_call_blamed_on_its_cell(run):
    assert run.stopped_cells[6] == "exited"


def test_cells_after_exit_not_blamed(run):
    assert set(run.stopped_cells) == {1, 3, 6}


def test_state_replayed_after_restarts(run):
    assert stdout(run.nb.cells[7]) == "1 3 4\n"


def test_skipped_cell_state_missing(run):
    assert error_names(run.nb.cells[8]) == ["NameError"]


def test_last_cell_runs(run):
    assert stdout(run.nb.cells[10]) == "5\n"


def test_huge_output_cut(run):
    assert len(stdout(run.nb.cells[9])) < 200_000


def test_one_restart_per_stopping_cell(run):
    assert run.restarts == 3


def test_restart_limit_marks_rest_not_run(tmp_path):
    prefer_this_environment()
    sources = ["import os", "os._exit(1)", "os._exit(1)", "x = 1"]
    notebook = new_notebook(cells=[new_code_cell(source) for source in sources])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "P"}
    client = GradingClient(
        notebook,
        timeout=TIMEOUT,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.max_restarts = 1
    client.execute_resiliently()
    last = notebook.cells[-1].outputs[-1]
    assert last.ename == "DeadKernelError"
    assert "Not run" in last.evalue
