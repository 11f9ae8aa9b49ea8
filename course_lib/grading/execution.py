"""Run a submitted notebook so that no cell can stop the grading.

:class:`ResilientExecution` is a mixin for ``nbclient.NotebookClient`` (and
so for nbgrader's ``Execute`` preprocessor, which is one). It runs every
cell with errors allowed and a per-cell timeout, as nbgrader does, and adds
what nbclient 0.11 lacks:

- a cell may stop the kernel (``os._exit``, ``exit()``, a crash) or keep
  running after the timeout's interrupt (a loop that catches
  ``KeyboardInterrupt``). It then gets an error output and the kernel is
  restarted. The cells above it run again in the new kernel, and grading
  goes on with the next cell. The stopping cell is skipped from then on;
- each cell's outputs are cut to ``max_output_chars`` characters, so a cell
  that prints megabytes does not fill the graded notebook.

The kernel is restarted at most ``max_restarts`` times; cells after the
last restart get an error output saying they were not run.

NOTE: a kernel that dies from a background thread started earlier is
blamed on the cell running at that moment, and a cell's memory use is not
limited; run graded code in a container with a memory limit.
"""

from __future__ import annotations

import copy
import inspect
from pathlib import Path
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbformat.v4 import new_output

from course_lib.grading.feedback import DEAD_KERNEL_ERROR, TIMEOUT_ERROR

# Characters of output kept per cell. A test cell's own output is a few
# lines; a learner's cell may print far more without changing its score.
MAX_OUTPUT_CHARS = 100_000
# Lines of a traceback kept, as nbgrader's LimitOutput.max_traceback.
MAX_TRACEBACK_LINES = 100


class ResilientExecution:
    """Mixin for a ``NotebookClient`` subclass; see the module docstring.

    After :meth:`async_execute_resiliently`, ``stopped_cells`` maps the
    index of each cell that stopped the kernel to ``"dead"`` (the kernel
    died), ``"hung"`` (it did not stop when interrupted) or ``"exited"`` (it
    called ``exit()``). ``timed_out_cells`` contains the cells that the
    timeout interrupted.
    """

    max_output_chars: int = MAX_OUTPUT_CHARS
    max_restarts: int = 10

    def _reset_resilience(self) -> None:
        self.stopped_cells: dict[int, str] = {}
        self.timed_out_cells: set[int] = set()
        self.restarts = 0
        self._running_index: int | None = None
        self._asked_exit = False

    async def async_execute_resiliently(self, **kwargs: Any) -> NotebookNode:
        """Execute every code cell, restarting the kernel where a cell stops it."""
        client: Any = self
        client.reset_execution_trackers()
        self._reset_resilience()
        position: tuple[int, bool] | None = (0, False)
        while position is not None:
            if self.restarts > self.max_restarts:
                self._mark_not_run(position[0])
                break
            position = await self._async_run_segment(*position, **kwargs)
            if position is not None:
                self.restarts += 1
        return client.nb

    execute_resiliently = run_sync(async_execute_resiliently)

    async def _async_run_segment(
        self, start: int, suspect: bool, **kwargs: Any
    ) -> tuple[int, bool] | None:
        """Run one kernel's life and return where the next one starts, or None.

        The cells above ``start`` are replayed first. A replayed cell that
        stops the kernel is marked, and the replay starts over in a new
        kernel. ``suspect`` is true when the kernel died while cell ``start``
        was running. Once the cells above replay cleanly, that cell is marked
        as the one that stopped it.
        """
        client: Any = self
        cells = client.nb.cells
        async with client.async_setup_kernel(**kwargs):
            message_id = await ensure_async(client.kc.kernel_info())
            info = await client.async_wait_for_reply(message_id)
            if info is not None and "language_info" in info["content"]:
                client.nb.metadata["language_info"] = info["content"]["language_info"]

            for index in range(start):
                if not self._runnable(cells[index], index):
                    continue
                original = cells[index]
                reason = await self._async_run_cell(
                    copy.deepcopy(original), index, store_history=False
                )
                cells[index] = original
                if reason is not None:
                    self._mark_stopped(index, reason)
                    return start, False

            first = start
            if suspect:
                self._mark_stopped(start, "dead")
                first = start + 1
            for index in range(first, len(cells)):
                if not self._runnable(cells[index], index):
                    continue
                reason = await self._async_run_cell(
                    cells[index],
                    index,
                    execution_count=client.code_cells_executed + 1,
                )
                if reason in ("hung", "exited"):
                    self._mark_stopped(index, reason)
                    return index + 1, False
                if reason == "dead":
                    return index, True
        return None

    def _runnable(self, cell: NotebookNode, index: int) -> bool:
        skipped = index in self.stopped_cells or index in self.timed_out_cells
        return cell.cell_type == "code" and bool(cell.source.strip()) and not skipped

    async def _async_run_cell(
        self, cell: NotebookNode, index: int, **kwargs: Any
    ) -> str | None:
        # Returns None when the cell ended (with or without an error),
        # "dead" when the kernel died, "hung" when the interrupt failed and
        # "exited" when the cell asked the kernel to exit.
        client: Any = self
        self._running_index = index
        self._asked_exit = False
        try:
            await client.async_execute_cell(cell, index, **kwargs)
        except DeadKernelError:
            return "dead"
        except CellTimeoutError:
            # Kill the kernel on the way out instead of asking it to stop.
            client.shutdown_kernel = "immediate"
            return "hung"
        finally:
            self._running_index = None
            limit_outputs(cell, self.max_output_chars)
        if index in self.timed_out_cells:
            self._add_timeout_output(cell)
        if self._asked_exit:
            return "exited"
        return None

    def _mark_stopped(self, index: int, reason: str) -> None:
        client: Any = self
        self.stopped_cells[index] = reason
        if reason == "exited":
            message = (
                f"Cell {index} called exit() or quit(), which stops the kernel, so "
                "the grader restarted it, ran the cells above again and skipped "
                "this cell; whatever it defines is missing."
            )
            _add_error(client.nb.cells[index], DEAD_KERNEL_ERROR, message)
            return
        if reason == "dead":
            message = (
                f"The kernel stopped while running cell {index} or right after it "
                "(os._exit(), exit() or a crash), so the grader restarted it, ran "
                "the cells above again and skipped this cell; whatever it defines "
                "is missing."
            )
            _add_error(client.nb.cells[index], DEAD_KERNEL_ERROR, message)
            return
        timeout = getattr(client, "timeout", None)
        message = (
            f"Cell {index} ran past the per-cell timeout of {timeout} s and did not "
            "stop when interrupted, so the grader restarted the kernel, ran the "
            "cells above again and skipped this cell; whatever it defines is "
            "missing."
        )
        _add_error(client.nb.cells[index], TIMEOUT_ERROR, message)

    def _mark_not_run(self, start: int) -> None:
        client: Any = self
        for cell in client.nb.cells[start:]:
            if cell.cell_type == "code" and cell.source.strip():
                _add_error(
                    cell,
                    DEAD_KERNEL_ERROR,
                    f"Not run: the kernel stopped {self.restarts} times, the most "
                    "the grader allows.",
                )

    def _add_timeout_output(self, cell: NotebookNode) -> None:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                if output.get("ename") == TIMEOUT_ERROR:
                    return
        timeout = getattr(self, "timeout", None)
        _add_error(
            cell,
            TIMEOUT_ERROR,
            f"The cell ran longer than the per-cell timeout of {timeout} s and was "
            "interrupted",
        )

    def on_cell_executed(self, **kwargs: Any) -> Any:
        # nbclient's hook after each cell. IPython replies to exit() with an
        # "ask_exit" payload in the execute reply, then stops the kernel
        # about 0.1 s later, often while the next cell is already running.
        reply = kwargs.get("execute_reply") or {}
        for payload in reply.get("content", {}).get("payload", []):
            if payload.get("source") == "ask_exit" and not payload.get("keepkernel"):
                self._asked_exit = True
        # nbgrader's Execute defines this hook as a method, which must still
        # run; in nbclient it is a trait whose default is no hook.
        later = type(self).__mro__[type(self).__mro__.index(ResilientExecution) + 1 :]
        for klass in later:
            hook = klass.__dict__.get("on_cell_executed")
            if inspect.isfunction(hook):
                return hook(self, **kwargs)
            if hook is not None:
                break
        return None

    async def _async_handle_timeout(
        self, timeout: int, cell: NotebookNode | None = None
    ) -> None | dict[str, Any]:
        # nbclient calls this when a cell runs past the timeout.
        if self._running_index is not None:
            self.timed_out_cells.add(self._running_index)
        return await super()._async_handle_timeout(timeout, cell)  # type: ignore[misc]


def _add_error(cell: NotebookNode, ename: str, evalue: str) -> None:
    cell.setdefault("outputs", [])
    cell.outputs.append(
        new_output(
            "error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
        )
    )


def limit_outputs(cell: NotebookNode, max_chars: int) -> None:
    """Cut a code cell's outputs to about ``max_chars`` characters in all.

    Streams keep their first characters, so a cell that wrote to stderr
    still shows it. Rich outputs that do not fit become a one-line note.
    Error outputs are always kept, with at most :data:`MAX_TRACEBACK_LINES`
    traceback lines.
    """
    if cell.get("cell_type") != "code":
        return
    budget = max_chars
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            text = output.get("text", "")
            if isinstance(text, list):
                text = "".join(text)
            keep = max(budget, 200)
            if len(text) > keep:
                left_out = len(text) - keep
                text = text[:keep] + f"\n[output cut: {left_out} more characters]\n"
            output["text"] = text
            budget = max(0, budget - len(text))
        elif kind in ("execute_result", "display_data"):
            size = sum(len(str(value)) for value in output.get("data", {}).values())
            if size > budget:
                output["data"] = {"text/plain": f"[output of {size} characters cut]"}
                output["metadata"] = {}
                size = len(output["data"]["text/plain"])
            budget = max(0, budget - size)
        elif kind == "error":
            traceback = output.get("traceback", [])
            if len(traceback) > MAX_TRACEBACK_LINES:
                output["traceback"] = traceback[-MAX_TRACEBACK_LINES:]
            evalue = str(output.get("evalue", ""))
            if len(evalue) > 5000:
                output["evalue"] = evalue[:5000] + " [cut]"


class GradingClient(ResilientExecution, NotebookClient):
    """An nbclient client for grading: errors allowed, timeouts interrupt."""


def execute_for_grading(
    notebook: NotebookNode,
    *,
    timeout: int,
    cwd: Path,
    kernel_name: str = "python3",
    env: dict[str, str] | None = None,
) -> GradingClient:
    """Execute ``notebook`` in place in a fresh kernel, resiliently.

    Args:
        notebook: the notebook to run; its cells receive the outputs.
        timeout: seconds each cell may run before it is interrupted.
        cwd: the kernel's working directory.
        kernel_name: the Jupyter kernel spec to start.
        env: the kernel's environment variables; by default this process's.

    Returns:
        The client, whose ``stopped_cells`` and ``timed_out_cells`` list
        the cells that stopped the kernel or ran out of time.
    """
    client = GradingClient(
        notebook,
        timeout=timeout,
        kernel_name=kernel_name,
        allow_errors=True,
        interrupt_on_timeout=True,
        raise_on_iopub_timeout=True,
        error_on_timeout={
            "ename": TIMEOUT_ERROR,
            "evalue": f"The cell ran longer than the per-cell timeout of {timeout} s "
            "and was interrupted",
            "traceback": [],
        },
        store_widget_state=False,
        record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    if env is None:
        client.execute_resiliently()
    else:
        client.execute_resiliently(env=env)
    return client
