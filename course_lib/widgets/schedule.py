"""The schedule designer: shape a learning-rate schedule and see the run it gives.

:class:`ScheduleDesigner` builds a schedule of :mod:`course_lib.schedules`
from its controls, plots the learning rate of every step, and runs an
optimizer with that schedule on a test surface, drawing the path over the
contours and the loss curve beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import torch

from course_lib import schedules
from course_lib.landscapes import SURFACES
from course_lib.optim import OPTIMIZERS
from course_lib.trajectories import run
from course_lib.widgets.surface import SurfaceRunDashboard, describe_run, lr_slider

# The schedules offered, by control value, with the torch scheduler each
# one reproduces.
SCHEDULE_KINDS: dict[str, str] = {
    "constant": "no scheduler",
    "step": "StepLR",
    "exponential": "ExponentialLR",
    "cosine": "CosineAnnealingLR",
    "warmup_cosine": "LinearLR then CosineAnnealingLR",
    "one_cycle": "OneCycleLR",
}

# The controls that shape each kind of schedule; the others are hidden.
_SHAPE_CONTROLS: dict[str, tuple[str, ...]] = {
    "constant": (),
    "step": ("step_size", "gamma"),
    "exponential": ("exponential_gamma",),
    "cosine": (),
    "warmup_cosine": ("warmup_steps",),
    "one_cycle": ("pct_start",),
}


def make_schedule(
    kind: str,
    lr: float,
    steps: int,
    *,
    step_size: int = 50,
    gamma: float = 0.5,
    exponential_gamma: float = 0.98,
    warmup_steps: int = 20,
    pct_start: float = 0.3,
) -> schedules.Schedule | None:
    """Build the schedule of ``kind`` for a run of ``steps`` steps.

    ``lr`` is the base learning rate, or the peak for ``"one_cycle"``.
    Cosine and warmup-cosine schedules reach zero at ``steps``; one-cycle
    starts at ``lr / 25`` and ends at ``lr / 25 / 1e4``, torch's defaults.

    Returns:
        The schedule, or None for ``"constant"``.

    Raises:
        KeyError: ``kind`` is not in :data:`SCHEDULE_KINDS`.
        ValueError: a setting the schedule rejects, such as a warmup as long
            as the run.
    """
    if kind not in SCHEDULE_KINDS:
        raise KeyError(
            f"unknown schedule {kind!r}; choose one of {', '.join(SCHEDULE_KINDS)}"
        )
    if kind == "constant":
        return None
    if kind == "step":
        return schedules.StepSchedule(lr, step_size=step_size, gamma=gamma)
    if kind == "exponential":
        return schedules.ExponentialSchedule(lr, gamma=exponential_gamma)
    if kind == "cosine":
        return schedules.CosineSchedule(lr, T_max=steps)
    if kind == "warmup_cosine":
        return schedules.WarmupCosineSchedule(
            lr, warmup_steps=warmup_steps, total_steps=steps
        )
    return schedules.OneCycleSchedule(lr, total_steps=steps, pct_start=pct_start)


def axis_top(value: float) -> float:
    """Round ``value`` up to the next 1, 2 or 5 times a power of ten.

    >>> axis_top(0.3), axis_top(3.0), axis_top(1.0)
    (0.5, 5.0, 1.0)
    """
    if not (value > 0 and math.isfinite(value)):
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if value <= factor * power * (1 + 1e-9):
            return factor * power
    return 10.0 * power


class ScheduleDesigner(SurfaceRunDashboard):
    """A learning-rate schedule, and the optimizer run it produces.

    Controls (``controls``): ``schedule`` (a key of :data:`SCHEDULE_KINDS`),
    ``lr`` (the base learning rate, the peak for one-cycle), ``steps`` (the
    run's length, which the cosine and one-cycle schedules span), the shape
    controls ``step_size`` and ``gamma`` (step), ``exponential_gamma``
    (exponential), ``warmup_steps`` (warmup then cosine) and ``pct_start``
    (one-cycle), each shown only for its schedule, and ``surface`` and
    ``optimizer`` for the run, which starts at the surface's standard start.

    ``status`` reads as in :class:`SurfaceDashboard` (``"loss L after N
    steps"``, ``"diverged at step N"``) or ``"invalid setting: ..."`` with
    the schedule's message.

    NOTE: only the learning rate is scheduled. torch's ``OneCycleLR`` also
    cycles the momentum (or Adam's beta1) between 0.85 and 0.95 by default;
    the run here keeps the optimizer's momentum fixed.
    """

    def __init__(
        self,
        schedule: str = "cosine",
        lr: float = 3.0,
        steps: int = 100,
        *,
        surface: str = "two_basins",
        optimizer: str = "SGD",
        surfaces: Sequence[str] | None = None,
        optimizers: Sequence[str] | None = None,
        surface_params: dict[str, dict[str, Any]] | None = None,
        max_steps: int = 1000,
    ) -> None:
        super().__init__(figsize=(12.0, 3.6), surface_params=surface_params)
        surfaces = list(surfaces or SURFACES)
        optimizers = list(optimizers or OPTIMIZERS)
        if schedule not in SCHEDULE_KINDS:
            raise ValueError(
                f"schedule {schedule!r} is not one of {', '.join(SCHEDULE_KINDS)}"
            )
        self.schedule: schedules.Schedule | None = None

        self.controls = {
            "schedule": widgets.Dropdown(
                options=list(SCHEDULE_KINDS), value=schedule, description="schedule"
            ),
            "lr": lr_slider(lr, "base lr"),
            "steps": widgets.IntSlider(
                value=steps,
                min=10,
                max=max_steps,
                description="steps",
                continuous_update=False,
            ),
            "step_size": widgets.IntSlider(
                value=max(steps // 4, 1),
                min=1,
                max=max_steps,
                description="step_size",
                continuous_update=False,
            ),
            "gamma": widgets.FloatSlider(
                value=0.5,
                min=0.05,
                max=0.95,
                step=0.05,
                description="gamma",
                continuous_update=False,
            ),
            "exponential_gamma": widgets.FloatSlider(
                value=0.98,
                min=0.9,
                max=0.999,
                step=0.001,
                description="gamma",
                readout_format=".3f",
                continuous_update=False,
            ),
            "warmup_steps": widgets.IntSlider(
                value=max(steps // 5, 1),
                min=1,
                max=max_steps,
                description="warmup",
                continuous_update=False,
            ),
            "pct_start": widgets.FloatSlider(
                value=0.3,
                min=0.05,
                max=0.95,
                step=0.05,
                description="pct_start",
                continuous_update=False,
            ),
            "surface": widgets.Dropdown(
                options=surfaces, value=surface, description="surface"
            ),
            "optimizer": widgets.Dropdown(
                options=optimizers, value=optimizer, description="optimizer"
            ),
        }

        self.ax_lr = self.figure.add_axes((0.05, 0.15, 0.26, 0.73))
        self.ax_lr.set_xlabel("step")
        self.ax_lr.set_ylabel("learning rate")
        self.ax_lr.set_title("learning-rate schedule")
        self.ax_lr.grid(True, alpha=0.3)
        (self.lr_line,) = self.ax_lr.plot([], [], color="tab:blue")
        self.animated.append(self.lr_line)

        self.build_run_artists(
            self.figure.add_axes((0.37, 0.15, 0.28, 0.73)),
            self.figure.add_axes((0.72, 0.15, 0.26, 0.73)),
            arrow=False,
        )
        self._connect()

    def control_box(self) -> widgets.Widget:
        """Lay out the controls: schedule, its shape, then the run."""
        c = self.controls
        shape = [c[name] for name in ("step_size", "gamma")]
        shape += [
            c[name] for name in ("exponential_gamma", "warmup_steps", "pct_start")
        ]
        return widgets.VBox(
            [
                widgets.HBox([c["schedule"], c["lr"], c["steps"]]),
                widgets.Box(shape, layout=widgets.Layout(flex_flow="row wrap")),
                widgets.HBox([c["surface"], c["optimizer"]]),
            ]
        )

    def _show_shape_controls(self, kind: str) -> None:
        used = _SHAPE_CONTROLS[kind]
        for names in _SHAPE_CONTROLS.values():
            for name in names:
                self.controls[name].layout.display = None if name in used else "none"

    def update(self) -> None:
        """Rebuild the schedule, rerun the optimizer and redraw all three panels."""
        c = self.controls
        kind, lr, steps = c["schedule"].value, c["lr"].value, c["steps"].value
        self._show_shape_controls(kind)
        surface = self.show_surface(c["surface"].value)
        self.set_step_axis(steps)

        try:
            schedule = make_schedule(
                kind,
                lr,
                steps,
                step_size=c["step_size"].value,
                gamma=c["gamma"].value,
                exponential_gamma=c["exponential_gamma"].value,
                warmup_steps=c["warmup_steps"].value,
                pct_start=c["pct_start"].value,
            )
            trajectory = run(
                surface,
                c["optimizer"].value,
                surface.default_start,
                steps,
                lr=lr,
                lr_schedule=schedule,
                dtype=torch.float64,
            )
        except ValueError as error:
            # The schedule or the optimizer rejected the setting (a warmup as
            # long as the run, say): a fact about the setting, not a failure.
            self.schedule = None
            self.select_background((surface.name, steps, axis_top(lr)))
            self._draw_lrs(None, axis_top(lr), steps)
            self.draw_start(surface, surface.default_start)
            self.draw_trajectory(None)
            self.status.value = f"invalid setting: {error}"
            self.redraw()
            return

        self.schedule = schedule
        learning_rates = trajectory.learning_rates[:, 0]
        top = axis_top(float(learning_rates.max()) if steps else lr)
        self.select_background((surface.name, steps, top))
        self._draw_lrs(learning_rates, top, steps)
        self.draw_start(surface, surface.default_start)
        self.draw_trajectory(trajectory)
        self.status.value = describe_run(trajectory)
        self.redraw()

    def _draw_lrs(
        self, learning_rates: torch.Tensor | None, top: float, steps: int
    ) -> None:
        # The axis limits are part of the cached background, keyed by
        # (surface, steps, top), so they change only with the key.
        self.ax_lr.set_xlim(0.0, float(max(steps, 1)))
        self.ax_lr.set_ylim(0.0, top * 1.05)
        if learning_rates is None:
            self.lr_line.set_data([], [])
            return
        self.lr_line.set_data(range(len(learning_rates)), learning_rates.numpy())


__all__ = ["SCHEDULE_KINDS", "ScheduleDesigner", "axis_top", "make_schedule"]
