"""Adadelta: steps scaled by the ratio of two running root mean squares."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from course_lib.optim._base import (
    FunctionalOptimizer,
    Hyperparameter,
    add_scaled_,
    addcmul_scaled_,
    as_batched,
    check_implementation_flags,
    initial_step,
    is_zero,
    scaled_sum,
)


def init_state(param: Tensor, **hyperparameters: Any) -> dict[str, Any]:
    """Make Adadelta's state: the step counter and the averages v and u."""
    return {
        "step": initial_step(),
        "square_avg": torch.zeros_like(param),
        "acc_delta": torch.zeros_like(param),
    }


def update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: Hyperparameter,
    rho: Hyperparameter,
    eps: Hyperparameter,
    weight_decay: Hyperparameter,
    maximize: bool,
) -> None:
    """Apply one Adadelta step to ``param`` and its averages, in place."""
    lr = as_batched(lr, param)
    rho = as_batched(rho, param)
    eps = as_batched(eps, param)
    weight_decay = as_batched(weight_decay, param)
    square_avg = state["square_avg"]
    acc_delta = state["acc_delta"]
    state["step"] += 1

    # g_t = -grad f(theta_{t-1}) when maximizing, else +grad f(theta_{t-1}).
    if maximize:
        grad = -grad

    # g_t <- g_t + lambda * theta_{t-1}: weight decay as an L2 penalty.
    if not is_zero(weight_decay):
        grad = scaled_sum(grad, param, weight_decay)

    # v_t = rho * v_{t-1} + (1 - rho) * g_t^2, the average E[g^2]_t.
    square_avg.mul_(rho)
    addcmul_scaled_(square_avg, grad, grad, 1 - rho)

    # d_t = sqrt(u_{t-1} + eps) / sqrt(v_t + eps) * g_t, that is
    # RMS[Delta x]_{t-1} / RMS[g]_t * g_t.
    std = square_avg.add(eps).sqrt_()
    delta = acc_delta.add(eps).sqrt_()
    delta.div_(std).mul_(grad)

    # u_t = rho * u_{t-1} + (1 - rho) * d_t^2, the average E[Delta x^2]_t.
    acc_delta.mul_(rho)
    addcmul_scaled_(acc_delta, delta, delta, 1 - rho)

    # theta_t = theta_{t-1} - eta * d_t.
    # NOTE: PyTorch multiplies the step by lr (default 1.0). Zeiler's
    # Algorithm 1 has no learning rate, which is the case eta = 1. The
    # average u_t stores the step before that factor.
    add_scaled_(param, delta, -lr)


class Adadelta(FunctionalOptimizer):
    r"""Adadelta, whose step needs no learning rate in Zeiler's form.

    Update rule at step t (from 1)::

        g_t     = grad f(theta_{t-1}) + lambda * theta_{t-1}   (-grad if maximize)
        v_t     = rho * v_{t-1} + (1 - rho) * g_t^2
        d_t     = sqrt(u_{t-1} + eps) / sqrt(v_t + eps) * g_t
        u_t     = rho * u_{t-1} + (1 - rho) * d_t^2
        theta_t = theta_{t-1} - eta * d_t

    Letters: eta = ``lr``, rho = ``rho``, lambda = ``weight_decay``, v =
    ``state["square_avg"]`` (Zeiler's E[g^2]), u = ``state["acc_delta"]``
    (Zeiler's E[Delta x^2]), t = ``state["step"]``. Squares, roots and
    quotients act coordinate by coordinate.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: factor eta on every step, a float or a one-element tensor
            (default 1.0).
        rho: decay rate rho of both averages (default 0.9).
        eps: term added inside both square roots (default 1e-6).
        weight_decay: L2 penalty lambda added to the gradient (default 0).
        foreach, capturable, differentiable: accepted for signature parity
            with ``torch.optim.Adadelta``; only None or False is allowed.
        maximize: maximize the objective instead of minimizing it
            (default False).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = Adadelta(model.parameters())
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Zeiler, "ADADELTA: An Adaptive Learning Rate Method",
        arXiv:1212.5701, 2012, Algorithm 1.
    """

    init_state = staticmethod(init_state)
    update = staticmethod(update)
    hyperparameters = ("lr", "rho", "eps", "weight_decay", "maximize")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_implementation_flags(
            "Adadelta",
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        # The checks and messages are torch.optim.Adadelta's (torch 2.13).
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Invalid rho value: {rho}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")

        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "capturable": capturable,
            "foreach": foreach,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
