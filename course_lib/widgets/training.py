"""A live training dashboard: train a model on a real data set and watch it learn.

The learner picks the optimizer, the learning rate and the batch size, then
plays, pauses, steps or resets training while the loss and accuracy curves
grow. Play is an ``ipywidgets.Play`` whose value ticks in the browser, and
each tick takes a few optimizer steps, so no thread runs in the background.
A headless test drives it by changing ``play.value`` or by clicking the
buttons (``button.click()``).
"""

from __future__ import annotations

import logging
import math
import statistics
import traceback
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torch import nn

from course_lib.data import Dataset, load_digits
from course_lib.optim import OPTIMIZERS
from course_lib.training import LossFunction, Trainer
from course_lib.widgets.base import Dashboard

logger = logging.getLogger(__name__)

# At most this many points of a curve are drawn; longer histories are
# thinned to every k-th point, which keeps a redraw's cost bounded.
MAX_DRAWN_POINTS = 2000

# The loss axis spans powers of ten from 10**-6 to 10**6 at most.
LOSS_EXPONENT_RANGE = 6

# matplotlib leaves labels that start with an underscore out of the legend.
NO_PREVIOUS_LABEL = "_no previous run"


def default_model(data: Dataset, hidden: int = 32) -> nn.Module:
    """Build a one-hidden-layer ReLU network sized for ``data``."""
    return nn.Sequential(
        nn.Linear(data.num_features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, data.num_outputs),
    )


def batch_size_options(num_train: int) -> list[tuple[str, int]]:
    """List the powers of two below ``num_train``, then the full batch."""
    options = []
    size = 1
    while size < num_train:
        options.append((str(size), size))
        size *= 2
    options.append((f"full ({num_train})", num_train))
    return options


def _finite(values: list[float], scale: float = 1.0) -> np.ndarray:
    """Convert to an array with inf replaced by NaN, which matplotlib leaves out."""
    array = np.asarray(values, dtype=float) * scale
    return np.where(np.isfinite(array), array, np.nan)


def _thinned(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Return (steps, values) with at most ``MAX_DRAWN_POINTS`` points."""
    stride = max(1, math.ceil(len(values) / MAX_DRAWN_POINTS))
    y = _finite(values[::stride])
    x = np.arange(1, len(values) + 1, dtype=float)[::stride]
    return x, y


class TrainingDashboard(Dashboard):
    """Train a model live, with Play, Pause, Step and Reset.

    Controls (``controls``): ``optimizer`` (a class name of ``optimizers``),
    ``lr`` (the learning rate, on a log scale) and ``batch_size`` (examples
    per step, up to the full training split). Changing any of them restarts
    training from the same initial weights with the new setting, so each
    curve belongs to one setting, and the last run stays drawn in grey for
    comparison.

    Transport: ``play`` is an ``ipywidgets.Play`` with play and pause buttons,
    and each of its ticks takes ``steps_per_tick`` steps. ``step_button``
    takes one optimizer step, and ``reset_button`` goes back to step 0 and
    clears the grey curves. Both splits are evaluated every
    ``steps_per_tick`` steps.

    The left panel shows the loss of each step's batch and the loss on the
    whole training and validation splits, the right panel the accuracy on
    both (classification only). ``status`` shows the step, the epoch, the
    loss and the samples per second; a run whose loss becomes inf or NaN
    stops with "diverged at step k".

    Args:
        data: the data set; the handwritten digits on ``get_device()`` when
            None.
        model_fn: builds the model from the data set; a one-hidden-layer
            ReLU network when None. It is called once, with torch's global
            generator seeded by ``seed`` inside ``torch.random.fork_rng``, so
            the caller's random state is untouched and every restart begins
            from the same weights.
        loss_fn: the mean loss of a batch; cross-entropy for classification
            and mean squared error for regression when None.
        optimizers: the classes offered, by name; ``course_lib.optim``'s
            when None. Each is built as ``cls(params, lr=lr)``, so subclasses
            may override :meth:`make_optimizer` for other arguments.
        optimizer, lr, batch_size: the initial setting.
        steps_per_tick: optimizer steps per tick of Play.
        interval: milliseconds between ticks of Play.
        max_steps: Play pauses at this many steps.
        seed: seed of the initial weights and of the batch order.
    """

    def __init__(
        self,
        data: Dataset | None = None,
        *,
        model_fn: Callable[[Dataset], nn.Module] | None = None,
        loss_fn: LossFunction | None = None,
        optimizers: Mapping[str, type[torch.optim.Optimizer]] | None = None,
        optimizer: str = "SGD",
        lr: float = 0.1,
        batch_size: int = 32,
        steps_per_tick: int = 10,
        interval: int = 150,
        max_steps: int = 20_000,
        seed: int = 0,
    ) -> None:
        super().__init__(figsize=(8.0, 3.4))
        self.data = load_digits() if data is None else data
        self.optimizers = dict(OPTIMIZERS if optimizers is None else optimizers)
        if optimizer not in self.optimizers:
            raise ValueError(
                f"unknown optimizer {optimizer!r}; choose one of "
                f"{', '.join(self.optimizers)}"
            )
        sizes = batch_size_options(self.data.num_train)
        if batch_size not in [size for _, size in sizes]:
            raise ValueError(
                f"batch_size={batch_size} is not offered; choose one of "
                f"{', '.join(str(size) for _, size in sizes)}"
            )
        if not (isinstance(lr, (int, float)) and 1e-4 <= lr <= 10):
            raise ValueError(f"lr must be a number from 1e-4 to 10, got {lr!r}")
        if not (isinstance(steps_per_tick, int) and 1 <= steps_per_tick <= 200):
            raise ValueError(
                f"steps_per_tick must be an integer from 1 to 200, got "
                f"{steps_per_tick!r}"
            )
        for name, value in (("interval", interval), ("max_steps", max_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        classification = self.data.task == "classification"
        if loss_fn is None:
            loss_fn = F.cross_entropy if classification else F.mse_loss
        self.loss_fn = loss_fn
        self.classification = classification
        self.seed = seed
        self.max_steps = max_steps
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model = (model_fn or default_model)(self.data).to(self.data.device)
        self._initial_weights = {
            key: value.clone() for key, value in self.model.state_dict().items()
        }
        self.trainer: Trainer | None = None
        self._setting = ""

        self.controls = {
            "optimizer": widgets.Dropdown(
                options=list(self.optimizers), value=optimizer, description="optimizer"
            ),
            "lr": widgets.FloatLogSlider(
                value=lr,
                base=10,
                min=-4,
                max=1,
                step=0.1,
                description="lr",
                continuous_update=False,
            ),
            "batch_size": widgets.SelectionSlider(
                options=sizes,
                value=batch_size,
                description="batch size",
                continuous_update=False,
            ),
        }
        self.play = widgets.Play(
            value=0, min=0, max=10**9, step=1, interval=interval, show_repeat=False
        )
        self.step_button = widgets.Button(description="Step", tooltip="one step")
        self.reset_button = widgets.Button(description="Reset", tooltip="step 0")
        self.steps_per_tick = widgets.IntSlider(
            value=steps_per_tick, min=1, max=200, description="steps/tick"
        )
        self.play.observe(self._on_tick, names="value")
        self.steps_per_tick.observe(self._on_steps_per_tick, names="value")
        self.step_button.on_click(lambda _: self._guarded(self.step, "step"))
        self.reset_button.on_click(lambda _: self._guarded(self.reset, "reset"))

        self._draw_axes()
        self._connect()

    # -- figure ----------------------------------------------------------------

    def _draw_axes(self) -> None:
        if self.classification:
            self.loss_ax, self.accuracy_ax = self.figure.subplots(1, 2)
        else:
            self.loss_ax, self.accuracy_ax = self.figure.subplots(1, 1), None
        self._draw_loss_axes(self.loss_ax)
        if self.accuracy_ax is not None:
            self._draw_accuracy_axes(self.accuracy_ax)
        self.figure.tight_layout()
        self._limits: tuple[float, float, float] | None = None

    def _draw_loss_axes(self, ax: Axes) -> None:
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(f"loss ({getattr(self.loss_fn, '__name__', 'loss')})")
        ax.set_title(f"Loss on {self.data.name}")
        (self.previous_val_line,) = ax.plot(
            [], [], color="0.7", lw=1.5, label=NO_PREVIOUS_LABEL
        )
        (self.batch_loss_line,) = ax.plot(
            [], [], color="tab:blue", lw=0.6, alpha=0.35, label="batch"
        )
        (self.train_loss_line,) = ax.plot(
            [], [], color="tab:blue", lw=1.8, label="train"
        )
        (self.val_loss_line,) = ax.plot(
            [], [], color="tab:orange", lw=1.8, label="validation"
        )
        ax.legend(loc="upper right", fontsize=7)
        self.animated = [
            self.previous_val_line,
            self.batch_loss_line,
            self.train_loss_line,
            self.val_loss_line,
        ]

    def _draw_accuracy_axes(self, ax: Axes) -> None:
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title("Accuracy")
        (self.previous_accuracy_line,) = ax.plot([], [], color="0.7", lw=1.5)
        (self.train_accuracy_line,) = ax.plot(
            [], [], color="tab:blue", lw=1.8, label="train"
        )
        (self.val_accuracy_line,) = ax.plot(
            [], [], color="tab:orange", lw=1.8, label="validation"
        )
        ax.legend(loc="lower right", fontsize=7)
        self.animated += [
            self.previous_accuracy_line,
            self.train_accuracy_line,
            self.val_accuracy_line,
        ]

    def _set_limits(self) -> None:
        """Fit the axes to the curves in coarse steps.

        The step axis doubles from 100 and the loss axis snaps to powers of
        ten, so the cached background stays valid for most redraws.
        """
        history = self.trainer.history
        losses = [
            value
            for values in (history.loss, history.train_loss, history.val_loss)
            for value in values
            if math.isfinite(value) and value > 0
        ]
        previous_steps = self.previous_val_line.get_xdata()
        previous_losses = np.asarray(self.previous_val_line.get_ydata(), dtype=float)
        losses += [v for v in previous_losses.tolist() if math.isfinite(v) and v > 0]
        # Exponents are clipped, so a diverging run's huge losses leave the top
        # of the axis instead of squashing the curve before them.
        low_exponent = math.floor(math.log10(min(losses))) if losses else -2
        high_exponent = math.ceil(math.log10(max(losses))) if losses else 1
        low_exponent = min(max(low_exponent, -LOSS_EXPONENT_RANGE), 0)
        high_exponent = max(min(high_exponent, LOSS_EXPONENT_RANGE), low_exponent + 1)
        low, high = 10.0**low_exponent, 10.0**high_exponent
        steps = max([history.steps, *np.asarray(previous_steps, dtype=float)])
        width = 100.0
        while width < steps:
            width *= 2
        limits = (width, low, high)
        if limits != self._limits:
            self._limits = limits
            self.loss_ax.set_xlim(0, width)
            self.loss_ax.set_ylim(low, high)
            if self.accuracy_ax is not None:
                self.accuracy_ax.set_xlim(0, width)
            self.invalidate_background()

    def _draw_curves(self) -> None:
        history = self.trainer.history
        # A diverged run is drawn up to its last finite loss.
        finite_steps = history.steps - (1 if self.trainer.diverged else 0)
        self.batch_loss_line.set_data(*_thinned(history.loss[:finite_steps]))
        self.train_loss_line.set_data(history.eval_step, _finite(history.train_loss))
        self.val_loss_line.set_data(history.eval_step, _finite(history.val_loss))
        if self.accuracy_ax is not None:
            self.train_accuracy_line.set_data(
                history.eval_step, _finite(history.train_accuracy, 100)
            )
            self.val_accuracy_line.set_data(
                history.eval_step, _finite(history.val_accuracy, 100)
            )
        self._set_limits()

    def _keep_as_previous(self) -> None:
        history = self.trainer.history
        self.previous_val_line.set_data(history.eval_step, _finite(history.val_loss))
        self.previous_val_line.set_label(f"previous: {self._setting}")
        if self.accuracy_ax is not None:
            self.previous_accuracy_line.set_data(
                history.eval_step, _finite(history.val_accuracy, 100)
            )
        self.loss_ax.legend(loc="upper right", fontsize=7)
        self.invalidate_background()

    def _clear_previous(self) -> None:
        self.previous_val_line.set_data([], [])
        self.previous_val_line.set_label(NO_PREVIOUS_LABEL)
        if self.accuracy_ax is not None:
            self.previous_accuracy_line.set_data([], [])
        self.loss_ax.legend(loc="upper right", fontsize=7)
        self.invalidate_background()

    # -- status -------------------------------------------------------------------

    def _update_status(self) -> None:
        trainer = self.trainer
        history = trainer.history
        if trainer.diverged:
            self.status.value = (
                f"diverged at step {history.diverged_at} (loss "
                f"{history.loss[-1]}); lower the learning rate or press Reset"
            )
            return
        if history.steps == 0:
            self.status.value = (
                f"step 0 · loss {history.train_loss[0]:.4f} · {self._setting} · "
                f"press Play or Step"
            )
            return
        recent = history.samples_per_second[-self.steps_per_tick.value :]
        parts = [
            f"step {history.steps}",
            f"epoch {trainer.epoch:.2f}",
            f"loss {history.train_loss[-1]:.4f}",
        ]
        if self.classification:
            parts.append(f"val accuracy {100 * history.val_accuracy[-1]:.1f}%")
        parts.append(f"{statistics.median(recent):,.0f} samples/s")
        if history.steps >= self.max_steps:
            parts.append(f"stopped at max_steps={self.max_steps}")
        self.status.value = " · ".join(parts)

    # -- training -------------------------------------------------------------------

    def make_optimizer(
        self, name: str, params: Any, lr: float
    ) -> torch.optim.Optimizer:
        """Build the optimizer chosen in the dropdown; override for more options."""
        return self.optimizers[name](params, lr=lr)

    def _restart(self) -> None:
        """Load the initial weights and build a fresh optimizer and trainer."""
        self.model.load_state_dict(self._initial_weights)
        name = self.controls["optimizer"].value
        lr = float(self.controls["lr"].value)
        batch_size = int(self.controls["batch_size"].value)
        optimizer = self.make_optimizer(name, self.model.parameters(), lr)
        self.trainer = Trainer(
            self.model,
            self.loss_fn,
            optimizer,
            self.data,
            batch_size=batch_size,
            seed=self.seed,
            eval_every=self.steps_per_tick.value,
        )
        self._setting = f"{name}, lr {lr:.3g}, batch {batch_size}"

    def update(self) -> None:
        """Restart training with the current setting and redraw."""
        if self.trainer is not None and self.trainer.history.steps > 0:
            self._keep_as_previous()
        self.play.playing = False
        self._restart()
        self._refresh()

    def reset(self) -> None:
        """Go back to step 0 with the current setting and clear the grey curves."""
        self.play.playing = False
        self._clear_previous()
        self._restart()
        self._refresh()

    def _refresh(self) -> None:
        self._draw_curves()
        self._update_status()
        self.redraw()

    def train_steps(self, count: int) -> None:
        """Take up to ``count`` optimizer steps, then evaluate and redraw.

        Stops early when the loss diverges or ``max_steps`` is reached, and
        then pauses Play.
        """
        trainer = self.trainer
        for _ in range(count):
            if trainer.diverged or trainer.history.steps >= self.max_steps:
                break
            trainer.step()
        if trainer.diverged or trainer.history.steps >= self.max_steps:
            self.play.playing = False
        if not trainer.diverged and trainer.history.eval_step[-1] != trainer.step_count:
            trainer.evaluate()
        self._refresh()

    def step(self) -> None:
        """Take one optimizer step (the Step button)."""
        self.train_steps(1)

    def tick(self) -> None:
        """Take ``steps_per_tick`` steps (one tick of Play)."""
        self.train_steps(self.steps_per_tick.value)

    def _on_steps_per_tick(self, change: dict[str, Any]) -> None:
        if self.trainer is not None:
            self.trainer.eval_every = change["new"]

    def _on_tick(self, change: dict[str, Any]) -> None:
        # Play's stop button sets the value back to its minimum: no step then.
        if change["new"] > change["old"]:
            self._guarded(self.tick, "play")

    def _guarded(self, action: Callable[[], None], name: str) -> None:
        """Run a button or Play action, showing an exception as the base class does."""
        try:
            action()
        except Exception as error:  # shown to the learner, then logged
            self.last_error = error
            self.play.playing = False
            self.status.value = f"error: {type(error).__name__}: {error}"
            with self.errors:
                print(traceback.format_exc())
            logger.exception("dashboard %s failed", name)
        else:
            self.last_error = None

    # -- display --------------------------------------------------------------------

    def control_box(self) -> widgets.Widget:
        """Lay out the transport row above the settings."""
        transport = widgets.HBox(
            [self.play, self.step_button, self.reset_button, self.steps_per_tick]
        )
        return widgets.VBox([transport, widgets.HBox(list(self.controls.values()))])

    def close(self) -> None:
        """Close the figure and every widget, the transport row included."""
        self.play.playing = False
        super().close()
        for widget in (self.play, self.step_button, self.reset_button):
            widget.close()
        self.steps_per_tick.close()
