"""Momentum in formulas and in numbers, for the chapters on momentum and Nesterov.

- Theory for a quadratic with Hessian eigenvalues in ``[m, L]``:
  :func:`optimal_heavy_ball` (the fastest learning rate and momentum),
  :func:`optimal_gradient_descent` (the same without momentum) and
  :func:`iteration_rate` (the asymptotic rate of any setting, from the
  eigenvalues of one step).
- Measurement: :func:`measure_rates` runs a batch of settings of course_lib's
  SGD on a quadratic and measures each one's contraction rate from its
  iterates. :func:`convergence_rate_map` does it for a whole grid of
  learning rates and momenta as one batched run on the device.
- The learning rate inside the velocity: :class:`VelocitySGD` is heavy-ball
  momentum in the form ``v <- mu v - lr g, theta <- theta + v``, which takes
  the same steps as ``torch.optim.SGD`` while the learning rate is constant
  and different ones once a schedule changes it.
- The look-ahead form of Sutskever, Martens, Dahl and Hinton, "On the
  importance of initialization and momentum in deep learning" (ICML 2013):
  :func:`sutskever_momentum` returns the sequence of positions, velocities
  and gradient points of classical or Nesterov momentum in that form.
- The buffer over time: :func:`buffer_history` feeds a sequence of gradients
  through SGD's update, and :func:`momentum_buffers` recomputes the
  gradients and buffers of a recorded SGD run.

Notation: ``lr`` is the learning rate eta, ``momentum`` the coefficient mu,
``b`` torch's ``momentum_buffer`` (a sum of gradients, without the learning
rate) and ``v`` the velocity (a displacement, with the learning rate).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.optim.optimizer import ParamsT

from course_lib.device import get_device
from course_lib.landscapes import Quadratic
from course_lib.optim import SGD, FunctionalOptimizer, default_hyperparameters
from course_lib.optim._base import (
    Hyperparameter,
    add_scaled_,
    as_batched,
    initial_step,
    is_batched,
    scaled_sum,
)
from course_lib.trajectories import DIVERGENCE_BOUND, Trajectory

GradientFunction = Callable[[Tensor], Tensor]

_LN2 = math.log(2.0)

# measure_rates rescales every this many steps. Between two rescalings a
# distance changes by at most rate**4, which keeps squared distances inside
# float32's range (3e38) while the rate is below 1e4 per step.
_RESCALE_EVERY = 4

# The power of two that marks a squared distance of 0.
_NO_POWER = -(2**40)


def _larger(
    window: tuple[Tensor, Tensor], squared: Tensor, exponent: Tensor
) -> tuple[Tensor, Tensor]:
    """Keep the larger of a window's maximum and ``squared * 4**exponent``.

    Both are stored as ``(mantissa, power)`` with the value ``mantissa *
    2**power`` and the mantissa in [0.5, 1), as ``torch.frexp`` returns.
    """
    best_mantissa, best_power = window
    mantissa, power = torch.frexp(squared)
    power = torch.where(squared > 0, power + 2 * exponent, _NO_POWER)
    larger = (power > best_power) | ((power == best_power) & (mantissa > best_mantissa))
    return (
        torch.where(larger, mantissa, best_mantissa),
        torch.where(larger, power, best_power),
    )


# -- theory for quadratics -----------------------------------------------------


def _check_eigenvalues(lambda_min: float, lambda_max: float) -> tuple[float, float]:
    m, big_l = float(lambda_min), float(lambda_max)
    if not (0.0 < m <= big_l < math.inf):
        raise ValueError(
            f"the Hessian eigenvalues must satisfy 0 < lambda_min <= lambda_max < "
            f"inf, got lambda_min={lambda_min!r} and lambda_max={lambda_max!r}"
        )
    return m, big_l


def optimal_heavy_ball(lambda_min: float, lambda_max: float) -> tuple[float, float]:
    """Return the learning rate and momentum that converge fastest on a quadratic.

    For Hessian eigenvalues in ``[m, L]`` and ``kappa = L / m``::

        lr* = (2 / (sqrt(L) + sqrt(m)))^2
        mu* = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2

    At this setting the characteristic polynomial of one step along the
    eigenvectors of ``m`` and of ``L`` (see :func:`iteration_rate`) has a
    double root of modulus ``sqrt(mu*)``. Every eigenvalue in between gives
    a complex pair of the same modulus, so the rate is
    :func:`optimal_heavy_ball_rate` in every direction.

    Returns:
        ``(lr*, mu*)``.
    """
    m, big_l = _check_eigenvalues(lambda_min, lambda_max)
    lr = (2.0 / (math.sqrt(big_l) + math.sqrt(m))) ** 2
    return lr, optimal_heavy_ball_rate(m, big_l) ** 2


def optimal_heavy_ball_rate(lambda_min: float, lambda_max: float) -> float:
    """Return ``(sqrt(kappa) - 1) / (sqrt(kappa) + 1)``, the best heavy-ball rate.

    The rate is the factor by which the distance to the minimum shrinks per
    step, asymptotically, at :func:`optimal_heavy_ball`'s setting.
    """
    m, big_l = _check_eigenvalues(lambda_min, lambda_max)
    root = math.sqrt(big_l / m)
    return (root - 1.0) / (root + 1.0)


def optimal_gradient_descent(
    lambda_min: float, lambda_max: float
) -> tuple[float, float]:
    """Return the fastest learning rate of plain gradient descent and its rate.

    ``lr = 2 / (m + L)`` makes the two extreme directions shrink equally
    fast, by ``(kappa - 1) / (kappa + 1)`` per step.

    Returns:
        ``(lr, rate)``.
    """
    m, big_l = _check_eigenvalues(lambda_min, lambda_max)
    return 2.0 / (m + big_l), (big_l - m) / (big_l + m)


def iteration_rate(
    lr: Hyperparameter,
    momentum: Hyperparameter,
    eigenvalues: Tensor | Sequence[float],
    *,
    nesterov: bool = False,
) -> Tensor:
    """Compute the asymptotic rate of SGD with momentum on a quadratic.

    Along an eigenvector of the Hessian with eigenvalue ``lam``, one step of
    ``torch.optim.SGD`` maps the pair (distance to the minimum, buffer)
    linearly, with the characteristic polynomial::

        heavy ball:  z^2 - (1 + mu - lr lam) z + mu
        Nesterov:    z^2 - (1 + mu) (1 - lr lam) z + mu (1 - lr lam)

    The rate is the largest root modulus over all eigenvalues: the distance
    shrinks (below 1) or grows (above 1) by about this factor per step once
    the transient has died out.

    Args:
        lr, momentum: numbers or tensors that broadcast against each other.
        eigenvalues: the Hessian's eigenvalues, such as
            ``Quadratic.eigenvalues``.
        nesterov: the polynomial of torch's Nesterov momentum.

    Returns:
        A float64 tensor of the broadcast shape of ``lr`` and ``momentum``.
    """
    lr = torch.as_tensor(lr, dtype=torch.float64)
    momentum = torch.as_tensor(momentum, dtype=torch.float64, device=lr.device)
    lr, momentum = torch.broadcast_tensors(lr, momentum)
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64, device=lr.device)
    lr, mu = lr[..., None], momentum[..., None]
    shrink = 1.0 - lr * lam.reshape(-1)
    if nesterov:
        trace, determinant = (1.0 + mu) * shrink, mu * shrink
    else:
        trace = 1.0 + mu - lr * lam.reshape(-1)
        determinant = mu.expand_as(trace)
    root = torch.sqrt((trace**2 - 4.0 * determinant).to(torch.complex128))
    largest = torch.maximum((trace + root).abs(), (trace - root).abs()) / 2.0
    return largest.amax(dim=-1)


def steps_to_reduce(rate: Tensor | float, factor: float = 1e-6) -> Tensor:
    """Estimate the steps that a rate needs to shrink a distance by ``factor``.

    Returns:
        A long tensor of ``rate``'s shape: ``ceil(log(factor) / log(rate))``,
        1 where the rate is 0, and -1 where it is 1 or more (or NaN), which
        never gets there.
    """
    if not 0.0 < factor < 1.0:
        raise ValueError(f"factor must lie strictly between 0 and 1, got {factor!r}")
    rate = torch.as_tensor(rate, dtype=torch.float64)
    converges = rate < 1.0
    safe = torch.where(converges, rate, torch.zeros_like(rate)).clamp_min(1e-300)
    steps = torch.ceil(math.log(factor) / torch.log(safe)).clamp_min(1.0)
    return torch.where(converges, steps, torch.full_like(steps, -1.0)).long()


# -- measured rates --------------------------------------------------------------


@dataclass
class RateMeasurement:
    """The contraction rates of a batch of runs on a quadratic.

    Attributes:
        rates: ``(B,)`` float64 on the CPU, the measured factor per step by
            which each run's distance to the minimum shrinks (above 1: grows).
        log_distances: ``(steps + 1, B)`` float64 on the CPU, the natural log
            of each run's distance to the minimum at every step, or None
            when not recorded.
        steps: the number of steps of each run.
    """

    rates: Tensor
    log_distances: Tensor | None
    steps: int


def measure_rates(
    surface: Quadratic,
    lr: Hyperparameter,
    momentum: Hyperparameter,
    *,
    steps: int = 300,
    start: Sequence[float] | None = None,
    nesterov: bool = False,
    dampening: Hyperparameter = 0.0,
    record: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> RateMeasurement:
    """Run course_lib's SGD on a quadratic and measure each run's rate.

    Every run starts at ``start`` and takes ``steps`` steps of
    ``SGD.update`` with its own learning rate and momentum, all runs as one
    batched computation. After each step the distance ``d_t`` to the
    minimum is recorded, and the run's offset from the minimum and its
    buffer are divided by ``d_t``. The gradient of a quadratic is linear in
    that offset, so the rescaling leaves the iteration's rate unchanged,
    and it keeps a run that shrinks or grows by many orders of magnitude
    inside the floating-point range (float32 on MPS included).

    With ``h = steps // 2`` and ``w = steps // 4``, the rate is
    ``exp((M_late - M_early) / (steps - h))``, where ``M_early`` is the
    largest ``log d_t`` over the ``w`` steps that end at step ``h`` and
    ``M_late`` over the ``w`` steps that end at the last step. The largest
    value of a window skips the moments when an oscillating run passes
    close to the minimum. At a double root, such as
    :func:`optimal_heavy_ball`'s setting, ``d_t`` behaves like ``t r^t``,
    so the measured rate exceeds ``r`` by about the factor
    ``3 ** (2 / steps)`` (0.7% at 300 steps, 0.2% at 1000).

    Args:
        surface: a quadratic surface (its gradient is linear).
        lr, momentum: numbers or tensors of shape ``(B,)``.
        steps: steps per run, at least 4.
        start: the start point; the surface's ``default_start`` when None.
            It must have a component along both eigenvectors, else the
            run measures the rate of one direction only.
        nesterov, dampening: SGD's options, by torch's names.
        record: also return every run's log distance at every step.
        device: where the runs are computed; ``lr``'s device or the CPU when
            None.
        dtype: float64 when None, float32 on MPS (which has no float64).

    Returns:
        A :class:`RateMeasurement`; a run that lands exactly on the minimum
        gets rate 0.
    """
    if not isinstance(surface, Quadratic):
        raise TypeError(
            f"measure_rates needs a Quadratic surface, whose gradient is linear; "
            f"got {type(surface).__name__}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 4:
        raise ValueError(f"steps must be an integer of at least 4, got {steps!r}")
    if device is None:
        tensors = [value for value in (lr, momentum) if isinstance(value, Tensor)]
        device = tensors[0].device if tensors else torch.device("cpu")
    device = torch.device(device)
    if dtype is None:
        dtype = torch.float32 if device.type == "mps" else torch.float64
    # NOTE: only the CPU path has been run. On CUDA and on MPS (float32) the
    # rescaling relies on torch.frexp and torch.ldexp, untested there.
    batch = 1
    for value in (lr, momentum, dampening):
        if is_batched(value):
            batch = max(batch, value.shape[0])

    def on_device(value: Hyperparameter) -> Hyperparameter:
        if isinstance(value, Tensor):
            return value.to(device=device, dtype=dtype)
        return value

    hyperparameters = default_hyperparameters("SGD")
    hyperparameters.update(
        lr=on_device(lr),
        momentum=on_device(momentum),
        dampening=on_device(dampening),
        nesterov=nesterov,
    )
    start = surface.default_start if start is None else start
    center = surface.minima[0].to(device=device, dtype=dtype)
    x = torch.tensor(start, device=device, dtype=dtype).expand(batch, 2).clone()
    state = SGD.init_state(x, **hyperparameters)

    half, width = steps // 2, steps // 4
    early = range(half - width + 1, half + 1)
    late = range(steps - width + 1, steps + 1)
    # The run's offset from the minimum and its buffer are the true ones
    # divided by 2**exponent. A window's largest squared distance is kept as
    # mantissa * 2**power, which no run can overflow or underflow.
    exponent = torch.zeros(batch, dtype=torch.int64, device=device)
    ones = torch.ones(batch, dtype=dtype, device=device)
    empty = (
        torch.zeros(batch, dtype=dtype, device=device),
        torch.full((batch,), _NO_POWER, dtype=torch.int64, device=device),
    )
    window, early_window = empty, empty
    squares: list[Tensor] = []
    exponents: list[Tensor] = []

    def observe(t: int) -> None:
        nonlocal window, early_window
        offset = x - center
        squared = (offset * offset).sum(dim=-1)
        if record:
            # The windows are read from the recorded distances at the end.
            squares.append(squared)
            exponents.append(exponent.clone())
        elif t in early or t in late:
            window = _larger(window, squared, exponent)
            if t == early[-1]:
                early_window, window = window, empty
        if t % _RESCALE_EVERY == 0:
            _rescale(squared, offset)

    def _rescale(squared: Tensor, offset: Tensor) -> None:
        # Divide by the power of two at or below d_t, which is exact and,
        # unlike log, costs no transcendental function per element. A run
        # exactly at the minimum (d_t = 0) gets shift 0.
        shift = torch.div(torch.frexp(squared).exponent, 2, rounding_mode="floor")
        factor = torch.ldexp(ones, -shift)
        x.copy_(offset.mul_(factor[:, None]).add_(center))
        if "momentum_buffer" in state:
            state["momentum_buffer"].mul_(factor[:, None])
        exponent.add_(shift)

    with torch.no_grad():
        observe(0)
        for t in range(1, steps + 1):
            SGD.update(x, surface.grad(x), state, **hyperparameters)
            observe(t)

        log_distances = None
        if record:
            log_distances = 0.5 * torch.log(torch.stack(squares).double())
            log_distances += _LN2 * torch.stack(exponents).double()
            log_distances = log_distances.cpu()
            late_max = log_distances[late.start :].amax(dim=0)
            early_max = log_distances[early.start : early.stop].amax(dim=0)
            log_ratio = late_max - early_max
        else:
            # log d_late - log d_early, from the squared distances' two parts.
            (late_mantissa, late_power), (early_mantissa, early_power) = (
                window,
                early_window,
            )
            log_ratio = torch.log(late_mantissa.double()) - torch.log(
                early_mantissa.double()
            )
            log_ratio += _LN2 * (late_power - early_power).double()
            log_ratio *= 0.5
        rates = torch.exp(log_ratio / (steps - half))
    # Both windows at distance 0: the run sat on the minimum.
    rates = torch.nan_to_num(rates, nan=0.0).cpu()
    return RateMeasurement(rates=rates, log_distances=log_distances, steps=steps)


@dataclass
class RateMap:
    """Measured convergence rates over a grid of learning rates and momenta.

    Attributes:
        lrs: ``(n_lr,)`` float64, the learning rates (columns).
        momenta: ``(n_mu,)`` float64, the momenta (rows).
        rates: ``(n_mu, n_lr)`` float64, the measured rate of each cell.
        eigenvalues: the quadratic's Hessian eigenvalues.
        nesterov: whether the runs used Nesterov momentum.
        steps: steps per run.
        seconds: wall time of the batched run.
        device: where it ran.
    """

    lrs: Tensor
    momenta: Tensor
    rates: Tensor
    eigenvalues: Tensor
    nesterov: bool
    steps: int
    seconds: float
    device: torch.device

    @property
    def best(self) -> tuple[float, float, float]:
        """The cell with the smallest measured rate, as ``(lr, momentum, rate)``."""
        index = int(torch.argmin(self.rates))
        row, column = divmod(index, self.rates.shape[1])
        return (
            float(self.lrs[column]),
            float(self.momenta[row]),
            float(self.rates[row, column]),
        )

    def theoretical_rates(self) -> Tensor:
        """Compute :func:`iteration_rate` on the same grid, ``(n_mu, n_lr)``."""
        return iteration_rate(
            self.lrs[None, :],
            self.momenta[:, None],
            self.eigenvalues,
            nesterov=self.nesterov,
        )


def convergence_rate_map(
    surface: Quadratic,
    lrs: Tensor | Sequence[float],
    momenta: Tensor | Sequence[float],
    *,
    steps: int = 300,
    start: Sequence[float] | None = None,
    nesterov: bool = False,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> RateMap:
    """Measure the rate of every (learning rate, momentum) pair in one batched run.

    The grid's ``n_mu * n_lr`` settings run side by side as one batch of
    :func:`measure_rates` on ``device`` (``get_device()``'s choice when
    None), so a grid of ten thousand cells costs about as many tensor
    operations as a single run.

    Returns:
        A :class:`RateMap` whose ``rates[i, j]`` belongs to ``momenta[i]``
        and ``lrs[j]``.
    """
    device = get_device() if device is None else torch.device(device)
    lrs = torch.as_tensor(lrs, dtype=torch.float64).flatten().cpu()
    momenta = torch.as_tensor(momenta, dtype=torch.float64).flatten().cpu()
    if lrs.numel() == 0 or momenta.numel() == 0:
        raise ValueError("lrs and momenta must each contain at least one value")
    if bool((lrs < 0).any()) or bool((momenta < 0).any()):
        raise ValueError("learning rates and momenta must be non-negative")
    grid_mu, grid_lr = torch.meshgrid(momenta, lrs, indexing="ij")
    started = time.perf_counter()
    measurement = measure_rates(
        surface,
        grid_lr.flatten().to(device),
        grid_mu.flatten().to(device),
        steps=steps,
        start=start,
        nesterov=nesterov,
        device=device,
        dtype=dtype,
    )
    seconds = time.perf_counter() - started
    return RateMap(
        lrs=lrs,
        momenta=momenta,
        rates=measurement.rates.reshape(grid_mu.shape),
        eigenvalues=surface.eigenvalues.clone(),
        nesterov=nesterov,
        steps=steps,
        seconds=seconds,
        device=device,
    )


# -- the learning rate inside the velocity -------------------------------------


def _velocity_init_state(param: Tensor, **hyperparameters: Any) -> dict[str, Any]:
    """Make the state: the step counter and the velocity v, at zero."""
    return {"step": initial_step(), "velocity": torch.zeros_like(param)}


def _velocity_update(
    param: Tensor,
    grad: Tensor,
    state: dict[str, Any],
    *,
    lr: Hyperparameter,
    momentum: Hyperparameter,
) -> None:
    """Apply one step of momentum with the learning rate inside the velocity."""
    lr = as_batched(lr, param)
    momentum = as_batched(momentum, param)
    state["step"] += 1

    # v_t = mu * v_{t-1} - eta_t * g_t: each gradient enters the velocity
    # scaled by the learning rate of its own step.
    velocity = state["velocity"]
    velocity.mul_(momentum)
    add_scaled_(velocity, grad, -lr)

    # theta_t = theta_{t-1} + v_t.
    param.add_(velocity)


class VelocitySGD(FunctionalOptimizer):
    """Heavy-ball momentum with the learning rate inside the velocity.

    Update rule at step t (from 1), with v_0 = 0, in the form of Sutskever
    et al. (2013)::

        v_t     = mu * v_{t-1} - eta_t * grad f(theta_{t-1})
        theta_t = theta_{t-1} + v_t

    Letters: eta = ``lr``, mu = ``momentum``, v = ``state["velocity"]``, a
    displacement in the parameters' units. ``torch.optim.SGD`` keeps the
    learning rate outside its buffer b (``b_t = mu b_{t-1} + g_t``,
    ``theta_t = theta_{t-1} - eta_t b_t``). While eta is constant,
    ``v_t = -eta b_t`` and both take the same steps. When eta changes, torch
    rescales the whole buffer by the new rate at once, while here each past
    gradient keeps the rate of the step it was taken at, so the velocity
    adapts over about ``1 / (1 - mu)`` steps.

    It is not in :data:`course_lib.optim.OPTIMIZERS`, which contains torch's
    optimizers, but :func:`course_lib.trajectories.run` and ``run_class``
    accept the class itself.

    Args:
        params: parameters to optimize, or dicts defining parameter groups.
        lr: learning rate eta, a float or a one-element tensor (default 1e-3).
        momentum: momentum factor mu (default 0).
    """

    init_state = staticmethod(_velocity_init_state)
    update = staticmethod(_velocity_update)
    hyperparameters = ("lr", "momentum")

    def __init__(
        self,
        params: ParamsT,
        lr: float | Tensor = 1e-3,
        momentum: float = 0.0,
    ) -> None:
        # The checks and messages are those of torch.optim.SGD (torch 2.13).
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        super().__init__(params, {"lr": lr, "momentum": momentum})


# -- the look-ahead form of Sutskever et al. (2013) ---------------------------


@dataclass
class MomentumSequence:
    """The iterates of momentum in the velocity form of Sutskever et al. (2013).

    For runs of shape ``batch`` (the start's leading dimensions) and ``n``
    steps:

    Attributes:
        positions: ``(n + 1, *batch, d)``, theta_0 (the start) to theta_n.
        velocities: ``(n + 1, *batch, d)``, v_0 = 0 to v_n.
        gradient_points: ``(n, *batch, d)``, where step t took its gradient:
            theta_{t-1} for classical momentum, theta_{t-1} + mu v_{t-1} for
            Nesterov's.
        gradients: ``(n, *batch, d)``, the gradients at those points.
        diverged_at: ``(*batch,)`` long, the first step whose position is not
            finite or has a coordinate beyond the divergence bound, or -1.
            From that step on the entries above are NaN.
        momentum: the momentum coefficient, a number or a ``(B,)`` tensor.
        nesterov: whether the gradients were taken at the look-ahead points.
    """

    positions: Tensor
    velocities: Tensor
    gradient_points: Tensor
    gradients: Tensor
    diverged_at: Tensor
    momentum: Hyperparameter
    nesterov: bool

    @property
    def look_ahead(self) -> Tensor:
        """``(n + 1, *batch, d)``, the points theta_t + mu v_t.

        For Nesterov momentum at a constant learning rate these are the
        parameters that ``torch.optim.SGD(nesterov=True)`` stores.
        """
        momentum = as_batched(self.momentum, self.velocities[0])
        return self.positions + momentum * self.velocities


def sutskever_momentum(
    grad_fn: GradientFunction,
    start: Tensor | Sequence[float],
    steps: int,
    *,
    lr: Hyperparameter,
    momentum: Hyperparameter,
    nesterov: bool = False,
    divergence_bound: float = DIVERGENCE_BOUND,
) -> MomentumSequence:
    """Run classical or Nesterov momentum in the form of Sutskever et al. (2013).

    With v_0 = 0, step t (from 1) computes, as Sutskever et al. (2013)
    write classical and Nesterov momentum::

        p_t     = theta_{t-1} + mu * v_{t-1}   if nesterov   else   theta_{t-1}
        v_t     = mu * v_{t-1} - eta * grad f(p_t)
        theta_t = theta_{t-1} + v_t

    Nesterov momentum jumps along the velocity first, takes the gradient
    where the jump lands and corrects from there. The velocity and position
    updates are :class:`VelocitySGD`'s; only the gradient point differs.

    ``torch.optim.SGD(nesterov=True)`` stores the look-ahead point
    ``theta_t + mu v_t`` as its parameter and the buffer ``-v_t / eta``, a
    change of variables under which both forms visit the same points while
    eta is constant; :attr:`MomentumSequence.look_ahead` gives them.

    Args:
        grad_fn: maps points of the start's shape to gradients, such as
            ``surface.grad``.
        start: the start point theta_0, of shape ``(d,)`` or ``(*batch, d)``.
        steps: the number of steps n.
        lr, momentum: numbers, or tensors with one value per run.
        nesterov: take the gradient at the look-ahead point.
        divergence_bound: a position with a coordinate beyond this counts as
            diverged.

    Returns:
        A :class:`MomentumSequence`.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    if isinstance(start, Tensor):
        theta = start.detach().clone()
        if not theta.is_floating_point():
            theta = theta.to(torch.get_default_dtype())
    else:
        theta = torch.tensor(start, dtype=torch.get_default_dtype())
    if theta.ndim == 0:
        raise ValueError("start must have at least one dimension, got a 0-dim tensor")
    hyperparameters = {"lr": lr, "momentum": momentum}
    state = VelocitySGD.init_state(theta, **hyperparameters)
    mu = as_batched(momentum, theta)

    positions, velocities = [theta.clone()], [state["velocity"].clone()]
    gradient_points, gradients = [], []
    with torch.no_grad():
        for _ in range(steps):
            if nesterov:
                point = scaled_sum(theta, state["velocity"], mu)
            else:
                point = theta.clone()
            gradient = grad_fn(point)
            VelocitySGD.update(theta, gradient, state, **hyperparameters)
            gradient_points.append(point)
            gradients.append(gradient)
            positions.append(theta.clone())
            velocities.append(state["velocity"].clone())

    positions_tensor = torch.stack(positions)
    empty = torch.zeros((0, *theta.shape), dtype=theta.dtype)
    sequence = MomentumSequence(
        positions=positions_tensor,
        velocities=torch.stack(velocities),
        gradient_points=torch.stack(gradient_points) if steps else empty,
        gradients=torch.stack(gradients) if steps else empty.clone(),
        diverged_at=first_divergence(positions_tensor, divergence_bound),
        momentum=momentum,
        nesterov=nesterov,
    )
    _blank_after(sequence)
    return sequence


def first_divergence(positions: Tensor, bound: float = DIVERGENCE_BOUND) -> Tensor:
    """Find each run's first step with a non-finite or out-of-bound position.

    Args:
        positions: ``(steps + 1, *batch, d)``.
        bound: the largest coordinate magnitude that counts as finite.

    Returns:
        A long tensor of shape ``batch``: the step, or -1 for runs that never
        diverge, by the rule of :func:`course_lib.trajectories.run`.
    """
    bad = ~torch.isfinite(positions).all(dim=-1) | (positions.abs() > bound).any(dim=-1)
    first = bad.to(torch.int8).argmax(dim=0)
    return torch.where(bad.any(dim=0), first, torch.full_like(first, -1))


def _blank_after(sequence: MomentumSequence) -> None:
    steps = torch.arange(sequence.positions.shape[0])
    steps = steps.reshape(-1, *([1] * sequence.diverged_at.ndim))
    after = (sequence.diverged_at >= 0) & (steps >= sequence.diverged_at)
    sequence.positions.masked_fill_(after[..., None], math.nan)
    sequence.velocities.masked_fill_(after[..., None], math.nan)
    # Step t (entry t - 1) is blank once its result theta_t is.
    sequence.gradient_points.masked_fill_(after[1:, ..., None], math.nan)
    sequence.gradients.masked_fill_(after[1:, ..., None], math.nan)


# -- the buffer over time ------------------------------------------------------


def buffer_history(
    gradients: Tensor,
    momentum: Hyperparameter,
    *,
    dampening: Hyperparameter = 0.0,
) -> Tensor:
    """Feed a sequence of gradients through SGD's update and record the buffer.

    Args:
        gradients: ``(steps, *shape)``, the gradient of each step.
        momentum, dampening: SGD's hyperparameters, numbers or tensors with
            one value per entry of the first dimension of ``shape``.

    Returns:
        ``(steps, *shape)``: torch's ``momentum_buffer`` after each step,
        ``b_1 = g_1`` and ``b_t = mu b_{t-1} + (1 - dampening) g_t``. Where
        the gradients agree the buffer grows towards ``g / (1 - mu)``; where
        they alternate in sign it stays near ``g / (1 + mu)``.
    """
    if gradients.ndim == 0:
        raise ValueError("gradients must have a step dimension first, got 0-dim")
    hyperparameters = default_hyperparameters("SGD")
    hyperparameters.update(momentum=momentum, dampening=dampening)
    # The update moves this stand-in parameter. The buffer does not depend
    # on it while weight decay is 0.
    param = torch.zeros_like(gradients[0])
    state = SGD.init_state(param, **hyperparameters)
    buffers = []
    for gradient in gradients:
        SGD.update(param, gradient, state, **hyperparameters)
        # With a momentum of 0 torch keeps no buffer and steps along g_t.
        buffers.append(state.get("momentum_buffer", gradient).clone())
    if not buffers:
        return torch.zeros_like(gradients)
    return torch.stack(buffers)


def momentum_buffers(
    trajectory: Trajectory, steps: int | None = None
) -> tuple[Tensor, Tensor]:
    """Recompute the gradient and the momentum buffer of each step of an SGD run.

    Each recorded position is fed back through ``SGD.update`` with the
    run's hyperparameters, so the buffers are the ones the run had.

    Args:
        trajectory: a run of ``"SGD"`` from :func:`course_lib.trajectories.run`.
        steps: only the first this many steps; all when None.

    Returns:
        ``(gradients, buffers)``, each ``(steps, B, 2)``: the gradient at
        the position before step t, and ``momentum_buffer`` after it. They
        are NaN from a run's divergence on. A run with a momentum of 0 keeps
        no buffer, and its entries are the gradients.
    """
    if trajectory.optimizer != "SGD":
        raise ValueError(
            f"momentum_buffers needs a run of SGD, got one of {trajectory.optimizer}"
        )
    count = trajectory.steps if steps is None else min(int(steps), trajectory.steps)
    if count < 0:
        raise ValueError(f"steps must be non-negative, got {steps!r}")
    # The buffer does not depend on the learning rate, so a run with a
    # schedule replays correctly with its constant lr.
    hyperparameters = trajectory.hyperparameters
    positions = trajectory.positions
    state = SGD.init_state(positions[0].clone(), **hyperparameters)
    gradients, buffers = [], []
    for t in range(count):
        param = positions[t].clone()
        gradient = trajectory.surface.grad(param)
        SGD.update(param, gradient, state, **hyperparameters)
        gradients.append(gradient)
        buffers.append(state.get("momentum_buffer", gradient).clone())
    if not gradients:
        empty = positions[:0].clone()
        return empty, empty.clone()
    return torch.stack(gradients), torch.stack(buffers)


def sign_changes(values: Tensor, dim: int = 0) -> Tensor:
    """Count how often consecutive entries along ``dim`` change sign.

    A zero or a NaN on either side of a pair does not count, so a run that
    settles exactly on zero stops adding to the count.
    """
    if values.ndim == 0:
        raise ValueError("values must have at least one dimension, got 0-dim")
    before = values.narrow(dim, 0, max(values.shape[dim] - 1, 0))
    after = values.narrow(dim, 1, max(values.shape[dim] - 1, 0))
    return (before * after < 0).sum(dim=dim)


__all__ = [
    "MomentumSequence",
    "RateMap",
    "RateMeasurement",
    "VelocitySGD",
    "buffer_history",
    "convergence_rate_map",
    "first_divergence",
    "iteration_rate",
    "measure_rates",
    "momentum_buffers",
    "optimal_gradient_descent",
    "optimal_heavy_ball",
    "optimal_heavy_ball_rate",
    "sign_changes",
    "steps_to_reduce",
    "sutskever_momentum",
]
