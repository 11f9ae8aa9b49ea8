"""Learning-rate schedules as pure functions of the step.

A schedule maps the step ``t`` (the number of ``scheduler.step()`` calls so
far, torch's ``last_epoch``) to the learning rate that the matching
``torch.optim.lr_scheduler`` class gives the optimizer for its next step:

======================  ====================================================
schedule                torch scheduler with the same learning rates
======================  ====================================================
StepSchedule            ``StepLR``
MultiStepSchedule       ``MultiStepLR``
ExponentialSchedule     ``ExponentialLR``
CosineSchedule          ``CosineAnnealingLR``
LinearSchedule          ``LinearLR``
SequentialSchedule      ``SequentialLR``
WarmupCosineSchedule    ``SequentialLR`` of ``LinearLR`` then ``CosineAnnealingLR``
OneCycleSchedule        ``OneCycleLR``
CyclicSchedule          ``CyclicLR`` (modes triangular, triangular2, exp_range)
======================  ====================================================

Every schedule has three forms:

- ``schedule(t)``: the learning rate at step ``t``;
- ``schedule.multiplier(t)``: the learning rate divided by ``base_lr``, for
  ``torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=schedule.multiplier)``
  on an optimizer built with ``lr=schedule.base_lr``;
- ``schedule.values(steps)``: a float64 tensor with one learning rate per step,
  for plotting and for the batched optimizer path.

Any real-valued argument except ``pct_start`` (learning rates, factors, momenta)
may be a tensor of shape ``(B,)`` or any other batch shape. ``values(steps)``
then has shape ``steps.shape + batch_shape``, so ``values(steps)[t]`` is the
vector of learning rates of all ``B`` configurations at step ``t``. For
example, three runs of ``course_lib.optim.SGD``'s batched update, with three
base learning rates::

    schedule = CosineSchedule(torch.tensor([1e-4, 3e-4, 1e-3]), T_max=200)
    lrs = schedule.values(200).to(x.dtype)  # shape (200, 3)
    state = SGD.init_state(x, **hyperparameters)  # x of shape (3, 2)
    for t in range(200):
        hyperparameters["lr"] = lrs[t]
        SGD.update(x, surface.grad(x), state, **hyperparameters)

Torch computes ``StepLR``, ``MultiStepLR``, ``ExponentialLR``, ``LinearLR`` and
``CosineAnnealingLR`` recursively, multiplying the previous learning rate by a
factor at every step. These schedules use the closed forms of the same
formulas (torch's ``_get_closed_form_lr``), so ``values`` is vectorized and
free of accumulated rounding. In torch 2.13 the recursion agrees with the
closed form to a relative 1e-12 over the step ranges the tests drive. The
exception is ``CosineAnnealingLR`` stepped past ``T_max`` with ``eta_min > 0``.
Its recursion multiplies ``lr - eta_min``, which is tiny near the minimum, by
large ratios on the way back up, so the rounding error of that subtraction
grows. Measured with torch 2.13 and ``eta_min = base_lr / 2``, the recursion
departs from the closed form by a relative 1e-12 at ``T_max = 300`` and
3.6e-12 at ``T_max = 1000``. These schedules follow the closed form there.
"""

from __future__ import annotations

import bisect
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import torch
from torch import Tensor

Hyperparameter = float | Tensor


def _as_hyperparameter(name: str, value: Hyperparameter) -> Hyperparameter:
    """Convert a number to float and a tensor to float64, and reject NaN and inf."""
    if isinstance(value, Tensor):
        if value.is_complex() or value.dtype == torch.bool:
            raise ValueError(
                f"{name} must be a real number or a real tensor, got a tensor of "
                f"dtype {value.dtype}"
            )
        value = value.detach().to(torch.float64)
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} must be finite, got {value}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a real number or a tensor, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def _all(condition: bool | Tensor) -> bool:
    return bool(condition.all()) if isinstance(condition, Tensor) else bool(condition)


def _check_step_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be a whole number of steps, got {value!r}")
    if value <= 0:
        raise ValueError(
            f"{name} must be a positive number of steps, got {value}. Pass 1 or more"
        )
    return value


def _check_nonnegative_lr(name: str, value: Hyperparameter) -> None:
    if not _all(value >= 0):
        raise ValueError(
            f"{name} must be a non-negative learning rate, got {value}. A negative "
            f"learning rate climbs the loss instead of descending it"
        )


def _check_positive(name: str, value: Hyperparameter) -> None:
    if not _all(value > 0):
        raise ValueError(f"{name} must be positive, got {value}")


class Schedule(ABC):
    """A learning rate as a pure function of the step.

    Attributes:
        base_lr: the learning rate that ``multiplier`` is relative to. It is
            the optimizer's initial learning rate in torch's scheduler (torch's
            ``scheduler.base_lrs``).
        last_step: the largest valid step, or None when the schedule has no end.
    """

    base_lr: Hyperparameter
    last_step: int | None = None

    @abstractmethod
    def _lr(self, t: Tensor) -> Tensor:
        """Compute the learning rate at float64 steps ``t``.

        ``t`` has shape ``steps.shape + (1,) * len(batch_shape)``, so tensor
        arguments of the batch shape broadcast against it.
        """

    @property
    def batch_shape(self) -> torch.Size:
        """Broadcast shape of the tensor arguments, empty when all are numbers."""
        shapes = [
            value.shape for value in vars(self).values() if isinstance(value, Tensor)
        ]
        return torch.broadcast_shapes(*shapes)

    @property
    def _device(self) -> torch.device | None:
        """Device of the tensor arguments, or None when all are numbers."""
        for value in vars(self).values():
            if isinstance(value, Tensor):
                return value.device
        return None

    def _check_steps(self, steps: Tensor | int) -> Tensor:
        if isinstance(steps, int) and not isinstance(steps, bool):
            _check_step_count("steps", steps)
            steps = torch.arange(steps, device=self._device)
        if not isinstance(steps, Tensor):
            raise ValueError(
                f"steps must be a tensor of steps or a number of steps, got {steps!r}"
            )
        if steps.is_floating_point() and not bool((steps == steps.floor()).all()):
            raise ValueError("steps must be whole numbers. Round them first")
        if steps.numel() and int(steps.min()) < 0:
            raise ValueError(
                f"steps must be non-negative, got a minimum step of {int(steps.min())}"
            )
        if (
            self.last_step is not None
            and steps.numel()
            and int(steps.max()) > self.last_step
        ):
            raise ValueError(
                f"step {int(steps.max())} is past the end of the schedule at step "
                f"{self.last_step}. Build the schedule with more total steps"
            )
        device = self._device
        return steps if device is None else steps.to(device)

    def _evaluate(
        self, formula: Callable[[Tensor], Tensor], steps: Tensor | int
    ) -> Tensor:
        steps = self._check_steps(steps)
        batch_shape = self.batch_shape
        t = steps.to(torch.float64).reshape(steps.shape + (1,) * len(batch_shape))
        return formula(t).expand(steps.shape + batch_shape).contiguous()

    def values(self, steps: Tensor | int) -> Tensor:
        """Compute the learning rate at every step of ``steps``.

        Args:
            steps: a tensor of non-negative whole steps, or a number ``n`` for
                the steps ``0, 1, ..., n - 1``.

        Returns:
            A float64 tensor of shape ``steps.shape + batch_shape``, on the
            device of the tensor arguments. When all arguments are numbers it
            is on the device of ``steps``, or on the CPU for a number.

        Raises:
            ValueError: a step is negative, not whole, or past ``last_step``.
        """
        return self._evaluate(self._lr, steps)

    def _scalar(self, formula: Callable[[Tensor], Tensor], step: int) -> Hyperparameter:
        # The checks of _check_steps, on a Python int because building a
        # tensor for them is slower, and LambdaLR calls this once per step.
        if isinstance(step, bool) or not isinstance(step, int):
            raise ValueError(f"step must be a whole number, got {step!r}")
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        if self.last_step is not None and step > self.last_step:
            raise ValueError(
                f"step {step} is past the end of the schedule at step "
                f"{self.last_step}. Build the schedule with more total steps"
            )
        batch_shape = self.batch_shape
        t = torch.full((1,) * len(batch_shape), float(step), dtype=torch.float64)
        value = formula(t if self._device is None else t.to(self._device))
        value = value.expand(batch_shape)
        return value.item() if value.ndim == 0 else value.contiguous()

    def __call__(self, step: int) -> Hyperparameter:
        """Return the learning rate at ``step``, a float or a tensor of batch shape."""
        return self._scalar(self._lr, step)

    def multiplier(self, step: int) -> float:
        """Return the learning rate at ``step`` divided by ``base_lr``.

        ``LambdaLR(optimizer, lr_lambda=schedule.multiplier)`` on an optimizer
        whose learning rate is ``schedule.base_lr`` then sets the same
        learning rates as the schedule.
        """
        if self.batch_shape:
            raise ValueError(
                "multiplier needs a schedule of numbers, but this one has a batch "
                f"of shape {tuple(self.batch_shape)}. Use values() for a batch"
            )
        if self.base_lr == 0:
            raise ValueError(
                "multiplier is undefined for base_lr=0. Give the schedule a "
                "positive base_lr or use values() for absolute learning rates"
            )
        return self(step) / self.base_lr


class StepSchedule(Schedule):
    """Decay by ``gamma`` every ``step_size`` steps, like ``StepLR``.

    ``lr(t) = base_lr * gamma ** floor(t / step_size)``.
    """

    def __init__(
        self, base_lr: Hyperparameter, step_size: int, gamma: Hyperparameter = 0.1
    ) -> None:
        self.base_lr = _as_hyperparameter("base_lr", base_lr)
        self.step_size = _check_step_count("step_size", step_size)
        self.gamma = _as_hyperparameter("gamma", gamma)
        _check_nonnegative_lr("base_lr", self.base_lr)
        _check_positive("gamma", self.gamma)

    def _lr(self, t: Tensor) -> Tensor:
        decays = torch.div(t, self.step_size, rounding_mode="floor")
        return self.base_lr * torch.pow(self.gamma, decays)


class MultiStepSchedule(Schedule):
    """Decay by ``gamma`` at each milestone, like ``MultiStepLR``.

    ``lr(t) = base_lr * gamma ** (number of milestones <= t)``. A milestone
    listed twice decays twice, as in torch, which counts milestones.
    """

    def __init__(
        self,
        base_lr: Hyperparameter,
        milestones: Iterable[int],
        gamma: Hyperparameter = 0.1,
    ) -> None:
        self.base_lr = _as_hyperparameter("base_lr", base_lr)
        self.milestones = tuple(sorted(milestones))
        self.gamma = _as_hyperparameter("gamma", gamma)
        _check_nonnegative_lr("base_lr", self.base_lr)
        _check_positive("gamma", self.gamma)
        for milestone in self.milestones:
            if isinstance(milestone, bool) or not isinstance(milestone, int):
                raise ValueError(f"milestones must be whole steps, got {milestone!r}")
            if milestone < 0:
                raise ValueError(
                    f"milestones must be non-negative steps, got {milestone}"
                )

    def _lr(self, t: Tensor) -> Tensor:
        milestones = torch.tensor(self.milestones, dtype=torch.float64, device=t.device)
        decays = torch.searchsorted(milestones, t.contiguous(), right=True)
        return self.base_lr * torch.pow(self.gamma, decays.to(torch.float64))


class ExponentialSchedule(Schedule):
    """Multiply by ``gamma`` at every step, like ``ExponentialLR``.

    ``lr(t) = base_lr * gamma ** t``.
    """

    def __init__(self, base_lr: Hyperparameter, gamma: Hyperparameter) -> None:
        self.base_lr = _as_hyperparameter("base_lr", base_lr)
        self.gamma = _as_hyperparameter("gamma", gamma)
        _check_nonnegative_lr("base_lr", self.base_lr)
        _check_positive("gamma", self.gamma)

    def _lr(self, t: Tensor) -> Tensor:
        return self.base_lr * torch.pow(self.gamma, t)


def _cosine(
    t: Tensor, base_lr: Hyperparameter, eta_min: Hyperparameter, T_max: int
) -> Tensor:
    # The closed form of CosineAnnealingLR, in torch's order of operations.
    return eta_min + (base_lr - eta_min) * (1 + torch.cos(math.pi * t / T_max)) / 2


class CosineSchedule(Schedule):
    """Anneal along a cosine to ``eta_min`` at ``T_max``, like ``CosineAnnealingLR``.

    ``lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``.
    Past ``T_max`` the learning rate rises again along the same cosine, with
    period ``2 * T_max``, because torch's scheduler does so too (it has no
    restarts and no end). The closed form is used throughout, and the module
    docstring says where torch's recursion departs from it.
    """

    def __init__(
        self, base_lr: Hyperparameter, T_max: int, eta_min: Hyperparameter = 0.0
    ) -> None:
        self.base_lr = _as_hyperparameter("base_lr", base_lr)
        self.T_max = _check_step_count("T_max", T_max)
        self.eta_min = _as_hyperparameter("eta_min", eta_min)
        _check_nonnegative_lr("base_lr", self.base_lr)
        _check_nonnegative_lr("eta_min", self.eta_min)
        if not _all(self.eta_min <= self.base_lr):
            raise ValueError(
                f"eta_min={self.eta_min} is above base_lr={self.base_lr}, so the "
                f"schedule would rise instead of anneal. Pass eta_min <= base_lr"
            )

    def _lr(self, t: Tensor) -> Tensor:
        return _cosine(t, self.base_lr, self.eta_min, self.T_max)


def _check_linear_factors(
    start_factor: Hyperparameter, end_factor: Hyperparameter
) -> None:
    # The ranges LinearLR accepts in torch 2.13.
    if not _all((start_factor > 0) & (start_factor <= 1)):
        raise ValueError(
            f"start_factor must be in (0, 1], got {start_factor}. It multiplies "
            f"base_lr at step 0"
        )
    if not _all((end_factor >= 0) & (end_factor <= 1)):
        raise ValueError(
            f"end_factor must be in [0, 1], got {end_factor}. It multiplies base_lr "
            f"from step total_iters on"
        )


class LinearSchedule(Schedule):
    """Scale ``base_lr`` by a factor that changes linearly, like ``LinearLR``.

    ``lr(t) = base_lr * (start_factor + (end_factor - start_factor) *
    min(t, total_iters) / total_iters)``, constant from ``total_iters`` on.
    With ``start_factor < end_factor = 1`` it is a linear warmup.
    """

    def __init__(
        self,
        base_lr: Hyperparameter,
        start_factor: Hyperparameter = 1.0 / 3,
        end_factor: Hyperparameter = 1.0,
        total_iters: int = 5,
    ) -> None:
        self.base_lr = _as_hyperparameter("base_lr", base_lr)
        self.start_factor = _as_hyperparameter("start_factor", start_factor)
        self.end_factor = _as_hyperparameter("end_factor", end_factor)
        self.total_iters = _check_step_count("total_iters", total_iters)
        _check_nonnegative_lr("base_lr", self.base_lr)
        _check_linear_factors(self.start_factor, self.end_factor)

    def _lr(self, t: Tensor) -> Tensor:
        progress = torch.clamp(t, max=self.total_iters)
        factor = (
            self.start_factor
            + (self.end_factor - self.start_factor) * progress / self.total_iters
        )
        return self.base_lr * factor


class SequentialSchedule(Schedule):
    """Run schedules one after another, switching at milestones, like ``SequentialLR``.

    Schedule ``i`` runs from ``milestones[i - 1]`` (0 for the first), on the
    steps counted from there: ``lr(t) = schedules[i](t - milestones[i - 1])``.
    ``SequentialLR`` gives every scheduler the optimizer's initial learning
    rate, so give every schedule the same ``base_lr`` to match it.
    """

    def __init__(
        self, schedules: Sequence[Schedule], milestones: Sequence[int]
    ) -> None:
        if len(schedules) < 1:
            raise ValueError("SequentialSchedule needs at least one schedule")
        if len(milestones) != len(schedules) - 1:
            raise ValueError(
                f"SequentialSchedule needs one milestone fewer than schedules, got "
                f"{len(schedules)} schedules and {len(milestones)} milestones"
            )
        for milestone in milestones:
            _check_step_count("each milestone", milestone)
        if list(milestones) != sorted(set(milestones)):
            raise ValueError(
                f"milestones must be strictly increasing, got {list(milestones)}"
            )
        self.schedules = tuple(schedules)
        self.milestones = tuple(milestones)
        self.base_lr = self.schedules[0].base_lr
        last = self.schedules[-1].last_step
        start_of_last = self.milestones[-1] if self.milestones else 0
        self.last_step = None if last is None else start_of_last + last

    @property
    def batch_shape(self) -> torch.Size:
        return torch.broadcast_shapes(*(s.batch_shape for s in self.schedules))

    @property
    def _device(self) -> torch.device | None:
        devices = [s._device for s in self.schedules if s._device is not None]
        return devices[0] if devices else None

    def _lr(self, t: Tensor) -> Tensor:
        # Each schedule is evaluated at every step and torch.where keeps its
        # own stretch, so the result stays vectorized.
        lr = self.schedules[0]._lr(t)
        for milestone, schedule in zip(self.milestones, self.schedules[1:]):
            lr = torch.where(t >= milestone, schedule._lr(t - milestone), lr)
        return lr

    def schedule_at(self, step: int) -> tuple[Schedule, int]:
        """Return the schedule that runs at ``step``, and the step it runs at.

        The second value counts from the schedule's own start, its milestone.
        """
        index = bisect.bisect_right(self.milestones, step)
        start = self.milestones[index - 1] if index > 0 else 0
        return self.schedules[index], step - start


class WarmupCosineSchedule(SequentialSchedule):
    """Warm up linearly, then anneal along a cosine until ``total_steps``.

    This is ``SequentialLR`` of ``LinearLR(start_factor, end_factor=1.0,
    total_iters=warmup_steps)`` and ``CosineAnnealingLR(T_max=total_steps -
    warmup_steps, eta_min)`` with the milestone ``warmup_steps``::

        lr(t) = base_lr * (start_factor + (1 - start_factor) * t / warmup_steps)
                                                        for t < warmup_steps
        lr(t) = eta_min + (base_lr - eta_min)
                * (1 + cos(pi * (t - warmup_steps) / T)) / 2
                                                        for t >= warmup_steps

    with ``T = total_steps - warmup_steps``.

    Steps run from 0 to ``total_steps``, the value after the last of
    ``total_steps`` scheduler steps, and later steps raise ``ValueError``.
    Torch's ``SequentialLR`` has no end there, and its cosine would rise again.
    """

    def __init__(
        self,
        base_lr: Hyperparameter,
        warmup_steps: int,
        total_steps: int,
        start_factor: Hyperparameter = 1.0 / 3,
        eta_min: Hyperparameter = 0.0,
    ) -> None:
        _check_step_count("warmup_steps", warmup_steps)
        _check_step_count("total_steps", total_steps)
        if warmup_steps >= total_steps:
            raise ValueError(
                f"warmup_steps={warmup_steps} must be less than "
                f"total_steps={total_steps}, which leaves no steps for the cosine. "
                f"Shorten the warmup or raise total_steps"
            )
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        warmup = LinearSchedule(base_lr, start_factor, 1.0, total_iters=warmup_steps)
        cosine = CosineSchedule(
            base_lr, T_max=total_steps - warmup_steps, eta_min=eta_min
        )
        super().__init__([warmup, cosine], [warmup_steps])
        self.last_step = total_steps


def _anneal(
    start: Hyperparameter, end: Hyperparameter, pct: Tensor, strategy: str
) -> Tensor:
    # OneCycleLR's _annealing_cos and _annealing_linear, in torch's order of
    # operations.
    if strategy == "cos":
        return end + (start - end) / 2.0 * (torch.cos(math.pi * pct) + 1)
    return (end - start) * pct + start


class OneCycleSchedule(Schedule):
    """Rise to ``max_lr`` and anneal far below the start, like ``OneCycleLR``.

    The learning rate starts at ``initial_lr = max_lr / div_factor``, rises to
    ``max_lr`` over the first ``pct_start * total_steps`` steps and falls to
    ``min_lr = initial_lr / final_div_factor`` at step ``total_steps - 1``,
    along a cosine or a line (``anneal_strategy``). With ``three_phase`` it
    falls back to ``initial_lr`` symmetrically before a third phase goes down
    to ``min_lr``. Momentum runs the other way, from ``max_momentum`` down to
    ``base_momentum`` and back (see ``momentum``). Torch's scheduler writes it
    into the optimizer when ``cycle_momentum=True``, its default. This is
    Smith and Topin, "Super-Convergence" (2017), in the form of fastai's
    two-phase policy, which torch follows.

    Steps run from 0 to ``total_steps`` and later steps raise ``ValueError``,
    as torch's scheduler does. ``base_lr`` is ``initial_lr``, the learning
    rate ``multiplier`` is relative to.
    """

    def __init__(
        self,
        max_lr: Hyperparameter,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        base_momentum: Hyperparameter = 0.85,
        max_momentum: Hyperparameter = 0.95,
        div_factor: Hyperparameter = 25.0,
        final_div_factor: Hyperparameter = 1e4,
        three_phase: bool = False,
    ) -> None:
        if total_steps is not None:
            self.total_steps = _check_step_count("total_steps", total_steps)
        elif epochs is not None and steps_per_epoch is not None:
            _check_step_count("epochs", epochs)
            _check_step_count("steps_per_epoch", steps_per_epoch)
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError(
                "OneCycleSchedule needs total_steps, or both epochs and "
                "steps_per_epoch (total_steps = epochs * steps_per_epoch)"
            )
        self.last_step = self.total_steps

        if isinstance(pct_start, bool) or not isinstance(pct_start, (int, float)):
            raise ValueError(f"pct_start must be a number in [0, 1], got {pct_start!r}")
        if not 0 <= pct_start <= 1:
            raise ValueError(
                f"pct_start must be in [0, 1], got {pct_start}. It is the fraction "
                f"of total_steps spent raising the learning rate"
            )
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}"
            )
        self.pct_start = float(pct_start)
        self.anneal_strategy = anneal_strategy
        self.three_phase = bool(three_phase)

        self.max_lr = _as_hyperparameter("max_lr", max_lr)
        self.div_factor = _as_hyperparameter("div_factor", div_factor)
        self.final_div_factor = _as_hyperparameter("final_div_factor", final_div_factor)
        self.base_momentum = _as_hyperparameter("base_momentum", base_momentum)
        self.max_momentum = _as_hyperparameter("max_momentum", max_momentum)
        _check_nonnegative_lr("max_lr", self.max_lr)
        if not _all(self.div_factor >= 1):
            raise ValueError(
                f"div_factor must be at least 1, got {self.div_factor}. The initial "
                f"learning rate max_lr / div_factor would lie above max_lr"
            )
        _check_positive("final_div_factor", self.final_div_factor)
        _check_momentum_range(self.base_momentum, self.max_momentum)

        # Same operations as OneCycleLR's group["initial_lr"] and group["min_lr"].
        self.base_lr = self.max_lr / self.div_factor
        self.min_lr = self.base_lr / self.final_div_factor
        self._phases = self._make_phases()

    def _make_phases(self) -> list[tuple[float, str, str, str, str]]:
        # (end_step, start_lr, end_lr, start_momentum, end_momentum), with the
        # end steps of OneCycleLR.
        total, pct = self.total_steps, self.pct_start
        if self.three_phase:
            phases = [
                (float(pct * total) - 1, "base_lr", "max_lr", "max", "base"),
                (float(2 * pct * total) - 2, "max_lr", "base_lr", "base", "max"),
                (total - 1, "base_lr", "min_lr", "max", "max"),
            ]
        else:
            phases = [
                (float(pct * total) - 1, "base_lr", "max_lr", "max", "base"),
                (total - 1, "max_lr", "min_lr", "base", "max"),
            ]
        start = 0.0
        for number, (end, *_) in enumerate(phases, start=1):
            if end == start:
                raise ValueError(
                    f"phase {number} of the one-cycle schedule has no steps "
                    f"(pct_start={self.pct_start}, total_steps={self.total_steps}), "
                    f"which torch's OneCycleLR turns into a division by zero. Change "
                    f"pct_start or total_steps"
                )
            start = end
        return phases

    def _by_phase(self, t: Tensor, field: Callable[[tuple], tuple]) -> Tensor:
        # A step belongs to the first phase whose end step it does not pass,
        # or else to the last phase. pct is its progress through that phase.
        result = None
        start = 0.0
        assigned = torch.zeros_like(t, dtype=torch.bool)
        for index, phase in enumerate(self._phases):
            end = phase[0]
            last = index == len(self._phases) - 1
            mask = ~assigned if last else (t <= end) & ~assigned
            pct = (t - start) / (end - start)
            first, second = field(phase)
            value = _anneal(first, second, pct, self.anneal_strategy)
            result = value if result is None else torch.where(mask, value, result)
            assigned = assigned | mask
            start = end
        return result

    def _lr(self, t: Tensor) -> Tensor:
        names = {"base_lr": self.base_lr, "max_lr": self.max_lr, "min_lr": self.min_lr}
        return self._by_phase(t, lambda phase: (names[phase[1]], names[phase[2]]))

    def _momentum(self, t: Tensor) -> Tensor:
        names = {"base": self.base_momentum, "max": self.max_momentum}
        return self._by_phase(t, lambda phase: (names[phase[3]], names[phase[4]]))

    def momentum(self, step: int) -> Hyperparameter:
        """Return the momentum (Adam's beta1) that ``OneCycleLR`` sets at ``step``."""
        return self._scalar(self._momentum, step)

    def momentum_values(self, steps: Tensor | int) -> Tensor:
        """Compute the momentum at every step, shaped like ``values(steps)``."""
        return self._evaluate(self._momentum, steps)


def _check_momentum_range(base: Hyperparameter, maximum: Hyperparameter) -> None:
    if not _all(base >= 0):
        raise ValueError(f"base_momentum must be non-negative, got {base}")
    if not _all(base <= maximum):
        raise ValueError(
            f"base_momentum={base} is above max_momentum={maximum}. Swap them, "
            f"since momentum falls to base_momentum while the learning rate peaks"
        )


class CyclicSchedule(Schedule):
    """Cycle between ``base_lr`` and ``max_lr`` along triangles, like ``CyclicLR``.

    Each cycle rises for ``step_size_up`` steps and falls for
    ``step_size_down`` steps (default ``step_size_up``). The height of the
    triangle is ``max_lr - base_lr`` times a scale, which depends on ``mode``:

    - ``"triangular"``: 1 in every cycle;
    - ``"triangular2"``: halved in each new cycle, ``1 / 2 ** (cycle - 1)``;
    - ``"exp_range"``: ``gamma ** t``, with ``t`` the step.

    These are the three policies of Smith, "Cyclical Learning Rates for
    Training Neural Networks" (2017). Momentum cycles the other way between
    ``max_momentum`` and ``base_momentum`` (see ``momentum``). Torch's scheduler
    writes it into the optimizer when ``cycle_momentum=True``, its default.
    """

    def __init__(
        self,
        base_lr: Hyperparameter,
        max_lr: Hyperparameter,
        step_size_up: int = 2000,
        step_size_down: int | None = None,
        mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
        gamma: Hyperparameter = 1.0,
        base_momentum: Hyperparameter = 0.8,
        max_momentum: Hyperparameter = 0.9,
    ) -> None:
        # NOTE: CyclicLR's custom scale_fn and scale_mode are not offered.
        self.base_lr = _as_hyperparameter("base_lr", base_lr)
        self.max_lr = _as_hyperparameter("max_lr", max_lr)
        _check_nonnegative_lr("base_lr", self.base_lr)
        if not _all(self.max_lr >= self.base_lr):
            raise ValueError(
                f"max_lr={self.max_lr} is below base_lr={self.base_lr}. Pass the "
                f"lower bound of the cycle as base_lr and the upper one as max_lr"
            )
        self.step_size_up = _check_step_count("step_size_up", step_size_up)
        if step_size_down is None:
            step_size_down = step_size_up
        self.step_size_down = _check_step_count("step_size_down", step_size_down)
        if mode not in ("triangular", "triangular2", "exp_range"):
            raise ValueError(
                f"mode must be 'triangular', 'triangular2' or 'exp_range', got {mode!r}"
            )
        self.mode = mode
        self.gamma = _as_hyperparameter("gamma", gamma)
        _check_positive("gamma", self.gamma)
        self.base_momentum = _as_hyperparameter("base_momentum", base_momentum)
        self.max_momentum = _as_hyperparameter("max_momentum", max_momentum)
        _check_momentum_range(self.base_momentum, self.max_momentum)

        # The same float operations as CyclicLR's __init__ and get_lr.
        up, down = float(self.step_size_up), float(self.step_size_down)
        self._total_size = up + down
        self._step_ratio = up / self._total_size

    def _position_and_scale(self, t: Tensor) -> tuple[Tensor, Tensor | float]:
        # The position in the triangle (0 at base_lr, 1 at max_lr) and the
        # scale of the mode, as CyclicLR.get_lr computes them.
        cycle = torch.floor(1 + t / self._total_size)
        x = 1.0 + t / self._total_size - cycle
        position = torch.where(
            x <= self._step_ratio,
            x / self._step_ratio,
            (x - 1) / (self._step_ratio - 1),
        )
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / torch.pow(2.0, cycle - 1)
        else:
            scale = torch.pow(self.gamma, t)
        return position, scale

    def _lr(self, t: Tensor) -> Tensor:
        position, scale = self._position_and_scale(t)
        height = (self.max_lr - self.base_lr) * position
        return self.base_lr + height * scale

    def _momentum(self, t: Tensor) -> Tensor:
        position, scale = self._position_and_scale(t)
        height = (self.max_momentum - self.base_momentum) * position
        return self.max_momentum - height * scale

    def momentum(self, step: int) -> Hyperparameter:
        """Return the momentum (Adam's beta1) that ``CyclicLR`` sets at ``step``."""
        return self._scalar(self._momentum, step)

    def momentum_values(self, steps: Tensor | int) -> Tensor:
        """Compute the momentum at every step, shaped like ``values(steps)``."""
        return self._evaluate(self._momentum, steps)


__all__ = [
    "CosineSchedule",
    "CyclicSchedule",
    "ExponentialSchedule",
    "LinearSchedule",
    "MultiStepSchedule",
    "OneCycleSchedule",
    "Schedule",
    "SequentialSchedule",
    "StepSchedule",
    "WarmupCosineSchedule",
]
