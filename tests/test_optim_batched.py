"""The batched path: one call to ``init_state``/``update`` on a parameter of
shape (B, *shape) with hyperparameters of shape (B,) against the same B
configurations run one by one through the optimizer class.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from course_lib.optim import OPTIMIZERS, as_batched, default_hyperparameters

B = 6
SHAPE = (3, 2)
STEPS = 30


@pytest.fixture(autouse=True)
def float64_default_dtype():
    # The class path keeps NAdam's product of momenta as a scalar in torch's
    # default dtype (float32 unless changed), the batched path in the
    # parameter's dtype. With float64 as the default both are float64.
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def column(*values: float) -> Tensor:
    """One value per configuration, as a float64 tensor of shape (B,)."""
    return torch.tensor(values, dtype=torch.float64)


LR = column(0.01, 0.02, 0.05, 0.1, 0.03, 0.0)

# Each case: optimizer, hyperparameters that override its defaults (tensors
# of shape (B,) are batched, numbers and bools are shared by all rows).
CASES = [
    (
        "SGD",
        {
            "lr": LR,
            # Rows 0 and 3 have no momentum but nonzero dampening, which
            # torch.optim ignores without momentum.
            "momentum": column(0.0, 0.5, 0.9, 0.0, 0.3, 0.8),
            "dampening": column(0.2, 0.1, 0.0, 0.5, 0.0, 0.3),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
        },
    ),
    (
        "SGD",
        {
            "lr": LR,
            "momentum": column(0.1, 0.5, 0.9, 0.2, 0.3, 0.8),
            "nesterov": True,
            "maximize": True,
        },
    ),
    ("SGD", {"lr": LR, "momentum": 0.9}),
    (
        "Adagrad",
        {
            "lr": LR * 10,
            "lr_decay": column(0.0, 0.01, 0.1, 0.0, 0.5, 0.02),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
            "initial_accumulator_value": column(0.0, 0.1, 0.5, 0.0, 1.0, 0.2),
            "eps": column(1e-10, 1e-8, 1e-6, 1e-10, 1e-3, 1e-10),
        },
    ),
    (
        "RMSprop",
        {
            "lr": LR,
            "alpha": column(0.99, 0.9, 0.5, 0.0, 0.95, 0.8),
            "eps": column(1e-8, 1e-6, 1e-4, 1e-8, 1e-8, 1e-2),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
            "momentum": column(0.0, 0.5, 0.9, 0.0, 0.3, 0.8),
        },
    ),
    (
        "RMSprop",
        {
            "lr": LR,
            "alpha": column(0.99, 0.9, 0.5, 0.7, 0.95, 0.8),
            "momentum": column(0.0, 0.5, 0.9, 0.0, 0.3, 0.8),
            "centered": True,
        },
    ),
    (
        "Adadelta",
        {
            "lr": LR * 10,
            "rho": column(0.9, 0.5, 0.99, 0.0, 1.0, 0.7),
            "eps": column(1e-6, 1e-4, 1e-8, 1e-6, 1e-6, 1e-2),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
        },
    ),
    (
        "Adam",
        {
            "lr": LR,
            "betas": (
                column(0.9, 0.5, 0.0, 0.99, 0.8, 0.9),
                column(0.999, 0.9, 0.5, 0.99, 0.0, 0.95),
            ),
            "eps": column(1e-8, 1e-6, 1e-4, 1e-8, 1e-8, 1e-2),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
        },
    ),
    (
        "Adam",
        {
            "lr": LR,
            "betas": (
                column(0.9, 0.5, 0.0, 0.99, 0.8, 0.9),
                column(0.999, 0.9, 0.5, 0.99, 0.3, 0.95),
            ),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
            "amsgrad": True,
            "decoupled_weight_decay": True,
        },
    ),
    (
        "AdamW",
        {
            "lr": LR,
            "betas": (column(0.9, 0.5, 0.0, 0.99, 0.8, 0.9), 0.99),
            "weight_decay": column(0.0, 0.1, 0.5, 0.2, 0.05, 0.01),
            "amsgrad": True,
        },
    ),
    (
        "Adamax",
        {
            "lr": LR,
            "betas": (
                column(0.9, 0.5, 0.0, 0.99, 0.8, 0.9),
                column(0.999, 0.9, 0.5, 0.99, 0.0, 0.95),
            ),
            "eps": column(1e-8, 1e-6, 1e-4, 1e-8, 1e-8, 1e-2),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
        },
    ),
    (
        "NAdam",
        {
            "lr": LR,
            "betas": (
                column(0.9, 0.5, 0.0, 0.99, 0.8, 0.9),
                column(0.999, 0.9, 0.5, 0.99, 0.0, 0.95),
            ),
            "eps": column(1e-8, 1e-6, 1e-4, 1e-8, 1e-8, 1e-2),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
            "momentum_decay": column(4e-3, 0.0, 0.1, 0.02, 4e-3, 1.0),
        },
    ),
    (
        "NAdam",
        {
            "lr": LR,
            "momentum_decay": column(4e-3, 0.0, 0.1, 0.02, 4e-3, 1.0),
            "weight_decay": 0.1,
            "decoupled_weight_decay": True,
        },
    ),
    (
        "RAdam",
        {
            "lr": LR,
            # beta2 sets the step at which rho_t passes 5: never for 0.6
            # (rho_inf = 4) and 0.7, at different steps for the others.
            "betas": (
                column(0.9, 0.5, 0.0, 0.99, 0.8, 0.9),
                column(0.9, 0.6, 0.7, 0.8, 0.95, 0.999),
            ),
            "eps": column(1e-8, 1e-6, 1e-4, 1e-8, 1e-8, 1e-2),
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
        },
    ),
    (
        "RAdam",
        {
            "lr": LR,
            "weight_decay": column(0.0, 0.1, 0.0, 0.2, 0.05, 0.0),
            "decoupled_weight_decay": True,
        },
    ),
]


def case_id(case: tuple[str, dict]) -> str:
    name, overrides = case
    flags = [key for key, value in overrides.items() if value is True]
    return "-".join([name, *flags])


def row(value, index: int):
    """The hyperparameter of configuration ``index``, as the class takes it."""
    if isinstance(value, tuple):
        return tuple(row(item, index) for item in value)
    if isinstance(value, Tensor):
        return value[index].item()
    return value


def gradient(x: Tensor) -> Tensor:
    # The gradient of sum(c * x^2 / 2 + sin(x)): curved, with a different
    # curvature per coordinate and nonzero at the minimum of the quadratic.
    curvature = torch.linspace(0.5, 3.0, x.shape[-2] * x.shape[-1], dtype=x.dtype)
    return curvature.reshape(x.shape[-2:]) * x + torch.cos(x)


def start_points() -> Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn((B, *SHAPE), generator=generator, dtype=torch.float64)


def run_batched(name: str, hyperparameters: dict, steps: int) -> list[Tensor]:
    cls = OPTIMIZERS[name]
    x = start_points()
    state = cls.init_state(x, **hyperparameters)
    iterates = []
    for _ in range(steps):
        cls.update(x, gradient(x), state, **hyperparameters)
        iterates.append(x.clone())
    return iterates


def run_one_by_one(name: str, hyperparameters: dict, steps: int) -> list[Tensor]:
    cls = OPTIMIZERS[name]
    params = [row_start.clone().requires_grad_() for row_start in start_points()]
    optimizers = [
        cls([param], **{key: row(value, i) for key, value in hyperparameters.items()})
        for i, param in enumerate(params)
    ]
    iterates = []
    for _ in range(steps):
        for param, optimizer in zip(params, optimizers):
            param.grad = gradient(param.detach())
            optimizer.step()
        iterates.append(torch.stack([param.detach().clone() for param in params]))
    return iterates


@pytest.mark.parametrize(("name", "overrides"), CASES, ids=map(case_id, CASES))
def test_batched_equals_one_by_one(name, overrides):
    hyperparameters = {**default_hyperparameters(name), **overrides}
    batched = run_batched(name, hyperparameters, STEPS)
    looped = run_one_by_one(name, hyperparameters, STEPS)
    for step, (ours, reference) in enumerate(zip(batched, looped), start=1):
        for index in range(B):
            torch.testing.assert_close(
                ours[index],
                reference[index],
                rtol=1e-10,
                atol=1e-12,
                msg=lambda text, i=index, s=step: f"row {i}, step {s}: {text}",
            )


def test_batched_run_moves():
    # Equality with the loop means something only if the rows move apart.
    iterates = run_batched("Adam", {**default_hyperparameters("Adam"), "lr": LR}, 5)
    moved = (iterates[-1] - start_points()).abs().amax(dim=(1, 2))
    assert torch.all(moved[:-1] > 1e-3)
    assert moved[-1] == 0.0  # the last row has lr = 0


def test_two_batch_dimensions():
    # A (3, 2) grid of (lr, momentum) on parameters of shape (3, 2, 4).
    lrs = torch.tensor([0.01, 0.05, 0.1], dtype=torch.float64)
    momenta = torch.tensor([0.0, 0.9], dtype=torch.float64)
    lr_grid, momentum_grid = torch.meshgrid(lrs, momenta, indexing="ij")
    hyperparameters = {
        **default_hyperparameters("SGD"),
        "lr": lr_grid,
        "momentum": momentum_grid,
    }
    generator = torch.Generator().manual_seed(1)
    start = torch.randn((3, 2, 4), generator=generator, dtype=torch.float64)
    x = start.clone()
    state = OPTIMIZERS["SGD"].init_state(x, **hyperparameters)
    for _ in range(10):
        OPTIMIZERS["SGD"].update(x, 2 * x, state, **hyperparameters)
    for i in range(3):
        for j in range(2):
            param = start[i, j].clone().requires_grad_()
            optimizer = OPTIMIZERS["SGD"](
                [param], lr=lrs[i].item(), momentum=momenta[j].item()
            )
            for _ in range(10):
                param.grad = 2 * param.detach()
                optimizer.step()
            torch.testing.assert_close(x[i, j], param.detach(), rtol=1e-12, atol=0)


def test_float32_parameters_with_float64_hyperparameters():
    # as_batched casts the hyperparameters to the parameter's dtype, which
    # lerp_ requires of its weight.
    x = start_points().float()
    hyperparameters = {**default_hyperparameters("Adam"), "lr": LR}
    hyperparameters["betas"] = (column(0.9, 0.5, 0.0, 0.99, 0.8, 0.9), 0.999)
    state = OPTIMIZERS["Adam"].init_state(x, **hyperparameters)
    OPTIMIZERS["Adam"].update(x, gradient(x), state, **hyperparameters)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()


def test_nadam_mu_product_per_configuration():
    hyperparameters = {
        **default_hyperparameters("NAdam"),
        "momentum_decay": column(4e-3, 0.0, 0.1, 0.02, 4e-3, 1.0),
    }
    state = OPTIMIZERS["NAdam"].init_state(start_points(), **hyperparameters)
    assert state["mu_product"].shape == (B, 1, 1)


def test_nadam_mu_product_scalar_without_batch():
    state = OPTIMIZERS["NAdam"].init_state(
        start_points(), **default_hyperparameters("NAdam")
    )
    assert state["mu_product"].shape == ()
    assert state["mu_product"].device == torch.device("cpu")


def test_as_batched_number_unchanged():
    assert as_batched(0.5, torch.zeros(B, 3)) == 0.5


def test_as_batched_zero_dim_unchanged():
    value = torch.tensor(0.5)
    assert as_batched(value, torch.zeros(B, 3)) is value


def test_as_batched_views_leading_dimension():
    batched = as_batched(torch.arange(B, dtype=torch.float32), torch.zeros(B, 3, 2))
    assert batched.shape == (B, 1, 1)


def test_as_batched_casts_dtype():
    batched = as_batched(LR, torch.zeros(B, 3, dtype=torch.float32))
    assert batched.dtype == torch.float32


def test_as_batched_wrong_size_rejected():
    with pytest.raises(ValueError, match=r"shape \(4,\) does not match"):
        as_batched(torch.ones(4), torch.zeros(B, 3))


def test_as_batched_too_many_dimensions_rejected():
    with pytest.raises(ValueError, match="give one value per configuration"):
        as_batched(torch.ones(B, 3, 2), torch.zeros(B, 3))
