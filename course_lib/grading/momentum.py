"""Checks for chapter 06, momentum.

- :func:`check_momentum_step`: one step of SGD with momentum, in PyTorch's
  form ``b ← μ·b + g``, ``θ ← θ − η·b``, against ``torch.optim.SGD``.
- :func:`check_heavy_ball`: a whole trajectory on an ill-conditioned bowl.
- :func:`check_optimal_momentum`: the best ``(lr, momentum)`` for a quadratic
  (Polyak's heavy-ball tuning).
"""

from __future__ import annotations

import math
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
    to_float,
    to_tuple,
)
from course_lib.grading.feedback import Mistake
from course_lib.grading.problems import (
    Quadratic,
    momentum_trajectory,
    torch_trajectory,
)
from course_lib.grading.steps import Variant, check_step_function
from course_lib.grading.trajectories import compare_trajectory

LR_INSIDE_HINT = (
    "The learning rate is inside the momentum buffer (b ← μ·b + η·g). PyTorch "
    "keeps it out, b ← μ·b + g and θ ← θ − η·b, so a new learning rate takes "
    "effect at once."
)
DAMPENED_HINT = (
    "The gradient enters the buffer scaled by (1 − μ), as in an exponential "
    "moving average. torch.optim.SGD adds the whole gradient: b ← μ·b + g."
)
NO_MOMENTUM_HINT = (
    "The step ignores the buffer, which is plain gradient descent: step "
    "along b ← μ·b + g, not along g."
)
ASCENT_HINT = "The step goes uphill: subtract η·b from the parameter."


def momentum_variant(
    *,
    lr_inside: bool = False,
    dampened: bool = False,
    nesterov: bool = False,
    use_buffer: bool = True,
    sign: float = 1.0,
) -> Callable[[Tensor, Tensor, dict[str, Any], dict[str, Any]], Any]:
    """Make a momentum step, in PyTorch's form unless an option changes it.

    ``lr_inside`` keeps the learning rate in the buffer, ``dampened`` adds
    ``(1 − μ)·g``, ``nesterov`` steps by ``g + μ·b``, ``use_buffer=False``
    steps by ``g`` and ``sign=-1`` climbs.
    """

    def step(
        param: Tensor, grad: Tensor, state: dict[str, Any], hyper: dict[str, Any]
    ) -> tuple[Tensor, dict[str, Any]]:
        lr, mu = hyper["lr"], hyper["momentum"]
        scaled = lr * grad if lr_inside else grad
        previous = state.get("momentum_buffer")
        if previous is None:
            buffer = (1 - mu) * scaled if dampened else scaled.clone()
        else:
            buffer = mu * previous + ((1 - mu) * scaled if dampened else scaled)
        direction = scaled + mu * buffer if nesterov else buffer
        if not use_buffer:
            direction = scaled
        change = direction if lr_inside else lr * direction
        return param - sign * change, {"momentum_buffer": buffer}

    return step


def momentum_variants() -> list[Variant]:
    """Return the known wrong forms of a heavy-ball momentum step."""
    return [
        Variant("lr_inside_buffer", LR_INSIDE_HINT, momentum_variant(lr_inside=True)),
        Variant("dampened", DAMPENED_HINT, momentum_variant(dampened=True)),
        Variant("no_momentum", NO_MOMENTUM_HINT, momentum_variant(use_buffer=False)),
        Variant(
            "nesterov",
            "This is Nesterov's step θ ← θ − η·(g + μ·b); heavy-ball momentum "
            "steps along the buffer itself, θ ← θ − η·b.",
            momentum_variant(nesterov=True),
        ),
        Variant("ascent", ASCENT_HINT, momentum_variant(sign=-1.0)),
    ]


@quiet_check
def check_momentum_step(momentum_step: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``momentum_step(param, grad, state, lr, momentum) -> new param``.

    ``state`` starts empty, as ``torch.optim.SGD``'s state of a parameter
    does, and must hold ``"momentum_buffer"`` after each step. The learning
    rate changes from step to step.
    """
    return check_step_function(
        momentum_step,
        name="momentum_step",
        oracle=torch.optim.SGD,
        oracle_options={},
        hyperparameters={"lr": 0.1, "momentum": 0.8},
        initial_state=lambda param: {},
        state_keys=("momentum_buffer",),
        variants=momentum_variants(),
        seed=seed,
    )


@quiet_check
def check_heavy_ball(heavy_ball: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``heavy_ball(grad_fn, x0, lr, momentum, steps) -> (steps + 1, d)``.

    The oracle is ``torch.optim.SGD(momentum=...)`` on a bowl with condition
    number 25, with gradients from ``torch.autograd``.
    """
    gen = generator(seed)
    problem = Quadratic.random((1.0, 25.0), gen=gen)
    start = randn(2, gen=gen, scale=2.0)
    lr, mu, steps = 0.03, 0.7, 12
    returned = call_learner(heavy_ball, problem.grad, start.clone(), lr, mu, steps)
    expected = torch_trajectory(
        problem, start, steps, torch.optim.SGD, lr=lr, momentum=mu
    )

    def variant(**options: Any) -> Tensor:
        arguments = {"lr": lr, "momentum": mu, **options}
        return momentum_trajectory(problem, start, steps, **arguments)

    mistakes = [
        Mistake("dampened", DAMPENED_HINT, variant(dampening=mu)),
        Mistake("no_momentum", NO_MOMENTUM_HINT, variant(momentum=0.0)),
        Mistake(
            "nesterov",
            "These are Nesterov's steps; heavy-ball momentum takes the "
            "gradient at the current point and steps along the buffer.",
            variant(nesterov=True),
        ),
        Mistake("ascent", ASCENT_HINT, variant(sign=-1.0)),
    ]
    compare_trajectory(
        returned,
        expected,
        name="heavy_ball",
        oracle="torch.optim.SGD(momentum=...)",
        mistakes=mistakes,
    )
    return (
        f"heavy_ball follows torch.optim.SGD(momentum={mu}) for {steps} steps on a "
        "bowl of condition number 25."
    )


def optimal_momentum_reference(hessian: Tensor) -> tuple[float, float]:
    """Return Polyak's optimal ``(lr, momentum)`` for a quadratic with this Hessian.

    With eigenvalues between ``m`` and ``L`` and ``κ = L/m``, heavy-ball
    momentum converges fastest for ``lr = 4 / (√L + √m)²`` and
    ``momentum = ((√κ − 1) / (√κ + 1))²`` (Polyak, "Some methods of speeding
    up the convergence of iteration methods", 1964).
    """
    eigenvalues = torch.linalg.eigvalsh(hessian.to(torch.float64))
    smallest, largest = float(eigenvalues[0]), float(eigenvalues[-1])
    root_kappa = math.sqrt(largest / smallest)
    lr = 4.0 / (math.sqrt(largest) + math.sqrt(smallest)) ** 2
    momentum = ((root_kappa - 1.0) / (root_kappa + 1.0)) ** 2
    return lr, momentum


@quiet_check
def check_optimal_momentum(
    optimal_momentum: Callable[..., Any], *, seed: int = 0
) -> str:
    """Check ``optimal_momentum(hessian) -> (lr, momentum)``.

    The eigenvalues come from ``torch.linalg.eigvalsh``; the values from
    Polyak's formula (see :func:`optimal_momentum_reference`).
    """
    gen = generator(seed)
    for eigenvalues in ((0.5, 2.0, 40.0), (3.0, 7.0, 12.0, 300.0)):
        problem = Quadratic.random(eigenvalues, gen=gen)
        hessian = problem.hessian
        lr, mu = optimal_momentum_reference(hessian)
        smallest, largest = min(eigenvalues), max(eigenvalues)
        kappa = largest / smallest
        returned = call_learner(optimal_momentum, hessian.clone())
        learner_lr, learner_mu = to_tuple(
            returned, 2, what="the value returned by optimal_momentum"
        )
        learner_lr = to_float(learner_lr, what="the learning rate (first item)")
        learner_mu = to_float(learner_mu, what="the momentum (second item)")
        what = f"for Hessian eigenvalues {eigenvalues}"
        swapped = Mistake(
            "swapped",
            "The two values are swapped: return (lr, momentum), in that order.",
            mu,
        )
        assert_matches(
            learner_lr,
            lr,
            what=f"the learning rate {what}",
            oracle="4 / (√L + √m)²",
            mistakes=[
                swapped,
                Mistake(
                    "gradient_descent_lr",
                    "That is the best learning rate of plain gradient descent, "
                    "2 / (L + m). With momentum it is 4 / (√L + √m)².",
                    2.0 / (largest + smallest),
                ),
            ],
        )
        assert_matches(
            learner_mu,
            mu,
            what=f"the momentum {what}",
            oracle="((√κ − 1) / (√κ + 1))²",
            mistakes=[
                Mistake(
                    "kappa_not_root",
                    "The formula uses κ where √κ belongs: momentum = "
                    "((√κ − 1) / (√κ + 1))² with κ = L / m.",
                    ((kappa - 1) / (kappa + 1)) ** 2,
                ),
                Mistake(
                    "not_squared",
                    "The ratio (√κ − 1) / (√κ + 1) is the convergence rate; the "
                    "momentum is its square.",
                    (math.sqrt(kappa) - 1) / (math.sqrt(kappa) + 1),
                ),
            ],
        )
    return "optimal_momentum gives Polyak's optimal (lr, momentum) for two bowls."
