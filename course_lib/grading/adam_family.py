"""Checks for chapter 09, the Adam family.

The learner's functions follow ``torch.optim.Adam`` step by step: the step
counter ``t`` is incremented first, then

    m ← β1·m + (1 − β1)·g,        v ← β2·v + (1 − β2)·g²,
    θ ← θ − η/(1 − β1^t) · m / (sqrt(v / (1 − β2^t)) + ε),

with the state keys ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v) and, for
AMSGrad, ``max_exp_avg_sq``. The checks use ``eps = 1e-3`` so that where ε
enters changes the result visibly.

- :func:`check_adam_step` against ``torch.optim.Adam``;
- :func:`check_amsgrad_step` against ``torch.optim.Adam(amsgrad=True)``,
  whose maximum is taken over the raw ``v`` and bias-corrected afterwards;
- :func:`check_adamw_step` against ``torch.optim.AdamW``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from course_lib.grading.compare import quiet_check
from course_lib.grading.steps import Variant, check_step_function

HYPERPARAMETERS: dict[str, Any] = {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-3}

STEP_BEFORE_INCREMENT_HINT = (
    "The step counter is used before it is incremented: at the first step "
    "1 − β^0 = 0 and the bias correction divides by zero. Add 1 to "
    "state['step'] first, then correct with t = state['step']."
)


def adam_variant(
    *,
    old_step: bool = False,
    correct_first: bool = True,
    correct_second: bool = True,
    eps_inside: bool = False,
    swapped: bool = False,
    store_corrected: bool = False,
    amsgrad: str | None = None,
    weight_decay: str | None = None,
) -> Callable[[Tensor, Tensor, dict[str, Any], dict[str, Any]], Any]:
    """Make an Adam step, in ``torch.optim``'s form unless an option changes it.

    Args:
        old_step: bias-correct with the counter before it is incremented.
        correct_first, correct_second: whether m and v are bias-corrected.
        eps_inside: divide by ``sqrt(v̂ + ε)``.
        swapped: exchange β1 and β2.
        store_corrected: store m̂ and v̂ in the state instead of m and v.
        amsgrad: ``"raw"`` keeps the maximum of v (PyTorch), ``"corrected"``
            the maximum of v̂, ``"uncorrected"`` divides by the raw maximum
            without bias correction (the 2018 paper's algorithm), None is Adam.
        weight_decay: ``"decoupled"`` (AdamW), ``"no_lr"`` (decay by
            ``1 − λ``), ``"after"`` (decay after the Adam step), ``"l2"``
            (``λ·θ`` added to the gradient, Adam's ``weight_decay``), None.
    """

    def step(
        param: Tensor, grad: Tensor, state: dict[str, Any], hyper: dict[str, Any]
    ) -> tuple[Tensor, dict[str, Any]]:
        lr, eps = hyper["lr"], hyper["eps"]
        beta1, beta2 = hyper["betas"]
        if swapped:
            beta1, beta2 = beta2, beta1
        decay = hyper.get("weight_decay", 0.0)
        if weight_decay == "l2":
            grad = grad + decay * param
        elif weight_decay == "decoupled":
            param = param * (1 - lr * decay)
        elif weight_decay == "no_lr":
            param = param * (1 - decay)

        previous = int(state["step"])
        t = previous if old_step else previous + 1
        exp_avg = beta1 * state["exp_avg"] + (1 - beta1) * grad
        exp_avg_sq = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad * grad
        # Python's float division raises at 1 − β^0 = 0; tensor division gives
        # the inf or NaN that a learner's tensor code produces.
        correction1 = torch.tensor(1 - beta1**t if correct_first else 1.0)
        correction2 = torch.tensor(1 - beta2**t if correct_second else 1.0)
        corrected_m = exp_avg / correction1
        corrected_v = exp_avg_sq / correction2
        new_state: dict[str, Any] = {
            "step": previous + 1,
            "exp_avg": corrected_m if store_corrected else exp_avg,
            "exp_avg_sq": corrected_v if store_corrected else exp_avg_sq,
        }

        second = corrected_v
        if amsgrad == "raw":
            maximum = torch.maximum(state["max_exp_avg_sq"], exp_avg_sq)
            new_state["max_exp_avg_sq"] = maximum
            second = maximum / correction2
        elif amsgrad == "corrected":
            maximum = torch.maximum(state["max_exp_avg_sq"], corrected_v)
            new_state["max_exp_avg_sq"] = maximum
            second = maximum
        elif amsgrad == "uncorrected":
            maximum = torch.maximum(state["max_exp_avg_sq"], exp_avg_sq)
            new_state["max_exp_avg_sq"] = maximum
            second = maximum
        elif "max_exp_avg_sq" in state:
            new_state["max_exp_avg_sq"] = state["max_exp_avg_sq"]

        if eps_inside:
            denominator = torch.sqrt(second + eps)
        else:
            denominator = torch.sqrt(second) + eps
        new_param = param - lr * corrected_m / denominator
        if weight_decay == "after":
            new_param = new_param * (1 - lr * decay)
        return new_param, new_state

    return step


def _adam_variants() -> list[Variant]:
    return [
        Variant(
            "step_before_increment",
            STEP_BEFORE_INCREMENT_HINT,
            adam_variant(old_step=True),
        ),
        Variant(
            "no_bias_correction",
            "The bias correction is missing: divide m by 1 − β1^t and v by "
            "1 − β2^t, with t the step count after incrementing it. Without "
            "it the first steps are too small, because m and v start at zero.",
            adam_variant(correct_first=False, correct_second=False),
        ),
        Variant(
            "first_moment_only",
            "Only m is bias-corrected; v needs it too: v̂ = v / (1 − β2^t).",
            adam_variant(correct_second=False),
        ),
        Variant(
            "second_moment_only",
            "Only v is bias-corrected; m needs it too: m̂ = m / (1 − β1^t).",
            adam_variant(correct_first=False),
        ),
        Variant(
            "eps_inside_sqrt",
            "Epsilon is inside the square root. torch.optim.Adam divides by "
            "sqrt(v̂) + eps, adding eps after the square root.",
            adam_variant(eps_inside=True),
        ),
        Variant(
            "betas_swapped",
            "β1 and β2 are swapped: betas = (β1, β2), where β1 averages the "
            "gradients (m) and β2 the squared gradients (v).",
            adam_variant(swapped=True),
        ),
        Variant(
            "stored_corrected",
            "The state holds the bias-corrected m̂ and v̂. Store the raw averages "
            "m and v in state['exp_avg'] and state['exp_avg_sq'], and correct "
            "only when computing the step.",
            adam_variant(store_corrected=True),
        ),
    ]


def _adam_state(param: Tensor, *, amsgrad: bool = False) -> dict[str, Any]:
    state: dict[str, Any] = {
        "step": 0,
        "exp_avg": torch.zeros_like(param),
        "exp_avg_sq": torch.zeros_like(param),
    }
    if amsgrad:
        state["max_exp_avg_sq"] = torch.zeros_like(param)
    return state


@quiet_check
def check_adam_step(adam_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``adam_step(param, grad, state, lr, betas, eps) -> new param``.

    ``state`` starts as ``{"step": 0, "exp_avg": zeros, "exp_avg_sq": zeros}``.
    """
    return check_step_function(
        adam_step,
        name="adam_step",
        oracle=torch.optim.Adam,
        oracle_options={},
        hyperparameters=dict(HYPERPARAMETERS),
        initial_state=_adam_state,
        state_keys=("step", "exp_avg", "exp_avg_sq"),
        variants=_adam_variants(),
        seed=seed,
        zero_division_hint=STEP_BEFORE_INCREMENT_HINT,
    )


# Gradients that grow, then shrink: the second moment v falls while its
# running maximum stays, so AMSGrad's maximum changes the step.
AMSGRAD_GRAD_FACTORS = (1.0, 3.0, 0.2, 0.5, 0.1, 0.3)


@quiet_check
def check_amsgrad_step(amsgrad_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``amsgrad_step(param, grad, state, lr, betas, eps) -> new param``.

    ``state`` also contains ``"max_exp_avg_sq"``, the running maximum of v, as
    in ``torch.optim.Adam(amsgrad=True)``.
    """
    return check_step_function(
        amsgrad_step,
        name="amsgrad_step",
        oracle=torch.optim.Adam,
        oracle_options={"amsgrad": True},
        hyperparameters=dict(HYPERPARAMETERS),
        initial_state=lambda param: _adam_state(param, amsgrad=True),
        state_keys=("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"),
        variants=[
            Variant(
                "plain_adam",
                "This is Adam's step: AMSGrad divides by the running maximum "
                "of v, state['max_exp_avg_sq'] ← max(state['max_exp_avg_sq'], v).",
                adam_variant(),
            ),
            Variant(
                "max_of_corrected",
                "The maximum is taken over the bias-corrected v̂. PyTorch keeps "
                "the maximum of the raw v and bias-corrects it when dividing: "
                "sqrt(max_v / (1 − β2^t)) + eps.",
                adam_variant(amsgrad="corrected"),
            ),
            Variant(
                "max_uncorrected",
                "The maximum is not bias-corrected (the paper's AMSGrad has no "
                "bias correction). PyTorch divides by sqrt(max_v / (1 − β2^t)) + eps.",
                adam_variant(amsgrad="uncorrected"),
            ),
            *(_adam_variants_with(amsgrad="raw")),
        ],
        seed=seed,
        grad_factors=AMSGRAD_GRAD_FACTORS,
        zero_division_hint=STEP_BEFORE_INCREMENT_HINT,
    )


def _adam_variants_with(**options: Any) -> list[Variant]:
    # The mistakes of Adam's own step, on top of AMSGrad's maximum.
    return [
        Variant(
            "step_before_increment",
            STEP_BEFORE_INCREMENT_HINT,
            adam_variant(old_step=True, **options),
        ),
        Variant(
            "eps_inside_sqrt",
            "Epsilon is inside the square root. PyTorch divides by "
            "sqrt(max_v / (1 − β2^t)) + eps, adding eps after the square root.",
            adam_variant(eps_inside=True, **options),
        ),
        Variant(
            "no_bias_correction",
            "The bias correction is missing: divide m by 1 − β1^t and the "
            "maximum by 1 − β2^t, with t the step count after incrementing it.",
            adam_variant(correct_first=False, correct_second=False, **options),
        ),
    ]


@quiet_check
def check_adamw_step(adamw_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``adamw_step(param, grad, state, lr, betas, eps, weight_decay)``.

    The check uses ``weight_decay = 0.5`` so that the decay is of the size of
    the Adam step.
    """
    return check_step_function(
        adamw_step,
        name="adamw_step",
        oracle=torch.optim.AdamW,
        oracle_options={},
        hyperparameters={**HYPERPARAMETERS, "lr": 0.05, "weight_decay": 0.5},
        initial_state=_adam_state,
        state_keys=("step", "exp_avg", "exp_avg_sq"),
        variants=[
            Variant(
                "l2_in_gradient",
                "The decay is added to the gradient (λ·θ in g), which is Adam's "
                "L2 penalty: Adam then rescales it by 1/sqrt(v̂). AdamW decays "
                "the weights directly, θ ← θ·(1 − η·λ), before the Adam step.",
                adam_variant(weight_decay="l2"),
            ),
            Variant(
                "decay_without_lr",
                "The weights decay by (1 − λ); torch.optim.AdamW scales the "
                "decay by the learning rate, θ ← θ·(1 − η·λ).",
                adam_variant(weight_decay="no_lr"),
            ),
            Variant(
                "decay_after_step",
                "The decay is applied after the Adam step; torch.optim.AdamW "
                "decays the old weights first, θ ← θ·(1 − η·λ), then takes "
                "the Adam step.",
                adam_variant(weight_decay="after"),
            ),
            Variant(
                "no_decay",
                "The weights do not decay: multiply θ by (1 − η·λ) before the "
                "Adam step.",
                adam_variant(),
            ),
            *_adam_variants_with(weight_decay="decoupled"),
        ],
        seed=seed,
        zero_division_hint=STEP_BEFORE_INCREMENT_HINT,
    )
