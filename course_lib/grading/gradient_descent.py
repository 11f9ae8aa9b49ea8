"""Checks for chapter 03, gradient descent.

- :func:`check_gradient_descent`: a trajectory of ``x ← x − η·∇f(x)``
  against ``torch.optim.SGD``;
- :func:`check_max_stable_lr`: ``2 / λ_max`` for a quadratic, from
  ``torch.linalg.eigvalsh``, and confirmed by running ``torch.optim.SGD``
  just below and just above it;
- :func:`check_fit_linear_regression`: a full-batch training loop with
  ``torch.autograd`` against the same loop with ``torch.optim.SGD``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.grading.compare import (
    assert_matches,
    call_learner,
    generator,
    quiet_check,
    randn,
    to_float,
    to_tensor,
    to_tuple,
)
from course_lib.grading.feedback import GradingError, Mistake
from course_lib.grading.problems import (
    Quadratic,
    momentum_trajectory,
    torch_trajectory,
)
from course_lib.grading.trajectories import compare_trajectory

ZERO_GRAD_HINT = (
    "The gradients accumulate from step to step: backward() adds to .grad, so "
    "zero it before each backward pass (w.grad.zero_() or "
    "optimizer.zero_grad())."
)


@quiet_check
def check_gradient_descent(
    gradient_descent: Callable[..., Any], *, seed: int = 0
) -> str:
    """Check ``gradient_descent(grad_fn, x0, lr, steps) -> (steps + 1, d)``."""
    gen = generator(seed)
    problem = Quadratic.random((0.5, 4.0), gen=gen)
    start = randn(2, gen=gen, scale=2.0)
    lr, steps = 0.2, 10
    returned = call_learner(gradient_descent, problem.grad, start.clone(), lr, steps)
    expected = torch_trajectory(problem, start, steps, torch.optim.SGD, lr=lr)
    ascent = momentum_trajectory(problem, start, steps, lr=lr, momentum=0.0, sign=-1.0)
    compare_trajectory(
        returned,
        expected,
        name="gradient_descent",
        oracle="torch.optim.SGD",
        mistakes=[
            Mistake(
                "ascent",
                "The steps go uphill: subtract the gradient, x ← x − η·∇f(x).",
                ascent,
            )
        ],
    )
    return f"gradient_descent follows torch.optim.SGD(lr={lr}) for {steps} steps."


def _diverges(problem: Quadratic, lr: float, steps: int = 400) -> bool:
    # The distance to the minimum grows without bound exactly when some
    # eigenvalue λ has |1 − lr·λ| > 1; 400 steps make the growth plain.
    minimum = torch.linalg.solve(problem.hessian, problem.linear)
    start = minimum + torch.ones_like(minimum)
    path = torch_trajectory(problem, start, steps, torch.optim.SGD, lr=lr)
    return float((path[-1] - minimum).norm()) > float((start - minimum).norm())


@quiet_check
def check_max_stable_lr(max_stable_lr: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``max_stable_lr(hessian) -> float``, the bound ``2 / λ_max``.

    Gradient descent on a quadratic converges exactly when ``lr < 2 / λ_max``.
    The check compares with ``torch.linalg.eigvalsh`` and runs
    ``torch.optim.SGD`` at 0.95 and 1.05 times the learner's value.
    """
    gen = generator(seed + 1)
    for eigenvalues in ((0.3, 2.0, 9.0), (1.0, 50.0)):
        problem = Quadratic.random(eigenvalues, gen=gen)
        hessian = problem.hessian
        spectrum = torch.linalg.eigvalsh(hessian)
        expected = 2.0 / float(spectrum[-1])
        returned = call_learner(max_stable_lr, hessian.clone())
        actual = to_float(returned, what="the value returned by max_stable_lr")
        assert_matches(
            actual,
            expected,
            what=f"max_stable_lr for Hessian eigenvalues {eigenvalues}",
            oracle="2 / λ_max from torch.linalg.eigvalsh",
            mistakes=[
                Mistake(
                    "one_over",
                    "This is 1 / λ_max, the step that is best for the steepest "
                    "direction; the bound of stability is 2 / λ_max.",
                    1.0 / float(spectrum[-1]),
                ),
                Mistake(
                    "smallest",
                    "This uses the smallest eigenvalue; the largest one decides "
                    "stability, because its direction diverges first.",
                    2.0 / float(spectrum[0]),
                ),
                Mistake(
                    "diagonal",
                    "This uses the largest diagonal entry of the Hessian; use "
                    "its largest eigenvalue (torch.linalg.eigvalsh).",
                    2.0 / float(hessian.diagonal().max()),
                ),
            ],
        )
        if _diverges(problem, 0.95 * actual) or not _diverges(problem, 1.05 * actual):
            raise GradingError(
                f"torch.optim.SGD does not change from converging to diverging "
                f"at lr = {actual:.6g} for eigenvalues {eigenvalues}"
            )
    return "max_stable_lr gives 2 / λ_max, where torch.optim.SGD starts to diverge."


@quiet_check
def check_fit_linear_regression(
    fit_linear_regression: Callable[..., Any], *, seed: int = 0
) -> str:
    """Check ``fit_linear_regression(x, y, lr, steps) -> (w, b)``.

    The learner trains ``x @ w + b`` from ``w = 0``, ``b = 0`` by full-batch
    gradient descent on ``mse_loss``; ``w`` has shape ``(d,)`` and ``b`` is a
    0-dim tensor.
    """
    gen = generator(seed + 2)
    x = randn(20, 3, gen=gen)
    y = x @ torch.tensor([1.5, -2.0, 0.5], dtype=torch.float64) + 0.3
    y = y + randn(20, gen=gen, scale=0.1)
    lr, steps = 0.1, 25

    def train(*, reduction: str = "mean", zero_grad: bool = True) -> list[Tensor]:
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        b = torch.zeros((), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.SGD([w, b], lr=lr)
        for _ in range(steps):
            if zero_grad:
                optimizer.zero_grad()
            F.mse_loss(x @ w + b, y, reduction=reduction).backward()
            optimizer.step()
        return [w.detach(), b.detach()]

    returned = call_learner(fit_linear_regression, x.clone(), y.clone(), lr, steps)
    expected = train()
    summed = train(reduction="sum")
    accumulated = train(zero_grad=False)
    items = to_tuple(returned, 2, what="the value returned by fit_linear_regression")
    for index, name in enumerate(("w", "b")):
        actual = to_tensor(items[index], what=f"the trained {name}")
        if name == "b":
            actual = actual.reshape(()) if actual.numel() == 1 else actual
        assert_matches(
            actual,
            expected[index],
            what=f"the trained {name} after {steps} steps",
            oracle="the same loop with torch.optim.SGD",
            mistakes=[
                Mistake("zero_grad", ZERO_GRAD_HINT, accumulated[index]),
                Mistake(
                    "sum",
                    "The loss is a sum where a mean belongs: the MSE averages "
                    "the squared errors (reduction='mean'), so its gradient "
                    "does not grow with the number of samples.",
                    summed[index],
                ),
            ],
        )
    return (
        f"fit_linear_regression reaches the same w and b as torch.optim.SGD after "
        f"{steps} steps."
    )
