"""Checks for chapter 07, Nesterov momentum.

- :func:`check_nesterov_step`: PyTorch's form ``b ← μ·b + g``,
  ``θ ← θ − η·(g + μ·b)``, against ``torch.optim.SGD(nesterov=True)``.
- :func:`check_lookahead_step`: the paper's form (Sutskever et al., "On the
  importance of initialization and momentum in deep learning", 2013, eq. 3-4)
  ``v ← μ·v − η·∇f(x + μ·v)``, ``x ← x + v``. The check maps it onto
  PyTorch's form, whose parameter is the look-ahead point ``θ = x + μ·v`` and
  whose buffer is ``b = −v / η``, and compares with
  ``torch.optim.SGD(nesterov=True)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from course_lib.grading.compare import (
    assert_matches,
    call_learner,
    generator,
    quiet_check,
    randn,
    to_tensor,
    to_tuple,
)
from course_lib.grading.feedback import Mistake
from course_lib.grading.momentum import ASCENT_HINT, LR_INSIDE_HINT, momentum_variant
from course_lib.grading.problems import Quadratic
from course_lib.grading.steps import Variant, check_step_function

HEAVY_BALL_HINT = (
    "This is heavy-ball momentum, θ ← θ − η·b. Nesterov's step in PyTorch's "
    "form looks ahead along the new buffer: θ ← θ − η·(g + μ·b)."
)


def _old_buffer_variant(
    param: Tensor, grad: Tensor, state: dict[str, Any], hyper: dict[str, Any]
) -> tuple[Tensor, dict[str, Any]]:
    lr, mu = hyper["lr"], hyper["momentum"]
    previous = state.get("momentum_buffer")
    old = torch.zeros_like(grad) if previous is None else previous
    buffer = grad.clone() if previous is None else mu * previous + grad
    return param - lr * (grad + mu * old), {"momentum_buffer": buffer}


def nesterov_variants() -> list[Variant]:
    """Return the known wrong forms of a Nesterov step in PyTorch's form."""
    return [
        Variant("heavy_ball", HEAVY_BALL_HINT, momentum_variant()),
        Variant(
            "lr_inside_buffer",
            LR_INSIDE_HINT,
            momentum_variant(lr_inside=True, nesterov=True),
        ),
        Variant(
            "old_buffer",
            "The look-ahead uses the buffer from before this step; update the "
            "buffer first, b ← μ·b + g, then step by η·(g + μ·b).",
            _old_buffer_variant,
        ),
        Variant("ascent", ASCENT_HINT, momentum_variant(nesterov=True, sign=-1.0)),
    ]


@quiet_check
def check_nesterov_step(nesterov_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``nesterov_step(param, grad, state, lr, momentum) -> new param``.

    ``state`` starts empty and must hold ``"momentum_buffer"`` after each
    step, as in ``torch.optim.SGD(nesterov=True)``.
    """
    return check_step_function(
        nesterov_step,
        name="nesterov_step",
        oracle=torch.optim.SGD,
        oracle_options={"nesterov": True},
        hyperparameters={"lr": 0.1, "momentum": 0.8},
        initial_state=lambda param: {},
        state_keys=("momentum_buffer",),
        variants=nesterov_variants(),
        seed=seed,
    )


@quiet_check
def check_lookahead_step(lookahead_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``lookahead_step(x, velocity, grad_fn, lr, momentum) -> (x, velocity)``.

    The learner's iterates, started at ``velocity = 0``, must satisfy
    ``x + μ·v = θ`` and ``v = −η·b`` for the parameter ``θ`` and buffer ``b``
    of ``torch.optim.SGD(nesterov=True)`` at every step.
    """
    gen = generator(seed)
    problem = Quadratic.random((1.0, 4.0, 30.0), gen=gen)
    lr, mu, steps = 0.02, 0.85, 8
    param = torch.nn.Parameter(randn(3, gen=gen, scale=2.0))
    optimizer: torch.optim.Optimizer | None = None

    x, velocity = param.detach().clone(), torch.zeros(3, dtype=torch.float64)
    expected_x, expected_v = x.clone(), velocity.clone()
    for number in range(1, steps + 1):
        returned = call_learner(
            lookahead_step, x.clone(), velocity.clone(), problem.grad, lr, mu
        )
        # Made after the first call, so that a stub fails before torch.optim
        # imports torch._dynamo (seconds).
        if optimizer is None:
            optimizer = torch.optim.SGD([param], lr=lr, momentum=mu, nesterov=True)
        optimizer.zero_grad()
        problem.value(param).backward()
        optimizer.step()
        previous_x, previous_v = expected_x, expected_v
        expected_v = -lr * optimizer.state[param]["momentum_buffer"].detach()
        expected_x = param.detach() - mu * expected_v
        new_x, new_v = to_tuple(
            returned, 2, what="the value returned by lookahead_step"
        )
        new_x = to_tensor(new_x, what="the new x (first item)")
        new_v = to_tensor(new_v, what="the new velocity (second item)")

        # Known mistakes, each one step from the correct previous iterate.
        at_x = mu * previous_v - lr * problem.grad(previous_x)
        uphill = mu * previous_v + lr * problem.grad(previous_x + mu * previous_v)
        velocity_mistakes = [
            Mistake(
                "gradient_at_x",
                "The gradient is taken at x; Nesterov takes it at the look-ahead "
                "point x + μ·v (that is the difference from heavy-ball momentum).",
                at_x,
            ),
            Mistake(
                "ascent",
                "The velocity points uphill: v ← μ·v − η·∇f(x + μ·v).",
                uphill,
            ),
        ]
        assert_matches(
            new_v,
            expected_v,
            what=f"the velocity after step {number}",
            oracle="−η·b of torch.optim.SGD(nesterov=True)",
            mistakes=velocity_mistakes,
            atol=1e-12,
        )
        assert_matches(
            new_x,
            expected_x,
            what=f"x after step {number}",
            oracle="θ − μ·v of torch.optim.SGD(nesterov=True)",
            mistakes=[
                Mistake(
                    "returned_lookahead",
                    "That is the look-ahead point x + μ·v (PyTorch's parameter); "
                    "return x itself, x ← x + v.",
                    param.detach().clone(),
                ),
                Mistake(
                    "old_velocity",
                    "x moved by the old velocity; move it by the new one, x ← x + v.",
                    previous_x + previous_v,
                ),
            ],
            atol=1e-12,
        )
        x, velocity = new_x, new_v
    return (
        f"lookahead_step matches torch.optim.SGD(nesterov=True) for {steps} steps, "
        "with θ = x + μ·v and b = −v / η."
    )
