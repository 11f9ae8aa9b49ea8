"""Dashboards of the chapters on momentum and Nesterov momentum.

- :class:`MomentumDashboard`: SGD with momentum against plain gradient
  descent on a surface, with the velocity and gradient of the first steps
  drawn as arrows.
- :class:`NesterovStepper`: classical and Nesterov momentum one click at a
  time, with the jump along the velocity and the gradient correction of the
  latest step drawn for both.
- :class:`RateMapDashboard`: learning-rate and momentum sliders over the
  measured convergence-rate map of a quadratic, with the theoretical
  optimum marked.

Each one draws its static parts (contours, the rate map) once into a cached
background and redraws only the paths, arrows and curves on an update.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D

from course_lib.landscapes import Quadratic, Surface
from course_lib.momentum import (
    MomentumSequence,
    RateMap,
    convergence_rate_map,
    iteration_rate,
    measure_rates,
    momentum_buffers,
    optimal_heavy_ball,
    optimal_heavy_ball_rate,
    steps_to_reduce,
    sutskever_momentum,
)
from course_lib.trajectories import Trajectory, run, steps_to_target
from course_lib.widgets.base import Dashboard, steps_text
from course_lib.widgets.surface import SurfaceRunDashboard, lr_slider

_DEFAULT_SURFACE_PARAMS: dict[str, dict[str, Any]] = {
    "quadratic": {"condition_number": 25.0, "angle": 0.5},
}

# A run counts as ending at a minimum when it stops within this fraction of
# the plot's width from it.
_AT_MINIMUM_FRACTION = 0.01

# Colours: the momentum run in red over plain gradient descent in white; in
# the stepper Nesterov momentum in red and classical momentum in blue.
_PLAIN_COLOR = "white"
_VELOCITY_COLOR = "tab:orange"
_GRADIENT_COLOR = "cyan"
_NESTEROV_COLOR = "tab:red"
_CLASSICAL_COLOR = "#7fc8ff"


def _arrows(ax: Axes, count: int, color: str, width: float = 0.006) -> Any:
    """Make a quiver of ``count`` zero-length arrows in data units.

    ``minlength=0`` draws nothing for an arrow of length 0, which is how
    unused arrows are hidden.
    """
    zeros = np.zeros(count)
    return ax.quiver(
        zeros,
        zeros,
        zeros,
        zeros,
        angles="xy",
        scale_units="xy",
        scale=1.0,
        color=color,
        width=width,
        minlength=0.0,
        zorder=5,
    )


def _finite_or_zero(values: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(values), values, 0.0)


def _floored_gaps(losses: np.ndarray, min_value: float, floor: float) -> np.ndarray:
    """Return losses above the minimum, at least ``floor``, NaN where not finite."""
    gaps = losses - min_value
    return np.where(np.isfinite(gaps), np.maximum(gaps, floor), np.nan)


def _surface_params(overrides: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    params = {name: dict(value) for name, value in _DEFAULT_SURFACE_PARAMS.items()}
    for name, value in (overrides or {}).items():
        params[name] = {**params.get(name, {}), **value}
    return params


def _check_choice(surface: str, surfaces: list[str], target: float) -> None:
    if surface not in surfaces:
        raise ValueError(f"surface {surface!r} is not among surfaces {surfaces}")
    if not target > 0:
        raise ValueError(f"target must be a positive loss gap, got {target!r}")


def _momentum_slider(value: float) -> widgets.FloatSlider:
    return widgets.FloatSlider(
        value=value,
        min=0.0,
        max=0.99,
        step=0.01,
        description="momentum",
        continuous_update=False,
    )


def _describe(
    trajectory: Trajectory, index: int, target: float, steps_reached: int
) -> str:
    """Summarize one run: divergence, steps to the target, or where it ended."""
    diverged_at = int(trajectory.diverged_at[index])
    if diverged_at >= 0:
        return f"diverged at step {diverged_at}"
    if steps_reached >= 0:
        return f"{steps_text(steps_reached)} to a loss within {target:g} of the minimum"
    gap = float(trajectory.gaps[-1, index])
    message = f"loss gap {gap:.3g} after {steps_text(trajectory.steps)}"
    surface = trajectory.surface
    if len(surface.local_minima):
        nearest, distance = surface.nearest_minimum(trajectory.final_positions[index])
        (x_min, x_max), _ = surface.bounds
        if float(distance) <= _AT_MINIMUM_FRACTION * (x_max - x_min):
            kind = "the global" if int(nearest) < len(surface.minima) else "a local"
            message += f", at {kind} minimum"
    return message


class MomentumDashboard(SurfaceRunDashboard):
    """SGD with momentum against plain gradient descent, with velocity arrows.

    Both runs start at the surface's ``default_start`` with the same
    learning rate. One uses the momentum of the ``momentum`` control
    (Nesterov's when ``nesterov`` is ticked), the other none. For the first
    ``arrow_steps`` steps of the momentum run, arrows drawn from each
    position show the velocity step ``-lr * b_t`` (orange) and the gradient
    step ``-lr * g_t`` (cyan) that plain gradient descent would take there.
    Along a ravine's floor the gradients agree and the velocity grows to
    several gradient steps; across it they alternate in sign and largely
    cancel.

    Controls: ``surface``, ``lr`` (log scale), ``momentum``, ``nesterov``,
    ``steps``.

    ``status`` reads ``"momentum 0.9: 67 steps to a loss within 0.001 of the
    minimum; without momentum: loss gap 1.01 after 100 steps"``, with
    ``"diverged at step N"`` for a run that diverged and, on surfaces with
    local minima, where a run that missed the target ended.

    Args:
        surface: the initial surface's name.
        lr, momentum, steps, nesterov: the controls' initial values.
        target: the loss gap above the minimum that counts as reached.
        surfaces: the surfaces offered.
        surface_params: keyword arguments of :func:`get_surface` by name,
            merged into the defaults (a quadratic of condition number 25,
            rotated by 0.5 radians).
        max_steps: the top of the ``steps`` slider.
        arrow_steps: how many of the first steps get arrows.
    """

    def __init__(
        self,
        surface: str = "ravine",
        lr: float = 0.04,
        momentum: float = 0.9,
        steps: int = 100,
        *,
        nesterov: bool = False,
        target: float = 1e-3,
        surfaces: Sequence[str] = ("ravine", "quadratic", "two_basins", "rosenbrock"),
        surface_params: dict[str, dict[str, Any]] | None = None,
        max_steps: int = 500,
        arrow_steps: int = 30,
    ) -> None:
        super().__init__(
            figsize=(9.6, 4.0), surface_params=_surface_params(surface_params)
        )
        surfaces = list(surfaces)
        _check_choice(surface, surfaces, target)
        if arrow_steps < 0:
            raise ValueError(f"arrow_steps must be non-negative, got {arrow_steps}")
        self.target = float(target)
        self.arrow_steps = int(arrow_steps)
        self.controls = {
            "surface": widgets.Dropdown(
                options=surfaces, value=surface, description="surface"
            ),
            "lr": lr_slider(lr),
            "momentum": _momentum_slider(momentum),
            "nesterov": widgets.Checkbox(
                value=nesterov, description="Nesterov", indent=False
            ),
            "steps": widgets.IntSlider(
                value=steps,
                min=1,
                max=max_steps,
                description="steps",
                continuous_update=False,
            ),
        }
        self._build_figure()
        self._connect()

    def _build_figure(self) -> None:
        self.build_run_artists(
            self.figure.add_axes((0.06, 0.13, 0.42, 0.77)),
            self.figure.add_axes((0.6, 0.13, 0.38, 0.77)),
            arrow=False,
        )
        ax = self.ax_surface
        (self.plain_line,) = ax.plot(
            [], [], "--", color=_PLAIN_COLOR, linewidth=1.0, marker=".", markersize=2
        )
        self.velocity_arrows = _arrows(ax, self.arrow_steps, _VELOCITY_COLOR)
        self.gradient_arrows = _arrows(ax, self.arrow_steps, _GRADIENT_COLOR)

        loss = self.ax_loss
        (self.plain_loss,) = loss.plot([], [], "--", color="0.4")
        loss.axhline(self.target, color="k", linestyle=":", linewidth=1.0)
        loss.legend(
            [
                Line2D([], [], color=self.path_line.get_color()),
                Line2D([], [], color="0.4", linestyle="--"),
                Line2D([], [], color=_VELOCITY_COLOR, linewidth=3),
                Line2D([], [], color=_GRADIENT_COLOR, linewidth=3),
                Line2D([], [], color="k", linestyle=":"),
            ],
            [
                "with momentum",
                "without",
                "velocity step −lr·b",
                "gradient step −lr·g",
                "target",
            ],
            loc="upper right",
            fontsize="small",
        )
        self.animated += [
            self.plain_line,
            self.velocity_arrows,
            self.gradient_arrows,
            self.plain_loss,
        ]

    def control_box(self) -> widgets.Widget:
        """Lay out the controls in two rows."""
        c = self.controls
        return widgets.VBox(
            [
                widgets.HBox([c["surface"], c["steps"], c["nesterov"]]),
                widgets.HBox([c["lr"], c["momentum"]]),
            ]
        )

    def update(self) -> None:
        """Rerun both runs and redraw paths, arrows and loss curves."""
        name = self.controls["surface"].value
        steps = int(self.controls["steps"].value)
        surface = self.show_surface(name)
        self.ax_surface.set_title(f"{name}: with momentum (red), without (white)")
        self.set_step_axis(steps)
        self.select_background((name, steps))
        lr = float(self.controls["lr"].value)
        momentum = float(self.controls["momentum"].value)
        trajectory = run(
            surface,
            "SGD",
            surface.default_start,
            steps,
            lr=lr,
            # Row 0 with momentum, row 1 without: one batched run.
            momentum=torch.tensor([momentum, 0.0], dtype=torch.float64),
            nesterov=bool(self.controls["nesterov"].value),
            dtype=torch.float64,
        )
        self.draw_start(surface, surface.default_start)
        self.draw_trajectory(trajectory)
        self._draw_plain_run(trajectory)
        self._draw_arrows(trajectory, lr)

        reached = trajectory.steps_to_target(surface.min_value + self.target)
        with_momentum = _describe(trajectory, 0, self.target, int(reached[0]))
        without = _describe(trajectory, 1, self.target, int(reached[1]))
        self.status.value = (
            f"momentum {momentum:g}: {with_momentum}; without momentum: {without}"
        )
        self.redraw()

    def _draw_plain_run(self, trajectory: Trajectory) -> None:
        path = trajectory.positions[:, 1].numpy()
        self.plain_line.set_data(path[:, 0], path[:, 1])
        floor = self.ax_loss.get_ylim()[0]
        gaps = _floored_gaps(
            trajectory.losses[:, 1].numpy(), trajectory.surface.min_value, floor
        )
        self.plain_loss.set_data(np.arange(len(gaps)), gaps)

    def _draw_arrows(self, trajectory: Trajectory, lr: float) -> None:
        """Draw the velocity and gradient steps of the first momentum steps."""
        gradients, buffers = momentum_buffers(trajectory, self.arrow_steps)
        count = gradients.shape[0]
        offsets = np.zeros((self.arrow_steps, 2))
        velocity = np.zeros((self.arrow_steps, 2))
        gradient = np.zeros((self.arrow_steps, 2))
        offsets[:count] = _finite_or_zero(trajectory.positions[:count, 0].numpy())
        velocity[:count] = _finite_or_zero(-lr * buffers[:, 0].numpy())
        gradient[:count] = _finite_or_zero(-lr * gradients[:, 0].numpy())
        for arrows, vectors in (
            (self.velocity_arrows, velocity),
            (self.gradient_arrows, gradient),
        ):
            arrows.set_offsets(offsets)
            arrows.set_UVC(vectors[:, 0], vectors[:, 1])


def _as_trajectory(
    sequence: MomentumSequence, surface: Surface, lr: float
) -> Trajectory:
    """Wrap one run of a :class:`MomentumSequence` as a one-run Trajectory."""
    positions = sequence.positions[:, None]
    return Trajectory(
        positions=positions,
        losses=surface.value(positions),
        diverged_at=sequence.diverged_at.reshape(1),
        learning_rates=torch.full(
            (sequence.gradients.shape[0], 1), lr, dtype=torch.float64
        ),
        surface=surface,
        optimizer="VelocitySGD",
        hyperparameters={"lr": lr, "momentum": sequence.momentum},
    )


def _latest_finite_step(sequence: MomentumSequence) -> int | None:
    """Return the latest step whose result is finite, or None before the first."""
    steps = sequence.gradients.shape[0]
    diverged_at = int(sequence.diverged_at)
    latest = steps if diverged_at < 0 else diverged_at - 1
    return latest if latest >= 1 else None


class NesterovStepper(SurfaceRunDashboard):
    """Classical and Nesterov momentum side by side, one step per click.

    Both start at the surface's ``default_start`` with the same learning
    rate and momentum, in the velocity form of Sutskever et al. (2013) that
    :func:`course_lib.momentum.sutskever_momentum` computes. For the latest
    step, arrows show how each method moved from ``theta_{t-1}``:

    - classical momentum (blue) adds the momentum step ``mu v_{t-1}`` and
      the gradient step ``-lr grad f(theta_{t-1})``, both taken at the old
      point;
    - Nesterov momentum (red) first jumps along ``mu v_{t-1}`` (pink), takes
      the gradient where the jump lands (hollow circle), and corrects from
      there by ``-lr grad f(theta_{t-1} + mu v_{t-1})``.

    Controls: ``surface``, ``lr`` (log scale), ``momentum`` and ``step``
    (how many steps have been taken). The "Step" and "Reset" buttons in
    ``buttons`` move ``step`` forward by one and back to 0.

    ``status`` reads ``"step 5: loss 0.0123 with Nesterov, loss 0.0456 with
    classical momentum"``, with ``"diverged at step N with ..."`` for a
    diverged run, followed by the step at which each run first came within
    ``target`` of the minimum once one has.

    Args:
        surface: the initial surface's name.
        lr, momentum: the controls' initial values.
        target: the loss gap above the minimum that counts as reached.
        surfaces: the surfaces offered.
        surface_params: keyword arguments of :func:`get_surface` by name,
            merged into the defaults (a quadratic of condition number 25,
            rotated by 0.5 radians).
        max_steps: the top of the ``step`` slider.
    """

    # The loss panel's step axis grows in blocks of this many steps, so its
    # background is rendered again only when a block fills up.
    step_block = 10

    def __init__(
        self,
        surface: str = "quadratic",
        lr: float = 0.03,
        momentum: float = 0.8,
        *,
        target: float = 1e-3,
        surfaces: Sequence[str] = ("quadratic", "ravine", "rosenbrock"),
        surface_params: dict[str, dict[str, Any]] | None = None,
        max_steps: int = 80,
    ) -> None:
        super().__init__(
            figsize=(9.6, 4.0), surface_params=_surface_params(surface_params)
        )
        surfaces = list(surfaces)
        _check_choice(surface, surfaces, target)
        self.target = float(target)
        self.classical: MomentumSequence | None = None
        self.nesterov: MomentumSequence | None = None
        self.controls = {
            "surface": widgets.Dropdown(
                options=surfaces, value=surface, description="surface"
            ),
            "lr": lr_slider(lr),
            "momentum": _momentum_slider(momentum),
            "step": widgets.IntSlider(
                value=0, min=0, max=max_steps, description="step"
            ),
        }
        self.buttons = {
            "step": widgets.Button(description="Step", icon="step-forward"),
            "reset": widgets.Button(description="Reset", icon="undo"),
        }
        self.buttons["step"].on_click(self._on_step_click)
        self.buttons["reset"].on_click(self._on_reset_click)
        self._build_figure()
        self._connect()

    def _on_step_click(self, _button: widgets.Button) -> None:
        step = self.controls["step"]
        step.value = min(step.value + 1, step.max)

    def _on_reset_click(self, _button: widgets.Button) -> None:
        self.controls["step"].value = 0

    def control_box(self) -> widgets.Widget:
        """Lay out the buttons beside the step slider, then the settings."""
        c = self.controls
        return widgets.VBox(
            [
                widgets.HBox([self.buttons["step"], self.buttons["reset"], c["step"]]),
                widgets.HBox([c["surface"], c["lr"], c["momentum"]]),
            ]
        )

    def _build_figure(self) -> None:
        # The base class's run artists draw Nesterov momentum. Classical
        # momentum and the arrows of the latest step are added here.
        self.build_run_artists(
            self.figure.add_axes((0.06, 0.13, 0.42, 0.77)),
            self.figure.add_axes((0.6, 0.13, 0.38, 0.77)),
            arrow=False,
        )
        ax = self.ax_surface
        self.path_line.set_color(_NESTEROV_COLOR)
        self.path_line.set_marker("o")
        (self.classical_line,) = ax.plot(
            [], [], "-", color=_CLASSICAL_COLOR, marker="o", markersize=3, linewidth=1
        )
        (self.look_ahead_marker,) = ax.plot(
            [],
            [],
            "o",
            markerfacecolor="none",
            markeredgecolor=_NESTEROV_COLOR,
            markersize=8,
            markeredgewidth=1.5,
            zorder=6,
        )
        self.classical_jump = _arrows(ax, 1, _CLASSICAL_COLOR, width=0.008)
        self.classical_gradient = _arrows(ax, 1, "tab:blue", width=0.008)
        self.nesterov_jump = _arrows(ax, 1, "tab:pink", width=0.008)
        self.nesterov_gradient = _arrows(ax, 1, _NESTEROV_COLOR, width=0.008)

        loss = self.ax_loss
        self.loss_line.set_color(_NESTEROV_COLOR)
        self.loss_line.set_marker(".")
        (self.classical_loss,) = loss.plot([], [], color="tab:blue", marker=".")
        loss.axhline(self.target, color="k", linestyle=":", linewidth=1.0)
        loss.legend(
            [
                Line2D([], [], color=_NESTEROV_COLOR, marker="."),
                Line2D([], [], color="tab:blue", marker="."),
                Line2D([], [], color="k", linestyle=":"),
            ],
            ["Nesterov momentum", "classical momentum", "target"],
            loc="upper right",
            fontsize="small",
        )
        self.animated += [
            self.classical_line,
            self.look_ahead_marker,
            self.classical_jump,
            self.classical_gradient,
            self.nesterov_jump,
            self.nesterov_gradient,
            self.classical_loss,
        ]

    def update(self) -> None:
        """Recompute both runs up to ``step`` and redraw the latest step."""
        name = self.controls["surface"].value
        step = int(self.controls["step"].value)
        surface = self.show_surface(name)
        self.ax_surface.set_title(f"{name}: Nesterov (red), classical (blue)")
        axis_end = max(1, math.ceil(step / self.step_block)) * self.step_block
        self.set_step_axis(axis_end)
        self.select_background((name, axis_end))

        lr = float(self.controls["lr"].value)
        momentum = float(self.controls["momentum"].value)
        start = torch.tensor(surface.default_start, dtype=torch.float64)
        sequences = {
            nesterov: sutskever_momentum(
                surface.grad, start, step, lr=lr, momentum=momentum, nesterov=nesterov
            )
            for nesterov in (False, True)
        }
        self.classical, self.nesterov = sequences[False], sequences[True]
        self.draw_start(surface, surface.default_start)
        self.draw_trajectory(_as_trajectory(self.nesterov, surface, lr))
        self._draw_classical(surface)
        self._draw_latest_step(lr)
        self.status.value = self._describe(surface, step)
        self.redraw()

    def _draw_classical(self, surface: Surface) -> None:
        positions = self.classical.positions.numpy()
        self.classical_line.set_data(positions[:, 0], positions[:, 1])
        floor = self.ax_loss.get_ylim()[0]
        gaps = _floored_gaps(
            surface.value(self.classical.positions).numpy(), surface.min_value, floor
        )
        self.classical_loss.set_data(np.arange(len(gaps)), gaps)

    def _draw_latest_step(self, lr: float) -> None:
        """Draw the momentum and gradient steps that led to each latest point."""
        arrows = (
            (self.classical, self.classical_jump, self.classical_gradient),
            (self.nesterov, self.nesterov_jump, self.nesterov_gradient),
        )
        for sequence, jump, gradient in arrows:
            latest = _latest_finite_step(sequence)
            if latest is None:
                for quiver in (jump, gradient):
                    quiver.set_offsets([[0.0, 0.0]])
                    quiver.set_UVC([0.0], [0.0])
                continue
            theta = sequence.positions[latest - 1].numpy()
            momentum = float(sequence.momentum)
            momentum_step = momentum * sequence.velocities[latest - 1].numpy()
            gradient_step = -lr * sequence.gradients[latest - 1].numpy()
            jump.set_offsets([theta])
            jump.set_UVC([momentum_step[0]], [momentum_step[1]])
            # Tip to tail: the gradient step starts where the jump ends, so
            # the arrows end at the new point for both methods.
            gradient.set_offsets([theta + momentum_step])
            gradient.set_UVC([gradient_step[0]], [gradient_step[1]])
        latest = _latest_finite_step(self.nesterov)
        if latest is None:
            self.look_ahead_marker.set_data([], [])
        else:
            point = self.nesterov.gradient_points[latest - 1].numpy()
            self.look_ahead_marker.set_data([point[0]], [point[1]])

    def _describe(self, surface: Surface, step: int) -> str:
        parts = []
        reached = []
        for label, sequence in (
            ("Nesterov", self.nesterov),
            ("classical momentum", self.classical),
        ):
            diverged_at = int(sequence.diverged_at)
            if diverged_at >= 0:
                parts.append(f"diverged at step {diverged_at} with {label}")
                continue
            losses = surface.value(sequence.positions)
            parts.append(f"loss {float(losses[-1]):.4g} with {label}")
            below = torch.nonzero(losses - surface.min_value <= self.target)
            if len(below):
                reached.append(f"{label} at step {int(below[0])}")
        message = f"step {step}: " + ", ".join(parts)
        if reached:
            message += f"; within {self.target:g} of the minimum: " + ", ".join(reached)
        return message


class RateMapDashboard(Dashboard):
    """Learning rate and momentum over the convergence-rate map of a quadratic.

    The left panel is the map of :func:`course_lib.momentum.convergence_rate_map`:
    the measured rate per step of SGD with momentum for a grid of learning
    rates (log scale) and momenta. Grey cells diverge (rate 1 and above),
    the white star is the theoretical optimum of heavy-ball momentum and
    the white cross the grid's best cell. The right panel is the distance
    to the minimum of a run with the sliders' setting (cyan ring on the
    map), against the theoretical ``rate ** t`` and a run at the optimum.

    Controls: ``lr`` (log scale), ``momentum``, ``condition_number`` and
    ``nesterov``. The last two measure the map again, which takes a
    fraction of a second for the default 60 x 60 cells of 200 steps on a
    2-core CPU.

    ``status`` reads ``"rate 0.519 per step in theory, 0.531 measured: the
    distance fell to 1e-06 of its start in 22 steps"``, with the measured
    rate and step count from the run on the right, ``"... : about N steps to
    bring the distance to 1e-06 of its start"`` (from the theoretical rate)
    when the run is too short to get there, or ``"diverges: rate 1.08 per
    step in theory, 1.08 measured"``.

    Args:
        condition_number: the initial condition number kappa of the
            quadratic, whose Hessian eigenvalues are 1 and kappa.
        lr: the initial learning rate; the optimum's when None.
        momentum: the initial momentum; the optimum's when None.
        nesterov: start with Nesterov momentum.
        resolution: cells of the map along each axis.
        map_steps: steps of each run of the map.
        run_steps: steps of the run on the right, which also measures the
            status's rate and step count.
        factor: the fraction of the start's distance that the status counts
            steps to.
    """

    # The learning-rate axis spans these multiples of 1 / lambda_max.
    lr_span = (0.01, 4.0)
    # The distance panel spans these multiples of the start's distance, so
    # its axes stay in the cached background.
    distance_span = (1e-16, 1e8)

    def __init__(
        self,
        condition_number: float = 10.0,
        lr: float | None = None,
        momentum: float | None = None,
        *,
        nesterov: bool = False,
        resolution: int = 60,
        map_steps: int = 200,
        run_steps: int = 100,
        factor: float = 1e-6,
    ) -> None:
        super().__init__(figsize=(9.6, 4.0))
        if resolution < 2:
            raise ValueError(f"resolution must be at least 2, got {resolution}")
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must lie strictly between 0 and 1, got {factor}")
        self.resolution = int(resolution)
        self.map_steps = int(map_steps)
        self.run_steps = int(run_steps)
        self.factor = float(factor)
        self.rate_map: RateMap | None = None
        self.rate = math.nan
        self.theoretical_rate = math.nan
        self.steps_to_factor = -1
        self._quadratics: dict[float, Quadratic] = {}
        self._map_key: tuple[float, bool] | None = None
        self._map_artists: list[Any] = []
        self._holding = False

        optimum_lr, optimum_mu = optimal_heavy_ball(1.0, condition_number)
        low, high = self._lr_exponents(condition_number)
        self.controls = {
            "lr": widgets.FloatLogSlider(
                value=optimum_lr if lr is None else lr,
                base=10,
                min=low,
                max=high,
                step=0.01,
                description="lr",
                readout_format=".3g",
            ),
            "momentum": widgets.FloatSlider(
                value=optimum_mu if momentum is None else momentum,
                min=0.0,
                max=0.99,
                step=0.005,
                description="momentum",
                readout_format=".3f",
            ),
            "condition_number": widgets.FloatLogSlider(
                value=condition_number,
                base=10,
                min=0.0,
                max=3.0,
                step=0.05,
                description="kappa",
                readout_format=".3g",
                continuous_update=False,
            ),
            "nesterov": widgets.Checkbox(
                value=nesterov, description="Nesterov", indent=False
            ),
        }
        self._build_figure()
        self._connect()

    def _lr_exponents(self, condition_number: float) -> tuple[float, float]:
        """Return the base-10 exponents of ``lr_span / lambda_max``."""
        low, high = self.lr_span
        return math.log10(low / condition_number), math.log10(high / condition_number)

    def _fit_lr_slider(self, condition_number: float) -> None:
        """Fit the lr slider's range to a new kappa, keeping its value if inside."""
        slider = self.controls["lr"]
        low, high = self._lr_exponents(condition_number)
        value = float(np.clip(slider.value, 10**low, 10**high))
        self._holding = True
        try:
            # Widen first, so that no intermediate range excludes the value.
            slider.min = min(slider.min, low)
            slider.max = max(slider.max, high)
            slider.value = value
            slider.min, slider.max = low, high
        finally:
            self._holding = False

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._holding:
            return
        if change.get("owner") is self.controls["condition_number"]:
            self._fit_lr_slider(float(change["new"]))
        super()._on_change(change)

    def control_box(self) -> widgets.Widget:
        """Lay out the sliders in two rows."""
        c = self.controls
        return widgets.VBox(
            [
                widgets.HBox([c["lr"], c["momentum"]]),
                widgets.HBox([c["condition_number"], c["nesterov"]]),
            ]
        )

    def _build_figure(self) -> None:
        self.ax_map = self.figure.add_axes((0.07, 0.13, 0.36, 0.77))
        self.ax_colorbar = self.figure.add_axes((0.445, 0.13, 0.012, 0.77))
        self.ax_run = self.figure.add_axes((0.6, 0.13, 0.38, 0.77))

        ax = self.ax_map
        ax.set_xscale("log")
        ax.set_xlabel("learning rate lr")
        ax.set_ylabel("momentum μ")

        # Rates of 1 and above (divergence) are drawn grey. The colour scale
        # starts a little below the optimum's rate, set with each map.
        self.colormap = colormaps["magma"].with_extremes(over="0.7")
        self.colors = ScalarMappable(Normalize(0.0, 1.0), self.colormap)
        self.colorbar = self.figure.colorbar(
            self.colors,
            cax=self.ax_colorbar,
            extend="max",
            label="rate per step (grey: 1 and above, diverges)",
        )
        (self.setting_marker,) = ax.plot(
            [],
            [],
            "o",
            markerfacecolor="none",
            markeredgecolor="tab:cyan",
            markeredgewidth=2.0,
            markersize=12,
            zorder=6,
        )

        run_ax = self.ax_run
        (self.run_line,) = run_ax.plot([], [], color="tab:cyan", label="this setting")
        (self.theory_line,) = run_ax.plot(
            [], [], ":", color="k", label="theory: start distance × rate^t"
        )
        (self.optimum_line,) = run_ax.plot(
            [], [], "--", color="0.5", label="at the theoretical optimum"
        )
        run_ax.set_yscale("log")
        run_ax.set_xlim(0, self.run_steps)
        run_ax.set_xlabel("step")
        run_ax.set_ylabel("distance to the minimum")
        run_ax.set_title("distance to the minimum (log scale)")
        run_ax.grid(True, which="major", alpha=0.3)
        run_ax.legend(loc="upper right", fontsize="small")

        self.animated = [
            self.setting_marker,
            self.run_line,
            self.theory_line,
            self.optimum_line,
        ]

    def quadratic(self) -> Quadratic:
        """Return the quadratic of the current ``condition_number``."""
        kappa = float(self.controls["condition_number"].value)
        if kappa not in self._quadratics:
            self._quadratics[kappa] = Quadratic(condition_number=kappa)
        return self._quadratics[kappa]

    def _draw_map(self, surface: Quadratic, nesterov: bool) -> None:
        """Measure and draw the map, the optimum and the best cell."""
        for artist in self._map_artists:
            artist.remove()
        lambda_max = surface.lambda_max
        lrs = torch.logspace(
            math.log10(self.lr_span[0] / lambda_max),
            math.log10(self.lr_span[1] / lambda_max),
            self.resolution,
            dtype=torch.float64,
        )
        momenta = torch.linspace(0.0, 0.99, self.resolution, dtype=torch.float64)
        self.rate_map = convergence_rate_map(
            surface, lrs, momenta, steps=self.map_steps, nesterov=nesterov
        )
        ax = self.ax_map
        rates = self.rate_map.rates.numpy()
        optimum_rate = optimal_heavy_ball_rate(*surface.eigenvalues.tolist())
        self.colors.norm.vmin = max(0.0, math.floor(optimum_rate * 20.0) / 20.0 - 0.1)
        self.colorbar.update_normal(self.colors)
        mesh = ax.pcolormesh(
            lrs.numpy(),
            momenta.numpy(),
            rates,
            norm=self.colors.norm,
            cmap=self.colormap,
            shading="nearest",
        )
        boundary = ax.contour(
            lrs.numpy(), momenta.numpy(), rates, levels=[1.0], colors="white"
        )
        optimum_lr, optimum_mu = optimal_heavy_ball(*surface.eigenvalues.tolist())
        (optimum,) = ax.plot(
            [optimum_lr],
            [optimum_mu],
            "*",
            color="white",
            markeredgecolor="k",
            markersize=14,
            zorder=5,
        )
        best_lr, best_mu, _ = self.rate_map.best
        (best,) = ax.plot(
            [best_lr], [best_mu], "x", color="white", markersize=9, mew=2, zorder=5
        )
        self._map_artists = [mesh, boundary, optimum, best]
        ax.set_xlim(float(lrs[0]), float(lrs[-1]))
        ax.set_ylim(0.0, 0.99)
        kind = "Nesterov" if nesterov else "heavy ball"
        ax.set_title(
            f"measured rate, {kind}, κ = {surface.condition_number:.3g}",
            fontsize="medium",
        )

        start = torch.tensor(surface.default_start, dtype=torch.float64)
        distance = float(torch.linalg.vector_norm(start - surface.minima[0]))
        low, high = self.distance_span
        self.ax_run.set_ylim(distance * low, distance * high)
        self.invalidate_background()

    def update(self) -> None:
        """Redraw the setting's marker and run.

        A change of ``condition_number`` or ``nesterov`` measures the map again.
        """
        surface = self.quadratic()
        nesterov = bool(self.controls["nesterov"].value)
        key = (surface.condition_number, nesterov)
        if key != self._map_key:
            self._draw_map(surface, nesterov)
            self._map_key = key
        lr = float(self.controls["lr"].value)
        momentum = float(self.controls["momentum"].value)
        self.setting_marker.set_data([lr], [momentum])

        optimum_lr, optimum_mu = optimal_heavy_ball(*surface.eigenvalues.tolist())
        # The setting and the optimum as one batch of two runs.
        measured = measure_rates(
            surface,
            torch.tensor([lr, optimum_lr], dtype=torch.float64),
            torch.tensor([momentum, optimum_mu], dtype=torch.float64),
            steps=self.run_steps,
            nesterov=nesterov,
            record=True,
        )
        assert measured.log_distances is not None
        # The axis ends at 1e8 times the start distance, so clipping the log
        # distances there keeps exp() finite for any diverging setting.
        top = math.log(self.ax_run.get_ylim()[1]) + 1.0
        distances = np.exp(np.minimum(measured.log_distances.numpy(), top))
        steps = np.arange(distances.shape[0])
        theory = float(
            iteration_rate(lr, momentum, surface.eigenvalues, nesterov=nesterov)
        )
        self.run_line.set_data(steps, distances[:, 0])
        self.optimum_line.set_data(steps, distances[:, 1])
        log_reference = math.log(distances[0, 0]) + steps * math.log(
            max(theory, 1e-300)
        )
        self.theory_line.set_data(steps, np.exp(np.minimum(log_reference, top)))

        self.rate = float(measured.rates[0])
        self.theoretical_rate = theory
        fall = measured.log_distances[:, 0] - measured.log_distances[0, 0]
        self.steps_to_factor = int(steps_to_target(fall, math.log(self.factor)))
        self.status.value = self._describe()
        self.redraw()

    def _describe(self) -> str:
        rates = (
            f"rate {self.theoretical_rate:.3g} per step in theory, "
            f"{self.rate:.3g} measured"
        )
        if self.theoretical_rate >= 1.0:
            return f"diverges: {rates}"
        if self.steps_to_factor >= 0:
            return (
                f"{rates}: the distance fell to {self.factor:g} of its start in "
                f"{steps_text(self.steps_to_factor)}"
            )
        estimate = int(steps_to_reduce(self.theoretical_rate, self.factor))
        return (
            f"{rates}: about {estimate} steps to bring the distance to "
            f"{self.factor:g} of its start"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs)
        # The static picture for renderers without a kernel. render() draws
        # the animated artists too, which a plain savefig would skip.
        bundle["image/png"] = base64.b64encode(self.render()).decode()
        return bundle


__all__ = ["MomentumDashboard", "NesterovStepper", "RateMapDashboard"]
