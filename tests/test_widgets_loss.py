"""The chapter 01 dashboards, driven headlessly, with torch.nn.functional as oracle."""

from __future__ import annotations

import io
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from course_lib.widgets import LossExplorer, LossSurface
from course_lib.widgets.base import figure_png
from course_lib.widgets.loss import (
    LOSS_NAMES,
    REGULAR_OFFSETS,
    best_constant_prediction,
    elementwise_loss,
    explorer_data,
    loss_and_gradient,
    loss_surface,
    mean_loss_curve,
)

DTYPE = torch.float64


def _oracle(name: str, prediction: torch.Tensor, target: torch.Tensor, delta=1.0):
    """The explorer's losses written with torch.nn.functional."""
    if name == "MSE":
        return F.mse_loss(prediction, target, reduction="none")
    if name == "MAE":
        return F.l1_loss(prediction, target, reduction="none")
    if name == "Huber":
        return F.huber_loss(prediction, target, reduction="none", delta=delta)
    if name == "binary cross-entropy":
        return F.binary_cross_entropy_with_logits(prediction, target, reduction="none")
    zeros = torch.zeros_like(prediction)
    logits = torch.stack([zeros, prediction, zeros], dim=-1)
    return F.cross_entropy(
        logits.reshape(-1, 3), target.reshape(-1).long(), reduction="none"
    ).reshape(prediction.shape)


def _oracle_gradient(name, prediction: float, target: float, delta=1.0) -> float:
    point = torch.tensor(prediction, dtype=DTYPE, requires_grad=True)
    _oracle(name, point, torch.tensor(target, dtype=DTYPE), delta).backward()
    return point.grad.item()


# -- pure functions ------------------------------------------------------------------


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_elementwise_loss_matches_torch(name) -> None:
    prediction = torch.linspace(-4, 4, 33, dtype=DTYPE)
    target = torch.full_like(prediction, 1.0)
    torch.testing.assert_close(
        elementwise_loss(name, prediction, target, 0.7),
        _oracle(name, prediction, target, 0.7),
    )


@pytest.mark.parametrize("name", LOSS_NAMES)
@pytest.mark.parametrize(("prediction", "target"), [(1.5, 0.0), (-2.2, 1.0)])
def test_loss_and_gradient_matches_torch(name, prediction, target) -> None:
    value, gradient = loss_and_gradient(name, prediction, target, 0.7)
    expected = _oracle(
        name,
        torch.tensor(prediction, dtype=DTYPE),
        torch.tensor(target, dtype=DTYPE),
        0.7,
    )
    assert value == pytest.approx(expected.item(), rel=1e-12)
    assert gradient == pytest.approx(
        _oracle_gradient(name, prediction, target, 0.7), rel=1e-12
    )


def test_explorer_data_regression() -> None:
    targets = explorer_data("MSE", 0.5, 6.0, 1)
    assert len(targets) == 11
    torch.testing.assert_close(targets[:10], 0.5 + REGULAR_OFFSETS)
    assert targets[10].item() == 6.5


def test_explorer_data_classification() -> None:
    targets = explorer_data("binary cross-entropy", 0.5, 6.0, 0)
    assert targets.tolist() == [0.0] * 10 + [1.0]


def test_mean_loss_curve_matches_torch() -> None:
    targets = explorer_data("Huber", 0.0, 9.0, 1)
    grid = torch.linspace(-3, 3, 7, dtype=DTYPE)
    curve = mean_loss_curve("Huber", grid, targets, 1.5)
    for c, value in zip(grid, curve):
        expected = F.huber_loss(torch.full_like(targets, c.item()), targets, delta=1.5)
        assert value.item() == pytest.approx(expected.item(), rel=1e-12)


def test_best_constant_mse_is_mean() -> None:
    targets = explorer_data("MSE", 0.3, 12.0, 1)
    best, _ = best_constant_prediction("MSE", targets, -5.0, 20.0)
    assert best == pytest.approx(targets.mean().item(), abs=1e-3)


def test_best_constant_mae_is_median() -> None:
    targets = explorer_data("MAE", 0.3, 12.0, 1)
    best, _ = best_constant_prediction("MAE", targets, -5.0, 20.0)
    assert best == pytest.approx(targets.median().item(), abs=1e-3)


def test_best_constant_huber_matches_lbfgs() -> None:
    targets = explorer_data("Huber", 0.0, 15.0, 1)
    best, _ = best_constant_prediction("Huber", targets, -5.0, 20.0, delta=1.0)
    c = torch.zeros((), dtype=DTYPE, requires_grad=True)
    optimizer = torch.optim.LBFGS([c], max_iter=200, tolerance_grad=1e-12)

    def closure():
        optimizer.zero_grad()
        loss = F.huber_loss(c.expand_as(targets), targets, delta=1.0)
        loss.backward()
        return loss

    optimizer.step(closure)
    assert best == pytest.approx(c.item(), abs=1e-3)


def test_best_constant_logit_is_log_odds() -> None:
    targets = explorer_data("binary cross-entropy", 0.0, 0.0, 1)
    best, _ = best_constant_prediction("binary cross-entropy", targets, -6.0, 6.0)
    # 10 of 11 labels are 1, so the best probability is 10/11.
    expected = torch.logit(torch.tensor(10 / 11, dtype=DTYPE)).item()
    assert best == pytest.approx(expected, abs=1e-3)


# -- the loss explorer ---------------------------------------------------------------


@pytest.fixture
def explorer():
    dashboard = LossExplorer(loss="MSE", prediction=1.5, target=0.0, outlier=8.0)
    yield dashboard
    dashboard.close()


def test_explorer_status_default(explorer) -> None:
    expected = F.mse_loss(torch.tensor(1.5), torch.tensor(0.0)).item()
    assert explorer.status.value.startswith(f"MSE: loss {expected:.4f}")
    assert "gradient 3.0000" in explorer.status.value


def test_explorer_curve_is_the_loss(explorer) -> None:
    explorer.controls["loss"].value = "Huber"
    explorer.controls["delta"].value = 0.5
    explorer.controls["target"].value = 1.0
    xs, ys = explorer.curve.get_data()
    expected = _oracle(
        "Huber", torch.tensor(xs), torch.full((len(xs),), 1.0, dtype=DTYPE), 0.5
    )
    np.testing.assert_allclose(ys, expected.numpy(), rtol=1e-12)


def test_explorer_tangent_slope(explorer) -> None:
    explorer.controls["loss"].value = "binary cross-entropy"
    explorer.controls["prediction"].value = -1.0
    xs, ys = explorer.tangent.get_data()
    slope = (ys[1] - ys[0]) / (xs[1] - xs[0])
    assert slope == pytest.approx(_oracle_gradient("binary cross-entropy", -1.0, 1.0))


def test_explorer_point_on_curve(explorer) -> None:
    explorer.controls["prediction"].value = -0.5
    x, y = explorer.point.get_data()
    assert list(x) == [-0.5]
    assert y[0] == pytest.approx(0.25)


def test_explorer_outlier_moves_mse(explorer) -> None:
    explorer.controls["outlier"].value = 2.0
    near = explorer.best_prediction
    explorer.controls["outlier"].value = 13.0
    far = explorer.best_prediction
    # The mean of 11 targets moves by 1/11 of the outlier's move.
    assert far - near == pytest.approx(11.0 / 11, abs=1e-3)


def test_explorer_outlier_barely_moves_mae(explorer) -> None:
    explorer.controls["loss"].value = "MAE"
    explorer.controls["outlier"].value = 2.0
    near = explorer.best_prediction
    explorer.controls["outlier"].value = 13.0
    far = explorer.best_prediction
    assert far == pytest.approx(near, abs=1e-3)


def test_explorer_best_line_drawn(explorer) -> None:
    xs = explorer.best_line.get_xdata()
    assert xs[0] == pytest.approx(explorer.best_prediction)
    assert explorer.best_prediction == pytest.approx(8.0 / 11, abs=1e-3)


def test_explorer_classification_controls(explorer) -> None:
    explorer.controls["loss"].value = "cross-entropy"
    assert explorer.controls["target"].disabled
    assert explorer.controls["outlier"].disabled
    assert not explorer.controls["label"].disabled
    assert "for label 1" in explorer.status.value


def test_explorer_label_flips_gradient(explorer) -> None:
    explorer.controls["loss"].value = "binary cross-entropy"
    explorer.controls["prediction"].value = 0.0
    explorer.controls["label"].value = 1
    assert explorer.gradient == pytest.approx(-0.5)
    explorer.controls["label"].value = 0
    assert explorer.gradient == pytest.approx(0.5)


def test_explorer_render_matches_full_draw(explorer) -> None:
    assert explorer.view is not None
    explorer.controls["prediction"].value = 2.5
    explorer.controls["outlier"].value = 15.0
    blitted = explorer.render()
    assert blitted.startswith(b"\x89PNG")
    fast = np.asarray(Image.open(io.BytesIO(blitted)).convert("RGB"), dtype=int)
    full = np.asarray(
        Image.open(io.BytesIO(figure_png(explorer.figure))).convert("RGB"), dtype=int
    )
    assert fast.shape == full.shape
    assert (np.abs(fast - full).sum(axis=-1) > 60).mean() < 0.002


def test_explorer_random_controls_never_raise(explorer) -> None:
    rng = random.Random(0)
    names = list(explorer.controls)
    for _ in range(60):
        name = rng.choice(names)
        control = explorer.controls[name]
        if name == "loss":
            control.value = rng.choice(LOSS_NAMES)
        elif name == "label":
            control.value = rng.choice([0, 1])
        else:
            control.value = rng.uniform(control.min - 1, control.max + 1)
        assert explorer.last_error is None
        assert "nan" not in explorer.status.value


# -- the loss surface -----------------------------------------------------------------


def _linear_data(n: int = 60, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(n, 2, generator=generator, dtype=DTYPE)
    noise = 0.3 * torch.randn(n, generator=generator, dtype=DTYPE)
    return features, features @ torch.tensor([0.7, -0.4], dtype=DTYPE) + noise


@pytest.fixture
def surface():
    features, targets = _linear_data()
    dashboard = LossSurface(features, targets, ("a", "b"), resolution=41)
    yield dashboard
    dashboard.close()


def test_loss_surface_matches_torch() -> None:
    features, targets = _linear_data(20)
    w1 = torch.tensor([-1.0, 0.0, 0.5], dtype=DTYPE)
    w2 = torch.tensor([0.25, 2.0], dtype=DTYPE)
    values = loss_surface(features, targets, w1, w2, "MAE")
    assert values.shape == (2, 3)
    for row, b in enumerate(w2):
        for column, a in enumerate(w1):
            expected = F.l1_loss(features @ torch.stack([a, b]), targets)
            assert values[row, column].item() == pytest.approx(expected.item())


def test_loss_surface_rejects_shapes() -> None:
    features, targets = _linear_data(10)
    grid = torch.zeros(3, dtype=DTYPE)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        loss_surface(features[:, :1], targets, grid, grid)
    with pytest.raises(ValueError, match=r"\(10,\)"):
        loss_surface(features, targets[:5], grid, grid)


def test_surface_rejects_mismatched_data() -> None:
    features, targets = _linear_data(10)
    with pytest.raises(ValueError, match=r"\(9, 2\)"):
        LossSurface(features, targets[:9])


def test_surface_least_squares_matches_numpy(surface) -> None:
    expected, *_ = np.linalg.lstsq(
        surface.features.numpy(), surface.targets.numpy(), rcond=None
    )
    np.testing.assert_allclose(surface.least_squares.numpy(), expected, rtol=1e-10)


def test_surface_grid_minimum_near_least_squares(surface) -> None:
    w1, w2, _ = surface.grid_minimum
    spacing = (surface.w1_grid[1] - surface.w1_grid[0]).item()
    assert abs(w1 - surface.least_squares[0].item()) <= spacing
    assert abs(w2 - surface.least_squares[1].item()) <= spacing


def test_surface_status_loss_and_gradient(surface) -> None:
    surface.controls["w1"].value = 0.3
    surface.controls["w2"].value = 0.2
    w = torch.tensor(
        [surface.controls["w1"].value, surface.controls["w2"].value],
        dtype=DTYPE,
        requires_grad=True,
    )
    expected = F.mse_loss(surface.features @ w, surface.targets)
    expected.backward()
    assert surface.status.value.startswith(f"MSE {expected.item():.4f}")
    torch.testing.assert_close(surface.gradient, w.grad)


def test_surface_point_and_fit(surface) -> None:
    surface.controls["w1"].value = 0.5
    x, y = surface.point.get_data()
    assert x[0] == pytest.approx(surface.controls["w1"].value)
    assert y[0] == pytest.approx(surface.controls["w2"].value)
    weights = torch.tensor([x[0], y[0]], dtype=DTYPE)
    offsets = surface.scatter.get_offsets()
    np.testing.assert_allclose(offsets[:, 1], (surface.features @ weights).numpy())


def test_surface_arrow_points_downhill(surface) -> None:
    surface.controls["w1"].value = -0.5
    u, v = surface.arrow.U[0], surface.arrow.V[0]
    g1, g2 = surface.gradient.tolist()
    assert u * g1 + v * g2 < 0
    assert math.isclose(u * g2 - v * g1, 0.0, abs_tol=1e-9)


def test_surface_loss_switch(surface) -> None:
    surface.controls["loss"].value = "Huber"
    assert surface.status.value.startswith("Huber ")
    assert "Huber" in surface.surfaces
    assert surface.contour is not None


def test_surface_random_controls_never_raise(surface) -> None:
    rng = random.Random(1)
    for _ in range(40):
        name = rng.choice(list(surface.controls))
        control = surface.controls[name]
        if name == "loss":
            control.value = rng.choice(["MSE", "MAE", "Huber"])
        else:
            control.value = rng.uniform(control.min - 1, control.max + 1)
        assert surface.last_error is None
        assert "nan" not in surface.status.value
