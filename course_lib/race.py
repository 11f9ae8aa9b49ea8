"""Optimizer races: several optimizers on one problem, side by side.

Each :class:`Entrant` names an optimizer of :mod:`course_lib.optim` and its
own hyperparameters. :func:`race_on_surface` runs them all from one start
point on a 2-D surface, :func:`race_on_dataset` trains one model
architecture from one set of initial weights on a data set, and
:func:`race` picks between the two. Entrants of the same optimizer with the
same boolean options run as one batch (their numeric hyperparameters become
tensors of shape ``(B,)``), so a race of five learning rates of Adam is one
vectorized run.

The :class:`RaceResult` records who reached the target first, in steps,
and who diverged. Steps are optimizer steps, not seconds: a step of Adam costs
more arithmetic than a step of SGD.

>>> from course_lib.landscapes import get_surface
>>> result = race_on_surface(
...     get_surface("quadratic", condition_number=10.0),
...     [Entrant("SGD", {"lr": 0.1}), Entrant("SGD", {"lr": 0.25})],
...     steps=100,
...     target=1e-6,
... )
>>> result.labels, result.diverged.tolist()  # 0.25 > 2 / lambda_max = 0.2
(['SGD lr=0.1', 'SGD lr=0.25'], [False, True])
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.data import Dataset
from course_lib.landscapes import Surface
from course_lib.optim import OPTIMIZERS, default_hyperparameters
from course_lib.training import train_batched
from course_lib.trajectories import DIVERGENCE_BOUND, run, steps_to_target

# A data-set run counts as diverged once its training loss is not finite or
# exceeds this multiple of its initial loss. Cross-entropy at a random start
# is about log(classes), so ten times that is a model far worse than chance.
DATA_DIVERGENCE_FACTOR = 10.0


@dataclass(frozen=True)
class Entrant:
    """One optimizer with its own hyperparameters, in a race.

    Attributes:
        optimizer: a class name in :data:`course_lib.optim.OPTIMIZERS`.
        hyperparameters: keyword arguments by torch's names, numbers or
            bools (``betas`` a tuple of numbers); the class's defaults fill
            in the others.
        label: the name in legends and messages; by default the optimizer's
            name followed by the hyperparameters given, such as
            ``"Adam lr=0.01"``.
    """

    optimizer: str
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def name(self) -> str:
        """The label, or the optimizer's name and the hyperparameters given."""
        if self.label:
            return self.label
        settings = " ".join(
            f"{key}={_format_value(value)}"
            for key, value in self.hyperparameters.items()
        )
        return f"{self.optimizer} {settings}".strip()

    def settings(self) -> dict[str, Any]:
        """Return every hyperparameter of the optimizer, defaults filled in.

        Raises:
            KeyError: the optimizer name is unknown.
            TypeError: a hyperparameter name is not the optimizer's.
            ValueError: a value is one the optimizer rejects; the message
                starts with the entrant's name and continues with torch's.
        """
        if self.optimizer not in OPTIMIZERS:
            raise KeyError(
                f"unknown optimizer {self.optimizer!r} in entrant {self.name!r}; "
                f"choose one of {', '.join(OPTIMIZERS)}"
            )
        cls = OPTIMIZERS[self.optimizer]
        unknown = sorted(set(self.hyperparameters) - set(cls.hyperparameters))
        if unknown:
            raise TypeError(
                f"{self.optimizer} has no hyperparameter "
                f"{', '.join(map(repr, unknown))}; its hyperparameters are "
                f"{', '.join(cls.hyperparameters)}"
            )
        settings = default_hyperparameters(self.optimizer)
        settings.update(self.hyperparameters)
        for key, value in settings.items():
            entries = value if isinstance(value, tuple) else (value,)
            if any(
                isinstance(entry, Tensor) and entry.numel() != 1 for entry in entries
            ):
                raise ValueError(
                    f"{self.name}: hyperparameter {key} must be a number, not a "
                    f"tensor of shape {tuple(entries[0].shape)}; give one entrant "
                    f"per value"
                )
        try:
            cls([torch.zeros(1, requires_grad=True)], **settings)
        except ValueError as error:
            raise ValueError(f"{self.name}: {error}") from None
        return settings


def _format_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_format_value(item) for item in value) + ")"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return f"{value:.3g}"
    return str(value)


def _as_entrants(entrants: Sequence[Entrant | str]) -> list[Entrant]:
    result = [Entrant(e) if isinstance(e, str) else e for e in entrants]
    if not result:
        raise ValueError("a race needs at least one entrant")
    return result


@dataclass
class RaceResult:
    """The outcome of a race between ``N`` entrants.

    Attributes:
        problem: the surface's or the data set's name.
        labels: each entrant's name, in the order given.
        optimizers: each entrant's optimizer class name.
        hyperparameters: each entrant's hyperparameters, defaults included.
        loss_steps: the optimizer step of each row of ``losses``.
        losses: float64 ``(len(loss_steps), N)`` on the CPU, the loss at
            each recorded step (the training loss for a data set); NaN from
            divergence on.
        floor: the lowest possible loss, which ``gaps`` are measured from:
            the surface's minimum value, or 0 for a data set.
        diverged_at: long ``(N,)``, the first step at which the run
            diverged, or -1.
        target: the gap ``loss - floor`` that counts as arrived, or None.
        steps_to_target: long ``(N,)``, the first recorded step with a gap
            at or below ``target``, or -1 (all -1 without a target).
        positions: float64 ``(steps + 1, N, 2)`` for a surface, else None.
        val_accuracy: ``(N,)`` final validation accuracy for a
            classification data set, else None.
        seconds: wall time of the whole race.
    """

    problem: str
    labels: list[str]
    optimizers: list[str]
    hyperparameters: list[dict[str, Any]]
    loss_steps: list[int]
    losses: Tensor
    floor: float
    diverged_at: Tensor
    target: float | None
    steps_to_target: Tensor
    positions: Tensor | None = None
    val_accuracy: Tensor | None = None
    seconds: float = 0.0

    @property
    def size(self) -> int:
        """The number of entrants ``N``."""
        return len(self.labels)

    @property
    def steps(self) -> int:
        """The number of optimizer steps of the race."""
        return self.loss_steps[-1]

    @property
    def gaps(self) -> Tensor:
        """``losses - floor``, of the shape of ``losses``."""
        return self.losses - self.floor

    @property
    def diverged(self) -> Tensor:
        """``(N,)`` bool, whether each entrant diverged."""
        return self.diverged_at >= 0

    @property
    def final_losses(self) -> Tensor:
        """``(N,)``, each entrant's loss at its last finite recorded step."""
        finite = torch.isfinite(self.losses)
        rows = torch.arange(len(self.loss_steps))[:, None].expand_as(finite)
        last = torch.where(finite, rows, -1).max(dim=0).values
        values = self.losses[last.clamp_min(0), torch.arange(self.size)]
        return torch.where(last >= 0, values, torch.nan)

    @property
    def steps_to_settle(self) -> Tensor:
        """``(N,)`` long, the first recorded step from which the gap stays at
        or below ``target`` to the end, or -1 (all -1 without a target).

        Unlike ``steps_to_target`` it ignores runs that touch the target and
        leave it again.
        """
        if self.target is None:
            return torch.full((self.size,), -1, dtype=torch.long)
        return steps_to_settle(self.gaps, self.target, self.loss_steps)

    @property
    def final_gaps(self) -> Tensor:
        """``(N,)``, ``final_losses - floor``."""
        return self.final_losses - self.floor

    def ranking(self) -> list[int]:
        """Order the entrants from first to last.

        First those that reached the target, by steps (ties by final gap),
        then those still running, by final gap, then those that diverged,
        the later divergence first.
        """

        def key(index: int) -> tuple[int, float, float]:
            reached = int(self.steps_to_target[index])
            diverged = int(self.diverged_at[index])
            gap = float(self.final_gaps[index])
            gap = gap if math.isfinite(gap) else math.inf
            if reached >= 0:
                return (0, reached, gap)
            if diverged < 0:
                return (1, gap, 0.0)
            return (2, -diverged, gap)

        return sorted(range(self.size), key=key)

    def winners(self) -> list[int]:
        """List the entrants that reached the target in the fewest steps."""
        reached = [i for i in range(self.size) if int(self.steps_to_target[i]) >= 0]
        if not reached:
            return []
        fewest = min(int(self.steps_to_target[i]) for i in reached)
        return [i for i in reached if int(self.steps_to_target[i]) == fewest]

    def summary(self) -> str:
        """Describe the result in one line for a dashboard's ``status``.

        For example ``"first to gap 0.001: Adam (step 57) · then RMSprop
        (80) · not reached: SGD (gap 0.12) · diverged: Adagrad (step 12)"``.
        Without a target the entrants are ranked by final gap.
        """
        order = self.ranking()
        reached = [i for i in order if int(self.steps_to_target[i]) >= 0]
        running = [
            i
            for i in order
            if int(self.steps_to_target[i]) < 0 and int(self.diverged_at[i]) < 0
        ]
        diverged = [i for i in order if int(self.diverged_at[i]) >= 0]
        parts = []
        if self.target is not None:
            if reached:
                first = self.winners()
                names = ", ".join(self.labels[i] for i in first)
                parts.append(
                    f"first to gap {self.target:.3g}: {names} "
                    f"(step {int(self.steps_to_target[first[0]])})"
                )
                rest = [i for i in reached if i not in first]
                if rest:
                    then = ", ".join(
                        f"{self.labels[i]} ({int(self.steps_to_target[i])})"
                        for i in rest
                    )
                    parts.append(f"then {then}")
            else:
                parts.append(f"none reached gap {self.target:.3g}")
            label = "not reached"
        else:
            label = f"gap after {self.steps} steps"
        if running:
            described = ", ".join(
                f"{self.labels[i]} ({float(self.final_gaps[i]):.3g})" for i in running
            )
            parts.append(f"{label}: {described}")
        if diverged:
            described = ", ".join(
                f"{self.labels[i]} (step {int(self.diverged_at[i])})" for i in diverged
            )
            parts.append(f"diverged: {described}")
        return " · ".join(parts)


# -- grouping entrants into batches ---------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, Tensor)) and not isinstance(value, bool)


def _group_key(optimizer: str, settings: Mapping[str, Any]) -> tuple[Any, ...]:
    """Key under which entrants can share one batched run."""
    options = tuple(
        (key, value)
        for key, value in sorted(settings.items())
        if not _is_number(value) and not isinstance(value, tuple)
    )
    return (optimizer, options)


def _batched_settings(
    members: list[dict[str, Any]], dtype: torch.dtype
) -> dict[str, Any]:
    """Stack the numeric hyperparameters that differ into ``(B,)`` tensors.

    With more than one member ``lr`` is always stacked, so the batch has B
    rows even when two entrants are identical.
    """

    def stack(values: list[Any], force: bool) -> Any:
        numbers = [float(value) for value in values]
        if not force and all(number == numbers[0] for number in numbers):
            return values[0]
        return torch.tensor(numbers, dtype=dtype)

    first = members[0]
    settings: dict[str, Any] = {}
    for key, value in first.items():
        column = [member[key] for member in members]
        if isinstance(value, tuple):
            settings[key] = tuple(
                stack([entry[position] for entry in column], force=False)
                for position in range(len(value))
            )
        elif _is_number(value):
            settings[key] = stack(column, force=key == "lr" and len(members) > 1)
        else:
            settings[key] = value
    return settings


def _groups(entrants: list[Entrant]) -> tuple[list[dict[str, Any]], list[list[int]]]:
    """Validate the entrants and group their indices by batchable settings."""
    all_settings = [entrant.settings() for entrant in entrants]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, (entrant, settings) in enumerate(zip(entrants, all_settings)):
        groups.setdefault(_group_key(entrant.optimizer, settings), []).append(index)
    return all_settings, list(groups.values())


def steps_to_settle(
    gaps: Tensor, target: float, loss_steps: Sequence[int] | None = None
) -> Tensor:
    """Find the step from which each run's gap stays at or below ``target``.

    Args:
        gaps: ``(rows, ...)`` with the recorded steps along the first
            dimension; NaN counts as above the target.
        target: the gap that counts as arrived.
        loss_steps: the step of each row; ``range(rows)`` when None.

    Returns:
        A long tensor of shape ``gaps.shape[1:]``: the step of the first row
        after which no row is above ``target``, or -1 where the last row is
        above it.
    """
    rows = gaps.shape[0]
    above = ~(gaps <= target)
    # The last row above the target is the first one of the flipped rows;
    # a run never above it settles at row 0.
    last_above = rows - 1 - above.flip(0).to(torch.int8).argmax(dim=0)
    first_settled = torch.where(above.any(dim=0), last_above + 1, 0)
    steps = torch.tensor(
        list(range(rows)) if loss_steps is None else list(loss_steps), dtype=torch.long
    )
    settled = steps[first_settled.clamp_max(rows - 1)]
    return torch.where(first_settled < rows, settled, -1)


def _steps_to_target(
    gaps: Tensor, target: float | None, loss_steps: list[int]
) -> Tensor:
    if target is None:
        return torch.full((gaps.shape[1],), -1, dtype=torch.long)
    rows = steps_to_target(gaps, target)
    steps = torch.tensor(loss_steps, dtype=torch.long)
    return torch.where(rows >= 0, steps[rows.clamp_min(0)], -1)


# -- surfaces ---------------------------------------------------------------------


def race_on_surface(
    surface: Surface,
    entrants: Sequence[Entrant | str],
    *,
    steps: int = 200,
    target: float | None = 1e-3,
    start: Sequence[float] | None = None,
    divergence_bound: float = DIVERGENCE_BOUND,
    device: torch.device | str | None = None,
) -> RaceResult:
    """Race the entrants on a 2-D surface from one start point.

    Args:
        surface: the loss surface.
        entrants: the optimizers with their hyperparameters; a plain class
            name stands for that optimizer at its defaults.
        steps: optimizer steps of every entrant.
        target: the gap above the surface's minimum value that counts as
            arrived, or None to rank by final gap only.
        start: the start point; the surface's ``default_start`` when None.
        divergence_bound: a run diverges once a coordinate exceeds this in
            magnitude or its position or loss is not finite.
        device: where the runs compute, the CPU by default: a 2-D step is a
            few dozen tiny tensor operations, each faster on the CPU than a
            GPU kernel launch.

    Raises:
        KeyError, TypeError, ValueError: an entrant's optimizer or
            hyperparameters are invalid (see :meth:`Entrant.settings`).
    """
    entrants = _as_entrants(entrants)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    start = tuple(surface.default_start if start is None else start)
    device = torch.device("cpu") if device is None else torch.device(device)
    began = time.perf_counter()
    all_settings, groups = _groups(entrants)

    size = len(entrants)
    positions = torch.full((steps + 1, size, 2), math.nan, dtype=torch.float64)
    losses = torch.full((steps + 1, size), math.nan, dtype=torch.float64)
    diverged_at = torch.full((size,), -1, dtype=torch.long)
    for members in groups:
        optimizer = entrants[members[0]].optimizer
        settings = _batched_settings([all_settings[i] for i in members], torch.float64)
        trajectory = run(
            surface,
            optimizer,
            start,
            steps,
            divergence_bound=divergence_bound,
            dtype=torch.float64,
            device=device,
            **settings,
        )
        # With several members lr is always batched, so the run has one
        # column per member.
        columns = torch.tensor(members)
        positions[:, columns] = trajectory.positions.cpu()
        losses[:, columns] = trajectory.losses.cpu()
        diverged_at[columns] = trajectory.diverged_at.cpu()

    loss_steps = list(range(steps + 1))
    gaps = losses - surface.min_value
    return RaceResult(
        problem=surface.name,
        labels=[entrant.name for entrant in entrants],
        optimizers=[entrant.optimizer for entrant in entrants],
        hyperparameters=all_settings,
        loss_steps=loss_steps,
        losses=losses,
        floor=surface.min_value,
        diverged_at=diverged_at,
        target=target,
        steps_to_target=_steps_to_target(gaps, target, loss_steps),
        positions=positions,
        seconds=time.perf_counter() - began,
    )


# -- data sets ----------------------------------------------------------------------


def default_race_model(data: Dataset, hidden: int = 32, *, seed: int = 0) -> nn.Module:
    """Build the seeded one-hidden-layer ReLU network that data-set races train.

    The weights come from torch's default initialization under
    ``torch.manual_seed(seed)``, drawn without disturbing the global
    random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Linear(data.num_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, data.num_outputs),
        )
    return model.to(device=data.device, dtype=data.x_train.dtype)


def _default_loss(data: Dataset) -> Callable[[Tensor, Tensor], Tensor]:
    return F.cross_entropy if data.task == "classification" else F.mse_loss


def race_on_dataset(
    data: Dataset,
    entrants: Sequence[Entrant | str],
    *,
    steps: int = 100,
    target: float | None = None,
    batch_size: int | None = None,
    model: nn.Module | None = None,
    loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    seed: int = 0,
    eval_every: int | None = None,
    divergence_factor: float = DATA_DIVERGENCE_FACTOR,
) -> RaceResult:
    """Race the entrants at training one model on a data set.

    Every entrant starts from a copy of the same initial weights and, with
    mini-batches, trains on the same batches in the same order. Each group of
    batchable entrants trains as one :func:`course_lib.training.train_batched`
    run on the data's device.

    Args:
        data: the data set; the race trains on its training split.
        entrants: the optimizers with their hyperparameters.
        steps: optimizer steps of every entrant.
        target: the training loss that counts as arrived, or None.
        batch_size: examples per step; the whole training split when None,
            which makes every step an exact gradient step and records the
            training loss at every step.
        model: the initial model, which is copied and left unchanged;
            :func:`default_race_model` when None.
        loss_fn: the mean loss of a batch; cross-entropy for
            classification and mean squared error for regression when None.
        seed: seed of the batch order.
        eval_every: with mini-batches, record the full training loss every
            this many steps (default: 50 records over the race). Ignored for
            full batches, whose loss is recorded at every step.
        divergence_factor: a run diverges once its training loss exceeds
            this multiple of the initial loss or is not finite.
    """
    entrants = _as_entrants(entrants)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    model = default_race_model(data) if model is None else model
    loss_fn = _default_loss(data) if loss_fn is None else loss_fn
    full_batch = batch_size is None or batch_size >= data.num_train
    batch_size = data.num_train if full_batch else batch_size
    if full_batch:
        eval_every = steps
    elif eval_every is None:
        eval_every = max(1, steps // 50)
    began = time.perf_counter()
    all_settings, groups = _groups(entrants)

    size = len(entrants)
    columns_by_group = []
    histories = []
    for members in groups:
        optimizer = entrants[members[0]].optimizer
        settings = _batched_settings(
            [all_settings[i] for i in members], data.x_train.dtype
        )
        history = train_batched(
            [copy.deepcopy(model)],
            loss_fn,
            data,
            optimizer=optimizer,
            hyperparameters=settings,
            batch_size=batch_size,
            steps=steps,
            seeds=seed,
            eval_every=eval_every,
        )
        columns_by_group.append(members)
        histories.append(history)

    loss_steps = list(range(steps + 1)) if full_batch else list(histories[0].eval_step)
    losses = torch.full((len(loss_steps), size), math.nan, dtype=torch.float64)
    val_accuracy = torch.full((size,), math.nan, dtype=torch.float64)
    for members, history in zip(columns_by_group, histories):
        if full_batch:
            # history.loss[t] is the loss before step t + 1, at the weights
            # after step t, so it fills rows 0..steps-1; the last row is the
            # final evaluation.
            block = torch.cat([history.loss, history.train_loss[-1:]]).double()
        else:
            block = history.train_loss.double()
        columns = torch.tensor(members)
        losses[:, columns] = block
        val_accuracy[columns] = history.val_accuracy[-1].double()

    diverged_at = _date_divergence(losses, loss_steps, divergence_factor)
    for index in range(size):
        if diverged_at[index] >= 0:
            row = loss_steps.index(int(diverged_at[index]))
            losses[row:, index] = math.nan
            val_accuracy[index] = math.nan
    return RaceResult(
        problem=data.name,
        labels=[entrant.name for entrant in entrants],
        optimizers=[entrant.optimizer for entrant in entrants],
        hyperparameters=all_settings,
        loss_steps=loss_steps,
        losses=losses,
        floor=0.0,
        diverged_at=diverged_at,
        target=target,
        steps_to_target=_steps_to_target(losses, target, loss_steps),
        val_accuracy=val_accuracy if data.task == "classification" else None,
        seconds=time.perf_counter() - began,
    )


def _date_divergence(losses: Tensor, loss_steps: list[int], factor: float) -> Tensor:
    """Return the first recorded step with a non-finite or exploded loss, or -1."""
    initial = losses[0]
    bad = ~torch.isfinite(losses) | (losses > factor * initial)
    first = bad.to(torch.int8).argmax(dim=0)
    steps = torch.tensor(loss_steps, dtype=torch.long)
    return torch.where(bad.any(dim=0), steps[first], -1)


def combine_results(
    results: Sequence[RaceResult], *, target: float | None = None
) -> RaceResult:
    """Join races run separately on one problem into one result.

    The entrants keep the order of ``results``. ``steps_to_target`` is
    recomputed for ``target`` (None ranks by final gap), so a dashboard can
    cache each entrant's run and change the target without rerunning it.

    Raises:
        ValueError: the results are of different problems or recorded
            different steps.
    """
    if not results:
        raise ValueError("combine_results needs at least one result")
    first = results[0]
    for other in results[1:]:
        if other.problem != first.problem or other.loss_steps != first.loss_steps:
            raise ValueError(
                f"cannot combine a race on {other.problem!r} over "
                f"{other.steps} steps with one on {first.problem!r} over "
                f"{first.steps} steps; run them with the same problem and steps"
            )
    losses = torch.cat([result.losses for result in results], dim=1)
    positions = None
    if all(result.positions is not None for result in results):
        positions = torch.cat([result.positions for result in results], dim=1)
    val_accuracy = None
    if all(result.val_accuracy is not None for result in results):
        val_accuracy = torch.cat([result.val_accuracy for result in results])
    return RaceResult(
        problem=first.problem,
        labels=[label for result in results for label in result.labels],
        optimizers=[name for result in results for name in result.optimizers],
        hyperparameters=[
            settings for result in results for settings in result.hyperparameters
        ],
        loss_steps=list(first.loss_steps),
        losses=losses,
        floor=first.floor,
        diverged_at=torch.cat([result.diverged_at for result in results]),
        target=target,
        steps_to_target=_steps_to_target(
            losses - first.floor, target, first.loss_steps
        ),
        positions=positions,
        val_accuracy=val_accuracy,
        seconds=sum(result.seconds for result in results),
    )


def race(
    problem: Surface | Dataset,
    entrants: Sequence[Entrant | str],
    **options: Any,
) -> RaceResult:
    """Race the entrants on a surface or a data set.

    Calls :func:`race_on_surface` or :func:`race_on_dataset` with the
    keyword ``options``.
    """
    if isinstance(problem, Surface):
        return race_on_surface(problem, entrants, **options)
    if isinstance(problem, Dataset):
        return race_on_dataset(problem, entrants, **options)
    raise TypeError(
        f"problem must be a Surface or a Dataset, got {type(problem).__name__}"
    )


__all__ = [
    "DATA_DIVERGENCE_FACTOR",
    "Entrant",
    "RaceResult",
    "combine_results",
    "default_race_model",
    "race",
    "race_on_dataset",
    "race_on_surface",
    "steps_to_settle",
]
