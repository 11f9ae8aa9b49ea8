"""AdamW: Adam with weight decay applied to the weights, not the gradient."""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.optim.optimizer import ParamsT

from course_lib.optim import adam
from course_lib.optim._base import Hyperparameter


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
) -> None:
    """Apply one AdamW step: Adam's update with decoupled weight decay.

    theta_{t-1} <- theta_{t-1} * (1 - eta * lambda), then the Adam step
    without lambda in the gradient (see :func:`course_lib.optim.adam.update`).
    """
    adam.update(
        param,
        grad,
        state,
        lr=lr,
        betas=betas,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=True,
    )


class AdamW(adam.Adam):
    r"""AdamW: Adam whose weight decay shrinks the weights directly.

    Update rule at step t (from 1)::

        g_t     = grad f(theta_{t-1})                        (-grad if maximize)
        theta'  = theta_{t-1} * (1 - eta * lambda)
        m_t     = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t     = beta2 * v_{t-1} + (1 - beta2) * g_t^2
        m_hat_t = m_t / (1 - beta1^t)
        v_max_t = max(v_max_{t-1}, v_t)                        (AMSGrad only)
        v_hat_t = v_t / (1 - beta2^t)          (AMSGrad: v_max_t / (1 - beta2^t))
        theta_t = theta' - eta * m_hat_t / (sqrt(v_hat_t) + eps)

    Letters: eta = ``lr``, (beta1, beta2) = ``betas``, lambda =
    ``weight_decay``, m = ``state["exp_avg"]``, v = ``state["exp_avg_sq"]``,
    v_max = ``state["max_exp_avg_sq"]``, t = ``state["step"]``. The class is
    :class:`~course_lib.optim.Adam` with ``decoupled_weight_decay=True``, as
    ``torch.optim.AdamW`` is a subclass of ``torch.optim.Adam``.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 1e-3).
        betas: decay rates (beta1, beta2) of the two moment averages
            (default (0.9, 0.999)).
        eps: term added to the denominator for numerical stability
            (default 1e-8).
        weight_decay: decoupled weight decay lambda (default 1e-2).
        amsgrad: use the AMSGrad variant (default False).
        maximize: maximize the objective instead of minimizing it
            (default False).
        foreach, capturable, differentiable, fused: accepted for signature
            parity with ``torch.optim.AdamW``; only None or False is allowed.

    Example:
        >>> model = torch.nn.Linear(2, 1)
        >>> optimizer = AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
        >>> model(torch.ones(1, 2)).sum().backward()
        >>> optimizer.step()

    References:
        Loshchilov and Hutter, "Decoupled Weight Decay Regularization", ICLR
        2019, Algorithm 2 (Adam with decoupled weight decay). PyTorch's
        lambda is their lambda divided by the base learning rate,
        because PyTorch multiplies the decay by eta.
    """

    init_state = staticmethod(adam.init_state)
    update = staticmethod(update)
    hyperparameters = (
        "lr",
        "betas",
        "eps",
        "weight_decay",
        "amsgrad",
        "maximize",
    )

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        betas: tuple[float | Tensor, float | Tensor] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Groups loaded from any state dict keep decoupled_weight_decay=True,
        # as in torch.optim.AdamW, so they describe the update that runs.
        super().__setstate__(state)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
