"""Adamax: Adam with the infinity norm in place of the root mean square."""

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
    is_zero,
    scaled_sum,
)


def init_state(param: Tensor, **hyperparameters: Any) -> dict[str, Any]:
    """Make Adamax's state: the step counter, m and the norm u."""
    return {
        "step": initial_step(),
        "exp_avg": torch.zeros_like(param),
        "exp_inf": torch.zeros_like(param),
    }


def update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: Hyperparameter,
    betas: tuple[Hyperparameter, Hyperparameter],
    eps: Hyperparameter,
    weight_decay: Hyperparameter,
    maximize: bool,
) -> None:
    """Apply one Adamax step to ``param``, m and u, in place."""
    lr = as_batched(lr, param)
    beta1 = as_batched(betas[0], param)
    beta2 = as_batched(betas[1], param)
    eps = as_batched(eps, param)
    weight_decay = as_batched(weight_decay, param)
    exp_avg = state["exp_avg"]
    exp_inf = state["exp_inf"]
    state["step"] += 1
    step = state["step"].item()

    # g_t = -grad f(theta_{t-1}) when maximizing, else +grad f(theta_{t-1}).
    if maximize:
        grad = -grad

    # g_t <- g_t + lambda * theta_{t-1}: weight decay as an L2 penalty.
    if not is_zero(weight_decay):
        grad = scaled_sum(grad, param, weight_decay)

    # m_t = beta1 * m_{t-1} + (1 - beta1) * g_t, written as a lerp.
    exp_avg.lerp_(grad, 1 - beta1)

    # u_t = max(beta2 * u_{t-1}, |g_t| + eps), the decaying infinity norm.
    # NOTE: PyTorch adds eps inside the maximum, so u_t >= eps > 0 and the
    # step below never divides by zero. Kingma & Ba's Algorithm 2 has no eps.
    torch.maximum(exp_inf.mul_(beta2), grad.abs().add_(eps), out=exp_inf)

    # theta_t = theta_{t-1} - eta / (1 - beta1^t) * m_t / u_t.
    bias_correction = 1 - beta1**step
    clr = lr / bias_correction
    addcdiv_scaled_(param, exp_avg, exp_inf, -clr)


class Adamax(FunctionalOptimizer):
    r"""Adamax, the infinity-norm variant of Adam.

    Update rule at step t (from 1)::

        g_t     = grad f(theta_{t-1}) + lambda * theta_{t-1}   (-grad if maximize)
        m_t     = beta1 * m_{t-1} + (1 - beta1) * g_t
        u_t     = max(beta2 * u_{t-1}, |g_t| + eps)
        theta_t = theta_{t-1} - eta / (1 - beta1^t) * m_t / u_t

    Letters: eta = ``lr``, (beta1, beta2) = ``betas``, lambda =
    ``weight_decay``, m = ``state["exp_avg"]``, u = ``state["exp_inf"]``,
    t = ``state["step"]``. The maximum, absolute value and quotient act
    coordinate by coordinate.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 2e-3).
        betas: decay rates (beta1, beta2) of the first moment and of the
            norm (default (0.9, 0.999)).
        eps: term added to |g_t| for numerical stability (default 1e-8).
        weight_decay: L2 penalty lambda added to the gradient (default 0).
        foreach, differentiable, capturable: accepted for signature parity
            with ``torch.optim.Adamax``; only None or False is allowed.
        maximize: maximize the objective instead of minimizing it
            (default False).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = Adamax(model.parameters(), lr=2e-3)
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR
        2015, Algorithm 2 (AdaMax).
    """

    init_state = staticmethod(init_state)
    update = staticmethod(update)
    hyperparameters = ("lr", "betas", "eps", "weight_decay", "maximize")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ) -> None:
        check_implementation_flags(
            "Adamax",
            foreach=foreach,
            differentiable=differentiable,
            capturable=capturable,
        )
        # The checks and messages are torch.optim.Adamax's (torch 2.13).
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")

        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
