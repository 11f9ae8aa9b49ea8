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

A numeric hyperparameter inside ``update`` is therefore either a scalar (a
Python number or a 0-dim tensor, which torch's in-place ops accept wherever
they take a number) or a batched tensor. The ``*_scaled_`` helpers below
apply a scalar through the ``alpha=``/``value=`` argument of the in-place op,
as ``torch.optim`` does, and a batched tensor by broadcasting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor

Hyperparameter = float | Tensor

# torch.optim's switches between its implementations, with their defaults.
# course_lib has one implementation, a loop over parameters like torch's
# single-tensor path, so only the values that ask for that loop are accepted.
IMPLEMENTATION_FLAGS: dict[str, bool | None] = {
    "foreach": None,
    "fused": None,
    "capturable": False,
    "differentiable": False,
}


def as_batched(value: Hyperparameter, like: Tensor) -> Hyperparameter:
    """View a hyperparameter so that it broadcasts against ``like``.

    A number or a 0-dim tensor is returned unchanged, because it broadcasts
    against any shape. A tensor of shape ``(B1, ..., Bk)`` contains one value
    per configuration of ``like``'s leading ``k`` batch dimensions. It is
    returned viewed as ``(B1, ..., Bk, 1, ..., 1)`` with ``like.ndim``
    dimensions, on ``like``'s device. When both are floating point it is also
    cast to ``like``'s dtype, because ``lerp_`` rejects a weight of another
    dtype.
    """
    if not isinstance(value, Tensor) or value.ndim == 0:
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
    if value.is_floating_point() and like.is_floating_point():
        value = value.to(device=like.device, dtype=like.dtype)
    else:
        value = value.to(device=like.device)
    return value.reshape(value.shape + (1,) * (like.ndim - value.ndim))


def is_batched(value: Hyperparameter) -> bool:
    """Tell whether a hyperparameter contains one value per configuration."""
    return isinstance(value, Tensor) and value.ndim > 0


def is_zero(value: Hyperparameter) -> bool:
    """Tell whether a scalar hyperparameter is zero. A batched one never is.

    Update functions use it to skip a term, so a batched value always takes
    the general path, where a row containing zero leaves the term at zero.
    """
    return not is_batched(value) and bool(value == 0)


def initial_step() -> Tensor:
    """Make a step counter at zero, as ``torch.optim`` stores it.

    The counter is a 0-dim CPU tensor in float32, or in float64 when torch's
    default dtype is float64 (``torch.optim.optimizer._get_scalar_dtype`` in
    torch 2.13).
    """
    if torch.get_default_dtype() == torch.float64:
        return torch.tensor(0.0, dtype=torch.float64)
    return torch.tensor(0.0, dtype=torch.float32)


def scaled_sum(tensor: Tensor, other: Tensor, scale: Hyperparameter) -> Tensor:
    """Return the new tensor ``tensor + scale * other``."""
    if is_batched(scale):
        return torch.addcmul(tensor, other, scale)
    return tensor.add(other, alpha=scale)


def add_scaled_(target: Tensor, other: Tensor, scale: Hyperparameter) -> Tensor:
    """Add ``scale * other`` to ``target`` in place and return ``target``."""
    if is_batched(scale):
        return target.addcmul_(other, scale)
    return target.add_(other, alpha=scale)


def addcmul_scaled_(
    target: Tensor, tensor1: Tensor, tensor2: Tensor, scale: Hyperparameter
) -> Tensor:
    """Add ``scale * tensor1 * tensor2`` to ``target`` in place."""
    if is_batched(scale):
        return target.addcmul_(tensor1, tensor2 * scale)
    return target.addcmul_(tensor1, tensor2, value=scale)


def addcdiv_scaled_(
    target: Tensor, numerator: Tensor, denominator: Tensor, scale: Hyperparameter
) -> Tensor:
    """Add ``scale * numerator / denominator`` to ``target`` in place."""
    if is_batched(scale):
        return target.addcmul_(numerator / denominator, scale)
    return target.addcdiv_(numerator, denominator, value=scale)


def check_implementation_flags(optimizer: str, **flags: bool | None) -> None:
    """Reject the ``torch.optim`` flags that select another implementation.

    ``foreach`` and ``fused`` may be None or False, and ``capturable`` and
    ``differentiable`` must be False. Each of those values selects the
    single-tensor loop, which is the one implementation course_lib has.

    Raises:
        ValueError: a flag is True. The message names the flag and its default.
    """
    for name, value in flags.items():
        if value is None or value is False:
            continue
        raise ValueError(
            f"{optimizer}({name}={value!r}) is not supported: course_lib has one "
            f"implementation of each optimizer, a loop over the parameters. "
            f"Leave {name} at its default {IMPLEMENTATION_FLAGS[name]!r}."
        )


def _to_scalar(value: Any) -> Any:
    # A one-element tensor in a parameter group (torch accepts one for lr and
    # betas) becomes a 0-dim tensor, as torch.optim's _to_scalar does, so the
    # class path never passes a batched tensor. It is not turned into a
    # Python float: torch computes with it in the tensor's dtype (float32 for
    # torch.tensor(0.01)), and the same arithmetic keeps the trajectories
    # equal.
    if isinstance(value, Tensor) and value.numel() == 1:
        return value.reshape(())
    if isinstance(value, tuple):
        return tuple(_to_scalar(item) for item in value)
    return value


class FunctionalOptimizer(torch.optim.Optimizer):
    """A ``torch.optim.Optimizer`` whose step applies a pure update function.

    Subclasses set ``init_state``, ``update`` and ``hyperparameters`` (the
    parameter-group keys passed to both functions as keyword arguments).
    Hyperparameters are read from ``param_groups`` at every step, so
    learning-rate schedulers and hand edits of a group take effect at once.
    A complex parameter is updated through its real view, as ``torch.optim``
    does, so each real and imaginary part gets its own adaptive step.
    """

    init_state: ClassVar[Callable[..., dict[str, Any]]]
    update: ClassVar[Callable[..., None]]
    hyperparameters: ClassVar[tuple[str, ...]]

    def _group_hyperparameters(self, group: dict[str, Any]) -> dict[str, Any]:
        return {name: _to_scalar(group[name]) for name in self.hyperparameters}

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Perform one optimization step for every parameter with a gradient.

        Args:
            closure: reevaluates the model and returns the loss. It runs with
                gradients enabled before the update.

        Returns:
            The closure's loss, or None without a closure.
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
                # NOTE: torch.optim.SGD and Adagrad also take sparse
                # gradients, but the update functions here are dense only.
                if param.grad.is_sparse:
                    raise RuntimeError(
                        f"{type(self).__name__} does not support sparse gradients"
                    )
                state = self.state[param]
                if len(state) == 0:
                    state.update(type(self).init_state(param, **hyperparameters))
                if torch.is_complex(param):
                    type(self).update(
                        torch.view_as_real(param),
                        torch.view_as_real(param.grad),
                        _real_views(state),
                        **hyperparameters,
                    )
                else:
                    type(self).update(param, param.grad, state, **hyperparameters)
        return loss


def _real_views(state: dict[str, Any]) -> dict[str, Any]:
    # The views share storage with the complex buffers, and the 0-dim real
    # entries ("step", NAdam's "mu_product") are the same tensor objects, so
    # the update's in-place writes land in the stored state.
    return {
        key: torch.view_as_real(value)
        if isinstance(value, Tensor) and value.is_complex()
        else value
        for key, value in state.items()
    }
