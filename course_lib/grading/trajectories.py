"""The shared check for a learner's function that returns a trajectory.

Chapters 03 and 06 ask for ``run(grad_fn, x0, ..., steps)`` returning the
start and every iterate stacked into a tensor of shape ``(steps + 1, d)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from course_lib.grading.compare import assert_matches, to_tensor
from course_lib.grading.feedback import Mistake


def shape_mistakes(expected: Tensor) -> list[Mistake]:
    """Return the mistakes of a trajectory's rows: aliasing, a missing start."""
    steps = expected.shape[0] - 1
    return [
        Mistake(
            "rows_alias",
            "Every row holds the final point: the list kept one tensor that "
            "was updated in place. Append x.clone(), or compute x = x - ... "
            "so that each step makes a new tensor.",
            expected[-1].expand_as(expected),
        ),
        Mistake(
            "start_missing",
            f"The first row must be the start x0, followed by the {steps} "
            f"iterates ({steps + 1} rows in all).",
            expected[1:],
        ),
        Mistake(
            "last_missing",
            f"The trajectory stops one step early: run {steps} steps and "
            f"return {steps + 1} rows, the start included.",
            expected[:-1],
        ),
    ]


def compare_trajectory(
    returned: Any,
    expected: Tensor,
    *,
    name: str,
    oracle: str,
    mistakes: Iterable[Mistake],
) -> None:
    """Compare the trajectory a learner's function returned with ``expected``.

    A tensor of shape ``(steps + 1, d)`` or a list of 1-D tensors (its rows)
    is accepted.
    """
    if isinstance(returned, list | tuple) and returned:
        if all(isinstance(row, Tensor) for row in returned):
            returned = torch.stack(
                [Tensor.as_subclass(row, Tensor).detach() for row in returned]
            )
    actual = to_tensor(returned, what=f"the trajectory returned by {name}")
    assert_matches(
        actual,
        expected,
        what=f"the trajectory returned by {name}",
        oracle=oracle,
        mistakes=[*mistakes, *shape_mistakes(expected)],
        atol=1e-10,
    )
