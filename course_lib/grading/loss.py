"""Checks for chapter 01, labeled training and loss.

- :func:`check_mse_loss` against ``torch.nn.functional.mse_loss``;
- :func:`check_mse_grad`: the gradient of the mean squared error with
  respect to the predictions, against ``torch.autograd``;
- :func:`check_bce_with_logits` against
  ``torch.nn.functional.binary_cross_entropy_with_logits``, including logits
  so large that the textbook formula overflows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.grading.compare import (
    assert_matches,
    call_learner,
    generator,
    quiet_check,
    randn,
    to_tensor,
)
from course_lib.grading.feedback import (
    KnownMistakeError,
    Mistake,
    WrongShapeError,
    WrongValueError,
)

SUM_HINT = (
    "This is the sum over the elements; a mean belongs here: divide by the "
    "number of elements (prediction.numel()), or use .mean()."
)

UNSTABLE_HINT = (
    "The loss is right on moderate logits and wrong on large ones, so the "
    "formula is numerically unstable: sigmoid(z) rounds to 0 or 1 and its log "
    "to -inf. Use the stable form max(z, 0) − z·y + log(1 + exp(−|z|)), or "
    "torch.nn.functional.logsigmoid."
)


def _pairs(seed: int) -> list[tuple[Tensor, Tensor]]:
    gen = generator(seed)
    return [
        (randn(7, gen=gen), randn(7, gen=gen)),
        (randn(5, 3, gen=gen, scale=2.0), randn(5, 3, gen=gen)),
    ]


@quiet_check
def check_mse_loss(mse_loss: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``mse_loss(prediction, target) -> scalar``, the mean squared error."""
    for prediction, target in _pairs(seed):
        error = prediction - target
        expected = F.mse_loss(prediction, target)
        returned = call_learner(mse_loss, prediction.clone(), target.clone())
        actual = to_tensor(returned, what="the value returned by mse_loss")
        mistakes = [
            Mistake("sum", SUM_HINT, F.mse_loss(prediction, target, reduction="sum")),
            Mistake(
                "per_element",
                "This is one loss per element; reduce them to one number with .mean().",
                F.mse_loss(prediction, target, reduction="none"),
            ),
            Mistake(
                "absolute",
                "This is the mean absolute error; MSE squares each error.",
                F.l1_loss(prediction, target),
            ),
            Mistake(
                "root",
                "This is the root of the mean squared error (RMSE); MSE has "
                "no square root.",
                torch.sqrt(F.mse_loss(prediction, target)),
            ),
            Mistake(
                "halved",
                "This is half the MSE; the factor 1/2 of some textbooks is not "
                "part of torch.nn.functional.mse_loss.",
                F.mse_loss(prediction, target) / 2,
            ),
        ]
        if prediction.ndim == 2:
            mistakes.append(
                Mistake(
                    "mean_over_rows",
                    "This sums the squared errors of each row and averages over "
                    "the rows; MSE averages over every element.",
                    (error**2).sum(dim=1).mean(),
                )
            )
        assert_matches(
            actual,
            expected,
            what=f"mse_loss on inputs of shape {tuple(prediction.shape)}",
            oracle="torch.nn.functional.mse_loss",
            mistakes=mistakes,
        )
    return "mse_loss matches torch.nn.functional.mse_loss on two inputs."


@quiet_check
def check_mse_grad(mse_grad: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``mse_grad(prediction, target)``: d mse_loss / d prediction."""
    for prediction, target in _pairs(seed + 1):
        leaf = prediction.clone().requires_grad_(True)
        (expected,) = torch.autograd.grad(F.mse_loss(leaf, target), leaf)
        count = prediction.numel()
        error = prediction - target
        returned = call_learner(mse_grad, prediction.clone(), target.clone())
        actual = to_tensor(returned, what="the value returned by mse_grad")
        assert_matches(
            actual,
            expected,
            what=f"mse_grad on inputs of shape {tuple(prediction.shape)}",
            oracle="torch.autograd.grad of torch.nn.functional.mse_loss",
            mistakes=[
                Mistake(
                    "sum",
                    "This is the gradient of the summed squared error; the mean "
                    f"divides it by the number of elements, 2·(p − y) / n with "
                    f"n = {count} here.",
                    2 * error,
                ),
                Mistake(
                    "missing_two",
                    "The factor 2 is missing: d(e²)/de = 2e, so the gradient is "
                    "2·(p − y) / n.",
                    error / count,
                ),
                Mistake(
                    "sign",
                    "The sign is flipped: the gradient with respect to the "
                    "prediction is 2·(p − y) / n, positive where p > y.",
                    -2 * error / count,
                ),
            ],
        )
    return "mse_grad matches torch.autograd on two inputs."


@quiet_check
def check_bce_with_logits(
    binary_cross_entropy_with_logits: Callable[..., Any], *, seed: int = 0
) -> str:
    """Check ``binary_cross_entropy_with_logits(logits, target) -> scalar``.

    The second input contains logits of magnitude up to 800, each with the
    label it argues against. There ``sigmoid(z)`` rounds to 0 or 1 in
    float64, so the textbook formula takes ``log(0) = -inf`` and only a
    numerically stable form gets the loss right.
    """
    gen = generator(seed + 2)
    moderate = randn(12, gen=gen, scale=3.0)
    extreme = torch.tensor(
        [-800.0, -300.0, -60.0, 45.0, 300.0, 800.0], dtype=torch.float64
    )
    extreme = extreme[torch.randperm(6, generator=gen)]
    cases = [
        ("logits of moderate size", moderate),
        ("large logits (|z| up to 800)", extreme),
    ]
    for description, logits in cases:
        if logits is extreme:
            target = (logits < 0).to(torch.float64)
        else:
            target = torch.randint(0, 2, logits.shape, generator=gen).to(torch.float64)
        expected = F.binary_cross_entropy_with_logits(logits, target)
        returned = call_learner(
            binary_cross_entropy_with_logits, logits.clone(), target.clone()
        )
        actual = to_tensor(
            returned, what="the value returned by binary_cross_entropy_with_logits"
        )
        mistakes = [
            Mistake(
                "sum",
                SUM_HINT,
                F.binary_cross_entropy_with_logits(logits, target, reduction="sum"),
            ),
            Mistake(
                "per_element",
                "This is one loss per element; reduce them to one number with .mean().",
                F.binary_cross_entropy_with_logits(logits, target, reduction="none"),
            ),
            Mistake(
                "sign",
                "The loss is negative: cross-entropy is −[y·log σ(z) + (1 − y)·"
                "log(1 − σ(z))], with the minus sign in front.",
                -expected,
            ),
        ]
        what = f"binary_cross_entropy_with_logits on {description}"
        try:
            assert_matches(
                actual,
                expected,
                what=what,
                oracle="torch.nn.functional.binary_cross_entropy_with_logits",
                mistakes=mistakes,
            )
        except (WrongValueError, WrongShapeError) as error:
            if logits is not extreme or actual.shape != expected.shape:
                raise
            # Right on moderate logits and wrong on large ones: an overflow.
            mistake = Mistake("unstable", UNSTABLE_HINT, None)
            raise KnownMistakeError(f"{error}. {UNSTABLE_HINT}", mistake) from None
    return (
        "binary_cross_entropy_with_logits matches torch.nn.functional on moderate "
        "and on large logits."
    )
