"""Optimizer races on surfaces and on a data set.

The oracle is ``torch.optim``: each entrant's run must take the steps that
the matching ``torch.optim`` optimizer takes alone, whether or not the race
batched it with other entrants.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from course_lib.data import Dataset, load_digits
from course_lib.landscapes import get_surface
from course_lib.race import (
    Entrant,
    RaceResult,
    combine_results,
    default_race_model,
    race,
    race_on_dataset,
    race_on_surface,
    steps_to_settle,
)
from course_lib.trajectories import run_class


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run torch on one thread: these models are tiny, and on a busy
    machine a second thread only waits for a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits(device="cpu").subset(300)


ROSENBROCK = get_surface("rosenbrock")
BOWL = get_surface("quadratic", condition_number=10.0)


# -- surfaces ---------------------------------------------------------------


def test_surface_race_matches_torch_runs() -> None:
    entrants = [
        Entrant("Adam", {"lr": 0.05}),
        Entrant("RMSprop", {"lr": 0.01}),
        Entrant("Adam", {"lr": 0.01, "betas": (0.8, 0.99)}),
        Entrant("SGD", {"lr": 1e-3, "momentum": 0.9}),
    ]
    result = race_on_surface(ROSENBROCK, entrants, steps=60)
    for column, entrant in enumerate(entrants):
        oracle = run_class(
            ROSENBROCK,
            getattr(torch.optim, entrant.optimizer),
            ROSENBROCK.default_start,
            60,
            dtype=torch.float64,
            **entrant.hyperparameters,
        )
        assert_close(result.positions[:, column], oracle.positions[:, 0])
        assert_close(result.losses[:, column], oracle.losses[:, 0])


def test_identical_entrants_get_identical_runs() -> None:
    result = race_on_surface(BOWL, ["Adagrad", "Adagrad"], steps=20)
    assert_close(result.positions[:, 0], result.positions[:, 1])


def test_steps_to_target_is_first_step_below() -> None:
    result = race_on_surface(
        BOWL, [Entrant("SGD", {"lr": 0.05}), Entrant("SGD", {"lr": 0.15})], steps=150
    )
    result = combine_results([result], target=1e-4)
    for column in range(2):
        gaps = result.gaps[:, column]
        below = torch.nonzero(gaps <= 1e-4).flatten()
        assert int(result.steps_to_target[column]) == int(below[0])


def test_steps_to_settle_ignores_bounces() -> None:
    nan = math.nan
    gaps = torch.tensor(
        [[1.0, 1.0, 1.0, 0.0], [0.1, 1e-3, 1.0, 0.0], [1e-3, 0.1, 1e-3, 0.0]]
        + [[1e-3, 1e-3, nan, 0.0]]
    )
    assert steps_to_settle(gaps, 0.01).tolist() == [2, 3, -1, 0]
    assert steps_to_settle(gaps, 0.01, [0, 10, 20, 30]).tolist() == [20, 30, -1, 0]


def test_settle_never_before_target() -> None:
    result = race_on_surface(
        BOWL,
        [Entrant("RMSprop", {"lr": 0.1}), Entrant("SGD", {"lr": 0.1})],
        steps=200,
        target=1e-4,
    )
    reached = result.steps_to_target
    settled = result.steps_to_settle
    # SGD with lr 0.1 < 2 / lambda_max = 0.2 converges, so it settles.
    assert int(settled[1]) >= 0
    for column in range(2):
        if int(settled[column]) >= 0:
            assert int(settled[column]) >= int(reached[column])
            assert bool((result.gaps[int(settled[column]) :, column] <= 1e-4).all())


def test_diverging_entrant_is_dated() -> None:
    # On the bowl lambda_max = 10, so SGD diverges for lr > 2 / 10.
    result = race_on_surface(
        BOWL, [Entrant("SGD", {"lr": 0.1}), Entrant("SGD", {"lr": 0.3})], steps=200
    )
    diverged_at = int(result.diverged_at[1])
    assert int(result.diverged_at[0]) == -1
    assert diverged_at > 0
    assert bool(torch.isnan(result.positions[diverged_at:, 1]).all())
    assert bool(torch.isfinite(result.positions[:diverged_at, 1]).all())
    assert f"diverged: SGD lr=0.3 (step {diverged_at})" in result.summary()


def test_invalid_entrant_names_itself() -> None:
    entrant = Entrant("SGD", {"lr": 0.1, "nesterov": True}, label="fast SGD")
    with pytest.raises(ValueError, match="^fast SGD: Nesterov momentum"):
        race_on_surface(BOWL, [entrant], steps=5)


def test_unknown_names_raise() -> None:
    with pytest.raises(KeyError, match="unknown optimizer 'Lion'"):
        race_on_surface(BOWL, ["Lion"], steps=5)
    with pytest.raises(TypeError, match="no hyperparameter 'alpha'"):
        race_on_surface(BOWL, [Entrant("Adam", {"alpha": 0.9})], steps=5)
    with pytest.raises(ValueError, match="at least one entrant"):
        race_on_surface(BOWL, [], steps=5)


def test_entrant_default_label() -> None:
    assert Entrant("Adam").name == "Adam"
    assert Entrant("Adam", {"lr": 0.01, "amsgrad": True}).name == (
        "Adam lr=0.01 amsgrad=True"
    )
    assert Entrant("Adam", label="mine").name == "mine"


# -- ranking and the summary ------------------------------------------------


def made_result(
    steps_to_target: list[int], diverged_at: list[int], final_gaps: list[float]
) -> RaceResult:
    """Make a two-row result whose last row contains the given final gaps."""
    size = len(steps_to_target)
    losses = torch.tensor([[1.0] * size, final_gaps], dtype=torch.float64)
    return RaceResult(
        problem="bowl",
        labels=[f"opt{i}" for i in range(size)],
        optimizers=["SGD"] * size,
        hyperparameters=[{}] * size,
        loss_steps=[0, 10],
        losses=losses,
        floor=0.0,
        diverged_at=torch.tensor(diverged_at),
        target=0.01,
        steps_to_target=torch.tensor(steps_to_target),
    )


def test_ranking_orders_reached_running_diverged() -> None:
    result = made_result(
        steps_to_target=[-1, 7, -1, 3, -1],
        diverged_at=[-1, -1, 4, -1, 8],
        final_gaps=[0.5, 0.001, math.nan, 0.002, math.nan],
    )
    assert result.ranking() == [3, 1, 0, 4, 2]
    assert result.winners() == [3]


def test_summary_lists_every_group() -> None:
    result = made_result(
        steps_to_target=[-1, 7, -1, 3],
        diverged_at=[-1, -1, 4, -1],
        final_gaps=[0.5, 0.001, math.nan, 0.002],
    )
    assert result.summary() == (
        "first to gap 0.01: opt3 (step 3) · then opt1 (7) · not reached: "
        "opt0 (0.5) · diverged: opt2 (step 4)"
    )


def test_summary_without_arrivals() -> None:
    result = made_result([-1, -1], [-1, -1], [0.5, 0.2])
    assert (
        result.summary()
        == "none reached gap 0.01 · not reached: opt1 (0.2), opt0 (0.5)"
    )


def test_ties_share_the_win() -> None:
    result = made_result([5, 5, 9], [-1, -1, -1], [0.001, 0.002, 0.003])
    assert result.winners() == [0, 1]
    assert result.summary().startswith("first to gap 0.01: opt0, opt1 (step 5)")


def test_combine_results_keeps_columns() -> None:
    first = race_on_surface(BOWL, [Entrant("SGD", {"lr": 0.05})], steps=30)
    second = race_on_surface(BOWL, ["Adam"], steps=30)
    both = race_on_surface(BOWL, [Entrant("SGD", {"lr": 0.05}), "Adam"], steps=30)
    joined = combine_results([first, second], target=1e-3)
    assert joined.labels == both.labels
    assert_close(joined.positions, both.positions)
    assert joined.target == 1e-3


def test_combine_results_rejects_other_steps() -> None:
    first = race_on_surface(BOWL, ["SGD"], steps=30)
    second = race_on_surface(BOWL, ["SGD"], steps=40)
    with pytest.raises(ValueError, match="same problem and steps"):
        combine_results([first, second])


# -- data sets --------------------------------------------------------------


def torch_full_batch_losses(
    data: Dataset, optimizer_class: type, steps: int, **settings: float
) -> list[float]:
    """Train a copy of the race's model with full batches through torch.optim."""
    model = copy.deepcopy(default_race_model(data))
    optimizer = optimizer_class(model.parameters(), **settings)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(data.x_train), data.y_train)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        losses.append(F.cross_entropy(model(data.x_train), data.y_train).item())
    return losses


def test_dataset_race_matches_torch(digits: Dataset) -> None:
    entrants = [Entrant("Adam", {"lr": 0.01}), Entrant("Adam", {"lr": 0.003}), "SGD"]
    result = race_on_dataset(digits, entrants, steps=15)
    assert result.loss_steps == list(range(16))
    for column, entrant in enumerate(entrants):
        entrant = Entrant(entrant) if isinstance(entrant, str) else entrant
        expected = torch_full_batch_losses(
            digits,
            getattr(torch.optim, entrant.optimizer),
            15,
            **entrant.hyperparameters,
        )
        assert_close(
            result.losses[:, column],
            torch.tensor(expected, dtype=torch.float64),
            rtol=1e-4,
            atol=1e-5,
        )


def test_dataset_race_reports_divergence(digits: Dataset) -> None:
    result = race_on_dataset(
        digits, [Entrant("SGD", {"lr": 0.1}), Entrant("SGD", {"lr": 500.0})], steps=10
    )
    assert int(result.diverged_at[0]) == -1
    assert int(result.diverged_at[1]) > 0
    assert math.isnan(float(result.val_accuracy[1]))
    assert 0.0 <= float(result.val_accuracy[0]) <= 1.0


def test_minibatch_race_batches_like_single_runs(digits: Dataset) -> None:
    entrants = [Entrant("RMSprop", {"lr": 0.01}), Entrant("RMSprop", {"lr": 0.001})]
    together = race_on_dataset(digits, entrants, steps=20, batch_size=32, eval_every=5)
    assert together.loss_steps == [0, 5, 10, 15, 20]
    for column, entrant in enumerate(entrants):
        alone = race_on_dataset(
            digits, [entrant], steps=20, batch_size=32, eval_every=5
        )
        assert_close(
            together.losses[:, column], alone.losses[:, 0], rtol=1e-4, atol=1e-5
        )


def test_race_dispatches_on_problem(digits: Dataset) -> None:
    on_surface = race(BOWL, ["SGD"], steps=5)
    on_data = race(digits, ["SGD"], steps=5)
    assert on_surface.positions is not None
    assert on_data.positions is None
    with pytest.raises(TypeError, match="Surface or a Dataset"):
        race("bowl", ["SGD"])
