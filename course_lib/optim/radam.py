"""RAdam: Adam with the variance of its adaptive step rectified."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from course_lib.optim._base import (
    FunctionalOptimizer,
    Hyperparameter,
    addcmul_scaled_,
    as_batched,
    check_implementation_flags,
    initial_step,
    is_batched,
    is_zero,
    scaled_sum,
)

# PyTorch's threshold on rho_t above which the adaptive step is used.
RECTIFICATION_THRESHOLD = 5.0


def init_state(param: Tensor, **hyperparameters: Any) -> dict[str, Any]:
    """Make RAdam's state: the step counter, m and v."""
    return {
        "step": initial_step(),
        "exp_avg": torch.zeros_like(param),
        "exp_avg_sq": torch.zeros_like(param),
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
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """Apply one RAdam step to ``param``, m and v, in place."""
    lr = as_batched(lr, param)
    beta1 = as_batched(betas[0], param)
    beta2 = as_batched(betas[1], param)
    eps = as_batched(eps, param)
    weight_decay = as_batched(weight_decay, param)
    exp_avg = state["exp_avg"]
    exp_avg_sq = state["exp_avg_sq"]
    state["step"] += 1
    step = state["step"].item()

    # g_t = -grad f(theta_{t-1}) when maximizing, else +grad f(theta_{t-1}).
    if maximize:
        grad = -grad

    # Decoupled: theta <- theta * (1 - eta * lambda), as in AdamW.
    # Otherwise g_t <- g_t + lambda * theta_{t-1}, an L2 penalty.
    if not is_zero(weight_decay):
        if decoupled_weight_decay:
            param.mul_(1 - lr * weight_decay)
        else:
            grad = scaled_sum(grad, param, weight_decay)

    # m_t = beta1 * m_{t-1} + (1 - beta1) * g_t and
    # v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2.
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2)
    addcmul_scaled_(exp_avg_sq, grad, grad, 1 - beta2)

    # m_hat_t = m_t / (1 - beta1^t).
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    bias_corrected_exp_avg = exp_avg / bias_correction1

    # rho_inf = 2 / (1 - beta2) - 1, the maximum length of the approximated
    # simple moving average, and its length at step t:
    # rho_t = rho_inf - 2 * t * beta2^t / (1 - beta2^t).
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2

    # Rectification r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf /
    # ((rho_inf - 4)(rho_inf - 2) rho_t)) and adaptive factor
    # l_t = sqrt(1 - beta2^t) / (sqrt(v_t) + eps).
    # NOTE: PyTorch adds eps to sqrt(v_t), where Liu et al. use
    # l_t = sqrt((1 - beta2^t) / v_t).
    def rectification() -> Hyperparameter:
        return (
            (rho_t - 4)
            * (rho_t - 2)
            * rho_inf
            / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        ) ** 0.5

    def adaptive_lr() -> Tensor:
        return (bias_correction2**0.5) / exp_avg_sq.sqrt().add_(eps)

    # theta_t = theta_{t-1} - eta * r_t * m_hat_t * l_t while rho_t > 5,
    # else theta_t = theta_{t-1} - eta * m_hat_t, a step of SGD with momentum.
    # NOTE: PyTorch rectifies when rho_t > 5, but Liu et al.'s Algorithm 2
    # does so when rho_t > 4, where r_t is already defined.
    if is_batched(rho_t):
        # Each configuration has its own rho_t. torch.where discards the NaN
        # that the square root gives for the configurations below 5.
        rectified = rho_t > RECTIFICATION_THRESHOLD
        scale = torch.where(rectified, adaptive_lr() * rectification(), 1.0)
        param.add_(bias_corrected_exp_avg * lr * scale, alpha=-1.0)
    elif rho_t > RECTIFICATION_THRESHOLD:
        param.add_(
            bias_corrected_exp_avg * lr * adaptive_lr() * rectification(),
            alpha=-1.0,
        )
    else:
        param.add_(bias_corrected_exp_avg * lr, alpha=-1.0)


class RAdam(FunctionalOptimizer):
    r"""RAdam: Adam that starts with momentum SGD until v_t can be trusted.

    Update rule at step t (from 1)::

        g_t     = grad f(theta_{t-1}) + lambda * theta_{t-1}   (-grad if maximize)
        m_t     = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t     = beta2 * v_{t-1} + (1 - beta2) * g_t^2
        m_hat_t = m_t / (1 - beta1^t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t   = rho_inf - 2 * t * beta2^t / (1 - beta2^t)
        if rho_t > 5:
            r_t     = sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                           / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            l_t     = sqrt(1 - beta2^t) / (sqrt(v_t) + eps)
            theta_t = theta_{t-1} - eta * r_t * m_hat_t * l_t
        else:
            theta_t = theta_{t-1} - eta * m_hat_t

    With ``decoupled_weight_decay`` the first line is the bare gradient and
    the step starts with theta_{t-1} <- theta_{t-1} * (1 - eta * lambda).
    Letters: eta = ``lr``, (beta1, beta2) = ``betas``, lambda =
    ``weight_decay``, m = ``state["exp_avg"]``, v = ``state["exp_avg_sq"]``,
    t = ``state["step"]``. Squares, roots and quotients act coordinate by
    coordinate.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 1e-3).
        betas: decay rates (beta1, beta2) of the two moment averages
            (default (0.9, 0.999)).
        eps: term added to the denominator for numerical stability
            (default 1e-8).
        weight_decay: weight decay lambda (default 0).
        decoupled_weight_decay: decay the weights directly, as AdamW does,
            instead of adding lambda * theta to the gradient (default False).
        foreach, capturable, differentiable: accepted for signature parity
            with ``torch.optim.RAdam``; only None or False is allowed.
        maximize: maximize the objective instead of minimizing it
            (default False).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = RAdam(model.parameters(), lr=1e-3)
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Liu, Jiang, He, Chen, Liu, Gao and Han, "On the Variance of the
        Adaptive Learning Rate and Beyond", ICLR 2020, Algorithm 2.
    """

    init_state = staticmethod(init_state)
    update = staticmethod(update)
    hyperparameters = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "decoupled_weight_decay",
        "maximize",
    )

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_implementation_flags(
            "RAdam",
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        # The checks and messages are torch.optim.RAdam's (torch 2.13).
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
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
