"""The capstone dashboard: every training choice of the course in one place.

:class:`CapstoneDashboard` extends the live training dashboard of chapter 04
(:class:`~course_lib.widgets.training.TrainingDashboard`). It adds a
learning-rate schedule, a budget in epochs and a Run button that trains to
the end of the budget. A Range test button sets the lr slider to the
steepest-descent reading of the learning-rate range test, and a table gets
one row per finished run.

The pure functions under it are what the capstone notebook uses for its
scripted runs, so a run in the notebook and the same setting in the
dashboard take the same steps on the same data:

- :func:`build_optimizer` and :data:`OPTIMIZER_CHOICES`: the optimizers
  offered, SGD with and without momentum among them;
- :func:`build_schedule` and :data:`CAPSTONE_SCHEDULES`: the schedules
  offered, each spanning a run's whole budget;
- :func:`initial_model`, :func:`train_run` and :func:`run_range_test`: one
  seeded run, and the range test from the same initial weights;
- :class:`RunRecord` and :func:`runs_table_html`: the comparison table.
"""

from __future__ import annotations

import copy
import html
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.axes import Axes
from torch import nn

from course_lib import schedules
from course_lib.data import Dataset, batch_indices, num_batches
from course_lib.optim import OPTIMIZERS
from course_lib.range_test import RangeTestResult, lr_range_test
from course_lib.training import History, LossFunction, Trainer, train
from course_lib.widgets.schedule import make_schedule
from course_lib.widgets.training import TrainingDashboard, default_model

# Each choice is a course_lib.optim class and the constructor arguments it
# gets besides the learning rate; everything else keeps torch's defaults.
OPTIMIZER_CHOICES: dict[str, tuple[type[torch.optim.Optimizer], dict[str, Any]]] = {
    "SGD": (OPTIMIZERS["SGD"], {}),
    "SGD, momentum 0.9": (OPTIMIZERS["SGD"], {"momentum": 0.9}),
    "SGD, Nesterov 0.9": (OPTIMIZERS["SGD"], {"momentum": 0.9, "nesterov": True}),
    **{name: (cls, {}) for name, cls in OPTIMIZERS.items() if name != "SGD"},
}

# The schedules offered, by key of course_lib.widgets.schedule.make_schedule,
# with the label the dropdown and the table show.
CAPSTONE_SCHEDULES: dict[str, str] = {
    "constant": "constant",
    "step": "step (÷10 at 1/3, 2/3)",
    "cosine": "cosine",
    "warmup_cosine": "warmup + cosine",
    "one_cycle": "one-cycle",
}

# The warmup of "warmup_cosine" takes this fraction of the run's steps.
WARMUP_FRACTION = 0.1

# The epochs slider's range. Two epochs give every batch size at least two
# steps, which the warmup-then-cosine schedule needs.
MIN_EPOCHS = 2
MAX_EPOCHS = 30

# The Run button refreshes the figure about this many times per run, so a
# long run at a small batch size spends its time training, not drawing.
RUN_REFRESHES = 50

# The range test sweeps the lr slider's range, 1e-4 to 10.
RANGE_TEST_START_LR = 1e-4
RANGE_TEST_END_LR = 10.0


# -- the choices ---------------------------------------------------------------


def build_optimizer(name: str, params: Any, lr: float) -> torch.optim.Optimizer:
    """Build the optimizer that :data:`OPTIMIZER_CHOICES` names, with ``lr``.

    Raises:
        ValueError: ``name`` is not in :data:`OPTIMIZER_CHOICES`.
    """
    if name not in OPTIMIZER_CHOICES:
        raise ValueError(
            f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZER_CHOICES)}"
        )
    cls, kwargs = OPTIMIZER_CHOICES[name]
    return cls(params, lr=lr, **kwargs)


def build_schedule(kind: str, lr: float, total_steps: int) -> schedules.Schedule | None:
    """Build the schedule ``kind`` of :data:`CAPSTONE_SCHEDULES` for a whole run.

    ``lr`` is the base learning rate, and for ``"one_cycle"`` the peak. Over
    ``total_steps`` steps, ``"step"`` divides the rate by 10 after the first
    and the second third, ``"cosine"`` anneals it towards 0, and
    ``"warmup_cosine"`` rises linearly from ``lr / 3`` over the first tenth of
    the steps and then anneals. ``"one_cycle"`` rises from ``lr / 25`` over
    the first 30 % and falls to ``lr / 25 / 1e4``, torch's ``OneCycleLR``
    defaults. It cycles only the learning rate, although ``OneCycleLR``
    cycles the momentum too by default.

    Returns:
        The schedule, a function of the step counted from 0, or None for
        ``"constant"``.

    Raises:
        ValueError: an unknown ``kind``, or fewer than 2 steps for
            ``"warmup_cosine"``.
    """
    if kind not in CAPSTONE_SCHEDULES:
        raise ValueError(
            f"unknown schedule {kind!r}; choose one of {', '.join(CAPSTONE_SCHEDULES)}"
        )
    if kind == "warmup_cosine" and total_steps < 2:
        raise ValueError(
            f"warmup_cosine needs at least 2 steps, one of warmup and one of "
            f"cosine, but the run has {total_steps}; train for more epochs"
        )
    return make_schedule(
        kind,
        lr,
        total_steps,
        step_size=math.ceil(total_steps / 3),
        gamma=0.1,
        warmup_steps=max(1, round(WARMUP_FRACTION * total_steps)),
    )


def planned_learning_rates(
    schedule: schedules.Schedule | None, lr: float, total_steps: int
) -> np.ndarray:
    """Return the learning rate of each of ``total_steps`` steps, as float64."""
    if schedule is None:
        return np.full(total_steps, float(lr))
    return schedule.values(total_steps).numpy()


def model_for_data(data: Dataset) -> nn.Module:
    """Build the one-hidden-layer ReLU network of chapter 04 in the data's dtype."""
    return default_model(data).to(dtype=data.x_train.dtype)


def initial_model(
    data: Dataset,
    model_fn: Callable[[Dataset], nn.Module] | None = None,
    seed: int = 0,
) -> nn.Module:
    """Build the model a run with ``seed`` starts from, on the data's device.

    As in :class:`~course_lib.widgets.training.TrainingDashboard`, the model
    is built with torch's global generator seeded by ``seed`` inside
    ``torch.random.fork_rng``, so the caller's random state is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return (model_fn or model_for_data)(data).to(data.device)


def default_loss(data: Dataset) -> LossFunction:
    """Return cross-entropy for classification and mean squared error otherwise."""
    return F.cross_entropy if data.task == "classification" else F.mse_loss


# -- finished runs -------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """One finished run: its setting and its final numbers, one table row.

    ``lr`` is the base learning rate, the peak for one-cycle. ``train_loss``,
    ``val_loss`` and ``val_accuracy`` (a fraction, NaN for regression) come
    from the evaluation at the end of the run, and all three are NaN for a
    run that diverged at step ``diverged_at``. ``seconds`` is the wall time
    of the optimizer steps, evaluations excluded. ``history`` is the whole
    record of the run.
    """

    optimizer: str
    lr: float
    schedule: str
    batch_size: int
    epochs: int
    steps: int
    train_loss: float
    val_loss: float
    val_accuracy: float
    seconds: float
    diverged_at: int | None = None
    history: History | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_history(
        cls,
        history: History,
        *,
        optimizer: str,
        lr: float,
        schedule: str,
        batch_size: int,
        epochs: int,
    ) -> RunRecord:
        """Summarize a run's history as a table row."""
        diverged = history.diverged_at is not None
        return cls(
            optimizer=optimizer,
            lr=float(lr),
            schedule=schedule,
            batch_size=batch_size,
            epochs=epochs,
            steps=history.steps,
            train_loss=math.nan if diverged else history.train_loss[-1],
            val_loss=math.nan if diverged else history.val_loss[-1],
            val_accuracy=math.nan if diverged else history.val_accuracy[-1],
            seconds=history.time[-1] if history.time else 0.0,
            diverged_at=history.diverged_at,
            history=history,
        )


TABLE_COLUMNS = (
    "#",
    "optimizer",
    "lr",
    "schedule",
    "batch size",
    "epochs",
    "final train loss",
    "val loss",
    "val accuracy",
    "wall time (s)",
)


def table_row(index: int, record: RunRecord) -> tuple[str, ...]:
    """Format a record as the cells of its table row, numbered from 1."""
    if record.diverged_at is not None:
        outcome = (f"diverged at step {record.diverged_at}", "–", "–")
    else:
        accuracy = record.val_accuracy
        outcome = (
            f"{record.train_loss:.4f}",
            f"{record.val_loss:.4f}",
            f"{100 * accuracy:.1f} %" if math.isfinite(accuracy) else "–",
        )
    return (
        str(index),
        record.optimizer,
        f"{record.lr:.3g}",
        CAPSTONE_SCHEDULES.get(record.schedule, record.schedule),
        str(record.batch_size),
        str(record.epochs),
        *outcome,
        f"{record.seconds:.2f}",
    )


def best_run(records: Sequence[RunRecord]) -> int | None:
    """Return the index of the best finished run, or None when none finished.

    The best run has the highest validation accuracy, or for regression the
    lowest validation loss. Diverged runs never count.
    """
    finished = [i for i, r in enumerate(records) if r.diverged_at is None]
    if not finished:
        return None
    if all(math.isfinite(records[i].val_accuracy) for i in finished):
        return max(finished, key=lambda i: records[i].val_accuracy)
    return min(finished, key=lambda i: records[i].val_loss)


def runs_table_html(records: Sequence[RunRecord]) -> str:
    """Render the records as an HTML table, the best run in bold."""
    if not records:
        return (
            "<p>Finished runs appear here: press Run, or Play to the end of "
            "the budget.</p>"
        )
    best = best_run(records)
    header = "".join(f"<th>{html.escape(name)}</th>" for name in TABLE_COLUMNS)
    rows = []
    for index, record in enumerate(records):
        cells = "".join(
            f"<td>{html.escape(cell)}</td>" for cell in table_row(index + 1, record)
        )
        style = ' style="font-weight: bold"' if index == best else ""
        rows.append(f"<tr{style}>{cells}</tr>")
    return (
        '<table class="course-runs">'
        f"<thead><tr>{header}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# -- scripted runs -------------------------------------------------------------


def train_run(
    data: Dataset,
    *,
    optimizer: str,
    lr: float,
    schedule: str = "constant",
    batch_size: int,
    epochs: int,
    seed: int = 0,
    model_fn: Callable[[Dataset], nn.Module] | None = None,
    loss_fn: LossFunction | None = None,
    progress: bool = False,
) -> RunRecord:
    """Train a fresh model with one setting and return its record.

    The run is the one :class:`CapstoneDashboard` takes for the same
    setting and seed: the weights of :func:`initial_model`, the optimizer of
    :func:`build_optimizer`, the schedule of :func:`build_schedule` over
    ``epochs`` epochs, and the batch order of ``seed``. ``progress`` shows a
    tqdm progress bar.
    """
    model = initial_model(data, model_fn, seed)
    built = build_optimizer(optimizer, model.parameters(), lr)
    total_steps = epochs * num_batches(data.num_train, batch_size)
    history = train(
        model,
        loss_fn or default_loss(data),
        built,
        data,
        batch_size=batch_size,
        epochs=epochs,
        schedule=build_schedule(schedule, lr, total_steps),
        progress=progress,
        seed=seed,
    )
    return RunRecord.from_history(
        history,
        optimizer=optimizer,
        lr=lr,
        schedule=schedule,
        batch_size=batch_size,
        epochs=epochs,
    )


def range_test_batches(
    data: Dataset, batch_size: int, num_steps: int, seed: int = 0
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Draw ``num_steps`` training batches from consecutive seeded epochs."""
    generator = torch.Generator().manual_seed(seed)
    indices: list[torch.Tensor] = []
    while len(indices) < num_steps:
        indices += batch_indices(
            data.num_train, batch_size, generator=generator, device=data.device
        )
    return [(data.x_train[i], data.y_train[i]) for i in indices[:num_steps]]


def run_range_test(
    data: Dataset,
    *,
    optimizer: str,
    batch_size: int,
    seed: int = 0,
    model: nn.Module | None = None,
    model_fn: Callable[[Dataset], nn.Module] | None = None,
    loss_fn: LossFunction | None = None,
    num_steps: int = 100,
    start_lr: float = RANGE_TEST_START_LR,
    end_lr: float = RANGE_TEST_END_LR,
) -> RangeTestResult:
    """Run the learning-rate range test for one optimizer and batch size.

    The test trains ``model`` (by default the :func:`initial_model` of
    ``seed``) with a fresh optimizer of :func:`build_optimizer`, on
    ``num_steps`` batches of ``seed``'s order, while the learning rate grows
    from ``start_lr`` to ``end_lr``. :func:`~course_lib.range_test.lr_range_test`
    restores the model and the random number generators afterwards.
    """
    if model is None:
        model = initial_model(data, model_fn, seed)
    built = build_optimizer(optimizer, model.parameters(), start_lr)
    return lr_range_test(
        model,
        loss_fn or default_loss(data),
        built,
        range_test_batches(data, batch_size, num_steps, seed),
        start_lr=start_lr,
        end_lr=end_lr,
        num_steps=num_steps,
    )


def _log_limits(values: np.ndarray) -> tuple[float, float]:
    """Return powers of ten around the positive finite ``values``, at most 1e8 apart."""
    positive = values[np.isfinite(values) & (values > 0)]
    if positive.size == 0:
        return 1e-4, 10.0
    high = math.ceil(math.log10(positive.max()) + 1e-9)
    low = math.floor(math.log10(positive.min()) - 1e-9)
    low = min(max(low, high - 8), high - 1)
    return 10.0**low, 10.0**high


# -- the dashboard -------------------------------------------------------------


class CapstoneDashboard(TrainingDashboard):
    """Train a real model, choosing optimizer, learning rate, schedule and batch size.

    Controls (``controls``): ``optimizer`` (a key of
    :data:`OPTIMIZER_CHOICES`), ``lr`` (the base learning rate, the peak for
    one-cycle), ``schedule`` (a key of :data:`CAPSTONE_SCHEDULES`),
    ``batch_size`` and ``epochs`` (the budget, which the schedules span).
    Changing any of them restarts training from the same initial weights,
    with the last run drawn in grey, as in the training dashboard.

    Buttons: Play, Step and Reset work as in the training dashboard.
    ``run_button`` trains to the end of the budget and refreshes the figure
    along the way. ``range_button`` runs the learning-rate range test
    (:func:`run_range_test`) for the chosen optimizer and batch size on the
    initial weights. It then sets the lr slider to the test's
    steepest-descent reading, which restarts training. ``clear_button``
    empties the table.

    A run that reaches the end of its budget or diverges becomes a
    :class:`RunRecord` in ``runs`` and a row of ``table``, an HTML widget
    below the figure, with the best run in bold (see :func:`best_run`).
    ``progress`` is a progress bar of the run's steps. The figure has the
    training dashboard's loss and accuracy panels, with their step axes
    spanning the budget, and a third panel with the planned and the used
    learning rate of every step and the range test's suggestion.

    Args:
        data, model_fn, loss_fn, steps_per_tick, interval, seed: as for
            :class:`~course_lib.widgets.training.TrainingDashboard`, except
            that the default model is :func:`model_for_data`, which follows
            the data's dtype.
        optimizer, lr, schedule, batch_size, epochs: the initial setting.
        range_test_steps: the number of steps of the range test.
    """

    def __init__(
        self,
        data: Dataset | None = None,
        *,
        model_fn: Callable[[Dataset], nn.Module] | None = None,
        loss_fn: LossFunction | None = None,
        optimizer: str = "SGD, momentum 0.9",
        lr: float = 0.1,
        schedule: str = "constant",
        batch_size: int = 64,
        epochs: int = 8,
        steps_per_tick: int = 10,
        interval: int = 150,
        seed: int = 0,
        range_test_steps: int = 100,
    ) -> None:
        if schedule not in CAPSTONE_SCHEDULES:
            raise ValueError(
                f"unknown schedule {schedule!r}; choose one of "
                f"{', '.join(CAPSTONE_SCHEDULES)}"
            )
        if (
            isinstance(epochs, bool)
            or not isinstance(epochs, int)
            or not MIN_EPOCHS <= epochs <= MAX_EPOCHS
        ):
            raise ValueError(
                f"epochs must be an integer from {MIN_EPOCHS} to {MAX_EPOCHS}, "
                f"got {epochs!r}"
            )
        if (
            isinstance(range_test_steps, bool)
            or not isinstance(range_test_steps, int)
            or range_test_steps < 2
        ):
            raise ValueError(
                f"range_test_steps must be an integer of at least 2, got "
                f"{range_test_steps!r}"
            )

        self.runs: list[RunRecord] = []
        self.range_result: RangeTestResult | None = None
        self.range_test_steps = range_test_steps
        self.total_steps = 0
        self._recorded = False
        self._frame: tuple[float, tuple[float, float]] | None = None
        self._table_view: widgets.Widget | None = None
        self._setting_lines: tuple[str, str] = ("", "")
        # TrainingDashboard.__init__ draws the axes (our _draw_axes) and calls
        # _connect, which waits until the controls below exist.
        super().__init__(
            data,
            model_fn=model_fn or model_for_data,
            loss_fn=loss_fn,
            optimizers={name: cls for name, (cls, _) in OPTIMIZER_CHOICES.items()},
            optimizer=optimizer,
            lr=lr,
            batch_size=batch_size,
            steps_per_tick=steps_per_tick,
            interval=interval,
            seed=seed,
        )

        self.controls["schedule"] = widgets.Dropdown(
            options=[(label, key) for key, label in CAPSTONE_SCHEDULES.items()],
            value=schedule,
            description="schedule",
        )
        self.controls["epochs"] = widgets.IntSlider(
            value=epochs,
            min=MIN_EPOCHS,
            max=MAX_EPOCHS,
            description="epochs",
            continuous_update=False,
        )
        self.run_button = widgets.Button(
            description="Run", tooltip="train to the end of the budget"
        )
        self.range_button = widgets.Button(
            description="Range test",
            tooltip="run the learning-rate range test and set lr to its suggestion",
        )
        self.clear_button = widgets.Button(
            description="Clear table", tooltip="remove every row of the table"
        )
        self.progress = widgets.IntProgress(
            value=0, min=0, max=1, style={"description_width": "initial"}
        )
        self.table = widgets.HTML(value=runs_table_html(self.runs))

        self.run_button.on_click(lambda _: self._guarded(self.run, "run"))
        self.range_button.on_click(
            lambda _: self._guarded(self.range_test, "range test")
        )
        self.clear_button.on_click(lambda _: self._guarded(self.clear_table, "clear"))
        self._connect()

    def _connect(self) -> None:
        if "schedule" not in self.controls:
            return
        super()._connect()

    # -- figure ----------------------------------------------------------------

    def _draw_axes(self) -> None:
        self.figure.set_size_inches(10.8, 3.4)
        axes = self.figure.subplots(1, 3 if self.classification else 2)
        self.loss_ax = axes[0]
        self.accuracy_ax = axes[1] if self.classification else None
        self.lr_ax = axes[-1]
        self._draw_loss_axes(self.loss_ax)
        if self.accuracy_ax is not None:
            self._draw_accuracy_axes(self.accuracy_ax)
        self._draw_lr_axes(self.lr_ax)
        # Fixed margins with room for the log axes' tick labels: tight_layout
        # would measure every tick label, which takes about a second.
        self.figure.subplots_adjust(
            left=0.065, right=0.99, bottom=0.15, top=0.91, wspace=0.33
        )
        self._limits = None

    def _draw_lr_axes(self, ax: Axes) -> None:
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")
        ax.set_title("Learning rate")
        (self.planned_lr_line,) = ax.plot(
            [], [], color="0.6", lw=1.2, ls="--", label="planned"
        )
        (self.lr_line,) = ax.plot([], [], color="tab:green", lw=1.8, label="used")
        self.suggestion_line = ax.axhline(
            1.0, color="tab:red", lw=1.2, ls=":", label="_range test"
        )
        self.suggestion_line.set_visible(False)
        ax.legend(loc="lower left", fontsize=7)
        self.animated += [self.planned_lr_line, self.lr_line]

    def _step_axes(self) -> list[Axes]:
        return [ax for ax in (self.loss_ax, self.accuracy_ax, self.lr_ax) if ax]

    def _set_limits(self) -> None:
        """Span the budget on every step axis, and the schedule on the lr axis.

        The training dashboard's own limits come first. When they change
        they invalidate the background, and the step axes are set again here.
        """
        super()._set_limits()
        previous_steps = np.asarray(self.previous_val_line.get_xdata(), dtype=float)
        width = max([float(self.total_steps), *previous_steps.tolist()])
        rates = np.asarray(self.planned_lr_line.get_ydata(), dtype=float)
        if self.suggestion_line.get_visible():
            rates = np.append(rates, self.suggestion_line.get_ydata()[0])
        frame = (width, _log_limits(rates))
        if self._background is None or frame != self._frame:
            self._frame = frame
            for ax in self._step_axes():
                ax.set_xlim(0, width)
            self.lr_ax.set_ylim(*frame[1])
            self.invalidate_background()

    def _keep_as_previous(self) -> None:
        super()._keep_as_previous()
        # The setting on two lines keeps the legend inside the loss panel.
        self.previous_val_line.set_label("previous: " + "\n".join(self._setting_lines))
        self.loss_ax.legend(loc="upper right", fontsize=7)

    def _draw_curves(self) -> None:
        history = self.trainer.history
        self.lr_line.set_data(np.arange(len(history.lr)), history.lr)
        super()._draw_curves()

    # -- training --------------------------------------------------------------

    def make_optimizer(
        self, name: str, params: Any, lr: float
    ) -> torch.optim.Optimizer:
        """Build the optimizer of :data:`OPTIMIZER_CHOICES` chosen in the dropdown."""
        return build_optimizer(name, params, lr)

    @property
    def finished(self) -> bool:
        """Whether the current run reached the end of its budget or diverged."""
        trainer = self.trainer
        return trainer.diverged or trainer.step_count >= self.total_steps

    def _restart(self) -> None:
        """Load the initial weights and build the optimizer, schedule and trainer."""
        self.model.load_state_dict(self._initial_weights)
        name = self.controls["optimizer"].value
        lr = float(self.controls["lr"].value)
        kind = self.controls["schedule"].value
        batch_size = int(self.controls["batch_size"].value)
        epochs = int(self.controls["epochs"].value)

        self.total_steps = epochs * num_batches(self.data.num_train, batch_size)
        self.max_steps = self.total_steps
        schedule = build_schedule(kind, lr, self.total_steps)
        self.trainer = Trainer(
            self.model,
            self.loss_fn,
            self.make_optimizer(name, self.model.parameters(), lr),
            self.data,
            batch_size=batch_size,
            schedule=schedule,
            seed=self.seed,
            eval_every=self.steps_per_tick.value,
        )
        self._recorded = False

        self.planned_lr_line.set_data(
            np.arange(self.total_steps),
            planned_learning_rates(schedule, lr, self.total_steps),
        )
        self._setting_lines = (
            f"{name}, lr {lr:.3g},",
            f"{CAPSTONE_SCHEDULES[kind]}, batch {batch_size}, {epochs} epochs",
        )
        self._setting = " ".join(self._setting_lines)
        self.progress.max = self.total_steps

    def _refresh(self) -> None:
        if self.finished and not self._recorded:
            self._recorded = True
            self.runs.append(
                RunRecord.from_history(
                    self.trainer.history,
                    optimizer=self.controls["optimizer"].value,
                    lr=float(self.controls["lr"].value),
                    schedule=self.controls["schedule"].value,
                    batch_size=self.trainer.batch_size,
                    epochs=int(self.controls["epochs"].value),
                )
            )
            self.table.value = runs_table_html(self.runs)
        self._update_progress()
        super()._refresh()

    def _update_progress(self) -> None:
        trainer = self.trainer
        self.progress.value = trainer.step_count
        epochs = self.controls["epochs"].value
        self.progress.description = f"epoch {trainer.epoch:.1f}/{epochs}"
        if trainer.diverged:
            self.progress.bar_style = "danger"
        elif self.finished:
            self.progress.bar_style = "success"
        else:
            self.progress.bar_style = "info"

    def _update_status(self) -> None:
        trainer = self.trainer
        history = trainer.history
        if trainer.diverged:
            super()._update_status()
        elif self.finished:
            record = self.runs[-1]
            parts = [
                f"finished {record.epochs} epochs ({record.steps} steps)",
                f"loss {record.train_loss:.4g}",
            ]
            if self.classification:
                parts.append(f"val accuracy {100 * record.val_accuracy:.1f}%")
            parts += [f"{record.seconds:.2f} s", f"row {len(self.runs)} of the table"]
            self.status.value = " · ".join(parts)
        elif history.steps == 0:
            self.status.value = (
                f"step 0 of {self.total_steps} · loss {history.train_loss[0]:.4f} · "
                f"{self._setting} · press Run, Play or Step"
            )
        else:
            super()._update_status()
            self.status.value += f" · lr {history.lr[-1]:.3g}"

    def run(self) -> None:
        """Train to the end of the budget (the Run button), refreshing as it goes.

        A finished or diverged run stays as it is; change a setting or press
        Reset for a new one.
        """
        self.play.playing = False
        chunk = max(
            self.steps_per_tick.value, math.ceil(self.total_steps / RUN_REFRESHES)
        )
        while not self.finished:
            self.train_steps(chunk)

    def range_test(self) -> None:
        """Run the range test and set the lr slider to its steepest-descent reading.

        The test runs on a copy of the model at its initial weights, the
        weights every run starts from, with the chosen optimizer and batch
        size. A reading outside the slider's range is clipped to it.
        ``status`` shows both readings, so the learner can set the more
        cautious minimum / 10 by hand. When the test gives no steepest-descent
        reading, ``status`` gives the reason and lr stays.
        """
        self.play.playing = False
        name = self.controls["optimizer"].value
        batch_size = int(self.controls["batch_size"].value)
        model = copy.deepcopy(self.model)
        model.load_state_dict(self._initial_weights)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_range_test(
                self.data,
                optimizer=name,
                batch_size=batch_size,
                seed=self.seed,
                model=model,
                loss_fn=self.loss_fn,
                num_steps=self.range_test_steps,
            )
        self.range_result = result
        heading = f"range test ({name}, batch {batch_size}, {len(result.lrs)} steps)"
        suggestion = result.suggested_lr
        if not math.isfinite(suggestion):
            reason = str(caught[-1].message) if caught else "no finite loss"
            self.status.value = (
                f"{heading}: no suggestion, lr unchanged. {reason[:1].upper()}"
                f"{reason[1:]}"
            )
            return

        slider = self.controls["lr"]
        lr = min(max(suggestion, 10.0**slider.min), 10.0**slider.max)
        self.suggestion_line.set_ydata([lr, lr])
        self.suggestion_line.set_visible(True)
        self.suggestion_line.set_label(f"range test: {lr:.2g}")
        self.lr_ax.legend(loc="lower left", fontsize=7)
        self.invalidate_background()
        if lr != slider.value:
            # Setting the slider restarts training through the control callback.
            slider.value = lr
            if self.last_error is not None:
                raise self.last_error
        else:
            self._refresh()
        clipped = "" if lr == suggestion else " (clipped to the slider's range)"
        self.status.value = (
            f"{heading}: steepest descent at lr {suggestion:.3g}, minimum / 10 "
            f"{result.min_loss_lr_over_10:.3g}. lr set to {lr:.3g}{clipped}, "
            f"press Run"
        )

    def clear_table(self) -> None:
        """Remove every finished run from ``runs`` and the table."""
        self.runs.clear()
        self.table.value = runs_table_html(self.runs)

    # -- display ---------------------------------------------------------------

    def control_box(self) -> widgets.Widget:
        """Lay out the transport row, two rows of settings and the progress bar."""
        controls = self.controls
        transport = widgets.HBox(
            [
                self.play,
                self.step_button,
                self.run_button,
                self.reset_button,
                self.steps_per_tick,
            ]
        )
        choices = widgets.HBox(
            [controls["optimizer"], controls["lr"], controls["schedule"]]
        )
        budget = widgets.HBox(
            [controls["batch_size"], controls["epochs"], self.range_button]
        )
        return widgets.VBox([transport, choices, budget, self.progress])

    @property
    def view(self) -> widgets.Widget:
        """The training dashboard's view with the table of runs below it."""
        view = super().view
        if self._table_view is None:
            self._table_view = widgets.VBox([self.table, self.clear_button])
            self.table.add_class("course-runs-table")
            view.children = (*view.children, self._table_view)
        return view

    def close(self) -> None:
        """Close the figure and every widget, the table and buttons included."""
        super().close()
        for widget in (
            self.run_button,
            self.range_button,
            self.clear_button,
            self.progress,
            self.table,
        ):
            widget.close()
        if self._table_view is not None:
            self._table_view.close()
