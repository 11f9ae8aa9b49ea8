"""The welcome chapter's dashboard: a ball rolling down a 1-D loss curve."""

from __future__ import annotations

import math

import ipywidgets as widgets
import numpy as np

from course_lib.widgets.base import Dashboard, steps_text

# Beyond this distance from the origin a run counts as diverged: the curve
# grows like w**4, so the next loss would overflow soon after.
DIVERGENCE_BOUND = 1e6


def welcome_loss(w: float) -> float:
    """Compute a double-well loss: global minimum near -1.8, local one near 1.6."""
    return 0.1 * w**4 - 0.6 * w**2 + 0.25 * w + 1.6


def welcome_loss_derivative(w: float) -> float:
    """Compute the derivative of :func:`welcome_loss`."""
    return 0.4 * w**3 - 1.2 * w + 0.25


def gradient_descent_1d(start: float, lr: float, steps: int) -> tuple[list[float], int]:
    """Take ``steps`` gradient-descent steps on :func:`welcome_loss`.

    Each step computes w <- w - lr * f'(w).

    Returns:
        The visited positions (``start`` first) up to the last finite one,
        and the step at which the run diverged, or -1 if it did not.
    """
    positions = [start]
    w = start
    for step in range(1, steps + 1):
        w = w - lr * welcome_loss_derivative(w)
        if not math.isfinite(w) or abs(w) > DIVERGENCE_BOUND:
            return positions, step
        positions.append(w)
    return positions, -1


class BallOnCurve(Dashboard):
    """Gradient descent on a 1-D loss curve: choose the start, step and count.

    Controls: ``start`` (the initial weight w0), ``lr`` (the learning rate,
    which scales each step) and ``steps`` (how many steps to take).
    """

    bounds = (-3.0, 3.0)

    def __init__(self, start: float = 2.5, lr: float = 0.05, steps: int = 10) -> None:
        super().__init__(figsize=(6.4, 3.6))
        self.controls = {
            "start": widgets.FloatSlider(
                value=start, min=-3.0, max=3.0, step=0.05, description="start w0"
            ),
            "lr": widgets.FloatLogSlider(
                value=lr, base=10, min=-3, max=0.5, step=0.05, description="lr"
            ),
            "steps": widgets.IntSlider(
                value=steps, min=0, max=100, description="steps"
            ),
        }

        self.ax = self.figure.add_subplot()
        grid = np.linspace(*self.bounds, 400)
        self.ax.plot(grid, [welcome_loss(w) for w in grid], color="0.3", lw=1.5)
        (self.trail,) = self.ax.plot([], [], "o-", color="tab:blue", ms=4, lw=1)
        (self.ball,) = self.ax.plot([], [], "o", color="tab:red", ms=14)
        self.ax.set_xlim(*self.bounds)
        self.ax.set_ylim(0.0, welcome_loss(self.bounds[1]) + 0.5)
        self.ax.set_xlabel("weight w")
        self.ax.set_ylabel("loss f(w)")
        self.ax.set_title("Gradient descent: w ← w − lr · f′(w)")
        self.figure.tight_layout()
        self.animated = [self.trail, self.ball]

        self.positions: list[float] = []
        self.diverged_at = -1
        self._connect()

    def update(self) -> None:
        start = float(self.controls["start"].value)
        lr = float(self.controls["lr"].value)
        steps = int(self.controls["steps"].value)
        self.positions, self.diverged_at = gradient_descent_1d(start, lr, steps)

        losses = [welcome_loss(w) for w in self.positions]
        self.trail.set_data(self.positions, losses)
        self.ball.set_data(self.positions[-1:], losses[-1:])

        w = self.positions[-1]
        if self.diverged_at >= 0:
            self.status.value = (
                f"diverged at step {self.diverged_at}: lr {lr:.3g} is too large "
                f"(last finite w = {w:.3g})"
            )
        else:
            self.status.value = (
                f"loss {losses[-1]:.4f} at w = {w:.3f} after {steps_text(steps)} "
                f"(slope f'(w) = {welcome_loss_derivative(w):.3g})"
            )
        self.redraw()
