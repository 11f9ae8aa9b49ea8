"""nbgrader's ``Execute`` preprocessor with the course's resilient execution.

``python -m course_lib.tools.instructor`` configures ``nbgrader autograde``
to run this class in place of ``nbgrader.preprocessors.Execute``. In
nbgrader 0.9 a kernel that dies (``os._exit`` in a cell) makes autograde
drop the whole submission with an error. Here the kernel is restarted, the
cells above run again and the other tasks are graded (see
:mod:`course_lib.grading.execution`). Importing this module needs nbgrader.
"""

from __future__ import annotations

from typing import Any

from nbclient import NotebookClient
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute

from course_lib.grading.execution import ResilientExecution


class ResilientExecute(ResilientExecution, Execute):
    """nbgrader's ``Execute``, restarting the kernel where a cell stops it.

    It takes every option of ``Execute`` (``timeout``, ``interrupt_on_timeout``
    and the others), so ``c.Execute.timeout`` in ``nbgrader_config.py`` sets
    its per-cell timeout.
    """

    def preprocess(
        self, nb: NotebookNode, resources: Any = None, km: Any = None
    ) -> tuple[NotebookNode, Any]:
        """Execute the notebook's cells and return it with their outputs."""
        # As nbconvert's ExecutePreprocessor.preprocess (nbconvert 7), which
        # re-initializes the client for each notebook.
        NotebookClient.__init__(self, nb, km)
        self._check_assign_resources(resources)
        self.execute_resiliently()
        self.set_widgets_metadata()
        return self.nb, self.resources
