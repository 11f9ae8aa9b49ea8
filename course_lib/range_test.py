"""The learning-rate range test: train briefly while the learning rate grows.

:func:`lr_range_test` trains a model for ``num_steps`` mini-batches while the
learning rate grows exponentially from ``start_lr`` to ``end_lr``, records
the loss at every step, and suggests a learning rate from the smoothed loss
curve. Afterwards it restores the model, the optimizer and torch's random
number generators to what they were, so training continues as if the test
had not run. The test is Smith's "LR range test" from "Cyclical Learning
Rates for Training Neural Networks" (2017). The exponential sweep, the stop
at 4 times the lowest smoothed loss and the minimum-over-10 rule follow
``lr_find`` in fastai 2's ``callback.schedule`` module.

Both suggestions are rules of thumb read off a noisy curve, not optima:

- ``suggested_lr``: the learning rate where the smoothed loss falls fastest
  against ``log(lr)``, searched up to the minimum of the smoothed loss. The
  slope is a central difference over a window of ``num_steps // 10`` steps
  on each side (fewer when the minimum comes earlier), because the slope
  between neighbouring steps follows the mini-batch noise. fastai's "steep"
  rule takes the neighbour slope instead, after skipping the first tenth of
  the steps. The suggestion still moves with the noise and with
  ``smoothing``, and it lags the raw losses, since the smoothed loss
  averages over about ``1 / (1 - smoothing)`` earlier steps.
- ``min_loss_lr_over_10``: the learning rate at the minimum of the smoothed
  loss divided by 10, fastai's "minimum" rule. Near the minimum the loss is
  about to blow up, so one tenth of that learning rate leaves a margin.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

Batch = tuple[Tensor, Tensor]


@dataclass
class RangeTestResult:
    """The learning rates swept, the losses measured and the suggestions.

    Attributes:
        lrs: the learning rate of each step. When the test stops early, the
            last step measured the loss that stopped it and took no optimizer
            step.
        losses: the raw mini-batch loss of each step, measured before the
            optimizer step with learning rate ``lrs[i]``.
        smoothed: the exponentially smoothed loss with bias correction,
            ``avg_t = beta * avg_{t-1} + (1 - beta) * loss_t`` and
            ``smoothed_t = avg_t / (1 - beta**t)`` with ``t`` from 1.
        suggested_lr: the learning rate of the steepest descent of
            ``smoothed`` against ``log(lr)`` before its minimum, or NaN (with
            a ``RuntimeWarning``) when the minimum is at step 0 or 1.
        min_loss_lr_over_10: the learning rate at the minimum of
            ``smoothed``, divided by 10.
        stopped_early: whether the loss diverged before ``num_steps`` steps.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggested_lr: float
    min_loss_lr_over_10: float
    stopped_early: bool


def _check_arguments(
    start_lr: float,
    end_lr: float,
    num_steps: int,
    smoothing: float,
    diverge_factor: float,
) -> None:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int):
        raise ValueError(f"num_steps must be a whole number, got {num_steps!r}")
    if num_steps < 2:
        raise ValueError(
            f"num_steps={num_steps} is too few to sweep from start_lr to end_lr. "
            f"Pass num_steps=2 or more (100 is typical)"
        )
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if start_lr <= 0:
        raise ValueError(
            f"start_lr={start_lr} must be positive, because the sweep is "
            f"exponential and cannot start at 0. Pass a small value such as 1e-7"
        )
    if end_lr <= start_lr:
        raise ValueError(
            f"end_lr={end_lr} must be above start_lr={start_lr}. Raise end_lr or "
            f"lower start_lr"
        )
    if not 0 <= smoothing < 1:
        raise ValueError(
            f"smoothing={smoothing} must be in [0, 1). Pass 0 to turn smoothing "
            f"off, or 0.98, a typical value"
        )
    if not diverge_factor > 1:
        raise ValueError(
            f"diverge_factor={diverge_factor} must be above 1, or the test stops "
            f"at once. Pass 4.0, a typical value, or math.inf to stop only on an "
            f"inf or NaN loss"
        )


def _cycle_batches(data_loader: Iterable[Batch]) -> Iterator[Batch]:
    """Yield the loader's batches over and over, starting a new pass when one ends."""
    passes = 0
    while True:
        empty = True
        for batch in data_loader:
            empty = False
            yield batch
        if empty and passes == 0:
            raise ValueError(
                "data_loader yielded no batches. Pass an iterable of "
                "(inputs, targets) pairs with at least one batch"
            )
        if empty:
            raise ValueError(
                "data_loader ran out and yielded nothing when iterated again, as a "
                "one-shot iterator does. Pass a list or a DataLoader, or raise its "
                "number of batches to num_steps"
            )
        passes += 1


class _Snapshot:
    """Copies of everything a range test changes, and their restoration.

    The copies cover the model's and the optimizer's parameters with their
    gradients, the model's buffers and training flags, and the optimizer's
    state and param_groups. They also cover the states of torch's CPU and
    CUDA random number generators, and of the generator of a ``DataLoader``
    built with ``generator=`` (and of its sampler). Tensors are restored in
    place with ``copy_``, so every reference to a parameter or buffer stays
    valid.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        data_loader: Iterable[Batch],
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        tensors = list(model.parameters()) + list(model.buffers())
        for group in optimizer.param_groups:
            tensors.extend(group["params"])
        unique = list({id(tensor): tensor for tensor in tensors}.values())

        self.values = [(tensor, tensor.detach().clone()) for tensor in unique]
        self.grads = [
            (tensor, None if tensor.grad is None else tensor.grad.detach().clone())
            for tensor in unique
        ]
        self.training = [(module, module.training) for module in model.modules()]

        self.state = {
            param: copy.deepcopy(state) for param, state in optimizer.state.items()
        }
        self.param_groups = [
            {
                key: value if key == "params" else copy.deepcopy(value)
                for key, value in group.items()
            }
            for group in optimizer.param_groups
        ]

        # A DataLoader shuffles with its own generator when given one, and
        # with torch's global generator otherwise.
        sampler = getattr(data_loader, "sampler", None)
        generators = [
            getattr(data_loader, "generator", None),
            getattr(sampler, "generator", None),
        ]
        unique_generators = {
            id(generator): generator
            for generator in generators
            if isinstance(generator, torch.Generator)
        }
        self.generators = [
            (generator, generator.get_state())
            for generator in unique_generators.values()
        ]
        self.cpu_rng = torch.get_rng_state()
        self.cuda_rng = (
            torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        )

    def restore(self) -> None:
        """Write the copies back into the model, the optimizer and the generators."""
        with torch.no_grad():
            for tensor, value in self.values:
                tensor.copy_(value)
        for tensor, grad in self.grads:
            tensor.grad = grad
        for module, training in self.training:
            module.training = training

        self.optimizer.state.clear()
        self.optimizer.state.update(self.state)
        for group, saved in zip(self.optimizer.param_groups, self.param_groups):
            group.clear()
            group.update(saved)

        for generator, generator_state in self.generators:
            generator.set_state(generator_state)
        torch.set_rng_state(self.cpu_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)


def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        if isinstance(group["lr"], Tensor):
            # A tensor learning rate (capturable or fused optimizers) is
            # updated in place, as torch's schedulers do.
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def _suggest(
    lrs: list[float], smoothed: list[float], num_steps: int
) -> tuple[float, float]:
    """Return the steepest-descent learning rate and the minimum-over-10 one."""
    finite = [index for index, value in enumerate(smoothed) if math.isfinite(value)]
    if not finite:
        warnings.warn(
            "the loss was not finite at the first step of the range test, so it "
            "suggests no learning rate. Lower start_lr or check the model and loss",
            RuntimeWarning,
            stacklevel=3,
        )
        return math.nan, math.nan
    best = min(finite, key=lambda index: smoothed[index])
    min_loss_lr_over_10 = lrs[best] / 10

    # The slope at step i is the central difference between steps i - w and
    # i + w, because between neighbouring steps mini-batch noise swamps the
    # descent. On the diabetes regression with batches of 32, the neighbour
    # slope picked the first step in most runs. The window shrinks to fit a
    # short descent.
    window = max(1, min(num_steps // 10, best // 2))
    if best < 2 * window:
        warnings.warn(
            f"the smoothed loss reached its minimum at step {best} "
            f"(lr={lrs[best]:.3g}), too early to measure a descent, so the test "
            f"suggests no learning rate. Lower start_lr",
            RuntimeWarning,
            stacklevel=3,
        )
        return math.nan, min_loss_lr_over_10
    # Steps 0..best are all finite, because the test stops at the first
    # non-finite loss.
    log_lrs = torch.tensor(
        [math.log(lr) for lr in lrs[: best + 1]], dtype=torch.float64
    )
    curve = torch.tensor(smoothed[: best + 1], dtype=torch.float64)
    rise = curve[2 * window :] - curve[: -2 * window]
    run = log_lrs[2 * window :] - log_lrs[: -2 * window]
    steepest = window + int(torch.argmin(rise / run))
    return lrs[steepest], min_loss_lr_over_10


def lr_range_test(
    model: torch.nn.Module,
    loss_fn: Callable[[Any, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
    data_loader: Iterable[Batch],
    *,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    smoothing: float = 0.98,
    diverge_factor: float = 4.0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> RangeTestResult:
    """Sweep the learning rate exponentially over a short training run.

    Step ``i`` (from 0) sets every parameter group's learning rate to
    ``start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))``, computes the
    loss of the next batch, and takes one optimizer step. The test stops early
    when the smoothed loss is inf or NaN, or exceeds ``diverge_factor`` times
    the lowest smoothed loss so far. That rule assumes a non-negative loss.
    The model is in training mode during the test. Afterwards its parameters,
    gradients, buffers and training flags, the optimizer's state and
    param_groups, and the random number generators (torch's CPU and CUDA
    ones, and a ``DataLoader``'s own ``generator``) are restored exactly, even
    when the test raises. Other random state that the loader or the model
    draws from, such as NumPy's or Python's, is not restored.

    Args:
        model: the model to train, whose parameters are in ``optimizer``.
        loss_fn: a function called as ``loss_fn(model(inputs), targets)``
            that returns a scalar tensor.
        optimizer: any ``torch.optim.Optimizer`` whose ``step()`` needs no
            closure, such as those of ``torch.optim`` and ``course_lib.optim``.
        data_loader: any iterable of ``(inputs, targets)`` batches, such as a
            ``DataLoader``, iterated again whenever it runs out.
        start_lr: the first learning rate, positive.
        end_lr: the last learning rate, above ``start_lr``.
        num_steps: the number of steps (mini-batches), at least 2.
        smoothing: the decay rate ``beta`` of the smoothed loss, in [0, 1).
        diverge_factor: the test stops when the smoothed loss exceeds this
            many times its minimum so far. It must be above 1.
        device: the device that inputs and targets are moved to, by default
            the device of
            the optimizer's first parameter.
        progress: show a tqdm progress bar.

    Returns:
        A :class:`RangeTestResult` with one entry per step taken.

    Raises:
        ValueError: an argument is out of range (the message names it and the
            fix), or ``data_loader`` yields no batches.
    """
    _check_arguments(start_lr, end_lr, num_steps, smoothing, diverge_factor)
    if device is None:
        device = optimizer.param_groups[0]["params"][0].device
    device = torch.device(device)

    snapshot = _Snapshot(model, optimizer, data_loader)
    lrs: list[float] = []
    losses: list[float] = []
    smoothed: list[float] = []
    stopped_early = False
    bar = tqdm(total=num_steps, desc="lr range test", disable=not progress)
    try:
        model.train()
        batches = _cycle_batches(data_loader)
        average = 0.0
        lowest = math.inf
        for step in range(num_steps):
            lr = start_lr * (end_lr / start_lr) ** (step / (num_steps - 1))
            _set_lr(optimizer, lr)
            inputs, targets = next(batches)
            inputs, targets = inputs.to(device), targets.to(device)

            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(inputs), targets)
            value = loss.item()

            # avg_t = beta * avg_{t-1} + (1 - beta) * loss_t, and the bias
            # correction divides by 1 - beta^t, the total weight so far.
            average = smoothing * average + (1 - smoothing) * value
            current = average / (1 - smoothing ** (step + 1))
            lrs.append(lr)
            losses.append(value)
            smoothed.append(current)
            bar.update(1)
            bar.set_postfix(lr=f"{lr:.2e}", loss=f"{current:.4g}")

            diverged = not math.isfinite(current) or (
                lowest > 0 and current > diverge_factor * lowest
            )
            if diverged:
                stopped_early = step < num_steps - 1
                logger.info(
                    "lr range test stopped at step %d of %d: smoothed loss %.4g at "
                    "lr %.3g, lowest %.4g",
                    step,
                    num_steps,
                    current,
                    lr,
                    lowest,
                )
                break
            lowest = min(lowest, current)

            loss.backward()
            optimizer.step()
    finally:
        bar.close()
        snapshot.restore()

    suggested_lr, min_loss_lr_over_10 = _suggest(lrs, smoothed, num_steps)
    return RangeTestResult(
        lrs=lrs,
        losses=losses,
        smoothed=smoothed,
        suggested_lr=suggested_lr,
        min_loss_lr_over_10=min_loss_lr_over_10,
        stopped_early=stopped_early,
    )


__all__ = ["RangeTestResult", "lr_range_test"]
