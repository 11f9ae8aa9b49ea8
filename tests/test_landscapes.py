"""Test surfaces and curves against torch.autograd, in float64.

Closed-form gradients and Hessians are compared with autograd's on random
batches. Stationary points are checked by their gradient and by the sign of
their Hessian's eigenvalues. Claims about gradient descent on a surface are
checked by plain tensor loops written here, not by course_lib's optimizers.
"""

from __future__ import annotations

import math

import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from course_lib.landscapes import (
    CURVES,
    SURFACES,
    contour_levels,
    draw_contours,
    get_curve,
    get_surface,
)

SURFACE_NAMES = sorted(SURFACES)


def random_points(surface, shape, seed=0, dtype=torch.float64):
    """Draw points uniformly inside the surface's plotting bounds."""
    generator = torch.Generator().manual_seed(seed)
    (x_min, x_max), (y_min, y_max) = surface.bounds
    unit = torch.rand(*shape, 2, generator=generator, dtype=dtype)
    low = torch.tensor([x_min, y_min], dtype=dtype)
    width = torch.tensor([x_max - x_min, y_max - y_min], dtype=dtype)
    return low + unit * width


def autograd_derivatives(function, points):
    """Return autograd's gradient and Hessian of a scalar function per point."""
    points = points.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(function(points).sum(), points, create_graph=True)
    rows = [
        torch.autograd.grad(gradient[..., i].sum(), points, retain_graph=True)[0]
        for i in range(2)
    ]
    return gradient.detach(), torch.stack(rows, dim=-2)


# -- the registry --------------------------------------------------------------


def test_registry_names():
    expected = {
        "quadratic",
        "ravine",
        "rosenbrock",
        "beale",
        "himmelblau",
        "saddle",
        "two_basins",
    }
    assert set(SURFACES) == expected


def test_get_surface_unknown_name():
    with pytest.raises(KeyError, match="unknown surface 'banana'"):
        get_surface("banana")


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_surface_name_matches_key(name):
    assert get_surface(name).name == name


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_params_rebuild_surface(name):
    surface = get_surface(name)
    rebuilt = get_surface(surface.name, **surface.params)
    points = random_points(surface, (20,))
    torch.testing.assert_close(rebuilt.value(points), surface.value(points))


# -- derivatives against autograd -----------------------------------------------


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_grad_matches_autograd(name):
    surface = get_surface(name)
    points = random_points(surface, (4, 25))
    expected, _ = autograd_derivatives(surface.value, points)
    actual = surface.grad(points)
    assert actual.shape == (4, 25, 2)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_hessian_matches_autograd(name):
    surface = get_surface(name)
    points = random_points(surface, (3, 20), seed=1)
    _, expected = autograd_derivatives(surface.value, points)
    actual = surface.hessian(points)
    assert actual.shape == (3, 20, 2, 2)
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        dict(condition_number=50.0, angle=0.6, lambda_min=0.5, center=(1.0, -2.0)),
        dict(condition_number=1.0),
    ],
)
def test_quadratic_variants_match_autograd(params):
    surface = get_surface("quadratic", **params)
    points = random_points(surface, (30,), seed=2)
    gradient, hessian = autograd_derivatives(surface.value, points)
    torch.testing.assert_close(surface.grad(points), gradient)
    torch.testing.assert_close(surface.hessian(points), hessian)


@pytest.mark.parametrize(
    "name, params",
    [
        ("ravine", dict(floor_curvature=0.5, wall_curvature=3.0, bend=1.0)),
        ("rosenbrock", dict(a=-0.5, b=10.0)),
        ("two_basins", dict(bowl_curvature=0.5, local_depth=1.0)),
    ],
)
def test_surface_params_match_autograd(name, params):
    surface = get_surface(name, **params)
    points = random_points(surface, (30,), seed=3)
    gradient, hessian = autograd_derivatives(surface.value, points)
    torch.testing.assert_close(surface.grad(points), gradient)
    torch.testing.assert_close(surface.hessian(points), hessian, rtol=1e-9, atol=1e-9)


# -- stationary points ---------------------------------------------------------


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_minima_are_stationary(name):
    surface = get_surface(name)
    gradient = surface.grad(surface.minima)
    assert gradient.abs().max() < 1e-10


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_minima_have_min_value(name):
    surface = get_surface(name)
    values = surface.value(surface.minima)
    torch.testing.assert_close(
        values, torch.full_like(values, surface.min_value), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_minima_hessians_positive_definite(name):
    surface = get_surface(name)
    eigenvalues = torch.linalg.eigvalsh(surface.hessian(surface.all_minima))
    assert eigenvalues.min() > 0


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_min_value_is_lowest_on_grid(name):
    surface = get_surface(name)
    _, _, values = surface.grid(300)
    assert values.min() >= surface.min_value - 1e-12


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_minima_inside_bounds(name):
    surface = get_surface(name)
    (x_min, x_max), (y_min, y_max) = surface.bounds
    x, y = surface.all_minima.T
    assert bool(((x_min <= x) & (x <= x_max)).all())
    assert bool(((y_min <= y) & (y <= y_max)).all())


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_default_start_inside_bounds(name):
    surface = get_surface(name)
    (x_min, x_max), (y_min, y_max) = surface.bounds
    x, y = surface.default_start
    assert x_min <= x <= x_max
    assert y_min <= y <= y_max


@pytest.mark.parametrize("name", ["beale", "himmelblau", "saddle"])
def test_saddle_points_are_saddles(name):
    surface = get_surface(name)
    assert len(surface.saddle_points) > 0
    assert surface.grad(surface.saddle_points).abs().max() < 1e-10
    eigenvalues = torch.linalg.eigvalsh(surface.hessian(surface.saddle_points))
    assert bool((eigenvalues[:, 0] < 0).all())
    assert bool((eigenvalues[:, 1] > 0).all())


def test_himmelblau_four_distinct_minima():
    minima = get_surface("himmelblau").minima
    distances = torch.cdist(minima, minima) + torch.eye(4, dtype=minima.dtype) * 10
    assert minima.shape == (4, 2)
    assert distances.min() > 1.0


def test_himmelblau_local_maximum():
    surface = get_surface("himmelblau")
    assert surface.grad(surface.local_maximum).abs().max() < 1e-10
    assert torch.linalg.eigvalsh(surface.hessian(surface.local_maximum)).max() < 0


def test_local_minimum_above_global():
    surface = get_surface("two_basins")
    local_value = surface.value(surface.local_minima)
    assert local_value.shape == (1,)
    assert local_value[0] > surface.min_value + 0.5


def test_ravine_condition_number():
    eigenvalues = torch.linalg.eigvalsh(get_surface("ravine").hessian([0.0, 0.0]))
    # Hessian [[a + b c^2, -b c], [-b c, b]] = [[1, -3], [-3, 10]].
    expected_ratio = (11 + math.sqrt(117)) / (11 - math.sqrt(117))
    assert float(eigenvalues[1] / eigenvalues[0]) == pytest.approx(expected_ratio)
    assert round(expected_ratio) == 119


# -- the quadratic ---------------------------------------------------------------


def test_quadratic_eigenvalues():
    surface = get_surface("quadratic", condition_number=10.0)
    expected = torch.tensor([1.0, 10.0], dtype=torch.float64)
    torch.testing.assert_close(surface.eigenvalues, expected)
    assert surface.lambda_max == 10.0


def test_quadratic_rotated_eigenvectors():
    surface = get_surface("quadratic", condition_number=25.0, angle=0.4)
    vectors = surface.eigenvectors
    torch.testing.assert_close(
        surface.hessian_matrix @ vectors, vectors * surface.eigenvalues
    )
    torch.testing.assert_close(
        torch.linalg.eigvalsh(surface.hessian_matrix), surface.eigenvalues
    )


def test_quadratic_value_at_unit_vectors():
    surface = get_surface("quadratic", condition_number=4.0)
    values = surface.value(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    torch.testing.assert_close(values, torch.tensor([0.5, 2.0]))


def test_quadratic_rejects_condition_below_one():
    with pytest.raises(ValueError, match="condition_number must be at least 1"):
        get_surface("quadratic", condition_number=0.5)


def test_quadratic_rejects_nonpositive_lambda_min():
    with pytest.raises(ValueError, match="lambda_min must be positive"):
        get_surface("quadratic", lambda_min=0.0)


# -- batch shapes, dtypes and devices ----------------------------------------------


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_float32_points_stay_float32(name):
    surface = get_surface(name)
    points = random_points(surface, (8,), dtype=torch.float32)
    assert surface.value(points).dtype == torch.float32
    assert surface.grad(points).dtype == torch.float32
    assert surface.hessian(points).dtype == torch.float32


@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_single_point_shapes(name):
    surface = get_surface(name)
    point = torch.tensor(surface.default_start, dtype=torch.float64)
    assert surface.value(point).shape == ()
    assert surface.grad(point).shape == (2,)
    assert surface.hessian(point).shape == (2, 2)


def test_points_accept_lists():
    surface = get_surface("rosenbrock")
    torch.testing.assert_close(
        surface.value([[1.0, 1.0], [0.0, 0.0]]), torch.tensor([0.0, 1.0])
    )


def test_points_wrong_shape_rejected():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        get_surface("beale").value(torch.zeros(4, 3))


def test_integer_points_become_float():
    values = get_surface("himmelblau").value(torch.tensor([[3, 2]]))
    assert values.is_floating_point()
    assert values[0] == 0.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", SURFACE_NAMES)
def test_cuda_matches_cpu(name):
    surface = get_surface(name)
    points = random_points(surface, (50,))
    on_device = points.to("cuda")
    assert surface.grad(on_device).device.type == "cuda"
    torch.testing.assert_close(surface.value(on_device).cpu(), surface.value(points))
    torch.testing.assert_close(surface.grad(on_device).cpu(), surface.grad(points))


# -- helpers -------------------------------------------------------------------


def test_grid_indexing():
    surface = get_surface("beale")
    xs, ys, values = surface.grid(7)
    assert values.shape == (7, 7)
    expected = surface.value(torch.stack([xs[5], ys[2]]))
    assert values[2, 5] == expected


def test_nearest_minimum_two_basins():
    surface = get_surface("two_basins")
    points = torch.cat(
        [
            surface.minima + 0.01,
            surface.local_minima - 0.01,
            torch.full((1, 2), math.nan),
        ]
    )
    index, distance = surface.nearest_minimum(points)
    assert index.tolist() == [0, 1, -1]
    torch.testing.assert_close(
        distance[:2], torch.full((2,), math.sqrt(2) * 0.01, dtype=torch.float64)
    )
    assert math.isnan(distance[2])


def test_contour_levels_increase():
    surface = get_surface("beale")
    _, _, values = surface.grid(100)
    levels = contour_levels(values, surface.min_value, 15)
    assert len(levels) == 15
    assert levels[0] > 0
    assert (levels[1:] > levels[:-1]).all()


def test_draw_contours_labels_and_limits():
    figure = Figure()
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    surface = get_surface("himmelblau")
    contours = draw_contours(ax, surface, resolution=50)
    assert len(contours.levels) > 5
    assert ax.get_xlim() == surface.bounds[0]
    assert ax.get_ylim() == surface.bounds[1]
    assert ax.get_xlabel() == "weight x"
    figure.canvas.draw()


# -- claims about gradient descent on the surfaces ------------------------------------


def gradient_descent(surface, lrs, steps, momentum=0.0):
    """Heavy-ball gradient descent in plain tensors, one run per lr."""
    lrs = torch.as_tensor(lrs, dtype=torch.float64)[:, None]
    x = torch.tensor(surface.default_start, dtype=torch.float64).repeat(len(lrs), 1)
    velocity = torch.zeros_like(x)
    for _ in range(steps):
        velocity = momentum * velocity + surface.grad(x)
        x = x - lrs * velocity
    return x


def test_two_basins_small_lr_trapped():
    surface = get_surface("two_basins")
    ends = gradient_descent(surface, [0.05, 0.3, 0.6], 300)
    index, distance = surface.nearest_minimum(ends)
    assert index.tolist() == [1, 1, 1]
    assert distance.max() < 1e-6


def test_two_basins_larger_lr_escapes():
    surface = get_surface("two_basins")
    ends = gradient_descent(surface, [0.8, 1.5, 2.0], 300)
    index, distance = surface.nearest_minimum(ends)
    assert index.tolist() == [0, 0, 0]
    assert distance.max() < 1e-3


def test_two_basins_too_large_lr_diverges():
    surface = get_surface("two_basins")
    ends = gradient_descent(surface, [12.0], 300)
    assert not bool(torch.isfinite(ends).all()) or ends.abs().max() > 1e6


def test_two_basins_momentum_escapes():
    surface = get_surface("two_basins")
    plain = gradient_descent(surface, [0.01], 1000)
    heavy_ball = gradient_descent(surface, [0.01], 1000, momentum=0.9)
    assert surface.nearest_minimum(plain)[0].tolist() == [1]
    assert surface.nearest_minimum(heavy_ball)[0].tolist() == [0]


def test_two_basins_curvatures():
    surface = get_surface("two_basins")
    local_max = torch.linalg.eigvalsh(surface.hessian(surface.local_minima))[0, 1]
    global_max = torch.linalg.eigvalsh(surface.hessian(surface.minima))[0, 1]
    assert float(local_max) == pytest.approx(2.98, abs=0.01)
    assert float(global_max) == pytest.approx(0.97, abs=0.01)


def test_two_basins_rejects_deeper_local_well():
    with pytest.raises(ValueError, match="deeper than the global"):
        get_surface("two_basins", local_depth=3.0, local_width=1.6, global_width=0.5)


def test_saddle_start_on_axis_stops_at_saddle():
    surface = get_surface("saddle")
    x = torch.tensor([-1.8, 0.0], dtype=torch.float64)
    for _ in range(200):
        x = x - 0.1 * surface.grad(x)
    torch.testing.assert_close(x, torch.zeros(2, dtype=torch.float64))


# -- curves ------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CURVES))
def test_curve_derivatives_match_autograd(name):
    curve = get_curve(name)
    x = torch.linspace(*curve.bounds, 41, dtype=torch.float64).requires_grad_(True)
    (first,) = torch.autograd.grad(curve.value(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.sum(), x)
    torch.testing.assert_close(curve.grad(x.detach()), first.detach())
    torch.testing.assert_close(curve.second_derivative(x.detach()), second)


@pytest.mark.parametrize("name", sorted(CURVES))
def test_curve_minima_stationary(name):
    curve = get_curve(name)
    minima = torch.cat([curve.minima, curve.local_minima])
    assert curve.grad(minima).abs().max() < 1e-12
    assert curve.second_derivative(minima).min() > 0
    assert float(curve.value(curve.minima)[0]) == pytest.approx(curve.min_value)


def test_double_well_global_below_local():
    curve = get_curve("double_well", tilt=0.5)
    assert curve.minima[0] < 0 < curve.local_minima[0]
    assert curve.value(curve.local_minima)[0] > curve.min_value


def test_double_well_rejects_large_tilt():
    with pytest.raises(ValueError, match="tilt must lie in"):
        get_curve("double_well", tilt=2.0)


def test_parabola_threshold():
    curve = get_curve("parabola", curvature=4.0)
    below, above = 2.0 / 4.0 * 0.99, 2.0 / 4.0 * 1.01
    x = torch.tensor([1.0, 1.0], dtype=torch.float64)
    lrs = torch.tensor([below, above], dtype=torch.float64)
    for _ in range(500):
        x = x - lrs * curve.grad(x)
    assert abs(x[0]) < 1e-2
    assert abs(x[1]) > 1e2


def test_get_curve_unknown_name():
    with pytest.raises(KeyError, match="unknown curve"):
        get_curve("cubic")
