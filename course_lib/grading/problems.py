"""Small test problems for the checks, and their solutions by ``torch.optim``.

A :class:`Quadratic` is the bowl ``f(x) = ½ xᵀAx − bᵀx`` with a random
rotation and chosen eigenvalues. Its gradient ``Ax − b`` is what a learner's
optimizer gets; the oracle gets the same gradient from ``torch.autograd``
on ``f``, so the two agree only if both are right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from course_lib.grading.compare import randn


@dataclass(frozen=True)
class Quadratic:
    """The bowl ``f(x) = ½ xᵀAx − bᵀx`` in float64."""

    hessian: Tensor
    linear: Tensor

    @classmethod
    def random(
        cls, eigenvalues: tuple[float, ...], *, gen: torch.Generator
    ) -> Quadratic:
        """Make a bowl with these Hessian eigenvalues and a random rotation."""
        size = len(eigenvalues)
        rotation, _ = torch.linalg.qr(randn(size, size, gen=gen))
        values = torch.tensor(eigenvalues, dtype=torch.float64)
        hessian = rotation @ torch.diag(values) @ rotation.T
        hessian = (hessian + hessian.T) / 2
        return cls(hessian=hessian, linear=randn(size, gen=gen))

    def value(self, x: Tensor) -> Tensor:
        """Return ``f(x)`` for one point ``x`` of shape ``(d,)``."""
        return 0.5 * x @ self.hessian @ x - self.linear @ x

    def grad(self, x: Tensor) -> Tensor:
        """Return the gradient ``Ax − b``, as a new tensor."""
        return self.hessian @ x - self.linear


def torch_trajectory(
    problem: Quadratic,
    start: Tensor,
    steps: int,
    optimizer: Callable[..., torch.optim.Optimizer],
    **options: Any,
) -> Tensor:
    """Run a ``torch.optim`` optimizer on ``problem`` and stack its iterates.

    Returns:
        A tensor of shape ``(steps + 1, d)``: the start, then each iterate.
    """
    param = torch.nn.Parameter(start.clone())
    opt = optimizer([param], **options)
    rows = [param.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        problem.value(param).backward()
        opt.step()
        rows.append(param.detach().clone())
    return torch.stack(rows)


def momentum_trajectory(
    problem: Quadratic,
    start: Tensor,
    steps: int,
    *,
    lr: float,
    momentum: float,
    nesterov: bool = False,
    lr_inside: bool = False,
    dampening: float = 0.0,
    sign: float = 1.0,
) -> Tensor:
    """Run heavy-ball or Nesterov momentum written out, including wrong forms.

    The checks use it to compute known mistakes: ``lr_inside`` keeps the
    learning rate in the buffer, ``dampening`` scales the gradient by
    ``1 − dampening`` as an exponential average would, and ``sign=-1`` climbs.
    """
    x = start.clone()
    buffer = torch.zeros_like(x)
    rows = [x.clone()]
    for _ in range(steps):
        grad = problem.grad(x)
        scaled = lr * grad if lr_inside else grad
        buffer = momentum * buffer + (1 - dampening) * scaled
        direction = scaled + momentum * buffer if nesterov else buffer
        x = x - sign * (direction if lr_inside else lr * direction)
        rows.append(x.clone())
    return torch.stack(rows)
