"""Training loops that record a history, and measurements of one training step.

- :func:`train` trains a model on a :class:`~course_lib.data.Dataset` for a
  budget of epochs, steps or seconds and returns a :class:`History`. It
  accepts any ``torch.optim.Optimizer`` (course_lib's optimizers are
  subclasses), an optional learning-rate schedule, and gradient accumulation
  over micro-batches. It stops cleanly, without raising, when the loss
  becomes inf or NaN.
- :class:`Trainer` is the same loop one step at a time, for dashboards that
  play, pause and step through training.
- :func:`train_batched` trains several copies of one architecture at once,
  each with its own initial weights, hyperparameters and batch order, as one
  vectorized computation (``torch.func.vmap``) with a pure update function
  of ``course_lib.optim``.
- :func:`compute_gradients`, :func:`per_example_gradients`, :func:`evaluate`
  and :func:`step_memory` are the pieces the loops and the chapters use.

Batch order: with ``seed=s`` the loops draw each epoch's order from one
``torch.Generator().manual_seed(s)`` created at the start, as
:func:`course_lib.data.batch_indices` describes, so a plain PyTorch loop
that calls ``torch.randperm(n, generator=generator)`` once per epoch draws
the same batches.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.lr_scheduler import LRScheduler, ReduceLROnPlateau
from tqdm.auto import tqdm

from course_lib.data import Dataset, batch_indices, num_batches
from course_lib.optim import OPTIMIZERS, default_hyperparameters

logger = logging.getLogger(__name__)

LossFunction = Callable[[Tensor, Tensor], Tensor]
# A schedule gives the learning rate of optimizer step t (counted from 0), or
# is a torch scheduler that is stepped once after every optimizer step.
Schedule = Callable[[int], float] | LRScheduler

# Evaluations run the model on at most this many examples at a time.
EVAL_BATCH_SIZE = 8192


# -- one step's pieces ---------------------------------------------------------


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_batch_size(batch_size: int, data: Dataset) -> None:
    _check_positive_int("batch_size", batch_size)
    if batch_size > data.num_train:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {data.num_train} training "
            f"examples; use at most {data.num_train} (one full batch)"
        )


def _micro_batch_sizes(
    batch_size: int, accumulation_steps: int, micro_batch_size: int | None
) -> list[int]:
    """Sizes of the micro-batches one batch is split into, in order."""
    if micro_batch_size is not None:
        full, rest = divmod(batch_size, micro_batch_size)
        return [micro_batch_size] * full + ([rest] if rest else [])
    # As torch.tensor_split does: the first (batch_size % k) parts are one
    # example larger, and parts beyond the batch's size are dropped.
    base, extra = divmod(batch_size, accumulation_steps)
    sizes = [base + 1] * extra + [base] * (accumulation_steps - extra)
    return [size for size in sizes if size > 0]


def compute_gradients(
    model: nn.Module,
    loss_fn: LossFunction,
    x: Tensor,
    y: Tensor,
    *,
    accumulation_steps: int = 1,
    micro_batch_size: int | None = None,
) -> Tensor:
    """Backpropagate the loss of one batch, optionally in micro-batches.

    The batch is split into micro-batches, either ``accumulation_steps``
    parts of nearly equal size or parts of ``micro_batch_size`` examples
    with a smaller last part. Each micro-batch's loss is weighted by its
    share of the examples, ``n_i / n``, before its backward pass. So for a
    loss that averages over examples (``reduction="mean"``, the default of
    ``torch.nn.functional``), the gradients summed into ``.grad`` equal those
    of the whole batch at once, even when the parts differ in size. Weighting
    each part by ``1 / accumulation_steps`` instead would be wrong for
    unequal parts.

    Gradients add to what ``.grad`` already contains, as ``backward`` does,
    so zero them before the call.

    NOTE: the equality needs a model whose output for one example does not
    depend on the other examples of its batch. Batch normalization in
    training mode breaks it.

    Returns:
        The loss of the whole batch (the weighted mean of the micro-batch
        losses), detached.
    """
    _check_positive_int("accumulation_steps", accumulation_steps)
    if micro_batch_size is not None:
        _check_positive_int("micro_batch_size", micro_batch_size)
        if accumulation_steps != 1:
            raise ValueError(
                "give either accumulation_steps or micro_batch_size, not both; "
                f"got accumulation_steps={accumulation_steps} and "
                f"micro_batch_size={micro_batch_size}"
            )
    size = x.shape[0]
    if size == 0:
        raise ValueError("the batch is empty; it needs at least one example")
    sizes = _micro_batch_sizes(size, accumulation_steps, micro_batch_size)
    if len(sizes) == 1:
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss.detach()
    total = torch.zeros((), device=x.device)
    for x_part, y_part in zip(torch.split(x, sizes), torch.split(y, sizes)):
        loss = loss_fn(model(x_part), y_part)
        weighted = loss * (x_part.shape[0] / size)
        weighted.backward()
        total = total + weighted.detach()
    return total


def count_correct(output: Tensor, target: Tensor) -> Tensor:
    """Count the examples classified correctly, as a 0-dim int64 tensor.

    An output of shape ``(n, k)`` with ``k > 1`` contains one logit per class
    and predicts the largest. An output of shape ``(n,)`` or ``(n, 1)`` is
    one logit of class 1, predicted when the logit is positive.
    """
    if output.ndim == 2 and output.shape[1] > 1:
        predicted = output.argmax(dim=1)
    else:
        predicted = (output.reshape(-1) > 0).long()
    return (predicted == target.reshape(-1)).sum()


def accuracy(output: Tensor, target: Tensor) -> Tensor:
    """Return the fraction of examples classified correctly, as a 0-dim tensor.

    The output is read as :func:`count_correct` describes.
    """
    return count_correct(output, target).float() / target.shape[0]


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: LossFunction,
    x: Tensor,
    y: Tensor,
    *,
    classification: bool = True,
    batch_size: int = EVAL_BATCH_SIZE,
) -> tuple[float, float]:
    """Return the mean loss and the accuracy of ``model`` on ``(x, y)``.

    The model runs in evaluation mode (``model.eval()``) and is put back in
    the mode it was in. The accuracy is NaN when ``classification`` is
    False.
    """
    was_training = model.training
    model.eval()
    try:
        # Sums stay on the device until the end, so the loop does not wait
        # for each chunk. Python floats then give float64 even on MPS.
        losses = []
        correct = torch.zeros((), dtype=torch.long, device=x.device)
        for start in range(0, x.shape[0], batch_size):
            x_part = x[start : start + batch_size]
            y_part = y[start : start + batch_size]
            output = model(x_part)
            losses.append(loss_fn(output, y_part) * x_part.shape[0])
            if classification:
                correct += count_correct(output, y_part)
    finally:
        model.train(was_training)
    count = x.shape[0]
    loss = sum(float(part) for part in losses) / count
    return loss, int(correct) / count if classification else math.nan


def per_example_gradients(
    model: nn.Module, loss_fn: LossFunction, x: Tensor, y: Tensor
) -> Tensor:
    """Return the gradient of the loss of every example, one row per example.

    Uses ``torch.func.vmap`` over ``torch.func.grad``, so the cost is one
    vectorized backward pass rather than ``n`` separate ones.

    Returns:
        A tensor of shape ``(n, p)``, where ``p`` is the number of parameters
        and the columns follow ``model.named_parameters()``, each flattened.
        The mean of the rows is the gradient of the mean loss on the batch.
    """
    params = {name: p.detach() for name, p in model.named_parameters()}
    buffers = {name: b.detach() for name, b in model.named_buffers()}

    def example_loss(params: dict[str, Tensor], x_one: Tensor, y_one: Tensor) -> Tensor:
        output = torch.func.functional_call(
            model, (params, buffers), (x_one.unsqueeze(0),)
        )
        return loss_fn(output, y_one.unsqueeze(0))

    grads = torch.func.vmap(torch.func.grad(example_loss), in_dims=(None, 0, 0))(
        params, x, y
    )
    return torch.cat([g.reshape(x.shape[0], -1) for g in grads.values()], dim=1)


def flat_gradient(model: nn.Module) -> Tensor:
    """Concatenate the ``.grad`` of every parameter, flattened, into one vector.

    A parameter without a gradient contributes zeros.
    """
    parts = [
        torch.zeros_like(p).reshape(-1) if p.grad is None else p.grad.reshape(-1)
        for p in model.parameters()
    ]
    return torch.cat(parts)


@dataclass(frozen=True)
class StepMemory:
    """Bytes of the tensors one training step creates or touches.

    ``activation_bytes`` counts the distinct tensors autograd saved during
    the forward pass for the backward pass (the activations), measured with
    ``torch.autograd.graph.saved_tensors_hooks`` and excluding parameters and
    the batch itself. ``gradient_bytes`` counts the parameters' gradients.
    ``peak_bytes`` is CUDA's peak allocation during the step minus what was
    allocated before it, from ``torch.cuda.max_memory_allocated``, and None
    on other devices, where no allocator statistics exist.
    """

    device: str
    batch_size: int
    batch_bytes: int
    parameter_bytes: int
    activation_bytes: int
    gradient_bytes: int
    peak_bytes: int | None


def step_memory(
    model: nn.Module, loss_fn: LossFunction, x: Tensor, y: Tensor
) -> StepMemory:
    """Measure the memory of one forward and backward pass on the batch ``(x, y)``.

    The gradients are left in ``.grad``; the parameters are not changed.
    """
    params = list(model.parameters())
    excluded = {p.untyped_storage().data_ptr() for p in params}
    excluded |= {x.untyped_storage().data_ptr(), y.untyped_storage().data_ptr()}
    saved: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    cuda = x.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(x.device)
        torch.cuda.reset_peak_memory_stats(x.device)
        before = torch.cuda.memory_allocated(x.device)
    model.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = loss_fn(model(x), y)
    loss.backward()
    peak = None
    if cuda:
        torch.cuda.synchronize(x.device)
        peak = torch.cuda.max_memory_allocated(x.device) - before
    return StepMemory(
        device=str(x.device),
        batch_size=x.shape[0],
        batch_bytes=x.nbytes + y.nbytes,
        parameter_bytes=sum(p.nbytes for p in params),
        activation_bytes=sum(saved.values()),
        gradient_bytes=sum(p.grad.nbytes for p in params if p.grad is not None),
        peak_bytes=peak,
    )


def _synchronize(device: torch.device) -> None:
    """Wait for queued kernels, so that wall-clock times are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# -- the history ---------------------------------------------------------------


@dataclass
class History:
    """Record of a training run, per optimizer step and per evaluation.

    Per step (entry ``i`` is step ``i + 1``):

    - ``loss``: the loss of the step's batch before the update;
    - ``lr``: the learning rate of the first parameter group for the update;
    - ``time``: seconds of training since the start, at the end of the step,
      evaluations excluded;
    - ``step_seconds``: wall time of the step alone;
    - ``samples_per_second``: the step's examples divided by its wall time.

    Per evaluation, on the whole training and validation splits: at the
    start (step 0), at the end of every epoch (or every ``eval_every``
    steps or ``eval_every_seconds`` seconds) and at the end of the run.
    ``eval_step``, ``eval_epoch`` (epochs completed, fractional) and
    ``eval_time`` place each evaluation, and
    ``train_loss``, ``train_accuracy``, ``val_loss`` and ``val_accuracy``
    hold its results. Accuracies are NaN for regression.

    ``diverged_at`` is the step whose loss was inf or NaN (that step made no
    update), or None. ``stop_reason`` is ``"epochs"``, ``"steps"``,
    ``"seconds"`` or ``"diverged"``.
    """

    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)
    samples_per_second: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_epoch: list[float] = field(default_factory=list)
    eval_time: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    diverged_at: int | None = None
    stop_reason: str | None = None

    @property
    def steps(self) -> int:
        """Number of steps recorded, the diverged one included."""
        return len(self.loss)

    @property
    def updates_per_second(self) -> list[float]:
        """Optimizer steps per second of wall time, per step."""
        return [1.0 / s if s > 0 else math.inf for s in self.step_seconds]

    def __repr__(self) -> str:
        final = f", val_loss={self.val_loss[-1]:.4g}" if self.val_loss else ""
        return (
            f"History(steps={self.steps}, diverged_at={self.diverged_at}, "
            f"stop_reason={self.stop_reason!r}{final})"
        )


# -- the loop, one step at a time ------------------------------------------------


class Trainer:
    """A training loop that advances one optimizer step per call of :meth:`step`.

    Args:
        model: the model, on the data's device.
        loss_fn: ``loss_fn(output, target)`` returning the mean loss of a batch.
        optimizer: any ``torch.optim.Optimizer`` over the model's parameters.
        data: the training and validation splits.
        batch_size: examples per optimizer step. Without replacement it is at
            most ``data.num_train``, which means full-batch gradient descent.
        schedule: None, a function from the step (counted from 0) to the
            learning rate, which sets every parameter group's ``lr`` before
            each step, or a ``torch.optim.lr_scheduler`` scheduler built on
            ``optimizer``. That scheduler is stepped after every optimizer
            step, so its periods count steps, not epochs; a
            ``ReduceLROnPlateau`` is stepped with the validation loss at
            every evaluation instead.
        accumulation_steps: split each batch into this many micro-batches of
            nearly equal size and accumulate their gradients.
        micro_batch_size: alternatively, split each batch into micro-batches
            of this many examples, the last one smaller.
        seed: seed of the batch order.
        replacement: draw batches with replacement; an epoch still has
            ``data.num_train`` examples in all.
        drop_last: skip each epoch's last batch when it is smaller.
        eval_every: evaluate every this many steps.
        eval_every_seconds: evaluate after the first step that ends at least
            this many seconds of training after the previous evaluation, which
            spaces evaluations evenly on a wall-time axis. When both this and
            ``eval_every`` are None, evaluations happen at the end of every
            epoch.

    The model, optimizer and scheduler are used as given and changed in
    place. Randomness inside the model, such as dropout, uses torch's global
    generator, which ``course_lib.seed_everything`` seeds.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFunction,
        optimizer: torch.optim.Optimizer,
        data: Dataset,
        *,
        batch_size: int,
        schedule: Schedule | None = None,
        accumulation_steps: int = 1,
        micro_batch_size: int | None = None,
        seed: int = 0,
        replacement: bool = False,
        drop_last: bool = False,
        eval_every: int | None = None,
        eval_every_seconds: float | None = None,
    ) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"optimizer must be a torch.optim.Optimizer, got "
                f"{type(optimizer).__name__}"
            )
        if not isinstance(data, Dataset):
            raise TypeError(
                f"data must be a course_lib.data.Dataset, got {type(data).__name__}"
            )
        _check_positive_int("batch_size", batch_size)
        _check_positive_int("accumulation_steps", accumulation_steps)
        if micro_batch_size is not None:
            _check_positive_int("micro_batch_size", micro_batch_size)
            if accumulation_steps != 1:
                raise ValueError(
                    "give either accumulation_steps or micro_batch_size, not both"
                )
        if eval_every is not None:
            _check_positive_int("eval_every", eval_every)
        if eval_every_seconds is not None and not (
            isinstance(eval_every_seconds, (int, float)) and eval_every_seconds > 0
        ):
            raise ValueError(
                f"eval_every_seconds must be a positive number, got "
                f"{eval_every_seconds!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        if schedule is not None and not (
            isinstance(schedule, LRScheduler) or callable(schedule)
        ):
            raise TypeError(
                "schedule must be a function of the step returning the learning "
                f"rate, or a torch.optim.lr_scheduler scheduler; got {schedule!r}"
            )
        if isinstance(schedule, LRScheduler) and schedule.optimizer is not optimizer:
            raise ValueError("the scheduler was built on a different optimizer")
        parameter = next(model.parameters(), None)
        if parameter is not None and parameter.device != data.device:
            raise ValueError(
                f"the model's parameters are on {parameter.device} but the data are "
                f"on {data.device}; move the model with model.to({str(data.device)!r})"
            )
        _check_batch_size(batch_size, data)
        self.batches_per_epoch = num_batches(
            data.num_train, batch_size, drop_last=drop_last
        )

        self.model = model
        self.loss_fn = loss_fn
        self.optimizer = optimizer
        self.data = data
        self.batch_size = batch_size
        self.schedule = schedule
        self.accumulation_steps = accumulation_steps
        self.micro_batch_size = micro_batch_size
        self.replacement = replacement
        self.drop_last = drop_last
        self.eval_every = eval_every
        self.eval_every_seconds = eval_every_seconds
        self.generator = torch.Generator().manual_seed(seed)
        self.history = History()
        self.step_count = 0
        self.epochs_completed = 0
        self._epoch: tuple[Tensor, ...] = ()
        self._position = 0
        self._train_seconds = 0.0
        self.evaluate()

    @property
    def diverged(self) -> bool:
        """Whether a step's loss was inf or NaN; no further steps are taken."""
        return self.history.diverged_at is not None

    @property
    def epoch(self) -> float:
        """Epochs completed so far, with the current one as a fraction."""
        return self.epochs_completed + self._position / self.batches_per_epoch

    def evaluate(self) -> None:
        """Evaluate on both splits and append the results to the history."""
        classification = self.data.task == "classification"
        train_loss, train_accuracy = evaluate(
            self.model,
            self.loss_fn,
            self.data.x_train,
            self.data.y_train,
            classification=classification,
        )
        val_loss, val_accuracy = evaluate(
            self.model,
            self.loss_fn,
            self.data.x_val,
            self.data.y_val,
            classification=classification,
        )
        history = self.history
        history.eval_step.append(self.step_count)
        history.eval_epoch.append(self.epoch)
        history.eval_time.append(self._train_seconds)
        history.train_loss.append(train_loss)
        history.train_accuracy.append(train_accuracy)
        history.val_loss.append(val_loss)
        history.val_accuracy.append(val_accuracy)
        if isinstance(self.schedule, ReduceLROnPlateau) and self.step_count > 0:
            self.schedule.step(val_loss)

    def _next_batch(self) -> tuple[Tensor, Tensor]:
        if self._position == len(self._epoch):
            self._epoch = batch_indices(
                self.data.num_train,
                self.batch_size,
                generator=self.generator,
                replacement=self.replacement,
                drop_last=self.drop_last,
                device=self.data.device,
            )
            self._position = 0
        index = self._epoch[self._position]
        self._position += 1
        return self.data.x_train[index], self.data.y_train[index]

    def _apply_schedule(self) -> None:
        if self.schedule is None or isinstance(self.schedule, LRScheduler):
            return
        lr = self.schedule(self.step_count)
        if isinstance(lr, Tensor):
            lr = float(lr)
        if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr < 0:
            raise ValueError(
                f"the schedule returned lr={lr!r} for step {self.step_count}; a "
                f"learning rate must be a finite non-negative number"
            )
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _evaluation_due(self, epoch_ended: bool) -> bool:
        if self.eval_every is None and self.eval_every_seconds is None:
            return epoch_ended
        if self.eval_every is not None and self.step_count % self.eval_every == 0:
            return True
        if self.eval_every_seconds is not None:
            since = self._train_seconds - self.history.eval_time[-1]
            return since >= self.eval_every_seconds
        return False

    def step(self) -> float:
        """Take one optimizer step on the next mini-batch and return its loss.

        A step whose loss is inf or NaN records ``diverged_at`` and leaves
        the parameters as they were. After that, :meth:`step` raises.

        Raises:
            RuntimeError: training already diverged.
        """
        if self.diverged:
            raise RuntimeError(
                f"training diverged at step {self.history.diverged_at}; build a "
                f"new Trainer, for example with a smaller learning rate"
            )
        start = time.perf_counter()
        self.model.train()
        x, y = self._next_batch()
        self._apply_schedule()
        lr = float(self.optimizer.param_groups[0]["lr"])
        self.optimizer.zero_grad(set_to_none=True)
        loss = compute_gradients(
            self.model,
            self.loss_fn,
            x,
            y,
            accumulation_steps=self.accumulation_steps,
            micro_batch_size=self.micro_batch_size,
        )
        # float() waits for the device, which the divergence check needs.
        loss_value = float(loss)
        finite = math.isfinite(loss_value)
        if finite:
            self.optimizer.step()
            if isinstance(self.schedule, LRScheduler) and not isinstance(
                self.schedule, ReduceLROnPlateau
            ):
                self.schedule.step()
        _synchronize(self.data.device)
        seconds = time.perf_counter() - start

        self.step_count += 1
        self._train_seconds += seconds
        history = self.history
        history.loss.append(loss_value)
        history.lr.append(lr)
        history.time.append(self._train_seconds)
        history.step_seconds.append(seconds)
        history.samples_per_second.append(x.shape[0] / seconds)
        if not finite:
            history.diverged_at = self.step_count
            history.stop_reason = "diverged"
            logger.info(
                "loss %s at step %d: training stopped", loss_value, self.step_count
            )
            return loss_value

        epoch_ended = self._position == len(self._epoch)
        if epoch_ended:
            self.epochs_completed += 1
            self._epoch = ()
            self._position = 0
        if self._evaluation_due(epoch_ended):
            self.evaluate()
        return loss_value

    def run(
        self,
        *,
        epochs: float | None = None,
        steps: int | None = None,
        seconds: float | None = None,
        progress: bool = False,
    ) -> History:
        """Take steps until a budget is used up or the loss diverges.

        Each budget counts from this call: ``epochs`` more epochs (a
        fraction allowed), ``steps`` more steps, ``seconds`` more seconds of
        training. With several budgets the first one used up stops training.
        The seconds budget is checked after each step, so the last step may
        end after it. The run ends with an evaluation unless one was just
        made.

        Raises:
            ValueError: no budget, or a budget that is not positive.
        """
        if epochs is None and steps is None and seconds is None:
            raise ValueError("give a budget: epochs, steps or seconds")
        for name, value in (("epochs", epochs), ("seconds", seconds)):
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not value > 0
            ):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if steps is not None:
            _check_positive_int("steps", steps)

        start_step = self.step_count
        start_seconds = self._train_seconds
        # An epoch budget becomes a number of steps, which avoids rounding
        # errors of fractional epochs: 1.5 epochs of 10 batches is 15 steps.
        epoch_steps = None
        if epochs is not None:
            batches_done = self.epochs_completed * self.batches_per_epoch
            batches_done += self._position
            target = self.epochs_completed + self._position / self.batches_per_epoch
            target = math.ceil(round((target + epochs) * self.batches_per_epoch, 6))
            epoch_steps = target - batches_done
        total = min(n for n in (steps, epoch_steps, math.inf) if n is not None)

        bar = tqdm(
            total=None if total == math.inf else total,
            disable=not progress,
            unit="step",
        )
        reason = None
        try:
            while reason is None:
                loss = self.step()
                done = self.step_count - start_step
                bar.update(1)
                if done % 10 == 0 or self.diverged:
                    bar.set_postfix(loss=f"{loss:.4g}", refresh=False)
                if self.diverged:
                    reason = "diverged"
                elif steps is not None and done >= steps:
                    reason = "steps"
                elif epoch_steps is not None and done >= epoch_steps:
                    reason = "epochs"
                elif (
                    seconds is not None
                    and self._train_seconds - start_seconds >= seconds
                ):
                    reason = "seconds"
        finally:
            bar.close()
        if not self.diverged and self.history.eval_step[-1] != self.step_count:
            self.evaluate()
        self.history.stop_reason = reason
        return self.history


def train(
    model: nn.Module,
    loss_fn: LossFunction,
    optimizer: torch.optim.Optimizer,
    data: Dataset,
    *,
    batch_size: int,
    epochs: float | None = None,
    steps: int | None = None,
    seconds: float | None = None,
    schedule: Schedule | None = None,
    accumulation_steps: int = 1,
    micro_batch_size: int | None = None,
    progress: bool = True,
    seed: int = 0,
    replacement: bool = False,
    drop_last: bool = False,
    eval_every: int | None = None,
    eval_every_seconds: float | None = None,
) -> History:
    """Train ``model`` on ``data`` until a budget is used up, and return the history.

    A budget is ``epochs`` (a fraction allowed), ``steps`` or ``seconds``.
    With several, the first one used up stops training. Training stops
    without raising at the first step whose loss is inf or NaN, and the
    history records that step in ``diverged_at``. ``progress`` shows a tqdm
    progress bar, which is a widget in Jupyter and text elsewhere. The other
    arguments are those of :class:`Trainer`.

    Example::

        data = load_digits()
        model = nn.Linear(64, 10).to(data.device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        history = train(model, F.cross_entropy, optimizer, data,
                        batch_size=32, epochs=5)
        history.val_accuracy[-1]
    """
    trainer = Trainer(
        model,
        loss_fn,
        optimizer,
        data,
        batch_size=batch_size,
        schedule=schedule,
        accumulation_steps=accumulation_steps,
        micro_batch_size=micro_batch_size,
        seed=seed,
        replacement=replacement,
        drop_last=drop_last,
        eval_every=eval_every,
        eval_every_seconds=eval_every_seconds,
    )
    return trainer.run(epochs=epochs, steps=steps, seconds=seconds, progress=progress)


# -- many configurations at once -------------------------------------------------


@dataclass
class BatchedHistory:
    """Record of a :func:`train_batched` run, one column per configuration.

    ``loss`` has shape ``(steps, C)``: each step's batch loss, before the
    update. A configuration stops at its first inf or NaN loss, whose step
    (counted from 1) ``diverged_at`` records, with 0 for a run that did not
    diverge. Its later entries are NaN, and its weights stay those from
    before that step. ``train_loss``, ``train_accuracy``, ``val_loss`` and
    ``val_accuracy`` have shape ``(evaluations, C)``, at the steps in
    ``eval_step``; accuracies are NaN for regression. ``seconds`` is the
    wall time of the whole run, evaluations included.
    """

    loss: Tensor
    eval_step: list[int]
    eval_epoch: list[float]
    train_loss: Tensor
    train_accuracy: Tensor
    val_loss: Tensor
    val_accuracy: Tensor
    diverged_at: Tensor
    seconds: float

    @property
    def diverged(self) -> Tensor:
        """Boolean tensor of shape ``(C,)``: which configurations diverged."""
        return self.diverged_at > 0


def _configuration_count(hyperparameters: Mapping[str, Any], models: int) -> int:
    """Count the configurations: the models, or the values of a hyperparameter."""
    lengths = {"models": models} if models > 1 else {}
    for name, value in hyperparameters.items():
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, Tensor) and item.ndim > 0 and item.shape[0] > 1:
                lengths[name] = item.shape[0]
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{name}: {length}" for name, length in lengths.items())
        raise ValueError(
            f"the models and hyperparameter tensors give different numbers of "
            f"configurations ({sizes}); give each tensor one value per model"
        )
    return next(iter(lengths.values()), 1)


def _on_device(value: Any, device: torch.device) -> Any:
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, tuple):
        return tuple(_on_device(item, device) for item in value)
    return value


def train_batched(
    models: Sequence[nn.Module],
    loss_fn: LossFunction,
    data: Dataset,
    *,
    optimizer: str | type = "SGD",
    hyperparameters: Mapping[str, Any] | None = None,
    batch_size: int,
    epochs: float | None = None,
    steps: int | None = None,
    seeds: int | Sequence[int] = 0,
    replacement: bool = False,
    eval_every: int | None = None,
) -> BatchedHistory:
    """Train C configurations of one architecture as one vectorized computation.

    Configuration ``c`` starts from the weights of ``models[c]`` and takes
    the hyperparameters' ``c``-th values and the batch order of
    ``seeds[c]``. The forward pass runs under ``torch.func.vmap`` over the
    stacked weights, one backward pass of the summed losses gives every
    configuration its own gradient (the configurations share no weights),
    and the optimizer's pure ``update`` function steps all of them at once.
    Each configuration's result equals a separate run of :func:`train` with
    the matching ``torch.optim`` optimizer, up to floating-point rounding.
    The final weights are copied back into ``models``.

    Args:
        models: C modules of the same architecture, on the data's device.
            When only one is given while the hyperparameters have C values,
            every configuration starts from its weights.
        loss_fn: the mean loss of a batch, which must work under
            ``torch.func.vmap`` (``torch.nn.functional`` losses do).
        data: the training and validation splits.
        optimizer: a name in ``course_lib.optim.OPTIMIZERS`` or such a class.
        hyperparameters: the optimizer's hyperparameters, each a number, a
            tensor of shape ``(C,)``, or for ``betas`` a tuple of those.
            Missing keys take the class's defaults.
        batch_size: examples per step, the same for every configuration.
        epochs, steps: the budget; with both, the smaller one.
        seeds: one seed, so every configuration draws the same batches, or C
            seeds, one batch order each.
        replacement: draw batches with replacement.
        eval_every: evaluate every this many steps; when None, at the end of
            every epoch. The start and the end are always evaluated.

    NOTE: buffers (batch normalization statistics) are not updated, so
    models with such layers are not supported.
    """
    if isinstance(optimizer, str):
        if optimizer not in OPTIMIZERS:
            raise KeyError(
                f"unknown optimizer {optimizer!r}; course_lib.optim.OPTIMIZERS "
                f"contains {', '.join(OPTIMIZERS) or 'nothing'}"
            )
        optimizer_class = OPTIMIZERS[optimizer]
    else:
        optimizer_class = optimizer
    name = optimizer_class.__name__
    settings = dict(default_hyperparameters(name)) if name in OPTIMIZERS else {}
    settings.update(hyperparameters or {})
    missing = [key for key in optimizer_class.hyperparameters if key not in settings]
    if missing:
        raise ValueError(f"missing hyperparameters of {name}: {', '.join(missing)}")
    settings = {
        key: _on_device(settings[key], data.device)
        for key in optimizer_class.hyperparameters
    }

    if len(models) == 0:
        raise ValueError("models is empty; give at least one model")
    count = _configuration_count(settings, len(models))
    if len(models) not in (1, count):
        raise ValueError(
            f"got {len(models)} models for {count} configurations; give one model "
            f"or one per configuration"
        )
    if isinstance(seeds, int):
        seed_list = None
    else:
        seed_list = list(seeds)
        if len(seed_list) != count:
            raise ValueError(
                f"got {len(seed_list)} seeds for {count} configurations; give one "
                f"seed or one per configuration"
            )
    _check_batch_size(batch_size, data)
    if epochs is None and steps is None:
        raise ValueError("give a budget: epochs or steps")
    per_epoch = num_batches(data.num_train, batch_size)
    total_steps = steps
    if epochs is not None:
        if not epochs > 0:
            raise ValueError(f"epochs must be a positive number, got {epochs!r}")
        epoch_steps = math.ceil(round(epochs * per_epoch, 6))
        total_steps = (
            epoch_steps if total_steps is None else min(total_steps, epoch_steps)
        )
    _check_positive_int("steps", total_steps)
    if eval_every is not None:
        _check_positive_int("eval_every", eval_every)

    sources = list(models) * count if len(models) == 1 else list(models)
    params, buffers = torch.func.stack_module_state(sources)
    params = {key: value.detach().requires_grad_(True) for key, value in params.items()}
    base = copy.deepcopy(sources[0]).to("meta")

    def forward(p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor) -> Tensor:
        return torch.func.functional_call(base, (p, b), (x,))

    def batch_loss(
        p: dict[str, Tensor], b: dict[str, Tensor], x: Tensor, y: Tensor
    ) -> Tensor:
        return loss_fn(forward(p, b, x), y)

    states = {
        key: optimizer_class.init_state(p, **settings) for key, p in params.items()
    }
    device = data.device
    classification = data.task == "classification"
    generators = (
        [torch.Generator().manual_seed(seeds)]
        if seed_list is None
        else [torch.Generator().manual_seed(s) for s in seed_list]
    )

    @torch.no_grad()
    def evaluate_all() -> list[Tensor]:
        results = []
        for x, y in ((data.x_train, data.y_train), (data.x_val, data.y_val)):
            output = torch.func.vmap(forward, in_dims=(0, 0, None))(params, buffers, x)
            losses = torch.func.vmap(loss_fn, in_dims=(0, None))(output, y)
            if classification:
                accuracies = torch.func.vmap(accuracy, in_dims=(0, None))(output, y)
            else:
                accuracies = torch.full_like(losses, math.nan)
            results += [losses, accuracies]
        return results

    losses_per_step = torch.full((total_steps, count), math.nan, device=device)
    evaluations: list[list[Tensor]] = []
    eval_steps: list[int] = []
    eval_epochs: list[float] = []
    active = torch.ones(count, dtype=torch.bool, device=device)
    diverged_at = torch.zeros(count, dtype=torch.long, device=device)
    epoch_batches: list[tuple[Tensor, ...]] = []
    position = 0
    start = time.perf_counter()

    def record(step: int) -> None:
        evaluations.append(evaluate_all())
        eval_steps.append(step)
        eval_epochs.append(step / per_epoch)

    shared_order = seed_list is None
    batched_loss = torch.func.vmap(
        batch_loss, in_dims=(0, 0, None, None) if shared_order else (0, 0, 0, 0)
    )
    record(0)
    for step in range(1, total_steps + 1):
        if not epoch_batches or position == len(epoch_batches[0]):
            # One row of batches per generator; every row is cut the same way
            # because the configurations share the batch size.
            epoch_batches = [
                batch_indices(
                    data.num_train,
                    batch_size,
                    generator=g,
                    replacement=replacement,
                    device=device,
                )
                for g in generators
            ]
            if not shared_order:
                epoch_batches = [
                    torch.stack(row) for row in zip(*epoch_batches, strict=True)
                ]
                epoch_batches = [epoch_batches]
            position = 0
        index = epoch_batches[0][position]
        position += 1
        x, y = data.x_train[index], data.y_train[index]

        losses = batched_loss(params, buffers, x, y)
        for p in params.values():
            p.grad = None
        losses.sum().backward()

        with torch.no_grad():
            finite = torch.isfinite(losses.detach())
            newly = active & ~finite
            diverged_at[newly] = step
            active &= finite
            losses_per_step[step - 1] = torch.where(active | newly, losses, math.nan)
            # Masking costs a copy of every parameter, so it is skipped while
            # no configuration has diverged. A diverged configuration keeps
            # its last weights.
            masked = not bool(active.all())
            for key, p in params.items():
                before = p.detach().clone() if masked else None
                optimizer_class.update(p, p.grad, states[key], **settings)
                if masked:
                    mask = active.reshape((count,) + (1,) * (p.ndim - 1))
                    p.copy_(torch.where(mask, p, before))

        epoch_ended = position == len(epoch_batches[0])
        due = step % eval_every == 0 if eval_every is not None else epoch_ended
        if due or step == total_steps:
            record(step)

    _synchronize(device)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        for c, model in enumerate(models if len(models) == count else []):
            for key, p in model.named_parameters():
                p.copy_(params[key][c])

    columns = [torch.stack(values) for values in zip(*evaluations)]
    return BatchedHistory(
        loss=losses_per_step.cpu(),
        eval_step=eval_steps,
        eval_epoch=eval_epochs,
        train_loss=columns[0].cpu(),
        train_accuracy=columns[1].cpu(),
        val_loss=columns[2].cpu(),
        val_accuracy=columns[3].cpu(),
        diverged_at=diverged_at.cpu(),
        seconds=seconds,
    )


__all__ = [
    "BatchedHistory",
    "History",
    "StepMemory",
    "Trainer",
    "accuracy",
    "compute_gradients",
    "count_correct",
    "evaluate",
    "flat_gradient",
    "per_example_gradients",
    "step_memory",
    "train",
    "train_batched",
]
