"""Per-coordinate step sizes on a badly scaled bowl, for the adaptive chapter.

:class:`EffectiveStepDashboard` runs plain gradient descent or an adaptive
optimizer on the quadratic bowl ``f = 1/2 p^T A p`` whose curvatures are 1
and ``condition_number``, and draws the path beside the effective step size
of each coordinate over time (:func:`course_lib.adaptive.trace_effective_steps`).
On the axis-aligned bowl the ideal step of a coordinate is one over its
curvature. Rotating the bowl mixes the coordinates, so a per-coordinate
step can no longer match the curvatures.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from torch import Tensor

from course_lib.adaptive import EffectiveStepTrace, trace_effective_steps
from course_lib.landscapes import Quadratic, draw_contours, get_surface
from course_lib.optim import default_hyperparameters
from course_lib.trajectories import DIVERGENCE_BOUND
from course_lib.widgets.base import Dashboard, steps_text

# The optimizers offered, and the torch name of the decay rate each takes
# from the ``decay`` slider (None: the optimizer has no such rate).
DECAY_NAMES: dict[str, str | None] = {
    "SGD": None,
    "Adagrad": None,
    "RMSprop": "alpha",
    "Adadelta": "rho",
    "Adam": "beta2",
}

# Floor of the log-scale step-size panel, where an exact zero step would vanish.
_STEP_FLOOR = 1e-12


def diverged_step(trace: EffectiveStepTrace) -> int:
    """Return the first step whose position is not finite or beyond the bound.

    The bound is :data:`course_lib.trajectories.DIVERGENCE_BOUND`, as for
    the other dashboards' runs; -1 means the run did not diverge.
    """
    positions = trace.positions.reshape(trace.positions.shape[0], -1)
    bad = ~torch.isfinite(positions).all(dim=1) | (
        positions.abs() > DIVERGENCE_BOUND
    ).any(dim=1)
    if not bool(bad.any()):
        return -1
    return int(bad.to(torch.int8).argmax())


class EffectiveStepDashboard(Dashboard):
    """Effective per-coordinate step sizes of an optimizer on a bowl.

    Controls (``controls``):

    - ``optimizer``: SGD, Adagrad, RMSprop, Adadelta or Adam;
    - ``lr``: the learning rate, log scale;
    - ``decay``: the decay rate rho of the squared-gradient average, which is
      RMSprop's ``alpha``, Adadelta's ``rho`` and Adam's beta2 (hidden for
      SGD and Adagrad);
    - ``condition_number``: the curvature of the steep direction, the other
      being 1, log scale;
    - ``angle``: the rotation of the bowl in degrees;
    - ``steps``: the number of steps.

    ``status`` reads ``"Adagrad: loss 3.1e-06 after 200 steps · step sizes
    at the end: x 0.41, y 0.0041 (ratio 100)"``, or ``"diverged at step
    N"`` for a run that leaves the finite region or the divergence bound,
    drawn up to its last finite point.

    Args:
        optimizer: the initial optimizer.
        lr: the initial learning rate.
        condition_number: the initial curvature of the steep direction.
        steps: the initial number of steps.
        angle: the initial rotation in degrees.
        decay: the initial decay rate; the optimizer's default when None.
    """

    def __init__(
        self,
        optimizer: str = "Adagrad",
        lr: float = 0.5,
        condition_number: float = 100.0,
        steps: int = 200,
        *,
        angle: float = 0.0,
        decay: float | None = None,
    ) -> None:
        if optimizer not in DECAY_NAMES:
            raise ValueError(
                f"optimizer must be one of {', '.join(DECAY_NAMES)}, got {optimizer!r}"
            )
        super().__init__(figsize=(10.0, 4.2))
        self.trace: EffectiveStepTrace | None = None
        self._surface_key: tuple[float, float] | None = None
        self._contours: list[Any] = []
        self.surface: Quadratic = get_surface("quadratic")
        if decay is None:
            decay = self._default_decay(optimizer) or 0.9
        self.controls = {
            "optimizer": widgets.Dropdown(
                options=list(DECAY_NAMES), value=optimizer, description="optimizer"
            ),
            "lr": widgets.FloatLogSlider(
                value=lr,
                base=10,
                min=-4,
                max=1,
                step=0.05,
                description="lr",
                readout_format=".3g",
                continuous_update=False,
            ),
            "decay": widgets.FloatSlider(
                value=decay,
                min=0.5,
                max=0.9999,
                step=0.0001,
                description="decay rho",
                readout_format=".4g",
                continuous_update=False,
            ),
            "condition_number": widgets.FloatLogSlider(
                value=condition_number,
                base=10,
                min=0,
                max=3,
                step=0.1,
                description="curvature y",
                readout_format=".3g",
                continuous_update=False,
            ),
            "angle": widgets.FloatSlider(
                value=angle,
                min=0.0,
                max=90.0,
                step=5.0,
                description="rotation °",
                continuous_update=False,
            ),
            "steps": widgets.IntSlider(
                value=steps,
                min=10,
                max=1000,
                step=10,
                description="steps",
                continuous_update=False,
            ),
        }
        self._build_figure()
        self._connect()

    @staticmethod
    def _default_decay(optimizer: str) -> float | None:
        name = DECAY_NAMES[optimizer]
        if name is None:
            return None
        defaults = default_hyperparameters(optimizer)
        return float(defaults["betas"][1]) if name == "beta2" else float(defaults[name])

    # -- figure ------------------------------------------------------------------

    def _build_figure(self) -> None:
        self.ax_path = self.figure.add_axes((0.06, 0.13, 0.36, 0.77))
        self.ax_steps = self.figure.add_axes((0.55, 0.13, 0.43, 0.77))
        (self.path_line,) = self.ax_path.plot(
            [], [], "-", color="tab:red", marker=".", markersize=3, linewidth=1.0
        )
        (self.start_marker,) = self.ax_path.plot(
            [], [], "o", color="tab:orange", markeredgecolor="k", markersize=8
        )
        (self.end_marker,) = self.ax_path.plot(
            [], [], "X", color="tab:red", markeredgecolor="k", markersize=9
        )

        # The step sizes, with the per-coordinate ideal 1 / curvature and the
        # stability limit 2 / lambda_max of gradient descent as references.
        ax = self.ax_steps
        (self.step_x,) = ax.plot([], [], color="tab:blue", label="coordinate x")
        (self.step_y,) = ax.plot([], [], color="tab:green", label="coordinate y")
        self.ideal_x = ax.axhline(1.0, color="tab:blue", linestyle="--", linewidth=0.9)
        self.ideal_y = ax.axhline(
            0.01, color="tab:green", linestyle="--", linewidth=0.9
        )
        self.stability = ax.axhline(0.02, color="k", linestyle=":", linewidth=0.9)
        self.ideal_x.set_label("1 / curvature x")
        self.ideal_y.set_label("1 / curvature y")
        self.stability.set_label("2 / largest curvature")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("effective step size (log scale)")
        ax.set_title("effective step size of each coordinate")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)

        self.animated = [
            self.path_line,
            self.start_marker,
            self.end_marker,
            self.step_x,
            self.step_y,
        ]
        self._step_limits: tuple[int, float, float] | None = None

    def control_box(self) -> widgets.Widget:
        """Lay out the controls in two rows: the optimizer, then the bowl."""
        c = self.controls
        return widgets.VBox(
            [
                widgets.HBox([c["optimizer"], c["lr"], c["decay"]]),
                widgets.HBox([c["condition_number"], c["angle"], c["steps"]]),
            ]
        )

    def _show_surface(self, condition_number: float, angle_degrees: float) -> None:
        """Redraw the contours and reference lines when the bowl changes."""
        key = (condition_number, angle_degrees)
        if key == self._surface_key:
            return
        self.surface = get_surface(
            "quadratic",
            condition_number=condition_number,
            angle=math.radians(angle_degrees),
        )
        for artist in self._contours:
            artist.remove()

        ax = self.ax_path
        before = set(ax.get_children())
        draw_contours(ax, self.surface, resolution=100)
        self._contours = [a for a in ax.get_children() if a not in before]
        ax.set_title(
            f"bowl with curvatures 1 and {condition_number:.3g}, "
            f"rotated {angle_degrees:.0f}°"
        )

        lambda_min, lambda_max = self.surface.eigenvalues.tolist()
        self.ideal_x.set_ydata([1.0 / lambda_min] * 2)
        self.ideal_y.set_ydata([1.0 / lambda_max] * 2)
        self.stability.set_ydata([2.0 / lambda_max] * 2)
        # The per-coordinate ideal exists only while the axes are the
        # bowl's principal directions.
        aligned = angle_degrees == 0.0
        self.ideal_x.set_visible(aligned)
        self.ideal_y.set_visible(aligned)
        self._surface_key = key
        self._step_limits = None
        self.invalidate_background()

    # -- update ------------------------------------------------------------------

    def hyperparameters(self) -> dict[str, Any]:
        """Return the optimizer's keyword arguments from the current controls."""
        optimizer = self.controls["optimizer"].value
        settings: dict[str, Any] = {"lr": self.controls["lr"].value}
        name = DECAY_NAMES[optimizer]
        if name == "beta2":
            beta1 = default_hyperparameters(optimizer)["betas"][0]
            settings["betas"] = (beta1, self.controls["decay"].value)
        elif name is not None:
            settings[name] = self.controls["decay"].value
        return settings

    def update(self) -> None:
        """Rerun the optimizer on the bowl and redraw the path and step sizes."""
        c = self.controls
        optimizer = c["optimizer"].value
        c["decay"].layout.display = None if DECAY_NAMES[optimizer] else "none"
        self._show_surface(c["condition_number"].value, c["angle"].value)
        start = torch.tensor(self.surface.default_start, dtype=torch.float64)
        steps = c["steps"].value
        # The bowl is centered at the origin, so its gradient is A p: one
        # matrix product, several times cheaper than Surface.grad's general
        # path, which keeps an update within its time budget.
        hessian = self.surface.hessian_matrix

        def gradient(t: int, point: Tensor) -> Tensor:
            return hessian @ point

        trace = trace_effective_steps(
            optimizer, gradient, start, steps, **self.hyperparameters()
        )
        self.trace = trace
        diverged_at = diverged_step(trace)
        last = trace.steps if diverged_at < 0 else diverged_at - 1
        self._draw(trace, last)
        if diverged_at >= 0:
            self.status.value = f"{optimizer}: diverged at step {diverged_at}"
        else:
            sizes = trace.step_sizes[-1].tolist()
            loss = float(self.surface.value(trace.positions[-1]))
            self.status.value = (
                f"{optimizer}: loss {loss:.3g} after {steps_text(steps)} · step "
                f"sizes at the end: x {sizes[0]:.3g}, y {sizes[1]:.3g} "
                f"(ratio {sizes[0] / sizes[1]:.3g})"
            )
        self.redraw()

    def _draw(self, trace: EffectiveStepTrace, last: int) -> None:
        path = trace.positions[: last + 1].numpy()
        self.path_line.set_data(path[:, 0], path[:, 1])
        self.start_marker.set_data([path[0, 0]], [path[0, 1]])
        self.end_marker.set_data([path[-1, 0]], [path[-1, 1]])
        # Step t's size belongs to step t (from 1). A diverged run is drawn
        # up to its last finite step.
        sizes = trace.step_sizes[: max(last, 0)].numpy()
        sizes = np.where(np.isfinite(sizes), np.maximum(sizes, _STEP_FLOOR), np.nan)
        steps = np.arange(1, len(sizes) + 1)
        self.step_x.set_data(steps, sizes[:, 0] if len(sizes) else [])
        self.step_y.set_data(steps, sizes[:, 1] if len(sizes) else [])
        finite = sizes[np.isfinite(sizes)]
        references = [
            line.get_ydata()[0] for line in (self.ideal_x, self.ideal_y, self.stability)
        ]
        values = np.concatenate([finite, references])
        smallest = max(values.min(), _STEP_FLOOR)
        largest = values.max()
        # Keep the current limits while the data fit inside them and fill at
        # least a hundredth of the range on each side: a change of limits
        # forces a full redraw, which costs several times a blitted update.
        if self._step_limits is not None:
            steps_limit, current_low, current_high = self._step_limits
            fits = current_low <= smallest and largest <= current_high
            tight = smallest <= 100 * current_low and 100 * largest >= current_high
            if steps_limit == max(trace.steps, 1) and fits and tight:
                return
        low = 10.0 ** math.floor(math.log10(smallest) - 0.25)
        high = 10.0 ** math.ceil(math.log10(largest) + 0.25)
        limits = (max(trace.steps, 1), low, high)
        if limits != self._step_limits:
            self.ax_steps.set_xlim(0, limits[0])
            self.ax_steps.set_ylim(low, high)
            self._step_limits = limits
            self.invalidate_background()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs)
        # The static picture for renderers without a kernel. render() draws
        # the animated artists too, which a plain savefig would skip.
        bundle["image/png"] = base64.b64encode(self.render()).decode()
        return bundle


__all__ = ["DECAY_NAMES", "EffectiveStepDashboard", "diverged_step"]
