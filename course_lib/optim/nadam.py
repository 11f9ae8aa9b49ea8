"""NAdam: Adam with Nesterov momentum and a warming momentum schedule."""

from __future__ import annotations

from itertools import chain
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
    is_batched,
    is_zero,
    scaled_sum,
)


def _batch_shape(value: Hyperparameter) -> torch.Size:
    return value.shape if is_batched(value) else torch.Size()


def init_state(
    param: Tensor,
    *,
    betas: tuple[Hyperparameter, Hyperparameter],
    momentum_decay: Hyperparameter,
    **hyperparameters: Any,
) -> dict[str, Any]:
    """Make NAdam's state: step, the product of the mu_i, m and v.

    ``mu_product`` is a 0-dim CPU tensor, as in ``torch.optim.NAdam``, unless
    beta1 or momentum_decay is batched. Then it contains one product per
    configuration, on the parameter's device.
    """
    beta1 = as_batched(betas[0], param)
    momentum_decay = as_batched(momentum_decay, param)
    batch_shape = torch.broadcast_shapes(
        _batch_shape(beta1), _batch_shape(momentum_decay)
    )
    step = initial_step()
    if batch_shape == torch.Size():
        mu_product = torch.ones((), dtype=step.dtype)
    else:
        mu_product = torch.ones(batch_shape, dtype=param.dtype, device=param.device)
    return {
        "step": step,
        "mu_product": mu_product,
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
    momentum_decay: Hyperparameter,
    decoupled_weight_decay: bool,
    maximize: bool,
) -> None:
    """Apply one NAdam step to ``param`` and its state, in place."""
    lr = as_batched(lr, param)
    beta1 = as_batched(betas[0], param)
    beta2 = as_batched(betas[1], param)
    eps = as_batched(eps, param)
    weight_decay = as_batched(weight_decay, param)
    psi = as_batched(momentum_decay, param)
    exp_avg = state["exp_avg"]
    exp_avg_sq = state["exp_avg_sq"]
    mu_product = state["mu_product"]
    state["step"] += 1
    step = state["step"].item()
    bias_correction2 = 1 - beta2**step

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

    # Momentum schedule mu_t = beta1 * (1 - 0.5 * 0.96^(t * psi)), and the
    # products mu_1 * ... * mu_t (stored) and mu_1 * ... * mu_{t+1}.
    # NOTE: this form of the schedule and its rate psi = momentum_decay
    # (default 4e-3, so 0.96^(t / 250)) follow torch.optim.NAdam (torch 2.13).
    mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * psi)))
    mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * psi)))
    mu_product.mul_(mu)
    # A 0-dim product is read as a number, as torch.optim.NAdam does.
    product = mu_product.item() if mu_product.ndim == 0 else mu_product
    product_next = product * mu_next

    # m_t = beta1 * m_{t-1} + (1 - beta1) * g_t and
    # v_t = beta2 * v_{t-1} + (1 - beta2) * g_t^2.
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2)
    addcmul_scaled_(exp_avg_sq, grad, grad, 1 - beta2)

    # theta_t = theta_{t-1}
    #           - eta * (1 - mu_t) / (1 - mu_1...mu_t) * g_t / s_t
    #           - eta * mu_{t+1} / (1 - mu_1...mu_{t+1}) * m_t / s_t,
    # with s_t = sqrt(v_t / (1 - beta2^t)) + eps: a gradient step plus a
    # look-ahead step along the momentum, each with its bias correction.
    denom = exp_avg_sq.div(bias_correction2).sqrt_().add_(eps)
    addcdiv_scaled_(param, grad, denom, -lr * (1.0 - mu) / (1.0 - product))
    addcdiv_scaled_(param, exp_avg, denom, (-lr * mu_next) / (1.0 - product_next))


class NAdam(FunctionalOptimizer):
    r"""NAdam: Adam whose momentum step looks ahead, as Nesterov's does.

    Update rule at step t (from 1)::

        g_t     = grad f(theta_{t-1}) + lambda * theta_{t-1}   (-grad if maximize)
        mu_t    = beta1 * (1 - 0.5 * 0.96^(t * psi))
        m_t     = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t     = beta2 * v_{t-1} + (1 - beta2) * g_t^2
        s_t     = sqrt(v_t / (1 - beta2^t)) + eps
        theta_t = theta_{t-1} - eta * (1 - mu_t) / (1 - prod_{i<=t} mu_i) * g_t / s_t
                              - eta * mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m_t / s_t

    With ``decoupled_weight_decay`` the first line is the bare gradient and
    the step starts with theta_{t-1} <- theta_{t-1} * (1 - eta * lambda).
    Letters: eta = ``lr``, (beta1, beta2) = ``betas``, psi =
    ``momentum_decay``, lambda = ``weight_decay``, m = ``state["exp_avg"]``,
    v = ``state["exp_avg_sq"]``, prod_{i<=t} mu_i = ``state["mu_product"]``,
    t = ``state["step"]``. Squares, roots and quotients act coordinate by
    coordinate.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 2e-3).
        betas: decay rates (beta1, beta2) of the two moment averages
            (default (0.9, 0.999)).
        eps: term added to the denominator for numerical stability
            (default 1e-8).
        weight_decay: weight decay lambda (default 0).
        momentum_decay: rate psi of the momentum schedule (default 4e-3).
        decoupled_weight_decay: decay the weights directly, as AdamW does,
            instead of adding lambda * theta to the gradient (default False).
        foreach, capturable, differentiable: accepted for signature parity
            with ``torch.optim.NAdam``; only None or False is allowed.
        maximize: maximize the objective instead of minimizing it
            (default False).

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = NAdam(model.parameters(), lr=2e-3)
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Dozat, "Incorporating Nesterov Momentum into Adam", ICLR 2016
        workshop track.
    """

    init_state = staticmethod(init_state)
    update = staticmethod(update)
    hyperparameters = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "momentum_decay",
        "decoupled_weight_decay",
        "maximize",
    )

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ) -> None:
        check_implementation_flags(
            "NAdam",
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        # The checks and messages are torch.optim.NAdam's (torch 2.13).
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
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")

        defaults = {
            "lr": lr,
            "betas": betas,
            "eps": eps,
            "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict, keeping each 0-dim ``mu_product`` as saved.

        ``torch.optim.Optimizer.load_state_dict`` casts every state tensor
        except ``step`` to its parameter's dtype and device, so a float32
        product saved for a float64 parameter would come back in float64 and
        the resumed run would drift from the uninterrupted one by rounding.
        The saved 0-dim products are restored after the load.
        """
        super().load_state_dict(state_dict)
        saved_ids = chain.from_iterable(
            group["params"] for group in state_dict["param_groups"]
        )
        params = chain.from_iterable(group["params"] for group in self.param_groups)
        for saved_id, param in zip(saved_ids, params):
            saved_state = state_dict["state"].get(saved_id, {})
            product = saved_state.get("mu_product")
            if isinstance(product, Tensor) and product.ndim == 0:
                self.state[param]["mu_product"] = product.detach().clone()
