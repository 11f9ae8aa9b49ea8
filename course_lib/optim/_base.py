"""Bookkeeping shared by every optimizer class.

Each optimizer module defines two pure functions and a thin class:

- ``init_state(param, **hyperparameters) -> dict`` makes the per-parameter
  state (buffers of ``param``'s shape, and ``"step"``);
- ``update(param, grad, state, **hyperparameters) -> None`` computes one step
  of the algorithm and writes it into ``param`` and the tensors of ``state``
  in place. It reads nothing else and keeps nothing between calls.

The class stores those two functions as static methods, names the keys of a
parameter group that they take, and inherits ``step()`` from
:class:`FunctionalOptimizer`. A sweep calls the same two functions on a
parameter with a leading batch of configurations (shape ``(B, *shape)``) and
hyperparameters given as tensors of shape ``(B,)``; :func:`as_batched` views
such a tensor so that it broadcasts against the parameter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

Hyperparameter = float | Tensor


def as_batched(value: Hyperparameter, like: Tensor) -> Hyperparameter:
    """View a hyperparameter so that it broadcasts against ``like``.

    A number is returned unchanged. A tensor of shape ``(B1, ..., Bk)``
    holds one value per configuration of ``like``'s leading ``k`` batch
    dimensions and is returned viewed as ``(B1, ..., Bk, 1, ..., 1)`` with
    ``like.ndim`` dimensions.
    """
    if not isinstance(value, Tensor):
        return value
    batch_shape = like.shape[: value.ndim]
    mismatched = any(
        size not in (1, batch) for size, batch in zip(value.shape, batch_shape)
    )
    if value.ndim > like.ndim or mismatched:
        raise ValueError(
            f"a hyperparameter tensor of shape {tuple(value.shape)} does not match "
            f"the leading batch dimensions of a parameter of shape "
            f"{tuple(like.shape)}; give one value per configuration, of shape "
            f"{tuple(like.shape[: value.ndim])}"
        )
    return value.reshape(value.shape + (1,) * (like.ndim - value.ndim))


class FunctionalOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose step applies a pure update function.

    Subclasses set ``init_state``, ``update`` and ``hyperparameters`` (the
    parameter-group keys passed to both functions as keyword arguments).
    Hyperparameters are read from ``param_groups`` at every step, so
    learning-rate schedulers and hand edits of a group take effect at once.
    """

    init_state: ClassVar[Callable[..., dict[str, Any]]]
    update: ClassVar[Callable[..., None]]
    hyperparameters: ClassVar[tuple[str, ...]]

    def _group_hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        return {name: group[name] for name in self.hyperparameters}

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Perform one optimization step for every parameter with a gradient.

        Args:
            closure: reevaluates the model and returns the loss; it runs with
                gradients enabled before the update.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()

        for group in self.param_groups:
            hyperparameters = self._group_hyperparameters(group)
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError(
                        f"{type(self).__name__} does not support sparse gradients"
                    )
                state = self.state[param]
                if len(state) == 0:
                    state.update(type(self).init_state(param, **hyperparameters))
                type(self).update(param, param.grad, state, **hyperparameters)
        return loss
