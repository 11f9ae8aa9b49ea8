"""Optimizer runs on the test surfaces of :mod:`course_lib.landscapes`.

:func:`run` drives an optimizer's pure ``init_state``/``update`` pair on a
batch of runs at once: ``B`` start points, ``B`` hyperparameter settings, or
both, as one vectorized computation. :func:`run_class` takes the same runs
one at a time through the ``torch.optim.Optimizer`` class API, so tests can
check that both paths take the same steps, and it also accepts
``torch.optim``'s own classes as an oracle.

>>> from course_lib.landscapes import get_surface
>>> lrs = torch.tensor([0.01, 0.1, 0.25])
>>> runs = run(get_surface("quadratic"), "SGD", (2.0, 1.0), 50, lr=lrs)
>>> runs.positions.shape, runs.diverged_at.tolist()
(torch.Size([51, 3, 2]), [-1, -1, 35])

A run diverges at the first step whose position or loss is not finite or
whose position has a coordinate beyond ``divergence_bound`` (by default
:data:`DIVERGENCE_BOUND`). From that step on its recorded positions and
losses are NaN, so a plot draws it up to its last finite point, while the
other runs of the batch go on.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from course_lib.landscapes import Surface
from course_lib.optim import OPTIMIZERS, FunctionalOptimizer

# A run whose position has a coordinate beyond this magnitude counts as
# diverged. Every test surface's plotting bounds lie within 10 of the
# origin, so such a point is more than 1e4 plot widths away. The losses
# there are still finite in float32, except Beale's, whose (x y^3)^2 term
# overflows beyond about 6e4 and is caught by the finiteness check.
DIVERGENCE_BOUND = 1e6

# The batched path checks positions for divergence once per this many
# steps, on the whole block at once, because a check costs about as much as
# a step of plain SGD. The step of divergence is dated exactly afterwards,
# from the whole record.
_CHECK_EVERY = 10

LearningRates = Callable[[int], Any] | Tensor | None


@dataclass
class Trajectory:
    """The record of a batch of ``B`` optimizer runs on one surface.

    Attributes:
        positions: ``(steps + 1, B, 2)``, the start and the point after each
            step; NaN from ``diverged_at`` on.
        losses: ``(steps + 1, B)``, the surface's value at each position.
        diverged_at: ``(B,)`` long, the first step at which the run left the
            finite region or the divergence bound, or -1 for runs that never
            did.
        learning_rates: ``(steps, B)`` float64, the learning rate of each step.
        surface: the surface the runs went on.
        optimizer: the optimizer's class name.
        hyperparameters: the hyperparameters of every run, defaults included.
    """

    positions: Tensor
    losses: Tensor
    diverged_at: Tensor
    learning_rates: Tensor
    surface: Surface
    optimizer: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """The number of optimizer steps of each run."""
        return self.positions.shape[0] - 1

    @property
    def batch_size(self) -> int:
        """The number of runs ``B``."""
        return self.positions.shape[1]

    @property
    def diverged(self) -> Tensor:
        """``(B,)`` bool, whether each run diverged."""
        return self.diverged_at >= 0

    @property
    def last_finite_step(self) -> Tensor:
        """``(B,)`` long, the last recorded step with a finite position."""
        return torch.where(self.diverged, self.diverged_at - 1, self.steps)

    @property
    def final_positions(self) -> Tensor:
        """``(B, 2)``, each run's position at its last finite step.

        A run that diverged at step 0 (a start beyond the bound) has NaN.
        """
        steps = self.last_finite_step.clamp_min(0).to(self.positions.device)
        runs = torch.arange(self.batch_size, device=self.positions.device)
        return self.positions[steps, runs]

    @property
    def final_losses(self) -> Tensor:
        """``(B,)``, each run's loss at its last finite step."""
        steps = self.last_finite_step.clamp_min(0).to(self.losses.device)
        runs = torch.arange(self.batch_size, device=self.losses.device)
        return self.losses[steps, runs]

    @property
    def gaps(self) -> Tensor:
        """``(steps + 1, B)``, the losses minus the surface's minimum value."""
        return self.losses - self.surface.min_value

    def steps_to_target(self, target: float | Tensor) -> Tensor:
        """Count the steps until each run's loss first reaches ``target``.

        See :func:`steps_to_target`.
        """
        return steps_to_target(self.losses, target)

    def nearest_minimum(self) -> tuple[Tensor, Tensor]:
        """Find the minimum closest to each run's final position.

        Returns:
            ``(index, distance)`` of shape ``(B,)`` from
            :meth:`Surface.nearest_minimum`: an index below
            ``len(surface.minima)`` is a global minimum, a larger one a local
            minimum, and -1 a run without a finite position.
        """
        return self.surface.nearest_minimum(self.final_positions)


def steps_to_target(losses: Tensor, target: float | Tensor) -> Tensor:
    """Find the first step at which each run's loss is at most ``target``.

    Args:
        losses: ``(steps + 1, ...)`` with the step along the first dimension,
            as in :attr:`Trajectory.losses`.
        target: a number, or a tensor that broadcasts against ``losses[0]``.

    Returns:
        A long tensor of shape ``losses.shape[1:]``: the first index ``t``
        with ``losses[t] <= target``, or -1 where the loss never gets there
        (NaN losses never do).
    """
    if losses.ndim == 0:
        raise ValueError("losses must have a step dimension first, got a 0-dim tensor")
    reached = losses <= target
    # argmax returns the first index of the maximum, here the first True.
    first = reached.to(torch.int8).argmax(dim=0)
    return torch.where(reached.any(dim=0), first, torch.full_like(first, -1))


# -- resolving the optimizer and its hyperparameters ------------------------


def _resolve_class(optimizer: str | type) -> type:
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            known = ", ".join(OPTIMIZERS) or "none registered yet"
            raise KeyError(f"unknown optimizer {optimizer!r}; choose one of {known}")
        return OPTIMIZERS[optimizer]
    if not (
        isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer)
    ):
        raise TypeError(
            f"optimizer must be a class name or a torch.optim.Optimizer subclass, "
            f"got {optimizer!r}"
        )
    return optimizer


def _hyperparameter_names(cls: type) -> tuple[str, ...]:
    if issubclass(cls, FunctionalOptimizer):
        return cls.hyperparameters
    # A torch.optim class: every constructor argument with a default except
    # the switches between its implementations.
    skip = {"params", "foreach", "fused", "capturable", "differentiable"}
    parameters = inspect.signature(cls.__init__).parameters
    return tuple(
        name
        for name, parameter in parameters.items()
        if name not in skip
        and name != "self"
        and parameter.default is not parameter.empty
    )


def _with_defaults(cls: type, overrides: dict[str, Any]) -> dict[str, Any]:
    names = _hyperparameter_names(cls)
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise TypeError(
            f"{cls.__name__} has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"its hyperparameters are {', '.join(names)}"
        )
    parameters = inspect.signature(cls.__init__).parameters
    return {name: overrides.get(name, parameters[name].default) for name in names}


def _tensor_sizes(hyperparameters: dict[str, Any]) -> dict[str, int]:
    """Map each batched hyperparameter (``betas[0]`` for tuple entries) to B."""
    sizes = {}
    for name, value in hyperparameters.items():
        entries = value if isinstance(value, tuple) else (value,)
        for position, entry in enumerate(entries):
            if not isinstance(entry, Tensor) or entry.ndim == 0:
                continue
            label = f"{name}[{position}]" if isinstance(value, tuple) else name
            if entry.ndim != 1:
                raise ValueError(
                    f"hyperparameter {label} must be a number or a tensor of shape "
                    f"(B,), one value per run; got shape {tuple(entry.shape)}"
                )
            sizes[label] = entry.shape[0]
    return sizes


def _batch_size(starts: Tensor, sizes: dict[str, int]) -> int:
    if starts.ndim == 2:
        sizes = {"starts": starts.shape[0], **sizes}
    distinct = set(sizes.values())
    if len(distinct) > 1:
        described = ", ".join(f"{name}: {size}" for name, size in sizes.items())
        raise ValueError(
            f"the batched arguments disagree on the number of runs B ({described}); "
            f"give starts of shape (B, 2) or (2,) and tensors of shape (B,)"
        )
    return distinct.pop() if distinct else 1


def _as_starts(
    starts: Tensor | Sequence[float] | Sequence[Sequence[float]],
    dtype: torch.dtype | None,
    device: torch.device | str | None,
) -> Tensor:
    if isinstance(starts, Tensor):
        dtype = dtype or (
            starts.dtype if starts.is_floating_point() else torch.get_default_dtype()
        )
        starts = starts.detach().to(device=device or starts.device, dtype=dtype)
    else:
        starts = torch.tensor(
            starts, dtype=dtype or torch.get_default_dtype(), device=device
        )
    if starts.ndim not in (1, 2) or starts.shape[-1] != 2:
        raise ValueError(
            f"starts must have shape (2,) or (B, 2), got {tuple(starts.shape)}"
        )
    return starts


def _learning_rates(lr_schedule: LearningRates, lr: Any, steps: int) -> Tensor:
    """Tabulate the learning rate of every step as float64 ``(steps, n)``.

    ``n`` is 1 when every run has the same rate, else the number of runs.
    """
    if lr_schedule is None:
        table = torch.as_tensor(lr, dtype=torch.float64).detach().cpu()
        return table.reshape(1, -1).expand(steps, -1)
    if isinstance(lr_schedule, Tensor):
        table = lr_schedule.detach().to("cpu", torch.float64)
    elif hasattr(lr_schedule, "values"):
        # A course_lib.schedules schedule, tabulated in one call.
        table = lr_schedule.values(steps).detach().to("cpu", torch.float64)
    elif callable(lr_schedule):
        rows = [
            torch.as_tensor(lr_schedule(t), dtype=torch.float64).cpu()
            for t in range(steps)
        ]
        table = torch.stack(rows) if rows else torch.zeros(0, dtype=torch.float64)
    else:
        raise TypeError(
            f"lr_schedule must be a schedule, a callable of the step or a tensor, "
            f"got {type(lr_schedule).__name__}"
        )
    if table.ndim not in (1, 2) or table.shape[0] != steps:
        raise ValueError(
            f"lr_schedule must give one learning rate per step, shape ({steps},) or "
            f"({steps}, B); got shape {tuple(table.shape)}"
        )
    return table.reshape(steps, -1)


def _resolve_batch(
    starts: Tensor,
    hyperparameters: dict[str, Any],
    lr_schedule: LearningRates,
    steps: int,
) -> tuple[int, Tensor]:
    """Return the number of runs B and the ``(steps, B)`` learning-rate table."""
    sizes = _tensor_sizes(hyperparameters)
    table = _learning_rates(lr_schedule, hyperparameters["lr"], steps)
    if lr_schedule is not None and table.shape[1] > 1:
        sizes["lr_schedule"] = table.shape[1]
    batch = _batch_size(starts, sizes)
    return batch, table.expand(steps, batch).clone()


def _check_scalar_values(cls: type, hyperparameters: dict[str, Any]) -> None:
    """Raise torch's own ValueError for invalid numbers, via the constructor."""
    if _tensor_sizes(hyperparameters):
        return
    probe = torch.zeros(1, requires_grad=True)
    cls([probe], **hyperparameters)


# -- the two paths -------------------------------------------------------------


def run(
    surface: Surface,
    optimizer: str | type[FunctionalOptimizer],
    starts: Tensor | Sequence[float] | Sequence[Sequence[float]],
    steps: int,
    *,
    lr_schedule: LearningRates = None,
    divergence_bound: float = DIVERGENCE_BOUND,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    **hyperparameters: Any,
) -> Trajectory:
    """Run a batch of optimizations on ``surface`` through the batched path.

    Args:
        surface: the loss surface.
        optimizer: a name in :data:`course_lib.optim.OPTIMIZERS` ("SGD",
            "Adam", ...) or a :class:`FunctionalOptimizer` subclass.
        starts: the start point, ``(2,)`` for every run, or ``(B, 2)``.
        steps: the number of optimizer steps of each run.
        lr_schedule: the learning rate of each step, overriding ``lr``: a
            :mod:`course_lib.schedules` schedule, a callable from the step
            ``t`` (from 0) to a number or a ``(B,)`` tensor, or a tensor of
            shape ``(steps,)`` or ``(steps, B)``.
        divergence_bound: a run diverges once a coordinate exceeds this in
            magnitude (or a position or loss is not finite).
        dtype, device: of the positions; by default those of ``starts`` when
            it is a floating-point tensor, else torch's default dtype on the
            CPU.
        **hyperparameters: the optimizer's hyperparameters, by torch's names;
            the class's defaults fill in the others. Each numeric one is a
            number or a tensor of shape ``(B,)``.

    Returns:
        A :class:`Trajectory` with ``B`` runs.

    Raises:
        KeyError: the optimizer name is unknown.
        TypeError: a hyperparameter name is not the optimizer's.
        ValueError: a number is invalid for the optimizer (torch's message),
            or the batched arguments disagree on ``B``.
    """
    cls = _resolve_class(optimizer)
    if not issubclass(cls, FunctionalOptimizer):
        raise TypeError(
            f"run needs a course_lib optimizer with a batched update; "
            f"{cls.__name__} is a torch.optim class, which run_class drives"
        )
    if steps < 0:
        raise ValueError(f"steps must be non-negative, got {steps}")
    hyperparameters = _with_defaults(cls, hyperparameters)
    _check_scalar_values(cls, hyperparameters)
    starts = _as_starts(starts, dtype, device)
    batch, learning_rates = _resolve_batch(starts, hyperparameters, lr_schedule, steps)

    x = starts.expand(batch, 2).clone()
    positions = torch.full(
        (steps + 1, batch, 2), torch.nan, dtype=x.dtype, device=x.device
    )
    positions[0] = x
    frozen = torch.zeros(batch, dtype=torch.bool, device=x.device)

    step_lrs = _step_learning_rates(lr_schedule, learning_rates, x.device)
    step_hyperparameters = dict(hyperparameters)
    state = cls.init_state(x, **step_hyperparameters)
    checked = 0  # positions[: checked + 1] have been checked
    done = steps
    with torch.no_grad():
        for t in range(steps):
            if step_lrs is not None:
                step_hyperparameters["lr"] = step_lrs[t]
            cls.update(x, surface.grad(x), state, **step_hyperparameters)
            positions[t + 1] = x
            if (t + 1) % _CHECK_EVERY == 0 or t + 1 == steps:
                _freeze_diverged(
                    positions, frozen, checked + 1, t + 1, divergence_bound, x
                )
                checked = t + 1
                if bool(frozen.all()):
                    done = t + 1
                    break

    # Losses in one call over the whole record. A run diverges at its first
    # bad position or loss, as in run_class, which checks every step.
    losses = surface.value(positions)
    diverged_at = _first_bad_step(positions, losses, divergence_bound)
    _blank_after_divergence(positions, losses, diverged_at, done)
    return Trajectory(
        positions=positions,
        losses=losses,
        diverged_at=diverged_at,
        learning_rates=learning_rates,
        surface=surface,
        optimizer=cls.__name__,
        hyperparameters=hyperparameters,
    )


def _step_learning_rates(
    lr_schedule: LearningRates, learning_rates: Tensor, device: torch.device
) -> list[Any] | None:
    """List the ``lr`` argument of each step, or None for a constant ``lr``."""
    if lr_schedule is None:
        return None
    if bool((learning_rates == learning_rates[:, :1]).all()):
        # The same rate for every run: pass numbers, as the class path does.
        return learning_rates[:, 0].tolist()
    return list(learning_rates.to(device).unbind(0))


def _is_bad(positions: Tensor, bound: float) -> Tensor:
    """Mark positions ``(..., 2)`` that are not finite or beyond ``bound``."""
    return ~torch.isfinite(positions).all(dim=-1) | (positions.abs() > bound).any(
        dim=-1
    )


def _freeze_diverged(
    positions: Tensor, frozen: Tensor, first: int, last: int, bound: float, x: Tensor
) -> None:
    """Put runs whose position went bad in steps ``first..last`` back on track.

    Such a run returns to its last good position, so that its remaining
    steps, which are discarded, compute with finite numbers. ``frozen``
    marks it, and the loop stops once every run is frozen.
    """
    bad = _is_bad(positions[first : last + 1], bound)
    newly = bad.any(dim=0) & ~frozen
    if not bool(newly.any()):
        return
    frozen |= newly
    runs = newly.nonzero().flatten()
    first_bad = first + bad[:, runs].to(torch.int8).argmax(dim=0)
    x[runs] = positions[(first_bad - 1).clamp_min(0), runs]


def _first_bad_step(positions: Tensor, losses: Tensor, bound: float) -> Tensor:
    """Return each run's first step with a bad position or loss, or -1."""
    bad = _is_bad(positions, bound) | ~torch.isfinite(losses)
    first = bad.to(torch.int8).argmax(dim=0)
    return torch.where(bad.any(dim=0), first, torch.full_like(first, -1))


def _blank_after_divergence(
    positions: Tensor, losses: Tensor, diverged_at: Tensor, done: int
) -> None:
    steps = torch.arange(positions.shape[0], device=positions.device)[:, None]
    after = (diverged_at >= 0) & (steps >= diverged_at)
    after |= steps > done
    positions.masked_fill_(after[..., None], torch.nan)
    losses.masked_fill_(after, torch.nan)


def run_class(
    surface: Surface,
    optimizer: str | type[torch.optim.Optimizer],
    starts: Tensor | Sequence[float] | Sequence[Sequence[float]],
    steps: int,
    *,
    lr_schedule: LearningRates = None,
    divergence_bound: float = DIVERGENCE_BOUND,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    use_autograd: bool = False,
    **hyperparameters: Any,
) -> Trajectory:
    """Run the same optimizations as :func:`run`, one at a time, through the class.

    Each run gets its own ``torch.nn.Parameter`` of shape ``(2,)`` and its own
    optimizer, with the run's entry of every ``(B,)`` hyperparameter as a
    Python number. Before each step the step's learning rate is written into
    the parameter group, as a scheduler does. The arguments and the
    result are those of :func:`run`, except:

    Args:
        optimizer: also any ``torch.optim.Optimizer`` subclass, such as
            ``torch.optim.SGD``, to compare against.
        use_autograd: take the gradient by backpropagation through
            ``surface.value`` instead of the closed form.
    """
    cls = _resolve_class(optimizer)
    if steps < 0:
        raise ValueError(f"steps must be non-negative, got {steps}")
    hyperparameters = _with_defaults(cls, hyperparameters)
    starts = _as_starts(starts, dtype, device)
    batch, learning_rates = _resolve_batch(starts, hyperparameters, lr_schedule, steps)
    starts = starts.expand(batch, 2)

    positions = torch.full(
        (steps + 1, batch, 2), torch.nan, dtype=starts.dtype, device=starts.device
    )
    diverged_at = torch.full((batch,), -1, dtype=torch.long, device=starts.device)
    for index in range(batch):
        settings = _settings_of_run(hyperparameters, index)
        param = torch.nn.Parameter(starts[index].clone())
        optim = cls([param], **settings)
        positions[0, index] = param.detach()
        for t in range(steps + 1):
            point = positions[t, index]
            loss = surface.value(point)
            finite = bool(torch.isfinite(point).all()) and bool(torch.isfinite(loss))
            if not finite or bool((point.abs() > divergence_bound).any()):
                diverged_at[index] = t
                break
            if t == steps:
                break
            if lr_schedule is not None:
                optim.param_groups[0]["lr"] = float(learning_rates[t, index])
            optim.zero_grad(set_to_none=True)
            if use_autograd:
                surface.value(param).backward()
            else:
                param.grad = surface.grad(param.detach())
            optim.step()
            positions[t + 1, index] = param.detach()

    losses = surface.value(positions)
    _blank_after_divergence(positions, losses, diverged_at, steps)
    return Trajectory(
        positions=positions,
        losses=losses,
        diverged_at=diverged_at,
        learning_rates=learning_rates,
        surface=surface,
        optimizer=cls.__name__,
        hyperparameters=hyperparameters,
    )


def _settings_of_run(hyperparameters: dict[str, Any], index: int) -> dict[str, Any]:
    def entry(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(entry(item) for item in value)
        if isinstance(value, Tensor) and value.ndim == 1:
            return value[index].item()
        return value

    return {name: entry(value) for name, value in hyperparameters.items()}


__all__ = [
    "DIVERGENCE_BOUND",
    "Trajectory",
    "run",
    "run_class",
    "steps_to_target",
]
