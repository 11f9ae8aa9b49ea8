"""Shared helpers for the optimizer tests: a small network, fixed data, option
tables and side-by-side runs of a course_lib optimizer and torch.optim's.

``torch.optim`` is the oracle: both optimizers start from identical copies
of one network, see the same data, and their parameters are compared after
every step.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from course_lib.optim import OPTIMIZERS

NAMES = tuple(OPTIMIZERS)

# Learning rates at which 50 steps move the network visibly without
# diverging, so that a wrong update shows up as a large difference.
BASE_LR = {
    "SGD": 0.1,
    "Adagrad": 0.1,
    "RMSprop": 0.01,
    "Adadelta": 1.0,
    "Adam": 0.01,
    "AdamW": 0.01,
    "Adamax": 0.02,
    "NAdam": 0.01,
    "RAdam": 0.01,
}

# Per optimizer, each option with the values the parity tables combine.
OPTION_VALUES: dict[str, dict[str, tuple[Any, ...]]] = {
    "SGD": {
        "momentum": (0.0, 0.9),
        "dampening": (0.0, 0.5),
        "nesterov": (False, True),
        "weight_decay": (0.0, 0.1),
        "maximize": (False, True),
    },
    "Adagrad": {
        "lr_decay": (0.0, 0.05),
        "weight_decay": (0.0, 0.1),
        "initial_accumulator_value": (0.0, 0.5),
        "maximize": (False, True),
    },
    "RMSprop": {
        "momentum": (0.0, 0.9),
        "centered": (False, True),
        "weight_decay": (0.0, 0.1),
        "maximize": (False, True),
    },
    "Adadelta": {
        "rho": (0.9, 0.5),
        "weight_decay": (0.0, 0.1),
        "maximize": (False, True),
    },
    "Adam": {
        "weight_decay": (0.0, 0.1),
        "amsgrad": (False, True),
        "decoupled_weight_decay": (False, True),
        "maximize": (False, True),
    },
    "AdamW": {
        "weight_decay": (0.0, 0.1),
        "amsgrad": (False, True),
        "maximize": (False, True),
    },
    "Adamax": {
        "betas": ((0.9, 0.999), (0.5, 0.9)),
        "weight_decay": (0.0, 0.1),
        "maximize": (False, True),
    },
    "NAdam": {
        "momentum_decay": (4e-3, 0.05),
        "weight_decay": (0.0, 0.1),
        "decoupled_weight_decay": (False, True),
        "maximize": (False, True),
    },
    "RAdam": {
        # RAdam rectifies from step 6 on for either beta2. With beta2 = 0.9,
        # rho_inf = 19 is small, so r_t stays well below 1 for all 50 steps.
        "betas": ((0.9, 0.999), (0.9, 0.9)),
        "weight_decay": (0.0, 0.1),
        "decoupled_weight_decay": (False, True),
        "maximize": (False, True),
    },
}


def is_valid(name: str, options: dict[str, Any]) -> bool:
    """Tell whether torch.optim accepts the combination of options."""
    if name == "SGD" and options.get("nesterov"):
        return options["momentum"] > 0 and options["dampening"] == 0
    return True


def option_table(name: str) -> list[dict[str, Any]]:
    """List every valid combination of the option values of ``name``."""
    keys = list(OPTION_VALUES[name])
    combinations = itertools.product(*(OPTION_VALUES[name][key] for key in keys))
    table = [dict(zip(keys, values)) for values in combinations]
    return [options for options in table if is_valid(name, options)]


def option_id(options: dict[str, Any]) -> str:
    """Name a combination of options for a pytest id, listing what is set."""
    parts = [
        f"{key}={value}" for key, value in options.items() if value not in (0, False)
    ]
    return ",".join(parts) or "defaults"


class SmallNet(nn.Module):
    """Linear(5, 8), tanh, Linear(8, 3), and a parameter the loss never uses.

    ``unused`` keeps a gradient of None at every step, so a test can check
    that the optimizer skips it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.hidden = nn.Linear(5, 8)
        self.output = nn.Linear(8, 3)
        self.unused = nn.Parameter(torch.ones(4))

    def forward(self, x: Tensor) -> Tensor:
        return self.output(torch.tanh(self.hidden(x)))


def make_net(
    dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
) -> SmallNet:
    """Build the small network with weights fixed by a seeded generator."""
    generator = torch.Generator().manual_seed(0)
    net = SmallNet()
    with torch.no_grad():
        for param in net.parameters():
            param.copy_(torch.randn(param.shape, generator=generator))
    return net.to(device=device, dtype=dtype)


def make_data(
    dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"
) -> tuple[Tensor, Tensor]:
    """Return fixed inputs (16, 5) and regression targets (16, 3)."""
    generator = torch.Generator().manual_seed(1)
    inputs = torch.randn(16, 5, generator=generator)
    targets = torch.randn(16, 3, generator=generator)
    return inputs.to(device, dtype), targets.to(device, dtype)


def loss_of(net: nn.Module, data: tuple[Tensor, Tensor]) -> Tensor:
    """Mean squared error of the network on the fixed data."""
    inputs, targets = data
    return nn.functional.mse_loss(net(inputs), targets)


def param_groups(net: SmallNet, layout: str, lr: Any) -> list[dict[str, Any]]:
    """Split the network's parameters into groups.

    ``"one"``: a single group. ``"two"``: the hidden layer and the unused
    parameter at the optimizer's lr, the output layer at half of it.
    """
    if layout == "one":
        return [{"params": list(net.parameters())}]
    if layout == "two":
        return [
            {"params": [*net.hidden.parameters(), net.unused]},
            {"params": list(net.output.parameters()), "lr": lr * 0.5},
        ]
    raise ValueError(f"unknown layout {layout!r}; use 'one' or 'two'")


def max_abs_difference(ours: Iterable[Tensor], theirs: Iterable[Tensor]) -> float:
    """Return max |a - b| over all entries of paired tensors."""
    return max((a - b).abs().max().item() for a, b in zip(ours, theirs, strict=True))


def max_relative_difference(ours: Iterable[Tensor], theirs: Iterable[Tensor]) -> float:
    """Return max over paired tensors of max |a - b| / max |b|.

    Each tensor is scaled by its own largest entry, so an entry near zero
    does not turn a rounding difference into a large ratio.
    """
    ratios = []
    for a, b in zip(ours, theirs, strict=True):
        scale = b.abs().max().clamp_min(torch.finfo(b.dtype).tiny)
        ratios.append(((a - b).abs().max() / scale).item())
    return max(ratios)


@dataclass
class Lockstep:
    """The two optimizers of a side-by-side run and their networks."""

    ours: torch.optim.Optimizer
    theirs: torch.optim.Optimizer
    our_net: SmallNet
    their_net: SmallNet
    data: tuple[Tensor, Tensor]

    def step(self) -> None:
        """Take one step with each optimizer on its own network's gradient."""
        self.ours.zero_grad()
        self.theirs.zero_grad()
        # The two graphs share no tensor, so one backward pass fills both
        # networks' gradients exactly as two separate passes would.
        total = loss_of(self.our_net, self.data) + loss_of(self.their_net, self.data)
        total.backward()
        self.ours.step()
        self.theirs.step()

    def differences(self, measure: Callable[..., float]) -> float:
        return measure(self.our_net.parameters(), self.their_net.parameters())


def lockstep(
    name: str,
    options: dict[str, Any],
    *,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    layout: str = "one",
    lr: Any = None,
) -> Lockstep:
    """Build course_lib's and torch.optim's ``name`` on identical networks."""
    lr = BASE_LR[name] if lr is None else lr
    their_net = make_net(dtype, device)
    our_net = copy.deepcopy(their_net)
    theirs = getattr(torch.optim, name)(
        param_groups(their_net, layout, lr), lr=lr, **options
    )
    ours = OPTIMIZERS[name](param_groups(our_net, layout, lr), lr=lr, **options)
    return Lockstep(ours, theirs, our_net, their_net, make_data(dtype, device))


def trajectory_differences(
    run: Lockstep, measure: Callable[..., float], steps: int = 50
) -> list[float]:
    """Step both optimizers ``steps`` times and return each step's difference."""
    differences = []
    for _ in range(steps):
        run.step()
        differences.append(run.differences(measure))
    return differences


def first_step_over(differences: list[float], tolerance: float) -> int | None:
    """Return the first step (from 1) whose difference exceeds ``tolerance``."""
    for index, difference in enumerate(differences):
        if not difference <= tolerance:
            return index + 1
    return None
