"""An optimizer's path on a 2-D loss surface, with every knob on a control.

:class:`SurfaceDashboard` runs one optimizer of :mod:`course_lib.optim` from
a start point on a surface of :mod:`course_lib.landscapes` and draws the
path over the surface's contours, beside the loss curve. Later chapters
reuse it with their own optimizer and hyperparameters.

The contour plot of each surface is drawn once and cached as a rendered
background. An update recomputes the run and redraws only the path, its
markers, the steepest-descent arrow and the loss curve on top of it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from course_lib.landscapes import SURFACES, Surface, draw_contours, get_surface
from course_lib.optim import OPTIMIZERS
from course_lib.trajectories import Trajectory, run
from course_lib.widgets.base import Dashboard, steps_text

# The hyperparameter controls, by control name. An optimizer uses the ones
# among its own hyperparameters (beta1 and beta2 form torch's ``betas``);
# the others are hidden while it is selected.
_HYPERPARAMETER_CONTROLS: dict[str, dict[str, Any]] = {
    "momentum": dict(kind="float", value=0.0, min=0.0, max=0.99, step=0.01),
    "nesterov": dict(kind="bool", value=False),
    "beta1": dict(kind="float", value=0.9, min=0.0, max=0.999, step=0.001),
    "beta2": dict(kind="float", value=0.999, min=0.9, max=0.9999, step=0.0001),
    "alpha": dict(kind="float", value=0.99, min=0.5, max=0.999, step=0.001),
    "rho": dict(kind="float", value=0.9, min=0.5, max=0.999, step=0.001),
    "centered": dict(kind="bool", value=False),
    "amsgrad": dict(kind="bool", value=False),
    "weight_decay": dict(kind="float", value=0.0, min=0.0, max=1.0, step=0.01),
}

# A run counts as ending at a minimum when it stops within this fraction of
# the plot's width from it.
_AT_MINIMUM_FRACTION = 0.01

# Length of the steepest-descent arrow, as a fraction of the plot's width.
_ARROW_FRACTION = 0.12

# Bottom of the loss panel's log scale. A run that gets closer to the
# minimum value than this runs along the bottom edge.
_GAP_FLOOR = 1e-12


def _hyperparameter_control(name: str) -> widgets.ValueWidget:
    spec = dict(_HYPERPARAMETER_CONTROLS[name])
    if spec.pop("kind") == "bool":
        return widgets.Checkbox(value=spec["value"], description=name, indent=False)
    return widgets.FloatSlider(
        description=name,
        continuous_update=False,
        readout_format=".4g",
        # ipywidgets' default label width cuts "weight_decay" short.
        style={"description_width": "initial"},
        **spec,
    )


def optimizer_hyperparameters(optimizer: str, values: dict[str, Any]) -> dict[str, Any]:
    """Map control values to the keyword arguments of ``optimizer``.

    Only the optimizer's own hyperparameters are kept; ``beta1`` and
    ``beta2`` become torch's ``betas`` tuple.

    >>> optimizer_hyperparameters("Adam", {"beta1": 0.8, "beta2": 0.99,
    ...                                    "momentum": 0.5})
    {'betas': (0.8, 0.99)}
    """
    names = set(OPTIMIZERS[optimizer].hyperparameters)
    hyperparameters = {
        name: value
        for name, value in values.items()
        if name in names and name in _HYPERPARAMETER_CONTROLS
    }
    if "betas" in names:
        hyperparameters["betas"] = (values["beta1"], values["beta2"])
    return hyperparameters


def _controls_used_by(optimizer: str) -> set[str]:
    names = set(OPTIMIZERS[optimizer].hyperparameters)
    used = names & set(_HYPERPARAMETER_CONTROLS)
    if "betas" in names:
        used |= {"beta1", "beta2"}
    return used


def describe_run(trajectory: Trajectory, index: int = 0) -> str:
    """Summarize one run of a trajectory in a sentence for ``status``.

    Returns ``"diverged at step N"`` for a run that diverged, else ``"loss
    L after N steps"``, with where it ended when that is within 1% of the
    plot's width from a minimum.
    """
    diverged_at = int(trajectory.diverged_at[index])
    if diverged_at >= 0:
        return f"diverged at step {diverged_at}"
    loss = float(trajectory.final_losses[index])
    message = f"loss {loss:.4g} after {steps_text(trajectory.steps)}"
    surface = trajectory.surface
    nearest, distance = surface.nearest_minimum(trajectory.final_positions[index])
    (x_min, x_max), _ = surface.bounds
    if float(distance) <= _AT_MINIMUM_FRACTION * (x_max - x_min):
        kind = "the global" if int(nearest) < len(surface.minima) else "a local"
        message += f", at {kind} minimum"
    return message


class SurfaceRunDashboard(Dashboard):
    """Shared figure machinery of dashboards that draw runs on a surface.

    It keeps one contour plot per surface on ``ax_surface``, drawn the first
    time the surface is shown and hidden while another one is. It caches one
    rendered background per background key (see :meth:`select_background`).
    The animated artists of one run are its path, start and end markers, the
    steepest-descent arrow at the start and, on ``ax_loss``, its loss curve
    and the step at which it diverged. Subclasses place the two axes, call
    :meth:`build_run_artists`, and in ``update`` call :meth:`show_surface`,
    :meth:`draw_start` and :meth:`draw_trajectory`.
    """

    def __init__(
        self,
        figsize: tuple[float, float],
        surface_params: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(figsize=figsize)
        self._surface_params = dict(surface_params or {})
        self._surfaces: dict[str, Surface] = {}
        self._contours: dict[str, list[Any]] = {}
        self._backgrounds: dict[Any, Any] = {}
        self._background_key: Any = None
        self._current: str | None = None
        self.trajectory: Trajectory | None = None

    def surface(self, name: str) -> Surface:
        """Return the surface called ``name``, built once with its parameters."""
        if name not in self._surfaces:
            params = self._surface_params.get(name, {})
            self._surfaces[name] = get_surface(name, **params)
        return self._surfaces[name]

    def build_run_artists(self, ax_surface: Any, ax_loss: Any, arrow: bool) -> None:
        """Create the animated artists of one run on the two axes."""
        self.ax_surface, self.ax_loss = ax_surface, ax_loss
        (self.path_line,) = ax_surface.plot(
            [], [], "-", color="tab:red", marker=".", markersize=3, linewidth=1.2
        )
        (self.start_marker,) = ax_surface.plot(
            [], [], "o", color="tab:orange", markeredgecolor="k", markersize=8
        )
        (self.end_marker,) = ax_surface.plot(
            [], [], "X", color="tab:red", markeredgecolor="k", markersize=9
        )
        self.arrow = ax_surface.quiver(
            [0.0],
            [0.0],
            [0.0],
            [0.0],
            angles="xy",
            scale_units="xy",
            scale=1.0,
            color="white",
            edgecolor="k",
            linewidth=0.5,
            width=0.012,
            zorder=4,
        )
        self.arrow.set_visible(arrow)

        (self.loss_line,) = ax_loss.plot([], [], color="tab:red")
        self.divergence_line = ax_loss.axvline(0.0, color="k", linestyle=":")
        ax_loss.set_yscale("log")
        ax_loss.set_xlabel("step")
        ax_loss.set_ylabel("loss minus its minimum")
        ax_loss.set_title("loss (log scale)")
        ax_loss.grid(True, which="major", alpha=0.3)

        self.animated += [
            self.path_line,
            self.start_marker,
            self.end_marker,
            self.arrow,
            self.loss_line,
            self.divergence_line,
        ]

    def select_background(self, key: Any) -> None:
        """Switch to the cached background for ``key``, rendered on first use.

        The key names everything static that an update may change (the
        surface, axis limits), so going back to a setting reuses its
        background instead of drawing the contours again.
        """
        if key == self._background_key:
            return
        if self._background_key is not None and self._background is not None:
            self._backgrounds[self._background_key] = self._background
        self._background_key = key
        self._background = self._backgrounds.get(key)

    def show_surface(self, name: str) -> Surface:
        """Show the contours of ``name`` on ``ax_surface`` and fit both axes."""
        surface = self.surface(name)
        if self._current == name:
            return surface
        if self._current is not None:
            for artist in self._contours[self._current]:
                artist.set_visible(False)
        ax = self.ax_surface
        if name in self._contours:
            for artist in self._contours[name]:
                artist.set_visible(True)
        else:
            before = set(ax.get_children())
            draw_contours(ax, surface, resolution=120)
            self._contours[name] = [a for a in ax.get_children() if a not in before]
        (x_min, x_max), (y_min, y_max) = surface.bounds
        ax.set_xlim(x_min, x_max)
        ax.set_ylim(y_min, y_max)
        ratio = (x_max - x_min) / (y_max - y_min)
        ax.set_aspect("equal" if 0.5 <= ratio <= 2.0 else "auto")
        ax.set_title(f"{name}: path from the start (orange)")
        # Fixed limits keep the loss panel's axes in the cached background:
        # from the floor to 10x the largest gap over the plotted region.
        _, _, values = surface.grid(60)
        top = float((values - surface.min_value).max()) * 10.0
        self.ax_loss.set_ylim(_GAP_FLOOR, max(top, 1.0))
        self._current = name
        return surface

    def set_step_axis(self, steps: int) -> None:
        """Set the loss panel's step axis to ``0..steps``."""
        self.ax_loss.set_xlim(0.0, float(max(steps, 1)))

    def draw_start(self, surface: Surface, start: tuple[float, float]) -> None:
        """Move the start marker and the steepest-descent arrow to ``start``."""
        self.start_marker.set_data([start[0]], [start[1]])
        gradient = surface.grad(torch.tensor(start, dtype=torch.float64))
        norm = float(torch.linalg.vector_norm(gradient))
        (x_min, x_max), _ = surface.bounds
        length = _ARROW_FRACTION * (x_max - x_min)
        if norm > 0 and math.isfinite(norm):
            direction = (-gradient / norm * length).tolist()
        else:
            direction = [0.0, 0.0]
        self.arrow.set_offsets([start])
        self.arrow.set_UVC([direction[0]], [direction[1]])

    def draw_trajectory(self, trajectory: Trajectory | None) -> None:
        """Draw the first run of ``trajectory`` up to its last finite point.

        None clears the run's artists.
        """
        self.trajectory = trajectory
        if trajectory is None:
            self.path_line.set_data([], [])
            self.end_marker.set_data([], [])
            self.loss_line.set_data([], [])
            self.divergence_line.set_visible(False)
            return
        path = trajectory.positions[:, 0].numpy()
        self.path_line.set_data(path[:, 0], path[:, 1])
        end = trajectory.final_positions[0].numpy()
        self.end_marker.set_data([end[0]], [end[1]])

        gaps = trajectory.gaps[:, 0].numpy()
        gaps = np.where(np.isfinite(gaps), np.maximum(gaps, _GAP_FLOOR), np.nan)
        self.loss_line.set_data(np.arange(len(gaps)), gaps)
        diverged_at = int(trajectory.diverged_at[0])
        self.divergence_line.set_visible(diverged_at >= 0)
        if diverged_at >= 0:
            self.divergence_line.set_xdata([diverged_at, diverged_at])

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs)
        # The static picture for renderers without a kernel. render() draws
        # the animated artists too, which a plain savefig would skip.
        bundle["image/png"] = base64.b64encode(self.render()).decode()
        return bundle


class SurfaceDashboard(SurfaceRunDashboard):
    """An optimizer's path on a 2-D test surface, with its loss curve.

    Controls (``controls``): ``surface`` (a name of ``surfaces``), ``x0``
    and ``y0`` (the start point, reset to the surface's standard start when
    the surface changes), ``optimizer`` (a class name of ``optimizers``),
    ``lr`` (the learning rate, log scale), ``steps``, and the hyperparameter
    controls ``momentum``, ``nesterov``, ``beta1``, ``beta2``, ``alpha``,
    ``rho``, ``centered``, ``amsgrad`` and ``weight_decay``, each shown only
    for the optimizers that take it.

    ``status`` reads ``"loss L after N steps"`` (with ``", at the global
    minimum"`` or ``", at a local minimum"`` when the run ends there),
    ``"diverged at step N"``, or ``"invalid setting: ..."`` with torch's
    message for a combination the optimizer rejects (Nesterov momentum
    without momentum, say).

    Args:
        surface: the initial surface's name.
        optimizer: the initial optimizer's class name.
        lr: the initial learning rate.
        steps: the initial number of steps.
        start: the initial start point; the surface's ``default_start`` when
            None.
        surfaces: the surfaces offered; all of :data:`SURFACES` when None.
        optimizers: the optimizers offered; all of
            :data:`course_lib.optim.OPTIMIZERS` when None.
        surface_params: keyword arguments of :func:`get_surface` per surface
            name, such as ``{"quadratic": {"condition_number": 50.0}}``.
        max_steps: the top of the ``steps`` slider.
        show_gradient: draw the steepest-descent arrow at the start point.
        **hyperparameters: initial values of the hyperparameter controls,
            such as ``momentum=0.9``.
    """

    def __init__(
        self,
        surface: str = "two_basins",
        optimizer: str = "SGD",
        lr: float = 0.1,
        steps: int = 100,
        *,
        start: Sequence[float] | None = None,
        surfaces: Sequence[str] | None = None,
        optimizers: Sequence[str] | None = None,
        surface_params: dict[str, dict[str, Any]] | None = None,
        max_steps: int = 1000,
        show_gradient: bool = True,
        **hyperparameters: Any,
    ) -> None:
        super().__init__(figsize=(9.6, 4.0), surface_params=surface_params)
        surfaces = list(surfaces or SURFACES)
        optimizers = list(optimizers or OPTIMIZERS)
        unknown = sorted(set(hyperparameters) - set(_HYPERPARAMETER_CONTROLS))
        if unknown:
            raise TypeError(
                f"no hyperparameter control named {', '.join(map(repr, unknown))}; "
                f"the controls are {', '.join(_HYPERPARAMETER_CONTROLS)}"
            )
        if surface not in surfaces:
            raise ValueError(f"surface {surface!r} is not among surfaces {surfaces}")
        if optimizer not in optimizers:
            raise ValueError(
                f"optimizer {optimizer!r} is not among optimizers {optimizers}"
            )
        self._holding = False

        first = self.surface(surface)
        x0, y0 = start if start is not None else first.default_start
        self.controls = {
            "surface": widgets.Dropdown(
                options=surfaces, value=surface, description="surface"
            ),
            "x0": widgets.FloatSlider(description="start x0", continuous_update=False),
            "y0": widgets.FloatSlider(description="start y0", continuous_update=False),
            "optimizer": widgets.Dropdown(
                options=optimizers, value=optimizer, description="optimizer"
            ),
            "lr": lr_slider(lr),
            "steps": widgets.IntSlider(
                value=steps,
                min=1,
                max=max_steps,
                description="steps",
                continuous_update=False,
            ),
        }
        for name in _HYPERPARAMETER_CONTROLS:
            self.controls[name] = _hyperparameter_control(name)
            if name in hyperparameters:
                self.controls[name].value = hyperparameters[name]
        self._set_start_range(first, (x0, y0))
        self.build_run_artists(
            self.figure.add_axes((0.06, 0.13, 0.42, 0.77)),
            self.figure.add_axes((0.6, 0.13, 0.38, 0.77)),
            arrow=show_gradient,
        )
        self._connect()

    def _set_start_range(self, surface: Surface, start: Sequence[float]) -> None:
        """Fit the start sliders to the surface's bounds without updating."""
        self._holding = True
        try:
            for key, (low, high), value in zip(("x0", "y0"), surface.bounds, start):
                slider = self.controls[key]
                # Widen first, so the new range never excludes the old value.
                slider.min = min(slider.min, low)
                slider.max = max(slider.max, high)
                slider.step = (high - low) / 200
                slider.value = float(np.clip(value, low, high))
                slider.min, slider.max = low, high
        finally:
            self._holding = False

    def _on_change(self, change: dict[str, Any]) -> None:
        if self._holding:
            return
        if change.get("owner") is self.controls["surface"]:
            surface = self.surface(change["new"])
            self._set_start_range(surface, surface.default_start)
        super()._on_change(change)

    def _show_controls_of(self, optimizer: str) -> None:
        used = _controls_used_by(optimizer)
        for name in _HYPERPARAMETER_CONTROLS:
            self.controls[name].layout.display = None if name in used else "none"

    def control_box(self) -> widgets.Widget:
        """Lay out the controls in rows: problem, start, optimizer settings."""
        c = self.controls
        hyperparameters = [c[name] for name in _HYPERPARAMETER_CONTROLS]
        return widgets.VBox(
            [
                widgets.HBox([c["surface"], c["optimizer"], c["steps"]]),
                widgets.HBox([c["x0"], c["y0"], c["lr"]]),
                widgets.Box(
                    hyperparameters, layout=widgets.Layout(flex_flow="row wrap")
                ),
            ]
        )

    def settings(self) -> dict[str, Any]:
        """Return the optimizer's keyword arguments from the current controls."""
        optimizer = self.controls["optimizer"].value
        values = {name: self.controls[name].value for name in _HYPERPARAMETER_CONTROLS}
        return dict(
            lr=self.controls["lr"].value,
            **optimizer_hyperparameters(optimizer, values),
        )

    def update(self) -> None:
        """Rerun the optimizer from the start point and redraw path and loss."""
        name = self.controls["surface"].value
        optimizer = self.controls["optimizer"].value
        steps = self.controls["steps"].value
        surface = self.show_surface(name)
        self.set_step_axis(steps)
        self.select_background((name, steps))
        self._show_controls_of(optimizer)
        start = (self.controls["x0"].value, self.controls["y0"].value)
        self.draw_start(surface, start)
        try:
            trajectory = run(
                surface,
                optimizer,
                start,
                steps,
                dtype=torch.float64,
                **self.settings(),
            )
        except ValueError as error:
            # The optimizer's constructor rejected the combination (torch's
            # message), which is a fact about the setting, not a failure.
            self.draw_trajectory(None)
            self.status.value = f"invalid setting: {error}"
        else:
            self.draw_trajectory(trajectory)
            self.status.value = describe_run(trajectory)
        self.redraw()


def lr_slider(value: float, description: str = "lr") -> widgets.FloatLogSlider:
    """Make a learning-rate slider on a log scale from 1e-5 to 10."""
    return widgets.FloatLogSlider(
        value=value,
        base=10,
        min=-5,
        max=1,
        step=0.05,
        description=description,
        readout_format=".3g",
        continuous_update=False,
    )


__all__ = [
    "SurfaceDashboard",
    "SurfaceRunDashboard",
    "describe_run",
    "lr_slider",
    "optimizer_hyperparameters",
]
