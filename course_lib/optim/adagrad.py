"""Adagrad: per-coordinate step sizes from the sum of squared gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from course_lib.optim._base import (
    FunctionalOptimizer,
    Hyperparameter,
    addcdiv_scaled_,
    as_batched,
    check_implementation_flags,
    initial_step,
    is_batched,
    is_zero,
    scaled_sum,
)


def init_state(
    param: Tensor, *, initial_accumulator_value: Hyperparameter, **hyperparameters: Any
) -> dict[str, Any]:
    """Make Adagrad's state: the step counter and the sum G_0 of squares."""
    value = as_batched(initial_accumulator_value, param)
    if is_batched(value):
        sum_ = torch.zeros_like(param).add_(value)
    elif torch.is_complex(param):
        # The real and imaginary parts are two coordinates, each starting at
        # the initial value, as in torch.optim.Adagrad.
        sum_ = torch.full_like(param, complex(value, value))
    else:
        sum_ = torch.full_like(param, value)
    return {"step": initial_step(), "sum": sum_}


def update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: Hyperparameter,
    lr_decay: Hyperparameter,
    weight_decay: Hyperparameter,
    initial_accumulator_value: Hyperparameter,
    eps: Hyperparameter,
    maximize: bool,
) -> None:
    """Apply one Adagrad step to ``param`` and ``state["sum"]``, in place.

    ``initial_accumulator_value`` is used by :func:`init_state` only.
    """
    lr = as_batched(lr, param)
    lr_decay = as_batched(lr_decay, param)
    weight_decay = as_batched(weight_decay, param)
    eps = as_batched(eps, param)
    state_sum = state["sum"]
    state["step"] += 1
    step = state["step"].item()

    # g_t = -grad f(theta_{t-1}) when maximizing, else +grad f(theta_{t-1}).
    if maximize:
        grad = -grad

    # g_t <- g_t + lambda * theta_{t-1}: weight decay as an L2 penalty.
    if not is_zero(weight_decay):
        grad = scaled_sum(grad, param, weight_decay)

    # eta_t = eta / (1 + (t - 1) * lr_decay).
    # NOTE: the decay of the learning rate is PyTorch's addition. Duchi et
    # al. use a constant eta.
    clr = lr / (1 + (step - 1) * lr_decay)

    # G_t = G_{t-1} + g_t^2, coordinate by coordinate.
    # NOTE: PyTorch starts G_0 at initial_accumulator_value, and Duchi et al.
    # start it at zero.
    state_sum.addcmul_(grad, grad, value=1)

    # theta_t = theta_{t-1} - eta_t * g_t / (sqrt(G_t) + eps).
    std = state_sum.sqrt().add_(eps)
    addcdiv_scaled_(param, grad, std, -clr)


class Adagrad(FunctionalOptimizer):
    r"""Adagrad, which divides each coordinate's step by its gradient history.

    Update rule at step t (from 1)::

        g_t     = grad f(theta_{t-1}) + lambda * theta_{t-1}   (-grad if maximize)
        eta_t   = eta / (1 + (t - 1) * lr_decay)
        G_t     = G_{t-1} + g_t^2                    (G_0 = initial_accumulator_value)
        theta_t = theta_{t-1} - eta_t * g_t / (sqrt(G_t) + eps)

    Letters: eta = ``lr``, lambda = ``weight_decay``, G = ``state["sum"]``
    (the diagonal of Duchi et al.'s G_t), eps = ``eps`` (their delta),
    t = ``state["step"]``. Squares, roots and quotients act coordinate by
    coordinate.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 1e-2).
        lr_decay: decay of the learning rate per step (default 0).
        weight_decay: L2 penalty lambda added to the gradient (default 0).
        initial_accumulator_value: starting value of every coordinate of G
            (default 0).
        eps: term added to the denominator for numerical stability
            (default 1e-10).
        foreach, differentiable, fused: accepted for signature parity with
            ``torch.optim.Adagrad``; only None or False is allowed.
        maximize: maximize the objective instead of minimizing it
            (default False).

    Like ``torch.optim.Adagrad``, the constructor makes the state of every
    parameter at once, so ``state_dict()`` lists them all before any step.
    Each group's own ``initial_accumulator_value`` sets its G_0.

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = Adagrad(model.parameters(), lr=0.1)
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Duchi, Hazan and Singer, "Adaptive Subgradient Methods for Online
        Learning and Stochastic Optimization", JMLR 12, 2011, the version
        with diagonal matrices: theta_{t+1} = theta_t - eta * H_t^-1 g_t with
        H_t = delta * I + diag(G_t)^(1/2).
    """

    init_state = staticmethod(init_state)
    update = staticmethod(update)
    hyperparameters = (
        "lr",
        "lr_decay",
        "weight_decay",
        "initial_accumulator_value",
        "eps",
        "maximize",
    )

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_implementation_flags(
            "Adagrad", foreach=foreach, differentiable=differentiable, fused=fused
        )
        # The checks and messages are torch.optim.Adagrad's (torch 2.13).
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")

        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)

        for group in self.param_groups:
            hyperparameters = self._group_hyperparameters(group)
            for param in group["params"]:
                self.state[param].update(init_state(param, **hyperparameters))

    def share_memory(self) -> None:
        """Move every parameter's ``sum`` into shared memory, as torch does."""
        for group in self.param_groups:
            for param in group["params"]:
                self.state[param]["sum"].share_memory_()
