"""Dashboards of chapter 01: a loss explorer and a two-weight loss surface.

:class:`LossExplorer` plots one loss for one example against the
prediction, with its gradient as a tangent. Beside it, the mean loss over a
small data set with one outlier is plotted against a constant prediction:
its best value moves with the outlier for MSE and hardly at all for MAE.

:class:`LossSurface` draws the mean loss of the linear model
y_hat = w1 x1 + w2 x2 over a grid of the two weights, with a point set by
two sliders, the negative gradient there and the fit it gives.

Both are thin over the pure functions of this module, which compute with
:mod:`course_lib.losses`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import ipywidgets as widgets
import numpy as np
import torch
from torch import Tensor

from course_lib import losses
from course_lib.widgets.base import Dashboard

__all__ = [
    "CLASSIFICATION_LOSSES",
    "LOSS_NAMES",
    "REGRESSION_LOSSES",
    "LossExplorer",
    "LossSurface",
    "best_constant_prediction",
    "elementwise_loss",
    "explorer_data",
    "loss_and_gradient",
    "loss_surface",
    "mean_loss_curve",
]

REGRESSION_LOSSES = ("MSE", "MAE", "Huber")
CLASSIFICATION_LOSSES = ("binary cross-entropy", "cross-entropy")
LOSS_NAMES = REGRESSION_LOSSES + CLASSIFICATION_LOSSES

FORMULAS = {
    "MSE": "(ŷ − y)²",
    "MAE": "|ŷ − y|",
    "Huber": "½(ŷ − y)² if |ŷ − y| < δ, else δ(|ŷ − y| − ½δ)",
    "binary cross-entropy": "−[t log σ(z) + (1 − t) log(1 − σ(z))]",
    "cross-entropy": "−log softmax(0, z, 0)[t]",
}

# The explorer's data set: 10 examples spread evenly over target +- 1, plus
# one outlier. An odd count gives MAE a unique best constant prediction,
# the median.
REGULAR_OFFSETS = torch.linspace(-1.0, 1.0, 10, dtype=torch.float64)


def _check_loss_name(name: str, allowed: Sequence[str] = LOSS_NAMES) -> None:
    if name not in allowed:
        raise ValueError(f"unknown loss {name!r}; choose one of {', '.join(allowed)}")


def elementwise_loss(
    name: str, prediction: Tensor, target: Tensor, delta: float = 1.0
) -> Tensor:
    """Return the loss of each element, for predictions and targets of one shape.

    For the regression losses ``prediction`` is y_hat and ``target`` is y.
    For "binary cross-entropy", ``prediction`` is the logit z of label 1 and
    ``target`` the label t in {0, 1}. For "cross-entropy", ``prediction`` is
    the logit of class 1 among three classes with logits (0, z, 0), and
    ``target`` the class index t, so both classification losses fall as z
    grows when t = 1.
    """
    _check_loss_name(name)
    if name == "MSE":
        return losses.mse_loss(prediction, target, reduction="none")
    if name == "MAE":
        return losses.l1_loss(prediction, target, reduction="none")
    if name == "Huber":
        return losses.huber_loss(prediction, target, reduction="none", delta=delta)
    if name == "binary cross-entropy":
        return losses.binary_cross_entropy_with_logits(
            prediction, target.to(prediction.dtype), reduction="none"
        )
    zeros = torch.zeros_like(prediction)
    logits = torch.stack([zeros, prediction, zeros], dim=-1)
    flat = losses.cross_entropy(
        logits.reshape(-1, 3), target.reshape(-1).long(), reduction="none"
    )
    return flat.reshape(prediction.shape)


def loss_and_gradient(
    name: str, prediction: float, target: float, delta: float = 1.0
) -> tuple[float, float]:
    """Return the loss of one example and its derivative in the prediction."""
    point = torch.tensor(prediction, dtype=torch.float64, requires_grad=True)
    value = elementwise_loss(
        name, point, torch.tensor(target, dtype=torch.float64), delta
    )
    (gradient,) = torch.autograd.grad(value, point)
    return value.item(), gradient.item()


def explorer_data(name: str, target: float, outlier: float, label: int) -> Tensor:
    """Return the explorer's 11 targets.

    Regression: ``target`` + 10 offsets spread evenly over [-1, 1], and one
    outlier at ``target + outlier``. Classification: 10 examples with
    ``label`` and one mislabelled example with the other label, which plays
    the outlier's part, so ``target`` and ``outlier`` are not used.
    """
    _check_loss_name(name)
    if name in REGRESSION_LOSSES:
        regular = target + REGULAR_OFFSETS
        return torch.cat(
            [regular, torch.tensor([target + outlier], dtype=regular.dtype)]
        )
    labels = [label] * 10 + [1 - label]
    return torch.tensor(labels, dtype=torch.float64)


def mean_loss_curve(
    name: str, grid: Tensor, targets: Tensor, delta: float = 1.0
) -> Tensor:
    """Return the mean loss over ``targets`` for each constant prediction grid[i].

    The result has the grid's length.
    """
    predictions = grid[:, None].expand(len(grid), len(targets))
    per_example = elementwise_loss(
        name, predictions, targets[None, :].expand_as(predictions), delta
    )
    return per_example.mean(dim=1)


def best_constant_prediction(
    name: str, targets: Tensor, low: float, high: float, delta: float = 1.0
) -> tuple[float, float]:
    """Return the constant prediction in [low, high] with the lowest mean loss.

    A grid of 1201 points is refined once by a grid of 201 points around
    its best point, so the result is within 1e-5 * (high - low) of the
    minimizer: the mean for MSE, the median for MAE, logit(k / n) for binary
    cross-entropy with k of n labels equal to 1.

    Returns:
        The prediction and its mean loss.
    """
    coarse = torch.linspace(low, high, 1201, dtype=torch.float64)
    index = int(torch.argmin(mean_loss_curve(name, coarse, targets, delta)))
    spacing = (high - low) / 1200
    center = coarse[index].item()
    fine = torch.linspace(center - spacing, center + spacing, 201, dtype=torch.float64)
    values = mean_loss_curve(name, fine, targets, delta)
    best = int(torch.argmin(values))
    return fine[best].item(), values[best].item()


def _nice_upper_limit(value: float) -> float:
    """Return the smallest round number at least 1.1 * value.

    Round numbers are 1, 1.5, 2, 3, 5 and 7.5 times a power of ten.

    Axis limits snap to these values, so most slider moves keep the limits,
    and with them the cached background, unchanged.
    """
    value = max(1.1 * value, 1e-3)
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0):
        if factor * power >= value:
            return factor * power
    return 10.0 * power


class LossExplorer(Dashboard):
    """One loss, one example and a data set with an outlier.

    Controls: ``loss``, ``prediction`` (y_hat, or the logit z for the
    classification losses), ``target`` (y, regression), ``label`` (t,
    classification), ``outlier`` (how far above the target the data set's
    outlier lies, regression) and ``delta`` (Huber's delta).
    """

    prediction_range = (-4.0, 4.0)
    # x range of the data-set panel for the classification losses; for the
    # regression losses it spans the targets and snaps to multiples of 5.
    logit_range = (-6.0, 6.0)

    def __init__(
        self,
        loss: str = "MSE",
        prediction: float = 1.5,
        target: float = 0.0,
        outlier: float = 8.0,
    ) -> None:
        _check_loss_name(loss)
        super().__init__(figsize=(10.0, 3.8))
        low, high = self.prediction_range
        self.controls = {
            "loss": widgets.Dropdown(
                options=list(LOSS_NAMES), value=loss, description="loss"
            ),
            "prediction": widgets.FloatSlider(
                value=prediction, min=low, max=high, step=0.05, description="ŷ or z"
            ),
            "target": widgets.FloatSlider(
                value=target, min=-3.0, max=3.0, step=0.05, description="target y"
            ),
            "label": widgets.Dropdown(options=[0, 1], value=1, description="label t"),
            "outlier": widgets.FloatSlider(
                value=outlier, min=0.0, max=20.0, step=0.5, description="outlier"
            ),
            "delta": widgets.FloatSlider(
                value=1.0, min=0.1, max=5.0, step=0.1, description="Huber δ"
            ),
        }

        self.ax_one, self.ax_data = self.figure.subplots(1, 2)
        self.grid = torch.linspace(low, high, 401, dtype=torch.float64)

        ax = self.ax_one
        (self.curve,) = ax.plot([], [], color="tab:blue", lw=1.8)
        (self.tangent,) = ax.plot([], [], color="tab:red", lw=1.2, ls="--")
        (self.point,) = ax.plot([], [], "o", color="tab:red", ms=7)
        self.target_line = ax.axvline(0.0, color="0.4", lw=1, ls=":")
        ax.set_xlim(low, high)
        ax.set_ylabel("loss")

        ax = self.ax_data
        (self.data_curve,) = ax.plot([], [], color="tab:purple", lw=1.8)
        (self.data_point,) = ax.plot([], [], "o", color="tab:red", ms=7)
        self.best_line = ax.axvline(0.0, color="tab:green", lw=1.5)
        (self.rug,) = ax.plot([], [], "|", color="0.2", ms=12, mew=1.5)
        ax.set_ylabel("mean loss over 11 examples")

        self.figure.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.87)
        self.animated = [
            self.curve,
            self.tangent,
            self.point,
            self.target_line,
            self.data_curve,
            self.data_point,
            self.best_line,
            self.rug,
        ]
        self._layout: tuple = ()
        self.loss_value = math.nan
        self.gradient = math.nan
        self.best_prediction = math.nan
        self.best_loss = math.nan
        self.data_xlim = self.logit_range
        self._connect()

    def update(self) -> None:
        name = self.controls["loss"].value
        prediction = float(self.controls["prediction"].value)
        label = int(self.controls["label"].value)
        outlier = float(self.controls["outlier"].value)
        delta = float(self.controls["delta"].value)
        regression = name in REGRESSION_LOSSES
        target = float(self.controls["target"].value) if regression else float(label)

        # Controls that the chosen loss does not read are greyed out.
        self.controls["target"].disabled = not regression
        self.controls["outlier"].disabled = not regression
        self.controls["label"].disabled = regression
        self.controls["delta"].disabled = name != "Huber"

        one_top = self._draw_one_example(name, prediction, target, delta)
        data_top = self._draw_data_set(name, prediction, target, outlier, label, delta)
        self._set_layout(name, one_top, data_top)

        if regression:
            example = f"at ŷ = {prediction:.2f} for y = {target:.2f}"
            data = (
                f"with the outlier {outlier:g} above y, the best constant "
                f"prediction is {self.best_prediction:.2f}"
            )
        else:
            example = f"at z = {prediction:.2f} for label {label}"
            data = (
                "with one mislabelled example in 11, the best constant logit "
                f"is {self.best_prediction:.2f}"
            )
        self.status.value = (
            f"{name}: loss {self.loss_value:.4f}, gradient {self.gradient:.4f} "
            f"{example}; {data}"
        )
        self.redraw()

    def _draw_one_example(
        self, name: str, prediction: float, target: float, delta: float
    ) -> float:
        """Update the left panel; return the y-axis limit it needs."""
        grid = self.grid
        curve = elementwise_loss(name, grid, torch.full_like(grid, target), delta)
        self.loss_value, self.gradient = loss_and_gradient(
            name, prediction, target, delta
        )

        half_width = 0.15 * (grid[-1] - grid[0]).item()
        xs = np.array([prediction - half_width, prediction + half_width])
        self.curve.set_data(grid.numpy(), curve.numpy())
        self.tangent.set_data(xs, self.loss_value + self.gradient * (xs - prediction))
        self.point.set_data([prediction], [self.loss_value])
        self.target_line.set_xdata([target, target])
        self.target_line.set_visible(name in REGRESSION_LOSSES)
        return _nice_upper_limit(max(curve.max().item(), self.loss_value))

    def _draw_data_set(
        self,
        name: str,
        prediction: float,
        target: float,
        outlier: float,
        label: int,
        delta: float,
    ) -> float:
        """Update the right panel; return the y-axis limit it needs."""
        targets = explorer_data(name, target, outlier, label)
        regression = name in REGRESSION_LOSSES
        low, high = self._data_range(targets) if regression else self.logit_range
        grid = torch.linspace(low, high, 601, dtype=torch.float64)
        curve = mean_loss_curve(name, grid, targets, delta)
        self.best_prediction, self.best_loss = best_constant_prediction(
            name, targets, low, high, delta
        )
        current = mean_loss_curve(
            name, torch.tensor([prediction], dtype=torch.float64), targets, delta
        ).item()

        self.data_curve.set_data(grid.numpy(), curve.numpy())
        self.data_point.set_data([prediction], [current])
        self.best_line.set_xdata([self.best_prediction, self.best_prediction])
        self.rug.set_data(targets.numpy(), np.zeros(len(targets)))
        self.rug.set_visible(regression)
        self.data_xlim = (low, high)
        return _nice_upper_limit(max(curve.max().item(), current))

    @staticmethod
    def _data_range(targets: Tensor) -> tuple[float, float]:
        """Return the targets' range with 2 to spare, widened to multiples of 5."""
        low = 5.0 * math.floor((targets.min().item() - 2.0) / 5.0)
        high = 5.0 * math.ceil((targets.max().item() + 2.0) / 5.0)
        return low, high

    def _set_layout(self, name: str, one_top: float, data_top: float) -> None:
        """Set titles, labels and limits, and re-cache the background on change."""
        layout = (name, one_top, data_top, self.data_xlim)
        if layout == self._layout:
            return
        self._layout = layout
        regression = name in REGRESSION_LOSSES

        ax = self.ax_one
        ax.set_ylim(-0.04 * one_top, one_top)
        ax.set_title(f"one example: {name} = {FORMULAS[name]}", fontsize=9)
        if regression:
            ax.set_xlabel("prediction ŷ (dotted: target y)")
        elif name == "binary cross-entropy":
            ax.set_xlabel("logit z of label 1 (probability σ(z))")
        else:
            ax.set_xlabel("logit z of class 1 (logits 0, z, 0)")

        ax = self.ax_data
        ax.set_xlim(*self.data_xlim)
        ax.set_ylim(-0.04 * data_top, data_top)
        if regression:
            ax.set_xlabel("constant prediction ŷ for every example")
            ax.set_title(
                "10 targets near y and 1 outlier (ticks); green: best ŷ", fontsize=9
            )
        else:
            ax.set_xlabel("constant logit z for every example")
            ax.set_title(
                "10 examples with label t and 1 mislabelled; green: best z",
                fontsize=9,
            )
        self.invalidate_background()


# -- the loss surface of a two-weight linear model ---------------------------


def loss_surface(
    features: Tensor,
    targets: Tensor,
    w1: Tensor,
    w2: Tensor,
    loss: str = "MSE",
    delta: float = 1.0,
) -> Tensor:
    """Mean loss of y_hat = w1 x1 + w2 x2 at every pair of grid weights.

    Args:
        features: (N, 2) inputs x1, x2.
        targets: (N,) targets.
        w1, w2: 1-D grids of the two weights.
        loss: "MSE", "MAE" or "Huber".
        delta: Huber's delta.

    Returns:
        A (len(w2), len(w1)) tensor, rows following w2, as contour plots
        take it.
    """
    _check_loss_name(loss, REGRESSION_LOSSES)
    if features.dim() != 2 or features.shape[1] != 2:
        raise ValueError(
            f"features must have shape (N, 2), got {tuple(features.shape)}"
        )
    if targets.shape != (features.shape[0],):
        raise ValueError(
            f"targets must have shape ({features.shape[0]},), one per example, "
            f"got {tuple(targets.shape)}"
        )
    grid_w2, grid_w1 = torch.meshgrid(w2, w1, indexing="ij")
    weights = torch.stack([grid_w1.reshape(-1), grid_w2.reshape(-1)], dim=1)
    predictions = weights @ features.T  # (grid points, N)
    per_example = elementwise_loss(
        loss, predictions, targets[None, :].expand_as(predictions), delta
    )
    return per_example.mean(dim=1).reshape(len(w2), len(w1))


def _loss_and_weight_gradient(
    features: Tensor, targets: Tensor, weights: Tensor, loss: str, delta: float
) -> tuple[float, Tensor]:
    weights = weights.detach().clone().requires_grad_(True)
    value = elementwise_loss(loss, features @ weights, targets, delta).mean()
    (gradient,) = torch.autograd.grad(value, weights)
    return value.item(), gradient


class LossSurface(Dashboard):
    """The loss over the two weights of y_hat = w1 x1 + w2 x2, on real data.

    Controls: ``loss`` ("MSE", "MAE" or "Huber"), ``w1`` and ``w2``.

    Args:
        features: (N, 2) inputs, best standardized so both weights share a
            scale.
        targets: (N,) or (N, 1) targets.
        feature_names: names of the two features, for the axis labels.
        extent: ((w1 min, w1 max), (w2 min, w2 max)); by default each range
            spans the least-squares weight and 0, with 1 to spare.
        resolution: grid points per axis.
        delta: Huber's delta, in the targets' units.
    """

    def __init__(
        self,
        features: Tensor,
        targets: Tensor,
        feature_names: Sequence[str] = ("x1", "x2"),
        *,
        loss: str = "MSE",
        extent: tuple[tuple[float, float], tuple[float, float]] | None = None,
        resolution: int = 81,
        delta: float = 1.0,
    ) -> None:
        _check_loss_name(loss, REGRESSION_LOSSES)
        self.features = features.detach().to(torch.float64).cpu()
        self.targets = targets.detach().to(torch.float64).cpu().reshape(-1)
        if self.features.shape != (len(self.targets), 2):
            raise ValueError(
                f"features must have shape ({len(self.targets)}, 2), one row of "
                f"two features per target, got {tuple(features.shape)}"
            )
        self.feature_names = tuple(feature_names)
        self.delta = delta
        solution = torch.linalg.lstsq(self.features, self.targets[:, None]).solution
        self.least_squares = solution.reshape(-1)
        if extent is None:
            extent = tuple(
                (min(0.0, w) - 1.0, max(0.0, w) + 1.0)
                for w in self.least_squares.tolist()
            )  # type: ignore[assignment]
        self.extent = extent
        (w1_low, w1_high), (w2_low, w2_high) = extent
        self.w1_grid = torch.linspace(w1_low, w1_high, resolution, dtype=torch.float64)
        self.w2_grid = torch.linspace(w2_low, w2_high, resolution, dtype=torch.float64)

        super().__init__(figsize=(10.0, 4.2))
        self.controls = {
            "loss": widgets.Dropdown(
                options=list(REGRESSION_LOSSES), value=loss, description="loss"
            ),
            "w1": widgets.FloatSlider(
                value=0.0,
                min=w1_low,
                max=w1_high,
                step=(w1_high - w1_low) / 200,
                description="w1",
            ),
            "w2": widgets.FloatSlider(
                value=0.0,
                min=w2_low,
                max=w2_high,
                step=(w2_high - w2_low) / 200,
                description="w2",
            ),
        }

        self.ax_surface, self.ax_fit = self.figure.subplots(
            1, 2, gridspec_kw={"width_ratios": [1.25, 1]}
        )
        ax = self.ax_surface
        ax.set_xlim(w1_low, w1_high)
        ax.set_ylim(w2_low, w2_high)
        ax.set_xlabel(f"w1, weight of {self.feature_names[0]}")
        ax.set_ylabel(f"w2, weight of {self.feature_names[1]}")
        (self.minimum_marker,) = ax.plot([], [], "*", color="white", ms=14, mec="k")
        (self.point,) = ax.plot([], [], "o", color="tab:red", ms=8, mec="k")
        self.arrow = ax.quiver(
            [0.0],
            [0.0],
            [0.0],
            [0.0],
            angles="xy",
            scale_units="xy",
            scale=1.0,
            color="tab:red",
            width=0.006,
        )
        self.contour = None
        self.colorbar = None
        self._surface_name = ""
        self.surfaces: dict[str, Tensor] = {}

        ax = self.ax_fit
        self.scatter = ax.scatter(
            self.targets.numpy(), np.zeros(len(self.targets)), s=8, alpha=0.6
        )
        low, high = self.targets.min().item(), self.targets.max().item()
        ax.plot([low, high], [low, high], color="0.4", lw=1, ls="--")
        # Fixed limits keep the cached background valid; predictions far
        # outside the targets' range leave the frame.
        margin = 0.1 * (high - low) + 1e-6
        ax.set_xlim(low - margin, high + margin)
        ax.set_ylim(low - margin, high + margin)
        ax.set_xlabel("target y")
        ax.set_ylabel("prediction ŷ = w1 x1 + w2 x2")
        ax.set_title("fit at the current weights (dashed: ŷ = y)", fontsize=9)

        self.figure.subplots_adjust(left=0.07, right=0.98, bottom=0.13, top=0.9)
        self.animated = [self.point, self.arrow, self.scatter]
        self.loss_value = math.nan
        self.gradient = torch.full((2,), math.nan, dtype=torch.float64)
        self.grid_minimum = (math.nan, math.nan, math.nan)
        self._connect()

    def surface(self, loss: str) -> Tensor:
        """Return the mean loss on the grid, (len(w2_grid), len(w1_grid)), cached."""
        if loss not in self.surfaces:
            self.surfaces[loss] = loss_surface(
                self.features,
                self.targets,
                self.w1_grid,
                self.w2_grid,
                loss,
                self.delta,
            )
        return self.surfaces[loss]

    def _draw_surface(self, loss: str) -> None:
        values = self.surface(loss)
        if self.contour is not None:
            self.contour.remove()
        low, high = values.min().item(), values.max().item()
        # Squared spacing puts more contour lines near the minimum.
        levels = low + (high - low) * np.linspace(0.0, 1.0, 16) ** 2
        self.contour = self.ax_surface.contourf(
            self.w1_grid.numpy(),
            self.w2_grid.numpy(),
            values.numpy(),
            levels=levels,
            cmap="viridis",
        )
        if self.colorbar is None:
            self.colorbar = self.figure.colorbar(self.contour, ax=self.ax_surface)
        else:
            self.colorbar.update_normal(self.contour)
        self.colorbar.set_label(f"mean {loss}")

        index = int(torch.argmin(values))
        row, column = divmod(index, values.shape[1])
        self.grid_minimum = (
            self.w1_grid[column].item(),
            self.w2_grid[row].item(),
            values[row, column].item(),
        )
        self.minimum_marker.set_data([self.grid_minimum[0]], [self.grid_minimum[1]])
        self.ax_surface.set_title(
            f"mean {loss} over {len(self.targets)} examples (star: lowest grid point)",
            fontsize=9,
        )
        self._surface_name = loss
        self.invalidate_background()

    def update(self) -> None:
        loss = self.controls["loss"].value
        if loss != self._surface_name:
            self._draw_surface(loss)
        weights = torch.tensor(
            [float(self.controls["w1"].value), float(self.controls["w2"].value)],
            dtype=torch.float64,
        )
        self.loss_value, self.gradient = _loss_and_weight_gradient(
            self.features, self.targets, weights, loss, self.delta
        )

        w1, w2 = weights.tolist()
        self.point.set_data([w1], [w2])
        # The arrow points along -gradient, the steepest way down, with a
        # fixed length of 15% of the w1 range; its size is in the status.
        norm = self.gradient.norm().item()
        length = 0.15 * (self.extent[0][1] - self.extent[0][0])
        direction = -self.gradient / norm if norm > 0 else torch.zeros(2)
        self.arrow.set_offsets([[w1, w2]])
        self.arrow.set_UVC(
            [length * direction[0].item()], [length * direction[1].item()]
        )

        predictions = self.features @ weights
        self.scatter.set_offsets(
            np.column_stack([self.targets.numpy(), predictions.numpy()])
        )

        g1, g2 = self.gradient.tolist()
        best_w1, best_w2, best_value = self.grid_minimum
        self.status.value = (
            f"{loss} {self.loss_value:.4f} at w = ({w1:.2f}, {w2:.2f}); gradient "
            f"({g1:.3f}, {g2:.3f}); lowest grid point {best_value:.4f} at "
            f"({best_w1:.2f}, {best_w2:.2f})"
        )
        self.redraw()
