"""Stochastic gradient descent with momentum and Nesterov momentum."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from course_lib.optim._base import (
    FunctionalOptimizer,
    Hyperparameter,
    add_scaled_,
    as_batched,
    check_implementation_flags,
    initial_step,
    is_batched,
    is_zero,
    scaled_sum,
)


def init_state(
    param: Tensor, *, momentum: Hyperparameter, **hyperparameters: Any
) -> dict[str, Any]:
    """Make SGD's state: the step counter and, with momentum, the buffer b."""
    state: dict[str, Any] = {"step": initial_step()}
    if is_batched(momentum) or not is_zero(momentum):
        state["momentum_buffer"] = torch.zeros_like(param)
    return state


def update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: Hyperparameter,
    momentum: Hyperparameter,
    dampening: Hyperparameter,
    weight_decay: Hyperparameter,
    nesterov: bool,
    maximize: bool,
) -> None:
    """Apply one SGD step to ``param`` and the momentum buffer, in place."""
    lr = as_batched(lr, param)
    momentum = as_batched(momentum, param)
    dampening = as_batched(dampening, param)
    weight_decay = as_batched(weight_decay, param)
    # NOTE: torch.optim.SGD keeps no step counter, so a state dict saved by
    # it lacks "step" and fails here with a KeyError after loading.
    state["step"] += 1

    # g_t = -grad f(theta_{t-1}) when maximizing, else +grad f(theta_{t-1}).
    if maximize:
        grad = -grad

    # g_t <- g_t + lambda * theta_{t-1}: weight decay as an L2 penalty.
    if not is_zero(weight_decay):
        grad = scaled_sum(grad, param, weight_decay)

    # b_1 = g_1, then b_t = mu * b_{t-1} + (1 - tau) * g_t.
    # NOTE: PyTorch keeps the learning rate out of the buffer. Sutskever et
    # al. (2013) accumulate v_t = mu * v_{t-1} - eta * g_t instead, which takes
    # the same steps only while eta stays constant.
    if is_batched(momentum) or not is_zero(momentum):
        if "momentum_buffer" not in state:
            # Momentum was zero when the state was made. Like torch.optim,
            # start the buffer at the first step that uses it.
            state["momentum_buffer"] = grad.clone()
            buf = state["momentum_buffer"]
        elif state["step"] == 1:
            # NOTE: PyTorch starts the buffer at g_1 rather than at zero, so
            # dampening applies from the second step on.
            buf = state["momentum_buffer"]
            buf.copy_(grad)
        else:
            buf = state["momentum_buffer"]
            keep = 1 - dampening
            if is_batched(momentum):
                # A row with mu = 0 is plain SGD, because torch.optim skips
                # the buffer (and so the dampening) when momentum is 0.
                keep = torch.where(momentum == 0, torch.ones_like(momentum), keep)
            buf.mul_(momentum)
            add_scaled_(buf, grad, keep)

        # Nesterov: g_t <- g_t + mu * b_t, the gradient plus one more step of
        # momentum. Classical momentum: g_t <- b_t.
        # NOTE: Sutskever et al. (2013) evaluate the gradient at the look-ahead
        # point theta + mu * v. PyTorch's parameters are those look-ahead
        # points, a change of variables that gives the same method while eta
        # stays constant.
        if nesterov:
            grad = scaled_sum(grad, buf, momentum)
        else:
            grad = buf

    # theta_t = theta_{t-1} - eta * g_t.
    add_scaled_(param, grad, -lr)


class SGD(FunctionalOptimizer):
    r"""Stochastic gradient descent, optionally with (Nesterov) momentum.

    Update rule at step t (from 1), in PyTorch's convention::

        g_t     = grad f(theta_{t-1}) + lambda * theta_{t-1}   (-grad if maximize)
        b_t     = g_1                                  if t = 1
                = mu * b_{t-1} + (1 - tau) * g_t       otherwise
        d_t     = g_t + mu * b_t   if nesterov   else   b_t
        theta_t = theta_{t-1} - eta * d_t

    Letters: eta = ``lr``, mu = ``momentum``, tau = ``dampening``, lambda =
    ``weight_decay``, b = ``state["momentum_buffer"]``, t = ``state["step"]``.
    Without momentum (mu = 0) the step is theta_t = theta_{t-1} - eta * g_t.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 1e-3).
        momentum: momentum factor mu (default 0).
        dampening: dampening tau of the gradient entering the buffer
            (default 0).
        weight_decay: L2 penalty lambda added to the gradient (default 0).
        nesterov: use Nesterov momentum, which needs momentum > 0 and zero
            dampening (default False).
        maximize: maximize the objective instead of minimizing it
            (default False).
        foreach, differentiable, fused: accepted for signature parity with
            ``torch.optim.SGD``; only None or False is allowed.

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = SGD(model.parameters(), lr=0.1, momentum=0.9)
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Momentum and Nesterov momentum: Sutskever, Martens, Dahl and Hinton,
        "On the importance of initialization and momentum in deep learning",
        ICML 2013. The buffer without the learning rate
        and its start at the first gradient follow ``torch.optim.SGD``.
    """

    init_state = staticmethod(init_state)
    update = staticmethod(update)
    hyperparameters = (
        "lr",
        "momentum",
        "dampening",
        "weight_decay",
        "nesterov",
        "maximize",
    )

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float | Tensor = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_implementation_flags(
            "SGD", foreach=foreach, differentiable=differentiable, fused=fused
        )
        # The checks and messages are torch.optim.SGD's (torch 2.13).
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")

        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
