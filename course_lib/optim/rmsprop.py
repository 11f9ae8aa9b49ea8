"""RMSprop: steps divided by a running root mean square of the gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from course_lib.optim._base import (
    FunctionalOptimizer,
    Hyperparameter,
    add_scaled_,
    addcdiv_scaled_,
    addcmul_scaled_,
    as_batched,
    check_implementation_flags,
    initial_step,
    is_batched,
    is_zero,
    scaled_sum,
)


def _uses_momentum(momentum: Hyperparameter) -> bool:
    # torch.optim.RMSprop keeps a momentum buffer only when momentum > 0. A
    # batched momentum always gets one, and its rows with mu = 0 take plain
    # RMSprop steps through it.
    return is_batched(momentum) or momentum > 0


def init_state(
    param: Tensor,
    *,
    momentum: Hyperparameter,
    centered: bool,
    **hyperparameters: Any,
) -> dict[str, Any]:
    """Make RMSprop's state: step, v, and b with momentum, m when centered."""
    state: dict[str, Any] = {
        "step": initial_step(),
        "square_avg": torch.zeros_like(param),
    }
    if _uses_momentum(momentum):
        state["momentum_buffer"] = torch.zeros_like(param)
    if centered:
        state["grad_avg"] = torch.zeros_like(param)
    return state


def update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: Hyperparameter,
    alpha: Hyperparameter,
    eps: Hyperparameter,
    weight_decay: Hyperparameter,
    momentum: Hyperparameter,
    centered: bool,
    maximize: bool,
) -> None:
    """Apply one RMSprop step to ``param`` and its buffers, in place."""
    lr = as_batched(lr, param)
    rho = as_batched(alpha, param)
    eps = as_batched(eps, param)
    weight_decay = as_batched(weight_decay, param)
    momentum = as_batched(momentum, param)
    square_avg = state["square_avg"]
    state["step"] += 1

    # g_t = -grad f(theta_{t-1}) when maximizing, else +grad f(theta_{t-1}).
    if maximize:
        grad = -grad

    # g_t <- g_t + lambda * theta_{t-1}: weight decay as an L2 penalty.
    if not is_zero(weight_decay):
        grad = scaled_sum(grad, param, weight_decay)

    # v_t = rho * v_{t-1} + (1 - rho) * g_t^2.
    square_avg.mul_(rho)
    addcmul_scaled_(square_avg, grad, grad, 1 - rho)

    # Centered (Graves 2013): m_t = rho * m_{t-1} + (1 - rho) * g_t and
    # s_t = sqrt(v_t - m_t^2) + eps, a root of the gradient's variance.
    # Plain (Hinton): s_t = sqrt(v_t) + eps.
    # NOTE: PyTorch adds eps after the square root, where TensorFlow adds it
    # inside (as torch.optim.RMSprop's documentation notes, torch 2.13).
    if centered:
        grad_avg = state["grad_avg"]
        grad_avg.lerp_(grad, 1 - rho)
        avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
    else:
        avg = square_avg.sqrt()
    avg.add_(eps)

    # With momentum: b_t = mu * b_{t-1} + g_t / s_t and
    # theta_t = theta_{t-1} - eta * b_t. Without: theta_t = theta_{t-1} -
    # eta * g_t / s_t.
    # NOTE: PyTorch keeps the learning rate out of the buffer, but Graves's
    # update Delta_t = mu * Delta_{t-1} - eta * g_t / s_t has it inside.
    if _uses_momentum(momentum):
        buf = state["momentum_buffer"]
        buf.mul_(momentum).addcdiv_(grad, avg)
        add_scaled_(param, buf, -lr)
    else:
        addcdiv_scaled_(param, grad, avg, -lr)


class RMSprop(FunctionalOptimizer):
    r"""RMSprop, optionally centered and with momentum.

    Update rule at step t (from 1)::

        g_t     = grad f(theta_{t-1}) + lambda * theta_{t-1}   (-grad if maximize)
        v_t     = rho * v_{t-1} + (1 - rho) * g_t^2
        m_t     = rho * m_{t-1} + (1 - rho) * g_t             (centered only)
        s_t     = sqrt(v_t - m_t^2) + eps   if centered   else   sqrt(v_t) + eps
        b_t     = mu * b_{t-1} + g_t / s_t
        theta_t = theta_{t-1} - eta * b_t

    Without momentum (mu = 0) the last two lines are theta_t = theta_{t-1} -
    eta * g_t / s_t. Letters: eta = ``lr``, rho = ``alpha``, mu =
    ``momentum``, lambda = ``weight_decay``, v = ``state["square_avg"]``, m =
    ``state["grad_avg"]``, b = ``state["momentum_buffer"]``, t =
    ``state["step"]``. Squares, roots and quotients act coordinate by
    coordinate.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 1e-2).
        alpha: decay rate rho of the averages (default 0.99).
        eps: term added to the denominator for numerical stability
            (default 1e-8).
        weight_decay: L2 penalty lambda added to the gradient (default 0).
        momentum: momentum factor mu (default 0).
        centered: divide by the root of the gradient's variance estimate
            rather than of its second moment (default False).
        capturable, foreach, differentiable: accepted for signature parity
            with ``torch.optim.RMSprop``; only None or False is allowed.
        maximize: maximize the objective instead of minimizing it
            (default False).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = RMSprop(model.parameters(), lr=0.01, momentum=0.9)
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Hinton, Srivastava and Swersky, "Neural Networks for Machine
        Learning", lecture 6e, "rmsprop: Divide the gradient by a running
        average of its recent magnitude", 2012. The centered variant with
        momentum: Graves, "Generating Sequences With Recurrent Neural
        Networks", arXiv:1308.0850, 2013.
    """

    init_state = staticmethod(init_state)
    update = staticmethod(update)
    hyperparameters = (
        "lr",
        "alpha",
        "eps",
        "weight_decay",
        "momentum",
        "centered",
        "maximize",
    )

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_implementation_flags(
            "RMSprop",
            capturable=capturable,
            foreach=foreach,
            differentiable=differentiable,
        )
        # The checks and messages are torch.optim.RMSprop's (torch 2.13).
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")

        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
