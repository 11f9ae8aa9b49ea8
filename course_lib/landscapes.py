"""Two-dimensional test surfaces, and one-dimensional curves, for optimizers.

A :class:`Surface` is a loss over two weights ``(x, y)``. It evaluates its
value, closed-form gradient and closed-form Hessian on a batch of points of
shape ``(..., 2)``, on the device and in the dtype of the points. It also
carries what a plot or a test needs: the global minima, local minima and
saddle points (float64 tensors on the CPU), the minimum value, plotting
bounds and a standard start point.

>>> surface = get_surface("quadratic", condition_number=10.0)
>>> surface.value(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
tensor([0.5000, 5.0000])

The names in :data:`SURFACES` are ``"quadratic"``, ``"ravine"``,
``"rosenbrock"``, ``"beale"``, ``"himmelblau"``, ``"saddle"`` and
``"two_basins"``. A :class:`Curve` is the one-dimensional counterpart
(``"parabola"``, ``"double_well"`` in :data:`CURVES`), for the first picture
of gradient descent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

Bounds = tuple[tuple[float, float], tuple[float, float]]

# Newton's method refines stationary points that have no closed form. It
# stops when a step moves less than this (float64 arithmetic).
_NEWTON_TOLERANCE = 1e-14
_NEWTON_MAX_STEPS = 100


def _as_points(xy: Tensor | Sequence[float]) -> Tensor:
    if not isinstance(xy, Tensor):
        xy = torch.as_tensor(xy, dtype=torch.get_default_dtype())
    if xy.ndim == 0 or xy.shape[-1] != 2:
        raise ValueError(
            f"points must have shape (..., 2), one (x, y) pair per point; "
            f"got shape {tuple(xy.shape)}"
        )
    if not xy.is_floating_point():
        xy = xy.to(torch.get_default_dtype())
    return xy


def _points(rows: Sequence[Sequence[float]]) -> Tensor:
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 2)


class Surface:
    """A loss surface over two weights, evaluated on batches of points.

    Subclasses implement ``_value``, ``_grad`` and ``_hessian`` on the two
    coordinate tensors and set the attributes below in ``__init__``.

    Attributes:
        name: the key of the surface in :data:`SURFACES`.
        params: the keyword arguments that rebuild it with :func:`get_surface`.
        minima: global minima, float64 of shape ``(k, 2)`` on the CPU.
        local_minima: minima that are not global, shape ``(m, 2)``.
        saddle_points: saddle points, shape ``(s, 2)`` (only those known).
        min_value: the value at the global minima.
        bounds: ``((x_min, x_max), (y_min, y_max))`` for plots.
        default_start: a start point from which the surface shows its
            characteristic difficulty.
    """

    name: str = ""
    params: dict[str, Any]
    minima: Tensor
    local_minima: Tensor
    saddle_points: Tensor
    min_value: float
    bounds: Bounds
    default_start: tuple[float, float]

    def __init__(self) -> None:
        self.params = {}
        self.local_minima = _points([])
        self.saddle_points = _points([])

    # -- what subclasses implement, on the x and y coordinate tensors ------

    def _value(self, x: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError

    def _grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _hessian(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return the entries ``(f_xx, f_xy, f_yy)`` of the Hessian."""
        raise NotImplementedError

    # -- the public batched interface ----------------------------------

    def value(self, xy: Tensor | Sequence[float]) -> Tensor:
        """Evaluate the loss at points of shape ``(..., 2)``; returns ``(...)``."""
        xy = _as_points(xy)
        return self._value(xy[..., 0], xy[..., 1])

    def grad(self, xy: Tensor | Sequence[float]) -> Tensor:
        """Evaluate the closed-form gradient; returns shape ``(..., 2)``."""
        xy = _as_points(xy)
        # Every subclass returns both components in the points' shape.
        return torch.stack(self._grad(xy[..., 0], xy[..., 1]), dim=-1)

    def hessian(self, xy: Tensor | Sequence[float]) -> Tensor:
        """Evaluate the closed-form Hessian; returns shape ``(..., 2, 2)``."""
        xy = _as_points(xy)
        hxx, hxy, hyy = torch.broadcast_tensors(
            *self._hessian(xy[..., 0], xy[..., 1]), xy[..., 0]
        )[:3]
        first_row = torch.stack([hxx, hxy], dim=-1)
        second_row = torch.stack([hxy, hyy], dim=-1)
        return torch.stack([first_row, second_row], dim=-2)

    # -- helpers built on the interface --------------------------------

    @property
    def all_minima(self) -> Tensor:
        """Global minima followed by local minima, shape ``(k + m, 2)``."""
        return torch.cat([self.minima, self.local_minima])

    def nearest_minimum(self, xy: Tensor | Sequence[float]) -> tuple[Tensor, Tensor]:
        """Find the closest of :attr:`all_minima` to each point.

        Returns:
            ``(index, distance)``, both of shape ``(...)``: the row of
            :attr:`all_minima` (an index below ``len(minima)`` is a global
            minimum) and the Euclidean distance to it. NaN points get index
            -1 and distance NaN.
        """
        xy = _as_points(xy)
        candidates = self.all_minima.to(device=xy.device, dtype=xy.dtype)
        distances = torch.linalg.vector_norm(xy[..., None, :] - candidates, dim=-1)
        distance, index = distances.min(dim=-1)
        unknown = torch.isnan(xy).any(dim=-1)
        index = torch.where(unknown, torch.full_like(index, -1), index)
        distance = torch.where(unknown, torch.full_like(distance, math.nan), distance)
        return index, distance

    def grid(
        self,
        resolution: int = 200,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float64,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Evaluate the surface on a regular grid over :attr:`bounds`.

        Returns:
            ``(xs, ys, values)`` with ``xs`` of shape ``(resolution,)``,
            ``ys`` of shape ``(resolution,)`` and ``values`` of shape
            ``(resolution, resolution)`` indexed ``[y, x]``, as
            ``matplotlib``'s ``contour`` expects.
        """
        (x_min, x_max), (y_min, y_max) = self.bounds
        xs = torch.linspace(x_min, x_max, resolution, device=device, dtype=dtype)
        ys = torch.linspace(y_min, y_max, resolution, device=device, dtype=dtype)
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        return xs, ys, self.value(torch.stack([grid_x, grid_y], dim=-1))

    def _refine(self, guesses: Sequence[Sequence[float]]) -> Tensor:
        """Refine approximate stationary points by Newton's method in float64."""
        points = _points(guesses).clone()
        for _ in range(_NEWTON_MAX_STEPS):
            step = torch.linalg.solve(self.hessian(points), self.grad(points))
            points -= step
            if step.abs().max() < _NEWTON_TOLERANCE:
                break
        return points

    def __repr__(self) -> str:
        arguments = "".join(f", {key}={value!r}" for key, value in self.params.items())
        return f"get_surface({self.name!r}{arguments})"


class Quadratic(Surface):
    """A quadratic bowl ``f(p) = 1/2 (p - c)^T A (p - c)`` of a chosen condition.

    The Hessian ``A`` has eigenvalues ``lambda_min`` and ``lambda_min *
    condition_number``, along the x and y axes rotated counterclockwise by
    ``angle`` radians. Gradient descent with learning rate ``lr`` converges
    from every start exactly when ``0 < lr < 2 / lambda_max``.

    Attributes:
        eigenvalues: ``(lambda_min, lambda_max)``, float64 of shape ``(2,)``.
        eigenvectors: the matching unit eigenvectors as columns, ``(2, 2)``.
        hessian_matrix: ``A``, float64 of shape ``(2, 2)``.
    """

    name = "quadratic"

    def __init__(
        self,
        condition_number: float = 10.0,
        *,
        angle: float = 0.0,
        lambda_min: float = 1.0,
        center: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        super().__init__()
        if not condition_number >= 1.0:
            raise ValueError(
                f"condition_number must be at least 1 (lambda_max / lambda_min), "
                f"got {condition_number!r}"
            )
        if not lambda_min > 0.0:
            raise ValueError(f"lambda_min must be positive, got {lambda_min!r}")
        self.params = dict(
            condition_number=condition_number,
            angle=angle,
            lambda_min=lambda_min,
            center=tuple(center),
        )
        self.condition_number = float(condition_number)
        self.lambda_min = float(lambda_min)
        self.lambda_max = self.lambda_min * self.condition_number
        self.center = (float(center[0]), float(center[1]))

        cos, sin = math.cos(angle), math.sin(angle)
        # A = R diag(lambda_min, lambda_max) R^T with R the rotation by angle.
        self._a = self.lambda_min * cos**2 + self.lambda_max * sin**2
        self._b = (self.lambda_min - self.lambda_max) * cos * sin
        self._d = self.lambda_min * sin**2 + self.lambda_max * cos**2
        self.eigenvalues = torch.tensor(
            [self.lambda_min, self.lambda_max], dtype=torch.float64
        )
        self.eigenvectors = torch.tensor([[cos, -sin], [sin, cos]], dtype=torch.float64)
        self.hessian_matrix = torch.tensor(
            [[self._a, self._b], [self._b, self._d]], dtype=torch.float64
        )

        self.minima = _points([self.center])
        self.min_value = 0.0
        cx, cy = self.center
        self.bounds = ((cx - 3.0, cx + 3.0), (cy - 3.0, cy + 3.0))
        self.default_start = (cx - 2.5, cy + 2.0)

    def _value(self, x: Tensor, y: Tensor) -> Tensor:
        dx, dy = x - self.center[0], y - self.center[1]
        return 0.5 * (self._a * dx**2 + 2.0 * self._b * dx * dy + self._d * dy**2)

    def _grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        dx, dy = x - self.center[0], y - self.center[1]
        return self._a * dx + self._b * dy, self._b * dx + self._d * dy

    def _hessian(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        ones = torch.ones_like(x)
        return self._a * ones, self._b * ones, self._d * ones


class Ravine(Surface):
    """A long, narrow, gently winding valley.

    ``f(x, y) = 1/2 a x^2 + 1/2 b (y - c sin x)^2``: the floor ``y = c sin x``
    falls with curvature ``a`` towards the minimum at the origin, and the
    walls rise across it with curvature ``b``. With the defaults the
    Hessian at the minimum has condition number about 119, so plain gradient
    descent zigzags between the walls and crawls along the floor.
    """

    name = "ravine"

    def __init__(
        self,
        floor_curvature: float = 0.1,
        wall_curvature: float = 10.0,
        bend: float = 0.3,
    ) -> None:
        super().__init__()
        if not (floor_curvature > 0.0 and wall_curvature > 0.0):
            raise ValueError(
                f"floor_curvature and wall_curvature must be positive, got "
                f"{floor_curvature!r} and {wall_curvature!r}"
            )
        self.params = dict(
            floor_curvature=floor_curvature, wall_curvature=wall_curvature, bend=bend
        )
        self._a, self._b, self._c = (
            float(floor_curvature),
            float(wall_curvature),
            float(bend),
        )
        self.minima = _points([[0.0, 0.0]])
        self.min_value = 0.0
        self.bounds = ((-8.0, 8.0), (-2.5, 2.5))
        self.default_start = (-7.0, 1.5)

    def _value(self, x: Tensor, y: Tensor) -> Tensor:
        across = y - self._c * torch.sin(x)
        return 0.5 * self._a * x**2 + 0.5 * self._b * across**2

    def _grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        across = y - self._c * torch.sin(x)
        gx = self._a * x - self._b * self._c * across * torch.cos(x)
        return gx, self._b * across

    def _hessian(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        sin, cos = torch.sin(x), torch.cos(x)
        across = y - self._c * sin
        hxx = (
            self._a + self._b * (self._c * cos) ** 2 + self._b * self._c * across * sin
        )
        hxy = -self._b * self._c * cos
        return hxx, hxy, torch.full_like(x, self._b)


class Rosenbrock(Surface):
    """Rosenbrock's banana valley ``(a - x)^2 + b (y - x^2)^2``.

    The global minimum is ``(a, a^2)`` with value 0, at the end of a curved
    valley whose floor is nearly flat (Rosenbrock, The Computer Journal 3,
    1960).
    """

    name = "rosenbrock"

    def __init__(self, a: float = 1.0, b: float = 100.0) -> None:
        super().__init__()
        if not b > 0.0:
            raise ValueError(f"b must be positive, got {b!r}")
        self.params = dict(a=a, b=b)
        self._a, self._b = float(a), float(b)
        self.minima = _points([[self._a, self._a**2]])
        self.min_value = 0.0
        self.bounds = ((-2.0, 2.0), (-1.0, 3.0))
        self.default_start = (-1.2, 1.0)

    def _value(self, x: Tensor, y: Tensor) -> Tensor:
        return (self._a - x) ** 2 + self._b * (y - x**2) ** 2

    def _grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        valley = y - x.square()
        gx = -2.0 * (self._a - x) - 4.0 * self._b * x * valley
        return gx, 2.0 * self._b * valley

    def _hessian(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        hxx = 2.0 - 4.0 * self._b * y + 12.0 * self._b * x**2
        return hxx, -4.0 * self._b * x, torch.full_like(x, 2.0 * self._b)


# Beale's function is a sum of three squared residuals
# r_i = c_i - x + x y^i for i = 1, 2, 3.
_BEALE_CONSTANTS = (1.5, 2.25, 2.625)


class Beale(Surface):
    """Beale's function, a sum of three squared residuals.

    ``f = sum_i (c_i - x + x y^i)^2`` with ``c = (1.5, 2.25, 2.625)``. The
    global minimum is ``(3, 0.5)`` with value 0. Flat plateaus and steep
    ridges near the corners make the scale of the gradient vary over many
    orders of magnitude.
    """

    name = "beale"

    def __init__(self) -> None:
        super().__init__()
        self.minima = _points([[3.0, 0.5]])
        # On the line x = 0 the gradient is (2 sum_i c_i (y^i - 1), 0).
        self.saddle_points = _points([[0.0, 1.0]])
        self.min_value = 0.0
        self.bounds = ((-4.5, 4.5), (-4.5, 4.5))
        self.default_start = (1.0, 1.5)

    def _residuals(self, x: Tensor, y: Tensor) -> list[Tensor]:
        return [c - x + x * y.pow(i + 1) for i, c in enumerate(_BEALE_CONSTANTS)]

    def _value(self, x: Tensor, y: Tensor) -> Tensor:
        return sum(residual**2 for residual in self._residuals(x, y))

    def _grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        gx = torch.zeros_like(x)
        gy = torch.zeros_like(y)
        for power, residual in enumerate(self._residuals(x, y), start=1):
            # d r / dx = y^i - 1 and d r / dy = i x y^(i - 1).
            gx = gx + 2.0 * residual * (y.pow(power) - 1.0)
            gy = gy + 2.0 * power * residual * x * y.pow(power - 1)
        return gx, gy

    def _hessian(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        hxx = torch.zeros_like(x)
        hxy = torch.zeros_like(x)
        hyy = torch.zeros_like(x)
        for power, residual in enumerate(self._residuals(x, y), start=1):
            # f = sum r^2 has Hessian 2 sum (grad r grad r^T + r Hess r).
            rx = y**power - 1.0
            ry = power * x * y ** (power - 1)
            rxy = power * y ** (power - 1)
            ryy = power * (power - 1) * x * y ** max(power - 2, 0)
            hxx = hxx + 2.0 * rx**2
            hxy = hxy + 2.0 * (rx * ry + residual * rxy)
            hyy = hyy + 2.0 * (ry**2 + residual * ryy)
        return hxx, hxy, hyy


class Himmelblau(Surface):
    """Himmelblau's function ``(x^2 + y - 11)^2 + (x + y^2 - 7)^2``.

    Four global minima of value 0, one at ``(3, 2)`` and three irrational
    ones (refined here by Newton's method), with a local maximum near
    ``(-0.27, -0.92)`` and four saddle points between them (Himmelblau,
    Applied Nonlinear Programming, 1972).
    """

    name = "himmelblau"

    def __init__(self) -> None:
        super().__init__()
        self.minima = self._refine(
            [[3.0, 2.0], [-2.805118, 3.131312], [-3.779310, -3.283186]]
            + [[3.584428, -1.848126]]
        )
        self.saddle_points = self._refine(
            [[0.086677, 2.884255], [-3.073026, -0.081353]]
            + [[3.385154, 0.073852], [-0.127961, -1.953715]]
        )
        self.local_maximum = self._refine([[-0.270845, -0.923039]])[0]
        self.min_value = 0.0
        self.bounds = ((-5.0, 5.0), (-5.0, 5.0))
        self.default_start = (-0.5, -0.5)

    def _value(self, x: Tensor, y: Tensor) -> Tensor:
        return (x**2 + y - 11.0) ** 2 + (x + y**2 - 7.0) ** 2

    def _grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        u, v = x.square() + y - 11.0, x + y.square() - 7.0
        return 4.0 * x * u + 2.0 * v, 2.0 * u + 4.0 * y * v

    def _hessian(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        u, v = x**2 + y - 11.0, x + y**2 - 7.0
        hxx = 4.0 * u + 8.0 * x**2 + 2.0
        hyy = 4.0 * v + 8.0 * y**2 + 2.0
        return hxx, 4.0 * (x + y), hyy


class Saddle(Surface):
    """A saddle point between two minima: ``x^2 / 2 + y^4 / 4 - y^2 / 2``.

    The origin is a saddle point (Hessian ``diag(1, -1)``): gradient descent
    started on the x axis stops there, and any start off the axis escapes
    along y, slowly at first, to one of the minima ``(0, +-1)`` of value
    ``-1/4``.
    """

    name = "saddle"

    def __init__(self) -> None:
        super().__init__()
        self.minima = _points([[0.0, 1.0], [0.0, -1.0]])
        self.saddle_points = _points([[0.0, 0.0]])
        self.min_value = -0.25
        self.bounds = ((-2.0, 2.0), (-2.0, 2.0))
        self.default_start = (-1.8, 0.01)

    def _value(self, x: Tensor, y: Tensor) -> Tensor:
        return 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2

    def _grad(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return x, y.pow(3) - y

    def _hessian(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return torch.ones_like(x), torch.zeros_like(x), 3.0 * y**2 - 1.0


class TwoBasins(Surface):
    """A shallow, narrow local basin beside a deep, wide global one.

    ``f(p) = k |p|^2 / 2 - D_g exp(-|p - c_g|^2 / (2 s_g^2))
    - D_l exp(-|p - c_l|^2 / (2 s_l^2))``: two Gaussian wells in a wide
    quadratic bowl. The default start lies uphill of the local well, roughly
    in line with both wells. The largest Hessian eigenvalue is about 2.98 at
    the local minimum and 0.97 at the global one, so from the default start
    plain gradient descent (300 steps) with

    - a learning rate below 2 / 2.98 = 0.67 rolls into the local basin and
      stays there;
    - a learning rate between 0.67 and 2 / 0.97 = 2.05 cannot settle in the
      local basin but can in the global one, where it ends;
    - a larger learning rate bounces between the basins without settling,
      and beyond 2 / k = 10 it diverges.

    Heavy-ball momentum 0.9 with a learning rate of 0.01 carries the run over
    the rim into the global basin.

    The minima have no closed form; Newton's method refines them from the
    centers of the wells.
    """

    name = "two_basins"

    def __init__(
        self,
        bowl_curvature: float = 0.2,
        global_center: tuple[float, float] = (-1.0, -0.5),
        global_depth: float = 2.0,
        global_width: float = 1.6,
        local_center: tuple[float, float] = (1.2, 0.9),
        local_depth: float = 0.8,
        local_width: float = 0.5,
    ) -> None:
        super().__init__()
        if not (bowl_curvature > 0 and global_width > 0 and local_width > 0):
            raise ValueError(
                f"bowl_curvature and the widths must be positive, got "
                f"{bowl_curvature!r}, {global_width!r} and {local_width!r}"
            )
        self.params = dict(
            bowl_curvature=bowl_curvature,
            global_center=tuple(global_center),
            global_depth=global_depth,
            global_width=global_width,
            local_center=tuple(local_center),
            local_depth=local_depth,
            local_width=local_width,
        )

        self._k = float(bowl_curvature)
        self._well_tensor_cache: dict[tuple[Any, Any], tuple[Tensor, ...]] = {}
        # Each well as (center x, center y, depth, width).
        self._wells = (
            (*map(float, global_center), float(global_depth), float(global_width)),
            (*map(float, local_center), float(local_depth), float(local_width)),
        )

        first, second = self._refine([global_center, local_center])
        values = self.value(torch.stack([first, second]))
        if not bool(torch.linalg.eigvalsh(self.hessian(second)).min() > 0):
            raise ValueError(
                f"the local well at {local_center} is too shallow to make a "
                f"minimum in this bowl; make it deeper or narrower"
            )
        if values[1] < values[0]:
            raise ValueError(
                f"the local well at {local_center} is deeper than the global "
                f"one at {global_center}; swap them or change the depths"
            )

        self.minima = first[None]
        self.local_minima = second[None]
        self.min_value = float(values[0])
        self.bounds = ((-4.0, 4.0), (-3.5, 3.5))
        self.default_start = (2.5, 2.0)

    def _wells_terms(self, x: Tensor, y: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """Return ``(dx, dy, D exp(-r^2 / (2 s^2)) / s^2)`` for each well."""
        terms = []
        for cx, cy, depth, width in self._wells:
            dx, dy = x - cx, y - cy
            exponent = (dx.square() + dy.square()).mul(-0.5 / width**2)
            weight = exponent.exp().mul(depth / width**2)
            terms.append((dx, dy, weight))
        return terms

    def _value(self, x: Tensor, y: Tensor) -> Tensor:
        value = 0.5 * self._k * (x**2 + y**2)
        for (_, _, _, width), (_, _, weight) in zip(
            self._wells, self._wells_terms(x, y)
        ):
            value = value - weight * width**2
        return value

    def grad(self, xy: Tensor | Sequence[float]) -> Tensor:
        """Evaluate the closed-form gradient; returns shape ``(..., 2)``.

        ``k p + sum_j w_j (p - c_j)`` with ``w_j = D_j exp(-|p - c_j|^2 /
        (2 s_j^2)) / s_j^2``, computed for both wells at once: it runs at
        every step of every trajectory, and one batched expression takes
        half the tensor operations of the per-coordinate form.
        """
        xy = _as_points(xy)
        centers, exponent_scales, weight_scales = self._well_tensors(xy)
        offsets = xy.unsqueeze(-2) - centers  # (..., well, 2)
        weights = offsets.square().sum(-1).mul(exponent_scales).exp()
        weights = weights.mul(weight_scales).unsqueeze(-1)
        return (weights * offsets).sum(-2).add(xy, alpha=self._k)

    def _well_tensors(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return the wells' centers, ``-1 / (2 s^2)`` and ``D / s^2``."""
        key = (like.device, like.dtype)
        if key not in self._well_tensor_cache:
            rows = [
                (cx, cy, -0.5 / width**2, depth / width**2)
                for cx, cy, depth, width in self._wells
            ]
            table = torch.tensor(rows, dtype=like.dtype, device=like.device)
            self._well_tensor_cache[key] = (table[:, :2], table[:, 2], table[:, 3])
        return self._well_tensor_cache[key]

    def _hessian(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        hxx = torch.full_like(x, self._k)
        hxy = torch.zeros_like(x)
        hyy = torch.full_like(x, self._k)
        for (_, _, _, width), (dx, dy, weight) in zip(
            self._wells, self._wells_terms(x, y)
        ):
            # Each well adds w (I - d d^T / s^2) with w = D exp(...) / s^2.
            hxx = hxx + weight * (1.0 - dx**2 / width**2)
            hxy = hxy - weight * dx * dy / width**2
            hyy = hyy + weight * (1.0 - dy**2 / width**2)
        return hxx, hxy, hyy


SURFACES: dict[str, type[Surface]] = {
    "quadratic": Quadratic,
    "ravine": Ravine,
    "rosenbrock": Rosenbrock,
    "beale": Beale,
    "himmelblau": Himmelblau,
    "saddle": Saddle,
    "two_basins": TwoBasins,
}


def get_surface(name: str, **params: Any) -> Surface:
    """Build the surface called ``name`` (any letter case) with keyword ``params``.

    >>> get_surface("rosenbrock", b=10.0).minima
    tensor([[1., 1.]], dtype=torch.float64)
    """
    if name not in SURFACES and name.lower() in SURFACES:
        name = name.lower()
    if name not in SURFACES:
        raise KeyError(f"unknown surface {name!r}; choose one of {', '.join(SURFACES)}")
    return SURFACES[name](**params)


# -- one-dimensional curves --------------------------------------------------


class Curve:
    """A loss over one weight, evaluated elementwise on a tensor of points.

    Attributes:
        name: the key in :data:`CURVES`.
        minima: global minima, float64 of shape ``(k,)``.
        local_minima: minima that are not global, shape ``(m,)``.
        min_value: the value at the global minima.
        bounds: ``(x_min, x_max)`` for plots.
        default_start: a start point for demonstrations.
    """

    name: str = ""
    minima: Tensor
    local_minima: Tensor
    min_value: float
    bounds: tuple[float, float]
    default_start: float

    def value(self, x: Tensor) -> Tensor:
        """Evaluate the loss elementwise."""
        raise NotImplementedError

    def grad(self, x: Tensor) -> Tensor:
        """Evaluate the derivative elementwise."""
        raise NotImplementedError

    def second_derivative(self, x: Tensor) -> Tensor:
        """Evaluate the second derivative (the curvature) elementwise."""
        raise NotImplementedError


class Parabola(Curve):
    """``f(x) = a x^2 / 2``: gradient descent converges exactly when ``lr < 2 / a``."""

    name = "parabola"

    def __init__(self, curvature: float = 1.0) -> None:
        if not curvature > 0.0:
            raise ValueError(f"curvature must be positive, got {curvature!r}")
        self.curvature = float(curvature)
        self.minima = torch.zeros(1, dtype=torch.float64)
        self.local_minima = torch.zeros(0, dtype=torch.float64)
        self.min_value = 0.0
        self.bounds = (-3.0, 3.0)
        self.default_start = -2.5

    def value(self, x: Tensor) -> Tensor:
        return 0.5 * self.curvature * x**2

    def grad(self, x: Tensor) -> Tensor:
        return self.curvature * x

    def second_derivative(self, x: Tensor) -> Tensor:
        return torch.full_like(x, self.curvature)


class DoubleWell(Curve):
    """A tilted double well ``f(x) = (x^2 - 1)^2 + tilt * x``.

    With ``0 < tilt < 8 / (3 sqrt 3)`` there are two minima, the global one
    near ``x = -1`` (lowered by the tilt) and a local one near ``x = +1``.
    The default start on the right rolls into the local one.
    """

    name = "double_well"

    def __init__(self, tilt: float = 0.5) -> None:
        # f'(x) = 4 x^3 - 4 x + tilt has three real roots while |tilt| is
        # below 8 / (3 sqrt 3), the value of 4x - 4x^3 at x = 1 / sqrt 3.
        limit = 8.0 / (3.0 * math.sqrt(3.0))
        if not 0.0 < tilt < limit:
            raise ValueError(
                f"tilt must lie in (0, {limit:.4f}) for two minima, got {tilt!r}"
            )
        self.tilt = float(tilt)
        roots = np.sort(np.roots([4.0, 0.0, -4.0, self.tilt]).real)
        self.minima = torch.tensor(roots[:1], dtype=torch.float64)
        self.local_minima = torch.tensor(roots[2:], dtype=torch.float64)
        self.local_maximum = float(roots[1])
        self.min_value = float(self.value(self.minima)[0])
        self.bounds = (-1.8, 1.8)
        self.default_start = 1.7

    def value(self, x: Tensor) -> Tensor:
        return (x**2 - 1.0) ** 2 + self.tilt * x

    def grad(self, x: Tensor) -> Tensor:
        return 4.0 * x**3 - 4.0 * x + self.tilt

    def second_derivative(self, x: Tensor) -> Tensor:
        return 12.0 * x**2 - 4.0


CURVES: dict[str, type[Curve]] = {"parabola": Parabola, "double_well": DoubleWell}


def get_curve(name: str, **params: Any) -> Curve:
    """Build the one-dimensional curve called ``name`` with keyword ``params``."""
    if name not in CURVES:
        raise KeyError(f"unknown curve {name!r}; choose one of {', '.join(CURVES)}")
    return CURVES[name](**params)


# -- plotting ------------------------------------------------------------------


def contour_levels(values: Tensor, min_value: float, count: int = 20) -> np.ndarray:
    """Choose log-spaced contour levels for ``values - min_value``.

    The levels span the 1st to the 99th percentile of the gap to the
    minimum, so a few huge corner values (Beale's reach 1e5) do not squeeze
    every level into one corner.
    """
    gap = (values - min_value).flatten().to(torch.float64)
    gap = gap[torch.isfinite(gap)]
    low, high = torch.quantile(gap, torch.tensor([0.01, 0.99], dtype=torch.float64))
    high = max(float(high), 1e-12)
    low = min(max(float(low), high * 1e-6), high / 10.0)
    return np.geomspace(low, high, count)


def draw_contours(
    ax: Any,
    surface: Surface,
    *,
    resolution: int = 160,
    count: int = 20,
    filled: bool = True,
    cmap: str = "viridis",
    mark_minima: bool = True,
) -> Any:
    """Draw the surface's contours on a matplotlib Axes and return the set.

    Levels are log-spaced in ``value - min_value`` (see
    :func:`contour_levels`), which shows the floors of valleys as well as the
    steep walls. Global minima are marked by white stars, local minima by
    white circles. The axes get labels, the surface's bounds and an equal
    aspect when the bounds are about as wide as they are tall.
    """
    from matplotlib.colors import LogNorm

    xs, ys, values = surface.grid(resolution)
    gap = (values - surface.min_value).clamp_min(0.0).numpy()
    levels = contour_levels(values, surface.min_value, count)
    gap = np.clip(gap, levels[0], None)
    if filled:
        contours = ax.contourf(
            xs.numpy(),
            ys.numpy(),
            gap,
            levels=levels,
            norm=LogNorm(levels[0], levels[-1]),
            cmap=cmap,
            extend="both",
        )
    else:
        contours = ax.contour(
            xs.numpy(),
            ys.numpy(),
            gap,
            levels=levels,
            norm=LogNorm(levels[0], levels[-1]),
            cmap=cmap,
            linewidths=0.8,
        )
    if mark_minima:
        ax.plot(*surface.minima.T.numpy(), "w*", markersize=11, markeredgecolor="k")
        if len(surface.local_minima):
            ax.plot(
                *surface.local_minima.T.numpy(), "wo", markersize=6, markeredgecolor="k"
            )
    (x_min, x_max), (y_min, y_max) = surface.bounds
    ax.set_xlim(x_min, x_max)
    ax.set_ylim(y_min, y_max)
    ax.set_xlabel("weight x")
    ax.set_ylabel("weight y")
    ratio = (x_max - x_min) / (y_max - y_min)
    if 0.5 <= ratio <= 2.0:
        ax.set_aspect("equal")
    return contours


__all__ = [
    "CURVES",
    "SURFACES",
    "Beale",
    "Curve",
    "DoubleWell",
    "Himmelblau",
    "Parabola",
    "Quadratic",
    "Ravine",
    "Rosenbrock",
    "Saddle",
    "Surface",
    "TwoBasins",
    "contour_levels",
    "draw_contours",
    "get_curve",
    "get_surface",
]
