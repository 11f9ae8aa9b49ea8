"""Checks for chapter 08, adaptive step sizes.

Each check compares the learner's step with ``torch.optim``'s on badly
scaled gradients, with ``eps = 1e-3`` rather than the default ``1e-8`` so
that where epsilon enters changes the result visibly:

- :func:`check_adagrad_step`: ``s ← s + g²``, ``θ ← θ − η·g / (√s + ε)``;
- :func:`check_rmsprop_step`: ``v ← α·v + (1 − α)·g²``,
  ``θ ← θ − η·g / (√v + ε)`` (ρ in the course is ``alpha`` in PyTorch);
- :func:`check_adadelta_step`: Zeiler's update, with ε inside both square
  roots as in ``torch.optim.Adadelta``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from course_lib.grading.compare import quiet_check
from course_lib.grading.steps import StepFunction, Variant, check_step_function

EPS_INSIDE_HINT = (
    "Epsilon is inside the square root. {oracle} adds it after: it divides by "
    "sqrt({buffer}) + eps."
)
NO_SQRT_HINT = (
    "The step divides by {buffer} itself; divide by its square root, "
    "sqrt({buffer}) + eps."
)


def _adagrad_variant(
    *, eps_inside: bool = False, sqrt: bool = True, accumulate: bool = True
) -> StepFunction:
    def step(
        param: Tensor, grad: Tensor, state: dict[str, Any], hyper: dict[str, Any]
    ) -> tuple[Tensor, dict[str, Any]]:
        lr, eps = hyper["lr"], hyper["eps"]
        total = state["sum"] + grad * grad if accumulate else grad * grad
        if eps_inside:
            denominator = torch.sqrt(total + eps)
        else:
            denominator = (torch.sqrt(total) if sqrt else total) + eps
        return param - lr * grad / denominator, {"sum": total}

    return step


@quiet_check
def check_adagrad_step(adagrad_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``adagrad_step(param, grad, state, lr, eps) -> new param``.

    ``state`` starts as ``{"sum": zeros}`` and must hold the running sum of
    squared gradients, as ``torch.optim.Adagrad`` (``lr_decay=0``,
    ``initial_accumulator_value=0``) stores it.
    """
    names = {"oracle": "torch.optim.Adagrad", "buffer": "sum"}
    return check_step_function(
        adagrad_step,
        name="adagrad_step",
        oracle=torch.optim.Adagrad,
        oracle_options={},
        hyperparameters={"lr": 0.1, "eps": 1e-3},
        initial_state=lambda param: {"sum": torch.zeros_like(param)},
        state_keys=("sum",),
        variants=[
            Variant(
                "eps_inside_sqrt",
                EPS_INSIDE_HINT.format(**names),
                _adagrad_variant(eps_inside=True),
            ),
            Variant(
                "no_sqrt", NO_SQRT_HINT.format(**names), _adagrad_variant(sqrt=False)
            ),
            Variant(
                "no_accumulation",
                "The sum holds only the latest squared gradient; Adagrad adds "
                "every squared gradient to it, s ← s + g².",
                _adagrad_variant(accumulate=False),
            ),
        ],
        seed=seed,
    )


def _rmsprop_variant(
    *,
    eps_inside: bool = False,
    sqrt: bool = True,
    swapped: bool = False,
    decay: bool = True,
) -> StepFunction:
    def step(
        param: Tensor, grad: Tensor, state: dict[str, Any], hyper: dict[str, Any]
    ) -> tuple[Tensor, dict[str, Any]]:
        lr, alpha, eps = hyper["lr"], hyper["alpha"], hyper["eps"]
        keep = 1 - alpha if swapped else alpha
        if decay:
            average = keep * state["square_avg"] + (1 - keep) * grad * grad
        else:
            average = state["square_avg"] + grad * grad
        if eps_inside:
            denominator = torch.sqrt(average + eps)
        else:
            denominator = (torch.sqrt(average) if sqrt else average) + eps
        return param - lr * grad / denominator, {"square_avg": average}

    return step


@quiet_check
def check_rmsprop_step(rmsprop_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``rmsprop_step(param, grad, state, lr, alpha, eps) -> new param``.

    ``state`` starts as ``{"square_avg": zeros}``, as in ``torch.optim.RMSprop``
    without momentum and not centered.
    """
    names = {"oracle": "torch.optim.RMSprop", "buffer": "square_avg"}
    return check_step_function(
        rmsprop_step,
        name="rmsprop_step",
        oracle=torch.optim.RMSprop,
        oracle_options={},
        hyperparameters={"lr": 0.01, "alpha": 0.9, "eps": 1e-3},
        initial_state=lambda param: {"square_avg": torch.zeros_like(param)},
        state_keys=("square_avg",),
        variants=[
            Variant(
                "eps_inside_sqrt",
                EPS_INSIDE_HINT.format(**names),
                _rmsprop_variant(eps_inside=True),
            ),
            Variant(
                "no_sqrt", NO_SQRT_HINT.format(**names), _rmsprop_variant(sqrt=False)
            ),
            Variant(
                "alpha_swapped",
                "alpha and 1 − alpha are swapped: alpha (ρ) is the weight of the "
                "old average, v ← α·v + (1 − α)·g².",
                _rmsprop_variant(swapped=True),
            ),
            Variant(
                "no_decay",
                "The squared gradients add up as in Adagrad; RMSprop decays the "
                "old average, v ← α·v + (1 − α)·g².",
                _rmsprop_variant(decay=False),
            ),
        ],
        seed=seed,
    )


def _adadelta_variant(
    *, eps_outside: bool = False, use_lr: bool = True, swapped: bool = False
) -> StepFunction:
    def root(value: Tensor, eps: float) -> Tensor:
        return torch.sqrt(value) + eps if eps_outside else torch.sqrt(value + eps)

    def step(
        param: Tensor, grad: Tensor, state: dict[str, Any], hyper: dict[str, Any]
    ) -> tuple[Tensor, dict[str, Any]]:
        lr, rho, eps = hyper["lr"], hyper["rho"], hyper["eps"]
        keep = 1 - rho if swapped else rho
        square_avg = keep * state["square_avg"] + (1 - keep) * grad * grad
        delta = root(state["acc_delta"], eps) / root(square_avg, eps) * grad
        acc_delta = keep * state["acc_delta"] + (1 - keep) * delta * delta
        change = lr * delta if use_lr else delta
        return param - change, {"square_avg": square_avg, "acc_delta": acc_delta}

    return step


@quiet_check
def check_adadelta_step(adadelta_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``adadelta_step(param, grad, state, lr, rho, eps) -> new param``.

    ``state`` starts as ``{"square_avg": zeros, "acc_delta": zeros}``, as in
    ``torch.optim.Adadelta``. The check uses ``lr = 0.5`` so that a step that
    ignores the learning rate shows.
    """
    return check_step_function(
        adadelta_step,
        name="adadelta_step",
        oracle=torch.optim.Adadelta,
        oracle_options={},
        hyperparameters={"lr": 0.5, "rho": 0.8, "eps": 1e-3},
        initial_state=lambda param: {
            "square_avg": torch.zeros_like(param),
            "acc_delta": torch.zeros_like(param),
        },
        state_keys=("square_avg", "acc_delta"),
        variants=[
            Variant(
                "eps_outside_sqrt",
                "Epsilon is added after the square roots. Adadelta (Zeiler 2012, "
                "and torch.optim.Adadelta) adds it inside both: "
                "Δ = sqrt(u + eps) / sqrt(v + eps) · g, unlike RMSprop and Adam.",
                _adadelta_variant(eps_outside=True),
            ),
            Variant(
                "no_lr",
                "The step ignores lr. torch.optim.Adadelta multiplies Zeiler's "
                "update by lr (1.0 by default): θ ← θ − lr·Δ.",
                _adadelta_variant(use_lr=False),
            ),
            Variant(
                "rho_swapped",
                "rho and 1 − rho are swapped: rho is the weight of the old "
                "averages, v ← ρ·v + (1 − ρ)·g².",
                _adadelta_variant(swapped=True),
            ),
        ],
        seed=seed,
    )
