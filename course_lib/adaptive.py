"""Measurements behind the chapters on adaptive step sizes and the Adam family.

- :func:`effective_step_size` reads, from an optimizer's state after a step,
  the per-coordinate factor by which that step multiplied its direction
  (the gradient, or Adam's bias-corrected first moment).
  :func:`trace_effective_steps` records it at every step of a batch of runs.
- :class:`AdamWithoutBiasCorrection` is Adam with both bias corrections
  switched off, to show what the first steps do without them.
- :class:`OnlineProblem`, :func:`run_online`, :func:`drift_per_period` and
  :func:`critical_beta2` are the online problem of Reddi, Kale and Kumar
  (2018), on which Adam with a small beta2 converges to the worst point
  while AMSGrad converges to the best one.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor

from course_lib.landscapes import Surface
from course_lib.optim import (
    OPTIMIZERS,
    FunctionalOptimizer,
    adam,
    as_batched,
    default_hyperparameters,
)
from course_lib.optim._base import Hyperparameter, is_batched, is_zero
from course_lib.optim.radam import RECTIFICATION_THRESHOLD

# The direction that each optimizer's effective step size multiplies, so
# that theta_t = theta_{t-1} - (effective step size) * (direction) in each
# coordinate. Weight decay, when on, is part of g_t or applied before.
STEP_DIRECTIONS: dict[str, str] = {
    "SGD": "g_t, or the momentum buffer b_t (with Nesterov: g_t + mu b_t)",
    "Adagrad": "g_t",
    "RMSprop": "g_t; with momentum, g_t enters b_t and the step is lr * b_t",
    "Adadelta": "g_t",
    "Adam": "m_hat_t = m_t / (1 - beta1^t)",
    "AdamW": "m_hat_t = m_t / (1 - beta1^t)",
    "Adamax": "m_hat_t = m_t / (1 - beta1^t)",
    "NAdam": "the sum of NAdam's bias-corrected g_t and look-ahead m_t terms",
    "RAdam": "m_hat_t = m_t / (1 - beta1^t)",
}


# -- effective step sizes -------------------------------------------------------


def effective_step_size(
    optimizer: str,
    param: Tensor,
    state: Mapping[str, Any],
    *,
    previous_state: Mapping[str, Any] | None = None,
    **hyperparameters: Any,
) -> Tensor:
    r"""Compute the per-coordinate step size of the step that produced ``state``.

    The result ``p`` has ``param``'s shape, and the step just taken was
    ``theta_t = theta_{t-1} - p * d_t``, where the direction ``d_t`` is listed
    in :data:`STEP_DIRECTIONS`:

    ========  ==========================================================
    SGD       ``lr``
    Adagrad   ``lr / (1 + (t - 1) lr_decay) / (sqrt(G_t) + eps)``
    RMSprop   ``lr / (sqrt(v_t) + eps)``, centered ``lr / (sqrt(v_t - m_t^2) + eps)``
    Adadelta  ``lr * sqrt(u_{t-1} + eps) / sqrt(v_t + eps)``
    Adam(W)   ``lr / (sqrt(v_t / (1 - beta2^t)) + eps)``, with AMSGrad's maximum
    Adamax    ``lr / u_t``
    NAdam     ``lr / (sqrt(v_t / (1 - beta2^t)) + eps)``
    RAdam     ``lr * r_t * sqrt(1 - beta2^t) / (sqrt(v_t) + eps)`` while
              ``rho_t > 5``, else ``lr``
    ========  ==========================================================

    The formulas are those of the update functions in :mod:`course_lib.optim`
    (PyTorch's arithmetic), so ``p * d_t`` is the step to rounding error.

    Args:
        optimizer: a class name in :data:`course_lib.optim.OPTIMIZERS`.
        param: the parameter after the step; only its shape, dtype, device
            and batch dimensions are used.
        state: the optimizer's state of ``param`` after the step, with
            ``torch.optim``'s keys (a ``torch.optim`` optimizer's
            ``state[param]`` works too).
        previous_state: the state before the step. Adadelta needs its
            ``acc_delta`` (u_{t-1}); the other optimizers ignore it.
        **hyperparameters: the optimizer's hyperparameters, by torch's names;
            the class's defaults fill in the others. Numeric ones may be
            batched as in the update functions.

    Raises:
        KeyError: the optimizer name is unknown.
        ValueError: Adadelta without ``previous_state``, or a state without
            a step taken.
    """
    settings = _settings(optimizer, hyperparameters)
    return _step_size(optimizer, param, state, previous_state, settings)


def _step_size(
    optimizer: str,
    param: Tensor,
    state: Mapping[str, Any],
    previous_state: Mapping[str, Any] | None,
    settings: Mapping[str, Any],
) -> Tensor:
    """Compute :func:`effective_step_size` from complete, checked settings."""
    lr = as_batched(settings["lr"], param)
    if optimizer == "SGD":
        # torch.optim.SGD keeps no step counter, so none is needed here.
        return torch.zeros_like(param).add_(lr)
    if "step" not in state or float(state["step"]) < 1:
        raise ValueError(
            "the state has no step taken; the effective step size is defined "
            "after the first step"
        )
    step = float(state["step"])
    eps = as_batched(settings.get("eps", 0.0), param)

    if optimizer == "Adagrad":
        lr_decay = as_batched(settings["lr_decay"], param)
        return lr / (1 + (step - 1) * lr_decay) / state["sum"].sqrt().add(eps)
    if optimizer == "RMSprop":
        square_avg = state["square_avg"]
        if settings["centered"]:
            grad_avg = state["grad_avg"]
            square_avg = square_avg.addcmul(grad_avg, grad_avg, value=-1)
        return lr / square_avg.sqrt().add(eps)
    if optimizer == "Adadelta":
        if previous_state is None:
            raise ValueError(
                "Adadelta's step at t uses acc_delta u_{t-1} from before the "
                "step; pass the state before the step as previous_state"
            )
        previous_delta = previous_state.get("acc_delta")
        if previous_delta is None and step == 1:
            # torch.optim makes the state at the first step, so the state
            # before it is empty; u_0 is zero.
            previous_delta = torch.zeros_like(state["acc_delta"])
        elif previous_delta is None:
            raise ValueError("previous_state has no acc_delta; pass Adadelta's state")
        return lr * previous_delta.add(eps).sqrt() / state["square_avg"].add(eps).sqrt()
    if optimizer in ("Adam", "AdamW", "NAdam"):
        beta2 = as_batched(settings["betas"][1], param)
        bias_correction2_sqrt = (1 - beta2**step) ** 0.5
        second_moment = state["exp_avg_sq"]
        if settings.get("amsgrad", False):
            second_moment = state["max_exp_avg_sq"]
        return lr / second_moment.sqrt().div(bias_correction2_sqrt).add(eps)
    if optimizer == "Adamax":
        return lr / state["exp_inf"]
    if optimizer == "RAdam":
        return _radam_step_size(param, state, settings, step, lr, eps)
    raise KeyError(f"no effective step size is defined for optimizer {optimizer!r}")


def _radam_step_size(
    param: Tensor,
    state: Mapping[str, Any],
    settings: Mapping[str, Any],
    step: float,
    lr: Hyperparameter,
    eps: Hyperparameter,
) -> Tensor:
    beta2 = as_batched(settings["betas"][1], param)
    bias_correction2 = 1 - beta2**step
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * beta2**step / bias_correction2
    unrectified = torch.zeros_like(param).add_(lr)
    if not is_batched(rho_t) and not rho_t > RECTIFICATION_THRESHOLD:
        return unrectified
    # Below the threshold the rectification term is the root of a negative
    # number; torch.where discards those NaN entries.
    ratio = (
        (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    )
    rectification = torch.as_tensor(ratio, dtype=param.dtype, device=param.device)
    adaptive = bias_correction2**0.5 / state["exp_avg_sq"].sqrt().add(eps)
    rectified = lr * rectification.clamp_min(0).sqrt() * adaptive
    above = torch.as_tensor(rho_t > RECTIFICATION_THRESHOLD, device=param.device)
    return torch.where(above, rectified, unrectified)


def _settings(optimizer: str, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """Return the optimizer's hyperparameters with its defaults filled in."""
    if optimizer not in OPTIMIZERS:
        raise KeyError(
            f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    known = OPTIMIZERS[optimizer].hyperparameters
    unknown = sorted(set(hyperparameters) - set(known))
    if unknown:
        raise TypeError(
            f"{optimizer} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"its hyperparameters are {', '.join(known)}"
        )
    settings = default_hyperparameters(optimizer)
    settings.update(hyperparameters)
    return settings


@dataclass
class EffectiveStepTrace:
    """Per-step record of a batch of ``B`` runs of one optimizer.

    Attributes:
        positions: ``(steps + 1, B, *shape)``, the start and each step's result.
        gradients: ``(steps, B, *shape)``, the gradient each step used.
        step_sizes: ``(steps, B, *shape)``, the effective step size of each
            step, coordinate by coordinate (see :func:`effective_step_size`).
        optimizer: the optimizer's class name.
        hyperparameters: the hyperparameters, defaults included.
    """

    positions: Tensor
    gradients: Tensor
    step_sizes: Tensor
    optimizer: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """The number of steps of each run."""
        return self.step_sizes.shape[0]


GradientSource = Surface | Callable[[int, Tensor], Tensor]


def trace_effective_steps(
    optimizer: str,
    gradient: GradientSource,
    start: Tensor | Sequence[float],
    steps: int,
    **hyperparameters: Any,
) -> EffectiveStepTrace:
    """Run an optimizer and record its effective step sizes at every step.

    The run uses the optimizer's pure ``init_state``/``update`` pair, so
    ``start`` may carry a leading batch dimension and numeric
    hyperparameters may be tensors of shape ``(B,)``. Nothing stops a run
    that diverges: its entries become inf or NaN.

    Args:
        optimizer: a class name in :data:`course_lib.optim.OPTIMIZERS`.
        gradient: a :class:`~course_lib.landscapes.Surface` (its ``grad``
            is used, and ``start`` has shape ``(2,)`` or ``(B, 2)``), or a
            function ``(t, x) -> gradient`` of the step ``t`` (from 1) and
            the current point.
        start: the first point; a tensor keeps its dtype and device, a
            sequence becomes a float64 CPU tensor.
        steps: the number of steps.
        **hyperparameters: the optimizer's hyperparameters, by torch's names.
    """
    settings = _settings(optimizer, hyperparameters)
    if isinstance(gradient, Surface):
        surface = gradient

        def grad_fn(t: int, x: Tensor) -> Tensor:
            return surface.grad(x)

    else:
        grad_fn = gradient
    cls: type[FunctionalOptimizer] = OPTIMIZERS[optimizer]
    if isinstance(start, Tensor):
        x = start.detach().clone()
    else:
        x = torch.tensor(start, dtype=torch.float64)
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    positions = [x.clone()]
    gradients, step_sizes = [], []
    state = cls.init_state(x, **settings)
    with torch.no_grad():
        for t in range(1, steps + 1):
            g = grad_fn(t, x)
            before = (
                {"acc_delta": state["acc_delta"].clone()}
                if "acc_delta" in state
                else None
            )
            cls.update(x, g, state, **settings)
            size = _step_size(optimizer, x, state, before, settings)
            positions.append(x.clone())
            gradients.append(g.clone())
            step_sizes.append(size)
    shape = x.shape
    return EffectiveStepTrace(
        positions=torch.stack(positions),
        gradients=torch.stack(gradients) if gradients else x.new_zeros((0, *shape)),
        step_sizes=torch.stack(step_sizes) if step_sizes else x.new_zeros((0, *shape)),
        optimizer=optimizer,
        hyperparameters=settings,
    )


# -- Adam without bias correction ----------------------------------------------


def update_without_bias_correction(
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
    decoupled_weight_decay: bool,
) -> None:
    """Apply one Adam step without bias correction, in place.

    theta_t = theta_{t-1} - eta * m_t / (sqrt(v_t) + eps), with m_t and v_t
    (or AMSGrad's maximum) as in :func:`course_lib.optim.adam.update`.

    The step reuses Adam's update with the learning rate and epsilon of
    step t rescaled, so the moment updates stay in one place. Adam computes
    (eta' / c1) * m_t / (sqrt(v_t) / s + eps') with c1 = 1 - beta1^t and
    s = sqrt(1 - beta2^t). With eta' = eta * c1 / s and eps' = eps / s that
    is eta * m_t / (sqrt(v_t) + eps).
    """
    t = float(state["step"]) + 1
    lr = as_batched(lr, param)
    beta1 = as_batched(betas[0], param)
    beta2 = as_batched(betas[1], param)
    eps = as_batched(eps, param)
    bias_correction1 = 1 - beta1**t
    bias_correction2_sqrt = (1 - beta2**t) ** 0.5

    # Decoupled decay is applied here with the unscaled eta, because Adam
    # would multiply it by the rescaled eta'.
    if decoupled_weight_decay and not is_zero(weight_decay):
        param.mul_(1 - lr * as_batched(weight_decay, param))
        weight_decay = 0.0

    adam.update(
        param,
        grad,
        state,
        lr=lr * bias_correction1 / bias_correction2_sqrt,
        betas=betas,
        eps=eps / bias_correction2_sqrt,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=False,
    )


class AdamWithoutBiasCorrection(adam.Adam):
    r"""Adam with both bias corrections switched off, for demonstrations.

    Update rule at step t (from 1)::

        m_t     = beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t     = beta2 * v_{t-1} + (1 - beta2) * g_t^2
        theta_t = theta_{t-1} - eta * m_t / (sqrt(v_t) + eps)

    This is Kingma and Ba's Algorithm 1 without the lines that divide m_t by
    1 - beta1^t and v_t by 1 - beta2^t. Under a constant gradient g, step t
    has size eta * (1 - beta1^t) / sqrt(1 - beta2^t) (for |g| >> eps),
    which with the default betas is 3.2 eta at t = 1 and peaks at 6.6 eta
    at t = 12, where Adam's steps have size eta. The constructor, the
    defaults and the other options are :class:`~course_lib.optim.Adam`'s.
    """

    init_state = staticmethod(adam.init_state)
    update = staticmethod(update_without_bias_correction)


# -- the online problem of Reddi, Kale and Kumar --------------------------------


@dataclass(frozen=True)
class OnlineProblem:
    r"""An online linear problem on which Adam can converge to the worst point.

    At step t (from 1) the loss is ``f_t(x) = large * x`` when ``t mod period
    == 1`` and ``-small * x`` otherwise, for x in ``[-1, 1]``. Over a period
    the slopes sum to ``large - (period - 1) * small``, so when that is
    positive the best fixed point is x = -1, while most steps push x towards
    +1. Reddi, Kale and Kumar, "On the Convergence of Adam and Beyond", ICLR
    2018, use ``large = C``, ``small = 1``, ``period = 3`` with C > 2, and in
    their synthetic experiment ``large = 1010``, ``small = 10``,
    ``period = 101``.
    """

    large: float = 3.0
    small: float = 1.0
    period: int = 3
    bounds: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        if not (self.large > 0 and self.small > 0):
            raise ValueError(
                f"large and small must be positive slopes, got {self.large!r} and "
                f"{self.small!r}"
            )
        if not (isinstance(self.period, int) and self.period >= 2):
            raise ValueError(f"period must be an integer >= 2, got {self.period!r}")
        if not self.bounds[0] < self.bounds[1]:
            raise ValueError(f"bounds must be increasing, got {self.bounds!r}")

    def slope(self, t: int) -> float:
        """Return the gradient of ``f_t`` (constant in x)."""
        return self.large if t % self.period == 1 else -self.small

    def slopes(self, steps: int) -> Tensor:
        """Return the gradients of ``f_1, ..., f_steps`` as float64 ``(steps,)``."""
        t = torch.arange(1, steps + 1)
        return torch.where(
            t % self.period == 1,
            torch.tensor(self.large, dtype=torch.float64),
            torch.tensor(-self.small, dtype=torch.float64),
        )

    @property
    def period_slope(self) -> float:
        """The slope of the summed loss over one period."""
        return self.large - (self.period - 1) * self.small

    @property
    def minimizer(self) -> float:
        """The point of ``bounds`` that minimizes the average loss.

        Raises:
            ValueError: the slopes cancel over a period, so every point is a
                minimizer.
        """
        if self.period_slope == 0:
            raise ValueError(
                "the slopes cancel over a period, so every point is a minimizer"
            )
        return self.bounds[0] if self.period_slope > 0 else self.bounds[1]

    def average_loss(self, x: Tensor | float) -> Tensor | float:
        """Return the loss averaged over one period, at ``x``."""
        return self.period_slope / self.period * x


LearningRateDecay = Literal["inverse_sqrt", "constant"]


@dataclass
class OnlineRun:
    """A batch of ``B`` runs on an :class:`OnlineProblem`.

    Attributes:
        positions: float64 ``(steps + 1, B)``; ``positions[t - 1]`` is the
            point x_t at which ``f_t`` is evaluated, and the last row is the
            point after the last step.
        average_regret: float64 ``(steps, B)``; row ``T - 1`` is R_T / T with
            R_T = sum_{t <= T} f_t(x_t) - min_x sum_{t <= T} f_t(x).
        problem: the problem.
        optimizer: the optimizer's class name.
        hyperparameters: the hyperparameters, defaults included (``lr`` is
            the base rate of the decay).
    """

    positions: Tensor
    average_regret: Tensor
    problem: OnlineProblem
    optimizer: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    @property
    def final_positions(self) -> Tensor:
        """``(B,)``, the point after the last step."""
        return self.positions[-1]


def run_online(
    problem: OnlineProblem,
    optimizer: str | type[FunctionalOptimizer],
    steps: int,
    *,
    start: float = 0.0,
    lr_decay: LearningRateDecay = "inverse_sqrt",
    **hyperparameters: Any,
) -> OnlineRun:
    """Run an optimizer on the online problem, projecting onto its bounds.

    Step t computes the gradient of ``f_t`` at x_t, applies the optimizer's
    update and clips the result to ``problem.bounds``, which is the
    Euclidean projection onto an interval. The runs form one batch whenever
    a numeric hyperparameter (or an entry of ``betas``) is a tensor of
    shape ``(B,)``.

    Args:
        problem: the online problem.
        optimizer: a class name in :data:`course_lib.optim.OPTIMIZERS` or a
            :class:`~course_lib.optim.FunctionalOptimizer` subclass.
        steps: the number of steps.
        start: x_1.
        lr_decay: ``"inverse_sqrt"`` uses lr / sqrt(t) at step t, so the
            steps shrink and a run can settle at a point; ``"constant"``
            uses lr throughout.
        **hyperparameters: the optimizer's hyperparameters by torch's names,
            defaults filling in the others.
    """
    if isinstance(optimizer, str):
        settings = _settings(optimizer, hyperparameters)
        cls: type[FunctionalOptimizer] = OPTIMIZERS[optimizer]
    else:
        cls = optimizer
        unknown = sorted(set(hyperparameters) - set(cls.hyperparameters))
        if unknown:
            raise TypeError(
                f"{cls.__name__} has no hyperparameter "
                f"{', '.join(map(repr, unknown))}; its hyperparameters are "
                f"{', '.join(cls.hyperparameters)}"
            )
        settings = _class_defaults(cls)
        settings.update(hyperparameters)
    if lr_decay not in ("inverse_sqrt", "constant"):
        raise ValueError(
            f"lr_decay must be 'inverse_sqrt' or 'constant', got {lr_decay!r}"
        )
    low, high = problem.bounds
    if not low <= start <= high:
        raise ValueError(f"start {start!r} lies outside the bounds {problem.bounds}")
    batch = _batch_size(settings)
    x = torch.full((batch,), float(start), dtype=torch.float64)
    state = cls.init_state(x, **settings)
    base_lr = settings["lr"]
    if isinstance(base_lr, Tensor):
        base_lr = base_lr.to(torch.float64)
    slopes = problem.slopes(steps)
    positions = torch.empty(steps + 1, batch, dtype=torch.float64)
    positions[0] = x
    step_settings = dict(settings)
    with torch.no_grad():
        for t in range(1, steps + 1):
            if lr_decay == "inverse_sqrt":
                step_settings["lr"] = base_lr / math.sqrt(t)
            grad = torch.full_like(x, float(slopes[t - 1]))
            cls.update(x, grad, state, **step_settings)
            x.clamp_(low, high)
            positions[t] = x

    # The best fixed point of a linear loss is the bound opposite its slope,
    # so on [-1, 1] R_T = sum_t slope_t x_t + |sum_t slope_t|.
    incurred = torch.cumsum(slopes[:, None] * positions[:-1], dim=0)
    total_slope = torch.cumsum(slopes, dim=0)[:, None]
    best = torch.minimum(total_slope * low, total_slope * high)
    counts = torch.arange(1, steps + 1, dtype=torch.float64)[:, None]
    return OnlineRun(
        positions=positions,
        average_regret=(incurred - best) / counts,
        problem=problem,
        optimizer=cls.__name__,
        hyperparameters=settings,
    )


def _class_defaults(cls: type[FunctionalOptimizer]) -> dict[str, Any]:
    parameters = inspect.signature(cls.__init__).parameters
    return {name: parameters[name].default for name in cls.hyperparameters}


def _batch_size(settings: Mapping[str, Any]) -> int:
    sizes = set()
    for value in settings.values():
        for entry in value if isinstance(value, tuple) else (value,):
            if isinstance(entry, Tensor) and entry.ndim > 0:
                if entry.ndim != 1:
                    raise ValueError(
                        f"a batched hyperparameter must have shape (B,), got "
                        f"{tuple(entry.shape)}"
                    )
                sizes.add(entry.shape[0])
    if len(sizes) > 1:
        raise ValueError(
            f"the batched hyperparameters disagree on the number of runs: "
            f"{sorted(sizes)}; give every tensor the same length B"
        )
    return sizes.pop() if sizes else 1


def _periodic_second_moments(problem: OnlineProblem, beta2: float) -> list[float]:
    """Return v after each step of a period, in the periodic steady state."""
    squares = [problem.slope(k) ** 2 for k in range(1, problem.period + 1)]
    # v after a whole period from v_0 is beta2^period v_0 + sum, so the
    # steady state v_0 solves v_0 = beta2^period v_0 + sum.
    accumulated = 0.0
    for square in squares:
        accumulated = beta2 * accumulated + (1 - beta2) * square
    v = accumulated / (1 - beta2**problem.period)
    moments = []
    for square in squares:
        v = beta2 * v + (1 - beta2) * square
        moments.append(v)
    return moments


def drift_per_period(
    problem: OnlineProblem, beta2: float, *, amsgrad: bool = False
) -> float:
    r"""Return the move of x over one period of Adam with beta1 = 0, per unit lr.

    With beta1 = 0, no bias correction and no epsilon, step t moves x by
    ``-lr_t * g_t / sqrt(v_t)``. Once v_t has settled into its periodic
    steady state and lr_t changes little over a period, x moves by about
    ``lr * sum_k (-g_k / sqrt(v_k))`` per period, which this returns (with
    AMSGrad, v_k is replaced by the largest of them). A positive value means
    x drifts to the upper bound, a negative one to the lower bound. Bias
    correction and epsilon change the first steps only.
    """
    if not 0.0 <= beta2 < 1.0:
        raise ValueError(f"beta2 must lie in [0, 1), got {beta2!r}")
    moments = _periodic_second_moments(problem, beta2)
    if amsgrad:
        moments = [max(moments)] * len(moments)
    return sum(
        -problem.slope(k) / math.sqrt(v)
        for k, v in zip(range(1, problem.period + 1), moments)
    )


def critical_beta2(problem: OnlineProblem, *, tolerance: float = 1e-12) -> float:
    """Find the beta2 at which Adam's drift on ``problem`` changes sign.

    With beta1 = 0 and beta2 = 0 every step has length lr, so with more
    up-steps than down-steps per period Adam drifts up. Where the average
    loss has its minimizer at the lower bound, Adam then drifts away from it
    for every beta2 below the returned value and towards it above (see
    :func:`drift_per_period`). The value is found by bisection on [0, 1).

    Raises:
        ValueError: the drift has the same sign at both ends of [0, 1), so
            no beta2 in between changes the direction.
    """
    low, high = 0.0, 1.0 - 1e-12
    drift_low = drift_per_period(problem, low)
    drift_high = drift_per_period(problem, high)
    if (drift_low > 0) == (drift_high > 0):
        raise ValueError(
            f"Adam drifts the same way for every beta2 on {problem}: "
            f"{drift_low:.3g} at beta2 = 0 and {drift_high:.3g} near 1"
        )
    while high - low > tolerance:
        middle = 0.5 * (low + high)
        if (drift_per_period(problem, middle) > 0) == (drift_low > 0):
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


__all__ = [
    "STEP_DIRECTIONS",
    "AdamWithoutBiasCorrection",
    "EffectiveStepTrace",
    "OnlineProblem",
    "OnlineRun",
    "critical_beta2",
    "drift_per_period",
    "effective_step_size",
    "run_online",
    "trace_effective_steps",
    "update_without_bias_correction",
]
