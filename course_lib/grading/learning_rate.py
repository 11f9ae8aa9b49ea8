"""Checks for chapter 05, the learning rate and its schedules.

Each schedule is a function of the step count ``t`` (0 before the first
scheduler step) that returns the learning rate. The oracle is the matching
``torch.optim.lr_scheduler`` class, stepped ``t`` times:

- :func:`check_step_lr`: ``StepLR``, ``lr·γ^⌊t / step_size⌋``;
- :func:`check_cosine_lr`: ``CosineAnnealingLR``,
  ``η_min + (lr − η_min)·(1 + cos(π·t / T))/2``;
- :func:`check_warmup_cosine_lr`: ``LinearLR`` warmup from ``lr / w`` to
  ``lr`` over ``w`` steps, then ``CosineAnnealingLR`` to 0, chained by
  ``SequentialLR``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import lr_scheduler

from course_lib.grading.compare import (
    assert_matches,
    call_learner,
    quiet_check,
    to_float,
)
from course_lib.grading.feedback import Mistake

Scheduler = Callable[[torch.optim.Optimizer], Any]


def scheduler_lrs(make_scheduler: Scheduler, lr: float, steps: int) -> Tensor:
    """Return the rates of a ``torch.optim.lr_scheduler`` for t = 0 to steps − 1."""
    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=lr)
    rates = []
    # SequentialLR steps its inner schedulers with an epoch argument, which
    # warns in torch 2.13. The values are right, so the warning is dropped.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scheduler = make_scheduler(optimizer)
        for _ in range(steps):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return torch.tensor(rates, dtype=torch.float64)


def _learner_lrs(
    function: Callable[..., Any], name: str, steps: Iterable[int], **kwargs: Any
) -> Tensor:
    values = []
    for step in steps:
        returned = call_learner(function, step, **kwargs)
        values.append(to_float(returned, what=f"{name}({step}, ...)"))
    return torch.tensor(values, dtype=torch.float64)


def _formula(steps: int, rate: Callable[[int], float]) -> Tensor:
    return torch.tensor([rate(t) for t in range(steps)], dtype=torch.float64)


@quiet_check
def check_step_lr(step_lr: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``step_lr(step, lr, step_size, gamma) -> float`` against ``StepLR``."""
    lr, step_size, gamma, steps = 0.1, 4 + seed % 3, 0.5, 20
    actual = _learner_lrs(
        step_lr, "step_lr", range(steps), lr=lr, step_size=step_size, gamma=gamma
    )
    expected = scheduler_lrs(
        lambda opt: lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma),
        lr,
        steps,
    )
    assert_matches(
        actual,
        expected,
        what=f"step_lr for steps 0 to {steps - 1} (step_size={step_size})",
        oracle="torch.optim.lr_scheduler.StepLR",
        mistakes=[
            Mistake(
                "continuous",
                "The rate decays at every step, γ^(t / step_size); StepLR "
                "decays in steps: use integer division, γ^(t // step_size).",
                _formula(steps, lambda t: lr * gamma ** (t / step_size)),
            ),
            Mistake(
                "off_by_one",
                "The first decay comes one step early: StepLR keeps lr for "
                "steps 0 to step_size − 1, γ^(t // step_size).",
                _formula(steps, lambda t: lr * gamma ** ((t + 1) // step_size)),
            ),
            Mistake(
                "missing_lr",
                "The base rate is missing: multiply the decay factor by lr.",
                _formula(steps, lambda t: gamma ** (t // step_size)),
            ),
        ],
    )
    return f"step_lr matches StepLR for {steps} steps."


@quiet_check
def check_cosine_lr(cosine_lr: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``cosine_lr(step, lr, total_steps, eta_min) -> float``.

    The oracle is ``CosineAnnealingLR(T_max=total_steps, eta_min=eta_min)``
    for steps 0 to ``total_steps``.
    """
    lr, eta_min, total = 0.1, 0.01, 12 + seed % 5
    actual = _learner_lrs(
        cosine_lr,
        "cosine_lr",
        range(total + 1),
        lr=lr,
        total_steps=total,
        eta_min=eta_min,
    )
    expected = scheduler_lrs(
        lambda opt: lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=eta_min),
        lr,
        total + 1,
    )

    def cosine(t: float, *, floor: float = eta_min, angle: float = math.pi) -> float:
        return floor + (lr - floor) * (1 + math.cos(angle * t / total)) / 2

    assert_matches(
        actual,
        expected,
        what=f"cosine_lr for steps 0 to {total}",
        oracle="torch.optim.lr_scheduler.CosineAnnealingLR",
        mistakes=[
            Mistake(
                "missing_pi",
                "The angle lacks π: the cosine must go from cos(0) = 1 to "
                "cos(π) = −1 over total_steps, so use cos(π·t / total_steps).",
                _formula(total + 1, lambda t: cosine(t, angle=1.0)),
            ),
            Mistake(
                "rising",
                "The rate rises from eta_min to lr; it must fall from lr to "
                "eta_min: (1 + cos(π·t / T)) / 2, not (1 − cos(π·t / T)) / 2.",
                _formula(total + 1, lambda t: lr + eta_min - cosine(t)),
            ),
            Mistake(
                "eta_min_ignored",
                "The schedule ends at 0; it must end at eta_min: "
                "eta_min + (lr − eta_min)·(1 + cos(π·t / T)) / 2.",
                _formula(total + 1, lambda t: cosine(t, floor=0.0)),
            ),
            Mistake(
                "off_by_one",
                "The schedule is one step ahead: at step 0 the rate is lr, cos(0) = 1.",
                _formula(total + 1, lambda t: cosine(t + 1)),
            ),
        ],
    )
    return f"cosine_lr matches CosineAnnealingLR for {total + 1} steps."


@quiet_check
def check_warmup_cosine_lr(
    warmup_cosine_lr: Callable[..., Any], *, seed: int = 0
) -> str:
    """Check ``warmup_cosine_lr(step, lr, warmup_steps, total_steps) -> float``.

    Steps ``t < w`` warm up linearly, ``lr·(t + 1) / w``; from ``t = w`` the
    rate follows a cosine from ``lr`` down to 0 over ``total_steps − w``
    steps. The oracle chains ``LinearLR(start_factor=1/w, total_iters=w − 1)``
    and ``CosineAnnealingLR(T_max=total_steps − w)`` with ``SequentialLR``.
    """
    lr, warmup, total = 0.05, 4 + seed % 3, 20

    def make(opt: torch.optim.Optimizer) -> Any:
        linear = lr_scheduler.LinearLR(
            opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1
        )
        cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=total - warmup)
        return lr_scheduler.SequentialLR(
            opt, schedulers=[linear, cosine], milestones=[warmup]
        )

    actual = _learner_lrs(
        warmup_cosine_lr,
        "warmup_cosine_lr",
        range(total + 1),
        lr=lr,
        warmup_steps=warmup,
        total_steps=total,
    )
    expected = scheduler_lrs(make, lr, total + 1)

    def rate(t: int, *, start: int = 1, offset: int = warmup) -> float:
        if t < warmup:
            return lr * (t + start) / warmup
        return lr * (1 + math.cos(math.pi * (t - offset) / (total - warmup))) / 2

    assert_matches(
        actual,
        expected,
        what=f"warmup_cosine_lr for steps 0 to {total} (warmup_steps={warmup})",
        oracle="SequentialLR(LinearLR, CosineAnnealingLR)",
        mistakes=[
            Mistake(
                "warmup_from_zero",
                "The warmup starts at 0, which wastes the first step: at step t "
                "it gives lr·(t + 1) / warmup_steps, so step 0 already has "
                "lr / warmup_steps.",
                _formula(total + 1, lambda t: rate(t, start=0)),
            ),
            Mistake(
                "cosine_not_shifted",
                "The cosine starts counting at step 0 instead of at the end of "
                "the warmup: use t − warmup_steps in the cosine.",
                _formula(total + 1, lambda t: rate(t, offset=0)),
            ),
        ],
    )
    return "warmup_cosine_lr matches SequentialLR(LinearLR, CosineAnnealingLR)."
