"""The shared check for a learner's optimizer step function.

Chapters 06 to 09 ask for functions of one form::

    new_param = optimizer_step(param, grad, state, **hyperparameters)

``state`` is a dict with ``torch.optim``'s state keys, which the function
updates; ``"step"``, where present, is the number of steps already taken, a
Python int. :func:`check_step_function` runs the learner's function for
several steps next to a ``torch.optim`` optimizer (the oracle) on the same
gradients, with a learning rate that changes between steps. After each step
it compares the step taken, every state entry and the step counter.
When a value differs it computes each known wrong variant for that one step,
from the oracle's state before it, and names the variant that matches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from course_lib.grading.compare import (
    assert_matches,
    call_learner,
    generator,
    randn,
    to_tensor,
)
from course_lib.grading.feedback import (
    GradingError,
    KnownMistakeError,
    LearnerCodeError,
    Mistake,
)

# (param, grad, state, hyperparameters) -> (new param, new state), where the
# state is in the learner's form: torch's keys, "step" as a number.
StepFunction = Callable[
    [Tensor, Tensor, dict[str, Any], dict[str, Any]], tuple[Tensor, dict[str, Any]]
]

# Learning rates of the successive steps, as multiples of the check's base
# rate. They change from step to step, so that a learning rate stored inside
# a buffer changes the trajectory.
LR_FACTORS = (1.0, 0.5, 0.8, 0.3, 0.6, 1.0)

# Scales of the gradient's columns: badly scaled on purpose, so that where
# epsilon enters and how each coordinate is normalized both matter.
GRAD_SCALES = (1.0, 0.1, 0.01, 0.001)


@dataclass(frozen=True)
class Variant:
    """A known wrong form of one optimizer step, and the hint that names it."""

    name: str
    hint: str
    step: StepFunction


def learner_state(torch_state: dict[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """Copy ``torch.optim``'s state of one parameter into the learner's form."""
    state: dict[str, Any] = {}
    for key in keys:
        if key not in torch_state:
            continue
        value = torch_state[key]
        if key == "step":
            state[key] = int(float(value))
        else:
            state[key] = value.detach().clone()
    return state


def check_step_function(
    function: Callable[..., Any],
    *,
    name: str,
    oracle: type[torch.optim.Optimizer],
    oracle_options: dict[str, Any],
    hyperparameters: dict[str, Any],
    initial_state: Callable[[Tensor], dict[str, Any]],
    state_keys: Sequence[str],
    variants: Sequence[Variant],
    seed: int,
    steps: int = 6,
    grad_factors: Sequence[float] | None = None,
    zero_division_hint: str | None = None,
) -> str:
    """Check a learner's optimizer step against ``torch.optim`` for ``steps`` steps.

    Args:
        function: the learner's ``step(param, grad, state, **hyperparameters)``.
        name: the function's name in messages.
        oracle: the ``torch.optim`` class that takes the same steps.
        oracle_options: extra constructor arguments of the oracle only, such
            as ``nesterov=True``.
        hyperparameters: the keyword arguments passed to the learner, with
            torch's names; ``"lr"`` is the base rate, multiplied by
            :data:`LR_FACTORS` step by step.
        initial_state: makes the state the learner gets before the first
            step, from the parameter.
        state_keys: the state entries to compare after each step; ``"step"``
            is compared as a number.
        variants: known mistakes, tried in order.
        seed: seeds the parameter and the gradients.
        steps: how many steps to compare.
        grad_factors: multiply the gradient of each step by these factors,
            for example to make it shrink so that a running maximum matters.
        zero_division_hint: the hint for a ``ZeroDivisionError`` raised by
            the learner's code, when a known mistake causes one.

    Returns:
        A one-line summary of what was checked.
    """
    gen = generator(seed)
    start = randn(3, len(GRAD_SCALES), gen=gen)
    scales = torch.tensor(GRAD_SCALES, dtype=torch.float64)
    grads = [randn(3, len(GRAD_SCALES), gen=gen) * scales for _ in range(steps)]
    # A shared constant component makes successive gradients agree in sign,
    # as they do in a ravine, so that momentum terms matter.
    grads = [grad + 0.5 * scales for grad in grads]
    if grad_factors is not None:
        grads = [
            grad * grad_factors[i % len(grad_factors)] for i, grad in enumerate(grads)
        ]

    reference = torch.nn.Parameter(start.clone())
    # Made after the learner's first step, so that a stub fails before
    # torch.optim's first use imports torch._dynamo (seconds).
    optimizer: torch.optim.Optimizer | None = None
    base_lr = hyperparameters["lr"]
    options = ", ".join(f"{key}={value!r}" for key, value in oracle_options.items())
    oracle_name = f"torch.optim.{oracle.__name__}" + (f"({options})" if options else "")

    param = start.clone()
    state = initial_state(param.clone())
    oracle_state: dict[str, Any] = learner_state(
        initial_state(param.clone()), state_keys
    )
    for index, grad in enumerate(grads):
        number = index + 1
        lr = base_lr * LR_FACTORS[index % len(LR_FACTORS)]
        step_hyperparameters = {**hyperparameters, "lr": lr}

        try:
            returned = call_learner(
                function, param.clone(), grad.clone(), state, **step_hyperparameters
            )
        except LearnerCodeError as error:
            if zero_division_hint and isinstance(error.__cause__, ZeroDivisionError):
                mistake = Mistake("zero_division", zero_division_hint, None)
                raise KnownMistakeError(
                    f"{error} at step {number}. {zero_division_hint}", mistake
                ) from error.__cause__
            raise

        if optimizer is None:
            optimizer = oracle([reference], **hyperparameters, **oracle_options)
        before = reference.detach().clone()
        previous_state = oracle_state
        optimizer.param_groups[0]["lr"] = lr
        reference.grad = grad.clone()
        optimizer.step()
        expected_step = reference.detach() - before
        oracle_state = learner_state(optimizer.state[reference], state_keys)

        what = f"the step taken by {name} at step {number} (returned − param)"
        new_param = to_tensor(returned, what=f"the value returned by {name}")
        if new_param.shape != param.shape:
            raise GradingError(
                f"{name} returned a tensor of shape {tuple(new_param.shape)}; "
                f"return the new parameter, of the shape of param "
                f"{tuple(param.shape)}"
            )

        outcomes = _run_variants(
            variants, before, grad, previous_state, step_hyperparameters
        )
        mistakes = [
            Mistake(variant.name, variant.hint, variant_step)
            for variant, variant_step, _ in outcomes
        ]
        assert_matches(
            new_param - param,
            expected_step,
            what=what + _dtype_note(returned),
            oracle=oracle_name,
            mistakes=mistakes,
            atol=1e-12,
        )

        for key in state_keys:
            if key in oracle_state:
                _check_state_entry(
                    state,
                    key,
                    oracle_state[key],
                    previous=previous_state.get(key),
                    name=name,
                    number=number,
                    oracle=oracle_name,
                    outcomes=outcomes,
                )
        param = new_param
    return (
        f"{name} takes the same {steps} steps as {oracle_name}, and its state "
        "matches after each one."
    )


def _run_variants(
    variants: Sequence[Variant],
    before: Tensor,
    grad: Tensor,
    previous_state: dict[str, Any],
    hyperparameters: dict[str, Any],
) -> list[tuple[Variant, Tensor, dict[str, Any]]]:
    # Each variant takes one step from the oracle's parameter and state
    # before this step; a learner who matched the oracle so far had the same.
    outcomes = []
    for variant in variants:
        state = {
            key: value.clone() if isinstance(value, Tensor) else value
            for key, value in previous_state.items()
        }
        new_param, new_state = variant.step(
            before.clone(), grad.clone(), state, hyperparameters
        )
        outcomes.append((variant, new_param - before, new_state))
    return outcomes


def _check_state_entry(
    state: dict[str, Any],
    key: str,
    expected: Any,
    *,
    previous: Any,
    name: str,
    number: int,
    oracle: str,
    outcomes: list[tuple[Variant, Tensor, dict[str, Any]]],
) -> None:
    if key not in state:
        raise GradingError(
            f"state has no {key!r} after step {number} of {name}; store the new "
            f"value in state[{key!r}], as {oracle} does"
        )
    what = f"state[{key!r}] after step {number} of {name}"
    mistakes = [
        Mistake(variant.name, variant.hint, variant_state[key])
        for variant, _, variant_state in outcomes
        if key in variant_state
    ]
    if key == "step":
        value = to_tensor(state[key], what=what)
        if value.numel() != 1:
            raise GradingError(f"{what} must be a number, the count of steps taken")
        not_incremented = Mistake(
            "step_not_incremented",
            "The step counter was not incremented: add 1 to state['step'] at "
            "the start of each step.",
            float(expected) - 1.0,
        )
        assert_matches(
            value.reshape(()),
            float(expected),
            what=what,
            oracle=oracle,
            mistakes=[not_incremented, *mistakes],
        )
        return
    if isinstance(previous, Tensor):
        mistakes.append(
            Mistake(
                "state_not_updated",
                f"state[{key!r}] still holds its value from before the step: "
                f"store the new value in state[{key!r}] (assign it, or update "
                "the tensor in place).",
                previous,
            )
        )
    value = to_tensor(state[key], what=what)
    assert_matches(value, expected, what=what, oracle=oracle, mistakes=mistakes)


def _dtype_note(returned: Any) -> str:
    if isinstance(returned, Tensor) and returned.dtype != torch.float64:
        return f" (it returned dtype {returned.dtype}; keep param's dtype, float64)"
    return ""
