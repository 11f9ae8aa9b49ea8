"""Schedules against the real torch.optim.lr_scheduler classes.

Each case drives a real ``torch.optim.SGD`` with the real scheduler for N
steps and compares ``get_last_lr()`` (and the momentum that cycling
schedulers write into the optimizer) with the schedule at every step.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable

import pytest
import torch
from torch.optim import lr_scheduler

from course_lib.schedules import (
    CosineSchedule,
    CyclicSchedule,
    ExponentialSchedule,
    LinearSchedule,
    MultiStepSchedule,
    OneCycleSchedule,
    Schedule,
    SequentialSchedule,
    StepSchedule,
    WarmupCosineSchedule,
)

# Torch schedulers compute in Python floats (float64), and the closed forms
# agree with their recursions to this relative tolerance (see the docstring of
# course_lib.schedules).
RTOL = 1e-12
# LinearLR's recursion ends a decay to end_factor=0 at about 1e-19 instead of
# 0, so values near zero are compared to this fraction of the largest one.
ATOL_OF_MAX = 1e-15

Hyperparameter = float | torch.Tensor
MakeScheduler = Callable[[torch.optim.Optimizer], lr_scheduler.LRScheduler]


def drive_torch(
    make_scheduler: MakeScheduler,
    lr: float,
    steps: int,
    optimizer_class: type[torch.optim.Optimizer] = torch.optim.SGD,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return torch's learning rates and momenta at steps 0 to ``steps``.

    The parameter has no gradient, so ``optimizer.step()`` leaves it alone,
    which does not change the learning rates.
    """
    param = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    if optimizer_class is torch.optim.SGD:
        optimizer = optimizer_class([param], lr=lr, momentum=0.9)
    else:
        optimizer = optimizer_class([param], lr=lr)
    scheduler = make_scheduler(optimizer)
    lrs, momenta = [], []
    for step in range(steps + 1):
        group = optimizer.param_groups[0]
        lrs.append(scheduler.get_last_lr()[0])
        momenta.append(group["momentum"] if "momentum" in group else group["betas"][0])
        optimizer.step()
        if step < steps:
            scheduler.step()
    as_tensor = lambda values: torch.tensor(values, dtype=torch.float64)  # noqa: E731
    return as_tensor(lrs), as_tensor(momenta)


def assert_lrs_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    atol = ATOL_OF_MAX * float(expected.abs().max())
    torch.testing.assert_close(actual, expected, rtol=RTOL, atol=atol)


def drive_lambda_lr(schedule: Schedule, steps: int) -> torch.Tensor:
    """Return the learning rates of LambdaLR driven by ``schedule.multiplier``."""
    param = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=schedule.base_lr)
    scheduler = lr_scheduler.LambdaLR(optimizer, lr_lambda=schedule.multiplier)
    lrs = []
    for step in range(steps + 1):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        if step < steps:
            scheduler.step()
    return torch.tensor(lrs, dtype=torch.float64)


def step_cases() -> list:
    cases = []
    for base_lr, step_size, gamma in itertools.product(
        [0.1, 3.0], [1, 3, 10], [0.1, 0.5, 0.9, 1.5]
    ):
        cases.append(
            pytest.param(
                lambda o, s=step_size, g=gamma: lr_scheduler.StepLR(o, s, g),
                lambda b=base_lr, s=step_size, g=gamma: StepSchedule(b, s, g),
                base_lr,
                120,
                id=f"StepLR-lr{base_lr}-size{step_size}-gamma{gamma}",
            )
        )
    return cases


def multistep_cases() -> list:
    cases = []
    for milestones, gamma in itertools.product(
        [[0], [5], [3, 50, 50, 150], [40, 10, 30, 20]], [0.1, 0.7, 2.0]
    ):
        cases.append(
            pytest.param(
                lambda o, m=milestones, g=gamma: lr_scheduler.MultiStepLR(o, m, g),
                lambda m=milestones, g=gamma: MultiStepSchedule(0.05, m, g),
                0.05,
                200,
                id=f"MultiStepLR-{'-'.join(map(str, milestones))}-gamma{gamma}",
            )
        )
    return cases


def exponential_cases() -> list:
    cases = []
    for base_lr, gamma in itertools.product([0.1, 1e-3], [0.5, 0.9, 0.99, 1.0, 1.02]):
        cases.append(
            pytest.param(
                lambda o, g=gamma: lr_scheduler.ExponentialLR(o, g),
                lambda b=base_lr, g=gamma: ExponentialSchedule(b, g),
                base_lr,
                200,
                id=f"ExponentialLR-lr{base_lr}-gamma{gamma}",
            )
        )
    return cases


def cosine_cases() -> list:
    # Three periods past T_max, where torch's cosine rises and falls again.
    cases = []
    for base_lr, T_max, eta_min in itertools.product(
        [0.1, 1.0], [1, 2, 10, 100], [0.0, 1e-3, 0.05]
    ):
        cases.append(
            pytest.param(
                lambda o, t=T_max, e=eta_min: lr_scheduler.CosineAnnealingLR(o, t, e),
                lambda b=base_lr, t=T_max, e=eta_min: CosineSchedule(b, t, e),
                base_lr,
                3 * T_max + 5,
                id=f"CosineAnnealingLR-lr{base_lr}-T{T_max}-eta{eta_min}",
            )
        )
    return cases


def linear_cases() -> list:
    cases = []
    for start, end, total in itertools.product(
        [0.01, 1 / 3, 1.0], [0.0, 0.5, 1.0], [1, 5, 50]
    ):
        cases.append(
            pytest.param(
                lambda o, s=start, e=end, n=total: lr_scheduler.LinearLR(o, s, e, n),
                lambda s=start, e=end, n=total: LinearSchedule(0.2, s, e, n),
                0.2,
                2 * total + 10,
                id=f"LinearLR-start{start:.3g}-end{end}-iters{total}",
            )
        )
    return cases


def torch_warmup_cosine(
    optimizer: torch.optim.Optimizer,
    warmup: int,
    total: int,
    start: float,
    eta_min: float,
) -> lr_scheduler.SequentialLR:
    warmup_scheduler = lr_scheduler.LinearLR(optimizer, start, 1.0, warmup)
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, total - warmup, eta_min)
    return lr_scheduler.SequentialLR(optimizer, [warmup_scheduler, cosine], [warmup])


def warmup_cosine_cases() -> list:
    cases = []
    for warmup, total, start, eta_min in itertools.product(
        [1, 5, 50], [60, 200], [0.01, 1 / 3], [0.0, 1e-3]
    ):
        cases.append(
            pytest.param(
                lambda o, w=warmup, n=total, s=start, e=eta_min: torch_warmup_cosine(
                    o, w, n, s, e
                ),
                lambda w=warmup, n=total, s=start, e=eta_min: WarmupCosineSchedule(
                    0.1, w, n, s, e
                ),
                0.1,
                total,
                id=f"WarmupCosine-warmup{warmup}-total{total}-start{start:.3g}"
                f"-eta{eta_min}",
            )
        )
    return cases


def one_cycle_cases() -> list:
    # pct_start * total_steps is never 1 here, which would make a phase empty.
    cases = []
    strategies = [("cos", 25.0), ("linear", 5.0)]
    for total, pct, (anneal, div), three_phase in itertools.product(
        [20, 100, 257], [0.1, 0.3, 0.5], strategies, [False, True]
    ):
        options = dict(
            total_steps=total,
            pct_start=pct,
            anneal_strategy=anneal,
            three_phase=three_phase,
            div_factor=div,
        )
        cases.append(
            pytest.param(
                lambda o, kw=options: lr_scheduler.OneCycleLR(o, 0.4, **kw),
                lambda kw=options: OneCycleSchedule(0.4, **kw),
                0.4,
                total,
                id=f"OneCycleLR-total{total}-pct{pct}-{anneal}"
                f"-{'three' if three_phase else 'two'}-div{div}",
            )
        )
    return cases


def cyclic_cases() -> list:
    cases = []
    for up, down, mode, base_lr in itertools.product(
        [1, 4, 25],
        [None, 9],
        ["triangular", "triangular2", "exp_range"],
        [1e-3, 0.01],
    ):
        options = dict(step_size_up=up, step_size_down=down, mode=mode, gamma=0.99)
        cases.append(
            pytest.param(
                lambda o, b=base_lr, kw=options: lr_scheduler.CyclicLR(o, b, 0.1, **kw),
                lambda b=base_lr, kw=options: CyclicSchedule(b, 0.1, **kw),
                base_lr,
                120,
                id=f"CyclicLR-up{up}-down{down}-{mode}-lr{base_lr}",
            )
        )
    return cases


CASES = (
    step_cases()
    + multistep_cases()
    + exponential_cases()
    + cosine_cases()
    + linear_cases()
    + warmup_cosine_cases()
    + one_cycle_cases()
    + cyclic_cases()
)


@pytest.mark.parametrize("make_scheduler, make_schedule, lr, steps", CASES)
def test_schedule_matches_torch(
    make_scheduler: MakeScheduler,
    make_schedule: Callable[[], Schedule],
    lr: float,
    steps: int,
) -> None:
    expected, expected_momenta = drive_torch(make_scheduler, lr, steps)
    schedule = make_schedule()

    values = schedule.values(steps + 1)
    assert values.dtype == torch.float64
    assert_lrs_close(values, expected)

    called = torch.tensor([schedule(t) for t in range(steps + 1)], dtype=torch.float64)
    assert_lrs_close(called, expected)

    assert_lrs_close(drive_lambda_lr(schedule, steps), expected)

    if hasattr(schedule, "momentum_values"):
        momenta = schedule.momentum_values(steps + 1)
        torch.testing.assert_close(momenta, expected_momenta, rtol=RTOL, atol=0.0)


def test_one_cycle_beta1_matches_adam() -> None:
    def make(optimizer: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
        return lr_scheduler.OneCycleLR(optimizer, 0.01, total_steps=50)

    expected_lrs, expected_betas = drive_torch(make, 0.01, 50, torch.optim.Adam)
    schedule = OneCycleSchedule(0.01, total_steps=50)
    torch.testing.assert_close(schedule.values(51), expected_lrs, rtol=RTOL, atol=0.0)
    torch.testing.assert_close(
        schedule.momentum_values(51), expected_betas, rtol=RTOL, atol=0.0
    )


def test_one_cycle_epochs_times_steps() -> None:
    def make(optimizer: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
        return lr_scheduler.OneCycleLR(optimizer, 0.3, epochs=4, steps_per_epoch=25)

    expected, _ = drive_torch(make, 0.3, 100)
    schedule = OneCycleSchedule(0.3, epochs=4, steps_per_epoch=25)
    assert schedule.total_steps == 100
    torch.testing.assert_close(schedule.values(101), expected, rtol=RTOL, atol=0.0)


def test_cyclic_from_zero_base_lr() -> None:
    def make(optimizer: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
        return lr_scheduler.CyclicLR(optimizer, 0.0, 0.1, step_size_up=7)

    expected, _ = drive_torch(make, 0.0, 60)
    values = CyclicSchedule(0.0, 0.1, step_size_up=7).values(61)
    torch.testing.assert_close(values, expected, rtol=RTOL, atol=0.0)


def test_sequential_step_then_exponential() -> None:
    def make(optimizer: torch.optim.Optimizer) -> lr_scheduler.LRScheduler:
        first = lr_scheduler.StepLR(optimizer, 4, 0.5)
        second = lr_scheduler.ExponentialLR(optimizer, 0.95)
        third = lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=1)
        return lr_scheduler.SequentialLR(optimizer, [first, second, third], [10, 30])

    expected, _ = drive_torch(make, 0.2, 60)
    schedule = SequentialSchedule(
        [
            StepSchedule(0.2, 4, 0.5),
            ExponentialSchedule(0.2, 0.95),
            ExponentialSchedule(0.2, 1.0),
        ],
        [10, 30],
    )
    torch.testing.assert_close(schedule.values(61), expected, rtol=RTOL, atol=0.0)


def test_sequential_schedule_at() -> None:
    first, second = StepSchedule(0.1, 3), CosineSchedule(0.1, 20)
    schedule = SequentialSchedule([first, second], [15])
    assert schedule.schedule_at(14) == (first, 14)
    assert schedule.schedule_at(15) == (second, 0)
    assert schedule.schedule_at(40) == (second, 25)


def test_cosine_past_t_max_follows_closed_form() -> None:
    # With these parameters torch's recursion drifts most from its own closed
    # form (see the course_lib.schedules docstring). The schedule follows the
    # closed form, which torch computes when step() is given the epoch.
    T_max, eta_min, steps = 1000, 0.05, 3 * 1000 + 5
    param = torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([param], lr=0.1)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max, eta_min)
    closed_form = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for step in range(steps + 1):
            scheduler.step(step)
            closed_form.append(scheduler.get_last_lr()[0])
    expected = torch.tensor(closed_form, dtype=torch.float64)
    values = CosineSchedule(0.1, T_max, eta_min).values(steps + 1)
    torch.testing.assert_close(values, expected, rtol=1e-14, atol=0.0)

    recursive, _ = drive_torch(
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max, eta_min), 0.1, steps
    )
    torch.testing.assert_close(values, recursive, rtol=1e-10, atol=0.0)


def test_batched_base_lr_matches_one_by_one() -> None:
    base_lrs = torch.tensor([0.1, 0.02, 0.5])
    gammas = torch.tensor([0.5, 0.9, 0.99])
    batched = StepSchedule(base_lrs, 3, gammas).values(40)
    assert batched.shape == (40, 3)
    for index in range(3):
        single = StepSchedule(base_lrs[index].item(), 3, gammas[index].item())
        torch.testing.assert_close(batched[:, index], single.values(40), rtol=0, atol=0)


BATCHED_SCHEDULES = [
    pytest.param(
        lambda lr: CosineSchedule(lr, 30, eta_min=lr / 10),
        id="CosineSchedule",
    ),
    pytest.param(
        lambda lr: LinearSchedule(lr, start_factor=0.1, total_iters=20),
        id="LinearSchedule",
    ),
    pytest.param(
        lambda lr: WarmupCosineSchedule(lr, warmup_steps=10, total_steps=60),
        id="WarmupCosineSchedule",
    ),
    pytest.param(
        lambda lr: MultiStepSchedule(lr, [5, 20]),
        id="MultiStepSchedule",
    ),
    pytest.param(
        lambda lr: ExponentialSchedule(lr, 0.97),
        id="ExponentialSchedule",
    ),
    pytest.param(
        lambda lr: OneCycleSchedule(lr, total_steps=60, three_phase=True),
        id="OneCycleSchedule",
    ),
    pytest.param(
        lambda lr: CyclicSchedule(lr / 10, lr, step_size_up=7, mode="triangular2"),
        id="CyclicSchedule",
    ),
]


@pytest.mark.parametrize("make_schedule", BATCHED_SCHEDULES)
def test_batched_grid_matches_one_by_one(
    make_schedule: Callable[[Hyperparameter], Schedule],
) -> None:
    base_lrs = torch.tensor([[0.1, 0.2, 0.3], [1e-3, 1e-2, 1.0]], dtype=torch.float64)
    batched = make_schedule(base_lrs)
    assert batched.batch_shape == (2, 3)
    values = batched.values(61)
    assert values.shape == (61, 2, 3)
    for row, column in itertools.product(range(2), range(3)):
        single = make_schedule(base_lrs[row, column].item()).values(61)
        torch.testing.assert_close(values[:, row, column], single, rtol=1e-15, atol=0.0)


def test_call_on_batch_returns_tensor() -> None:
    schedule = CosineSchedule(torch.tensor([0.1, 0.2]), 10)
    value = schedule(5)
    assert isinstance(value, torch.Tensor)
    assert value.shape == (2,)
    torch.testing.assert_close(value, schedule.values(6)[5], rtol=0, atol=0)


def test_call_on_numbers_returns_float() -> None:
    assert isinstance(StepSchedule(0.1, 3)(4), float)


def test_values_at_any_steps() -> None:
    schedule = CyclicSchedule(0.01, 0.1, step_size_up=5, mode="exp_range", gamma=0.9)
    steps = torch.tensor([[7, 0, 33], [2, 2, 19]])
    all_values = schedule.values(34)
    torch.testing.assert_close(
        schedule.values(steps), all_values[steps], rtol=0, atol=0
    )


def test_values_accept_float_steps() -> None:
    schedule = ExponentialSchedule(0.1, 0.9)
    float_steps = torch.arange(10, dtype=torch.float32)
    torch.testing.assert_close(schedule.values(float_steps), schedule.values(10))


def test_multistep_order_of_milestones() -> None:
    unsorted = MultiStepSchedule(0.1, [30, 10, 20]).values(40)
    ordered = MultiStepSchedule(0.1, [10, 20, 30]).values(40)
    torch.testing.assert_close(unsorted, ordered, rtol=0, atol=0)


def test_one_cycle_raises_past_total_like_torch() -> None:
    param = torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.OneCycleLR(optimizer, 0.1, total_steps=10)
    for _ in range(10):
        optimizer.step()
        scheduler.step()
    with pytest.raises(ValueError):
        scheduler.step()
    schedule = OneCycleSchedule(0.1, total_steps=10)
    assert schedule(10) == pytest.approx(scheduler.get_last_lr()[0], rel=RTOL)
    with pytest.raises(ValueError, match="step 11 is past the end of the schedule"):
        schedule(11)


def test_lambda_lr_raises_past_total() -> None:
    schedule = OneCycleSchedule(0.1, total_steps=3)
    param = torch.nn.Parameter(torch.ones(1))
    optimizer = torch.optim.SGD([param], lr=schedule.base_lr)
    scheduler = lr_scheduler.LambdaLR(optimizer, lr_lambda=schedule.multiplier)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    with pytest.raises(ValueError, match="past the end"):
        scheduler.step()


INVALID = [
    (lambda: StepSchedule(0.1, 0), "step_size must be a positive number of steps"),
    (lambda: StepSchedule(0.1, 2.5), "step_size must be a whole number"),
    (lambda: StepSchedule(-0.1, 3), "base_lr must be a non-negative learning rate"),
    (lambda: StepSchedule(0.1, 3, gamma=0.0), "gamma must be positive"),
    (
        lambda: StepSchedule(torch.tensor([0.1, -0.2]), 3),
        "base_lr must be a non-negative learning rate",
    ),
    (lambda: StepSchedule(float("nan"), 3), "base_lr must be finite"),
    (lambda: StepSchedule("0.1", 3), "base_lr must be a real number"),
    (lambda: MultiStepSchedule(0.1, [-1, 4]), "milestones must be non-negative"),
    (lambda: MultiStepSchedule(0.1, [1.5]), "milestones must be whole steps"),
    (lambda: ExponentialSchedule(0.1, -0.9), "gamma must be positive"),
    (lambda: CosineSchedule(0.1, 0), "T_max must be a positive number of steps"),
    (lambda: CosineSchedule(0.1, 10, eta_min=-1e-3), "eta_min must be a non-negative"),
    (lambda: CosineSchedule(0.1, 10, eta_min=0.2), "eta_min=0.2 is above base_lr=0.1"),
    (
        lambda: LinearSchedule(0.1, start_factor=0.0),
        r"start_factor must be in \(0, 1\]",
    ),
    (lambda: LinearSchedule(0.1, end_factor=1.5), r"end_factor must be in \[0, 1\]"),
    (lambda: LinearSchedule(0.1, total_iters=0), "total_iters must be a positive"),
    (
        lambda: WarmupCosineSchedule(0.1, warmup_steps=100, total_steps=50),
        "warmup_steps=100 must be less than total_steps=50",
    ),
    (
        lambda: WarmupCosineSchedule(0.1, warmup_steps=50, total_steps=50),
        "warmup_steps=50 must be less than total_steps=50",
    ),
    (
        lambda: WarmupCosineSchedule(0.1, warmup_steps=0, total_steps=50),
        "warmup_steps must be a positive number of steps",
    ),
    (
        lambda: WarmupCosineSchedule(0.1, warmup_steps=5, total_steps=-3),
        "total_steps must be a positive number of steps",
    ),
    (lambda: OneCycleSchedule(0.1), "needs total_steps, or both epochs"),
    (lambda: OneCycleSchedule(0.1, epochs=3), "needs total_steps, or both epochs"),
    (lambda: OneCycleSchedule(0.1, 0), "total_steps must be a positive number"),
    (
        lambda: OneCycleSchedule(0.1, epochs=0, steps_per_epoch=5),
        "epochs must be a positive number",
    ),
    (lambda: OneCycleSchedule(-0.1, 10), "max_lr must be a non-negative"),
    (
        lambda: OneCycleSchedule(0.1, 10, pct_start=1.5),
        r"pct_start must be in \[0, 1\]",
    ),
    (lambda: OneCycleSchedule(0.1, 10, anneal_strategy="exp"), "anneal_strategy must"),
    (lambda: OneCycleSchedule(0.1, 10, pct_start=0.1), "phase 1 .* has no steps"),
    (lambda: OneCycleSchedule(0.1, 10, pct_start=1.0), "phase 2 .* has no steps"),
    (
        lambda: OneCycleSchedule(0.1, 10, div_factor=0.5),
        "div_factor must be at least 1",
    ),
    (
        lambda: OneCycleSchedule(0.1, 10, final_div_factor=0.0),
        "final_div_factor must be positive",
    ),
    (
        lambda: OneCycleSchedule(0.1, 10, base_momentum=0.99),
        "base_momentum=0.99 is above max_momentum=0.95",
    ),
    (lambda: CyclicSchedule(0.1, 0.01), "max_lr=0.01 is below base_lr=0.1"),
    (lambda: CyclicSchedule(-0.1, 0.01), "base_lr must be a non-negative"),
    (lambda: CyclicSchedule(0.01, 0.1, step_size_up=0), "step_size_up must be"),
    (lambda: CyclicSchedule(0.01, 0.1, step_size_down=0), "step_size_down must be"),
    (lambda: CyclicSchedule(0.01, 0.1, mode="cosine"), "mode must be 'triangular'"),
    (
        lambda: CyclicSchedule(0.01, 0.1, mode="exp_range", gamma=0.0),
        "gamma must be positive",
    ),
    (lambda: SequentialSchedule([], []), "needs at least one schedule"),
    (
        lambda: SequentialSchedule([StepSchedule(0.1, 2)], [3]),
        "one milestone fewer than schedules",
    ),
    (
        lambda: SequentialSchedule(
            [StepSchedule(0.1, 2), StepSchedule(0.1, 2), StepSchedule(0.1, 2)], [5, 5]
        ),
        "milestones must be strictly increasing",
    ),
    (lambda: StepSchedule(0.1, 3).values(torch.tensor([-1, 2])), "non-negative"),
    (lambda: StepSchedule(0.1, 3).values(torch.tensor([0.5])), "whole numbers"),
    (lambda: StepSchedule(0.1, 3).values(0), "must be a positive number of steps"),
    (lambda: StepSchedule(0.1, 3)(2.0), "step must be a whole number"),
    (
        lambda: WarmupCosineSchedule(0.1, 5, 50)(51),
        "step 51 is past the end of the schedule at step 50",
    ),
    (
        lambda: StepSchedule(torch.tensor([0.1, 0.2]), 3).multiplier(1),
        "multiplier needs a schedule of numbers",
    ),
    (
        lambda: CyclicSchedule(0.01, torch.tensor([0.1, 0.2])).multiplier(1),
        "multiplier needs a schedule of numbers",
    ),
    (
        lambda: CyclicSchedule(0.0, 0.1).multiplier(1),
        "multiplier is undefined for base_lr=0",
    ),
]


@pytest.mark.parametrize(
    "build, message", INVALID, ids=[message for _, message in INVALID]
)
def test_invalid_arguments(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_values_past_total_raise() -> None:
    schedule = OneCycleSchedule(0.1, total_steps=10)
    assert schedule.values(11).shape == (11,)
    with pytest.raises(ValueError, match="step 19 is past the end of the schedule"):
        schedule.values(20)
