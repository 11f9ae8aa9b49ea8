"""Adam, with the AMSGrad variant and optional decoupled weight decay."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from course_lib.optim._base import (
    FunctionalOptimizer,
    Hyperparameter,
    addcdiv_scaled_,
    addcmul_scaled_,
    as_batched,
    check_implementation_flags,
    initial_step,
    is_zero,
    scaled_sum,
)


def init_state(
    param: Tensor, *, amsgrad: bool, **hyperparameters: Any
) -> dict[str, Any]:
    """Make Adam's state: step, m, v, and the running maximum for AMSGrad."""
    state: dict[str, Any] = {
        "step": initial_step(),
        "exp_avg": torch.zeros_like(param),
        "exp_avg_sq": torch.zeros_like(param),
    }
    if amsgrad:
        state["max_exp_avg_sq"] = torch.zeros_like(param)
    return state


def update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: Hyperparameter,
    betas: tuple[Hyperparameter, Hyperparameter],
    eps: Hyperparameter,
    weight_decay: Hyperparameter,
    amsgrad: bool,
    maximize: bool,
    decoupled_weight_decay: bool,
) -> None:
    """Apply one Adam step to ``param`` and its moments, in place."""
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

    # Decoupled (AdamW): theta <- theta * (1 - eta * lambda), before the
    # Adam step. Otherwise g_t <- g_t + lambda * theta_{t-1}, an L2 penalty.
    # NOTE: PyTorch scales the decoupled decay by the learning rate eta.
    # Loshchilov & Hutter's Algorithm 2 scales it by the schedule multiplier
    # eta_t only, so their lambda is PyTorch's lambda times the base lr.
    if not is_zero(weight_decay):
        if decoupled_weight_decay:
            param.mul_(1 - lr * weight_decay)
        else:
            grad = scaled_sum(grad, param, weight_decay)

    # m_t = beta1 * m_{t-1} + (1 - beta1) * g_t, written as a lerp.
    # A 0-dim tensor beta1 moves to the parameter's device and dtype first,
    # as in torch.optim.Adam, because lerp_ needs its weight there.
    if isinstance(beta1, Tensor):
        exp_avg.lerp_(grad, 1 - beta1.to(device=param.device, dtype=param.dtype))
    else:
        exp_avg.lerp_(grad, 1 - beta1)

    # v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2.
    exp_avg_sq.mul_(beta2)
    addcmul_scaled_(exp_avg_sq, grad, grad, 1 - beta2)

    # Bias corrections: m_hat = m_t / (1 - beta1^t), v_hat = v_t / (1 - beta2^t).
    # They are folded into the step size and the denominator below.
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5

    # AMSGrad: v_max_t = max(v_max_{t-1}, v_t) replaces v_t below.
    # NOTE: PyTorch takes the maximum of the raw v_t and then divides it by
    # the current 1 - beta2^t. Reddi et al.'s Algorithm 2 has no bias
    # correction, and a maximum over the corrected v_hat would differ.
    if amsgrad:
        max_exp_avg_sq = state["max_exp_avg_sq"]
        torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        second_moment = max_exp_avg_sq
    else:
        second_moment = exp_avg_sq

    # theta_t = theta_{t-1} - eta * m_hat / (sqrt(v_hat) + eps), computed as
    # theta_{t-1} - eta / (1 - beta1^t) * m_t / (sqrt(v_t) / sqrt(1 - beta2^t) + eps).
    denom = second_moment.sqrt().div_(bias_correction2_sqrt).add_(eps)
    addcdiv_scaled_(param, exp_avg, denom, -step_size)


class Adam(FunctionalOptimizer):
    r"""Adam: momentum on the gradient, scaled by a root mean square.

    Update rule at step t (from 1)::

        g_t     = grad f(theta_{t-1}) + lambda * theta_{t-1}   (-grad if maximize)
        m_t     = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t     = beta2 * v_{t-1} + (1 - beta2) * g_t^2
        m_hat_t = m_t / (1 - beta1^t)
        v_max_t = max(v_max_{t-1}, v_t)                        (AMSGrad only)
        v_hat_t = v_t / (1 - beta2^t)          (AMSGrad: v_max_t / (1 - beta2^t))
        theta_t = theta_{t-1} - eta * m_hat_t / (sqrt(v_hat_t) + eps)

    With ``decoupled_weight_decay`` the first line is the bare gradient and
    the step starts with theta_{t-1} <- theta_{t-1} * (1 - eta * lambda),
    which is AdamW. Letters: eta = ``lr``, (beta1, beta2) = ``betas``,
    lambda = ``weight_decay``, m = ``state["exp_avg"]``, v =
    ``state["exp_avg_sq"]``, v_max = ``state["max_exp_avg_sq"]``, t =
    ``state["step"]``. Squares, roots and quotients act coordinate by
    coordinate.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 1e-3).
        betas: decay rates (beta1, beta2) of the two moment averages, both
            floats or both one-element tensors (default (0.9, 0.999)).
        eps: term added to the denominator for numerical stability
            (default 1e-8).
        weight_decay: weight decay lambda (default 0).
        amsgrad: use the AMSGrad variant (default False).
        foreach, capturable, differentiable, fused: accepted for signature
            parity with ``torch.optim.Adam``; only None or False is allowed.
        maximize: maximize the objective instead of minimizing it
            (default False).
        decoupled_weight_decay: decay the weights directly instead of adding
            lambda * theta to the gradient, as AdamW does (default False).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = Adam(model.parameters(), lr=1e-3, amsgrad=True)
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Kingma and Ba, "Adam: A Method for Stochastic Optimization", ICLR
        2015, Algorithm 1. AMSGrad: Reddi, Kale and Kumar, "On the
        Convergence of Adam and Beyond", ICLR 2018, Algorithm 2. Decoupled
        weight decay: Loshchilov and Hutter, "Decoupled Weight Decay
        Regularization", ICLR 2019, Algorithm 2.
    """

    init_state = staticmethod(init_state)
    update = staticmethod(update)
    hyperparameters = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "amsgrad",
        "maximize",
        "decoupled_weight_decay",
    )

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        check_implementation_flags(
            type(self).__name__,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
        )
        # The checks and messages are torch.optim.Adam's (torch 2.13). The
        # ones about foreach=True cannot fire after the check above.
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
        if not (
            (isinstance(betas[0], float) and isinstance(betas[1], float))
            or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))
        ):
            raise ValueError("betas must be either both floats or both Tensors")
        if isinstance(betas[0], Tensor) and betas[0].numel() != 1:
            raise ValueError("Tensor betas[0] must be 1-element")
        if isinstance(betas[1], Tensor) and betas[1].numel() != 1:
            raise ValueError("Tensor betas[1] must be 1-element")
        betas = tuple(
            beta.reshape(()) if isinstance(beta, Tensor) else beta for beta in betas
        )

        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
