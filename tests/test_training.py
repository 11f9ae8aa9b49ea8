"""Tests of course_lib.training against plain PyTorch loops and torch.autograd."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.data import Dataset, load_diabetes, load_digits
from course_lib.optim import OPTIMIZERS
from course_lib.schedules import StepSchedule
from course_lib.training import (
    History,
    Trainer,
    accuracy,
    compute_gradients,
    evaluate,
    flat_gradient,
    per_example_gradients,
    step_memory,
    train,
    train_batched,
)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits(device="cpu", dtype=torch.float64)


@pytest.fixture(scope="module")
def diabetes() -> Dataset:
    return load_diabetes(device="cpu", dtype=torch.float64)


def make_mlp(seed: int = 0, hidden: int = 16) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, 10)
    ).double()


def plain_loop(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Dataset,
    *,
    batch_size: int,
    epochs: int,
    seed: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
) -> list[float]:
    """Train the textbook way: one randperm per epoch, cut into batches."""
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(data.num_train, generator=generator)
        for start in range(0, data.num_train, batch_size):
            index = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(data.x_train[index]), data.y_train[index])
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            losses.append(loss.item())
    return losses


def assert_same_weights(
    first: nn.Module, second: nn.Module, **tolerance: float
) -> None:
    for (name, a), (_, b) in zip(first.named_parameters(), second.named_parameters()):
        torch.testing.assert_close(a, b, msg=f"parameter {name} differs", **tolerance)


# -- the loop against a plain PyTorch loop ---------------------------------------


def test_train_matches_plain_loop_weights(digits: Dataset) -> None:
    ours, reference = make_mlp(), make_mlp()
    train(
        ours,
        F.cross_entropy,
        torch.optim.SGD(ours.parameters(), lr=0.1, momentum=0.9),
        digits,
        batch_size=64,
        epochs=2,
        seed=3,
        progress=False,
    )
    plain_loop(
        reference,
        torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9),
        digits,
        batch_size=64,
        epochs=2,
        seed=3,
    )
    assert_same_weights(ours, reference, rtol=0, atol=0)


def test_train_matches_plain_loop_losses(digits: Dataset) -> None:
    ours, reference = make_mlp(), make_mlp()
    history = train(
        ours,
        F.cross_entropy,
        torch.optim.Adam(ours.parameters(), lr=0.01),
        digits,
        batch_size=100,
        epochs=1,
        seed=5,
        progress=False,
    )
    losses = plain_loop(
        reference,
        torch.optim.Adam(reference.parameters(), lr=0.01),
        digits,
        batch_size=100,
        epochs=1,
        seed=5,
    )
    assert history.loss == losses


def test_train_other_seed_other_weights(digits: Dataset) -> None:
    first, second = make_mlp(), make_mlp()
    for model, seed in ((first, 0), (second, 1)):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        train(
            model,
            F.cross_entropy,
            optimizer,
            digits,
            batch_size=64,
            steps=5,
            seed=seed,
            progress=False,
        )
    assert not torch.equal(first[0].weight, second[0].weight)


def test_train_with_course_optimizer(digits: Dataset) -> None:
    ours, reference = make_mlp(), make_mlp()
    optimizer = OPTIMIZERS["SGD"](ours.parameters(), lr=0.1, momentum=0.9)
    train(
        ours,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=64,
        epochs=1,
        progress=False,
    )
    plain_loop(
        reference,
        torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.9),
        digits,
        batch_size=64,
        epochs=1,
        seed=0,
    )
    assert_same_weights(ours, reference, rtol=1e-12, atol=1e-12)


def test_train_regression_history(diabetes: Dataset) -> None:
    model = make_linear()
    history = train(
        model,
        F.mse_loss,
        torch.optim.SGD(model.parameters(), lr=0.05),
        diabetes,
        batch_size=32,
        epochs=3,
        progress=False,
    )
    assert history.val_loss[-1] < history.val_loss[0]
    assert all(math.isnan(a) for a in history.val_accuracy)


# -- gradient accumulation --------------------------------------------------------


def full_batch_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> torch.Tensor:
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return flat_gradient(model).clone()


def test_accumulation_unequal_parts_equal_full_batch(digits: Dataset) -> None:
    model = make_mlp()
    x, y = digits.x_train[:10], digits.y_train[:10]
    expected = full_batch_gradient(model, x, y)
    model.zero_grad()
    loss = compute_gradients(model, F.cross_entropy, x, y, micro_batch_size=4)
    torch.testing.assert_close(flat_gradient(model), expected)
    torch.testing.assert_close(loss, F.cross_entropy(model(x), y).detach())


def test_accumulation_steps_equal_full_batch(digits: Dataset) -> None:
    model = make_mlp()
    x, y = digits.x_train[:10], digits.y_train[:10]
    expected = full_batch_gradient(model, x, y)
    model.zero_grad()
    compute_gradients(model, F.cross_entropy, x, y, accumulation_steps=3)
    torch.testing.assert_close(flat_gradient(model), expected)


def test_accumulation_more_steps_than_examples(digits: Dataset) -> None:
    model = make_mlp()
    x, y = digits.x_train[:3], digits.y_train[:3]
    expected = full_batch_gradient(model, x, y)
    model.zero_grad()
    compute_gradients(model, F.cross_entropy, x, y, accumulation_steps=5)
    torch.testing.assert_close(flat_gradient(model), expected)


def test_accumulation_equal_weights_would_differ(digits: Dataset) -> None:
    # The check above can fail: averaging 4+4+2 with weights 1/3 is wrong.
    model = make_mlp()
    x, y = digits.x_train[:10], digits.y_train[:10]
    expected = full_batch_gradient(model, x, y)
    model.zero_grad()
    for part_x, part_y in zip(torch.split(x, 4), torch.split(y, 4)):
        (F.cross_entropy(model(part_x), part_y) / 3).backward()
    assert not torch.allclose(flat_gradient(model), expected)


def test_accumulation_adds_to_existing_grad(digits: Dataset) -> None:
    model = make_mlp()
    x, y = digits.x_train[:10], digits.y_train[:10]
    expected = full_batch_gradient(model, x, y)
    compute_gradients(model, F.cross_entropy, x, y, micro_batch_size=4)
    torch.testing.assert_close(flat_gradient(model), 2 * expected)


def test_train_micro_batches_match_full_batches(digits: Dataset) -> None:
    whole, parts = make_mlp(), make_mlp()
    for model, micro in ((whole, None), (parts, 4)):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        train(
            model,
            F.cross_entropy,
            optimizer,
            digits,
            batch_size=10,
            steps=20,
            micro_batch_size=micro,
            progress=False,
        )
    assert_same_weights(whole, parts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accumulation_steps": 0}, "accumulation_steps must be a positive"),
        ({"micro_batch_size": 0}, "micro_batch_size must be a positive"),
        ({"accumulation_steps": 2, "micro_batch_size": 4}, "not both"),
    ],
)
def test_accumulation_rejects_bad_argument(
    digits: Dataset, kwargs: dict, message: str
) -> None:
    model = make_mlp()
    with pytest.raises(ValueError, match=message):
        compute_gradients(
            model, F.cross_entropy, digits.x_train[:4], digits.y_train[:4], **kwargs
        )


# -- divergence ---------------------------------------------------------------------

# Linear least squares with a learning rate far above 2 / lambda_max: the
# error grows by a large factor per step until the loss overflows.
HUGE_LR = 50.0


def make_linear(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Linear(10, 1).double()


def diverging_run(diabetes: Dataset) -> tuple[nn.Module, History]:
    model = make_linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=HUGE_LR)
    history = train(
        model, F.mse_loss, optimizer, diabetes, batch_size=32, epochs=50, progress=False
    )
    return model, history


def test_divergence_records_step(diabetes: Dataset) -> None:
    _, history = diverging_run(diabetes)
    assert history.diverged_at is not None
    assert history.diverged_at == history.steps
    assert history.stop_reason == "diverged"


def test_divergence_loss_finite_before(diabetes: Dataset) -> None:
    _, history = diverging_run(diabetes)
    assert not math.isfinite(history.loss[-1])
    assert all(math.isfinite(loss) for loss in history.loss[:-1])


def test_divergence_matches_plain_loop(diabetes: Dataset) -> None:
    _, history = diverging_run(diabetes)
    reference = make_linear()
    optimizer = torch.optim.SGD(reference.parameters(), lr=HUGE_LR)
    losses = plain_loop(
        reference,
        optimizer,
        diabetes,
        batch_size=32,
        epochs=50,
        seed=0,
        loss_fn=F.mse_loss,
    )
    first_bad = next(i for i, loss in enumerate(losses) if not math.isfinite(loss))
    assert history.diverged_at == first_bad + 1
    assert history.loss[:-1] == losses[:first_bad]


def test_divergence_then_step_raises(diabetes: Dataset) -> None:
    model = make_linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=HUGE_LR)
    trainer = Trainer(model, F.mse_loss, optimizer, diabetes, batch_size=32)
    trainer.run(epochs=50)
    assert trainer.diverged
    with pytest.raises(RuntimeError, match="diverged at step"):
        trainer.step()


def test_divergence_skips_the_update(diabetes: Dataset) -> None:
    model = make_linear()
    optimizer = torch.optim.SGD(model.parameters(), lr=HUGE_LR)
    trainer = Trainer(model, F.mse_loss, optimizer, diabetes, batch_size=32)
    while True:
        before = [p.detach().clone() for p in model.parameters()]
        trainer.step()
        if trainer.diverged:
            break
    for old, new in zip(before, model.parameters()):
        torch.testing.assert_close(new, old, equal_nan=True)


# -- budgets ------------------------------------------------------------------------


def run_budget(digits: Dataset, **budget: float) -> History:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    return train(
        model,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        progress=False,
        **budget,
    )


def test_budget_epochs(digits: Dataset) -> None:
    history = run_budget(digits, epochs=2)
    assert history.steps == 2 * 15
    assert history.stop_reason == "epochs"
    assert history.eval_step == [0, 15, 30]
    assert history.eval_epoch == [0.0, 1.0, 2.0]


def test_budget_fractional_epochs(digits: Dataset) -> None:
    history = run_budget(digits, epochs=1.5)
    assert history.steps == math.ceil(1.5 * 15)
    assert history.eval_step == [0, 15, 23]


def test_budget_steps(digits: Dataset) -> None:
    history = run_budget(digits, steps=7)
    assert history.steps == 7
    assert history.stop_reason == "steps"
    assert history.eval_step == [0, 7]


def test_budget_first_one_wins(digits: Dataset) -> None:
    history = run_budget(digits, epochs=3, steps=20)
    assert history.steps == 20
    assert history.stop_reason == "steps"


def test_budget_seconds(digits: Dataset) -> None:
    history = run_budget(digits, seconds=0.3)
    assert history.stop_reason == "seconds"
    assert history.time[-1] >= 0.3
    assert history.time[-2] < 0.3


def test_budget_missing_raises(digits: Dataset) -> None:
    with pytest.raises(ValueError, match="give a budget"):
        run_budget(digits)


@pytest.mark.parametrize(
    "budget", [{"epochs": 0}, {"epochs": -1.0}, {"steps": 0}, {"seconds": 0}]
)
def test_budget_not_positive_raises(digits: Dataset, budget: dict) -> None:
    with pytest.raises(ValueError, match="must be a positive"):
        run_budget(digits, **budget)


def test_trainer_run_continues(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    trainer = Trainer(model, F.cross_entropy, optimizer, digits, batch_size=100)
    trainer.run(steps=10)
    history = trainer.run(epochs=1)
    assert history.steps == 25
    assert trainer.epoch == pytest.approx(25 / 15)


# -- the history --------------------------------------------------------------------


def test_history_step_lists_align(digits: Dataset) -> None:
    history = run_budget(digits, epochs=1)
    lengths = {
        len(history.loss),
        len(history.lr),
        len(history.time),
        len(history.step_seconds),
        len(history.samples_per_second),
    }
    assert lengths == {15}


def test_history_time_increases(digits: Dataset) -> None:
    history = run_budget(digits, epochs=1)
    assert all(b > a for a, b in zip(history.time, history.time[1:]))
    assert history.time[-1] == pytest.approx(sum(history.step_seconds))


def test_history_samples_per_second(digits: Dataset) -> None:
    history = run_budget(digits, epochs=1)
    # 1438 examples in batches of 100: the last batch has 38.
    sizes = [100] * 14 + [38]
    for size, seconds, rate in zip(
        sizes, history.step_seconds, history.samples_per_second
    ):
        assert rate == pytest.approx(size / seconds)
    assert history.updates_per_second[0] == pytest.approx(1 / history.step_seconds[0])


def test_history_eval_matches_evaluate(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = train(
        model,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        epochs=1,
        progress=False,
    )
    with torch.no_grad():
        output = model(digits.x_val)
    assert history.val_loss[-1] == pytest.approx(
        F.cross_entropy(output, digits.y_val).item()
    )
    expected_accuracy = (output.argmax(1) == digits.y_val).double().mean().item()
    assert history.val_accuracy[-1] == pytest.approx(expected_accuracy)


def test_history_eval_every(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = train(
        model,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        steps=12,
        eval_every=5,
        progress=False,
    )
    assert history.eval_step == [0, 5, 10, 12]
    assert history.eval_epoch[1] == pytest.approx(5 / 15)


def test_history_eval_every_seconds(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = train(
        model,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        seconds=0.2,
        eval_every_seconds=0.05,
        progress=False,
    )
    gaps = [b - a for a, b in zip(history.eval_time, history.eval_time[1:-1])]
    assert len(gaps) >= 2
    assert all(gap >= 0.05 for gap in gaps)


def test_history_eval_seconds_replace_epochs(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = train(
        model,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        epochs=2,
        eval_every_seconds=1000.0,
        progress=False,
    )
    assert history.eval_step == [0, 30]


def test_history_repr_is_short(digits: Dataset) -> None:
    history = run_budget(digits, steps=3)
    assert repr(history).startswith("History(steps=3, diverged_at=None")


def test_progress_bar_runs(digits: Dataset, capsys: pytest.CaptureFixture) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    train(model, F.cross_entropy, optimizer, digits, batch_size=100, steps=3)
    assert "3/3" in capsys.readouterr().err


# -- schedules ----------------------------------------------------------------------


def test_schedule_function_sets_lr(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    history = train(
        model,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        steps=6,
        schedule=lambda step: 0.1 / (1 + step),
        progress=False,
    )
    assert history.lr == [0.1 / (1 + step) for step in range(6)]


def test_schedule_function_equals_lambda_lr(digits: Dataset) -> None:
    ours, reference = make_mlp(), make_mlp()
    optimizer = torch.optim.SGD(ours.parameters(), lr=0.2, momentum=0.9)
    train(
        ours,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        epochs=2,
        schedule=lambda step: 0.2 * 0.9**step,
        progress=False,
    )
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.2, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        reference_optimizer, lambda step: 0.9**step
    )
    plain_loop(
        reference,
        reference_optimizer,
        digits,
        batch_size=100,
        epochs=2,
        seed=0,
        scheduler=scheduler,
    )
    assert_same_weights(ours, reference, rtol=1e-12, atol=1e-15)


def test_schedule_torch_scheduler(digits: Dataset) -> None:
    ours, reference = make_mlp(), make_mlp()
    optimizer = torch.optim.SGD(ours.parameters(), lr=0.2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.5)
    history = train(
        ours,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        epochs=1,
        schedule=scheduler,
        progress=False,
    )
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.2)
    reference_scheduler = torch.optim.lr_scheduler.StepLR(
        reference_optimizer, step_size=4, gamma=0.5
    )
    plain_loop(
        reference,
        reference_optimizer,
        digits,
        batch_size=100,
        epochs=1,
        seed=0,
        scheduler=reference_scheduler,
    )
    assert history.lr[:9] == [0.2] * 4 + [0.1] * 4 + [0.05]
    assert_same_weights(ours, reference, rtol=0, atol=0)


def test_schedule_course_lib_equals_step_lr(digits: Dataset) -> None:
    ours, reference = make_mlp(), make_mlp()
    optimizer = torch.optim.SGD(ours.parameters(), lr=0.2)
    history = train(
        ours,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        epochs=1,
        schedule=StepSchedule(0.2, step_size=4, gamma=0.5),
        progress=False,
    )
    reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.2)
    scheduler = torch.optim.lr_scheduler.StepLR(
        reference_optimizer, step_size=4, gamma=0.5
    )
    plain_loop(
        reference,
        reference_optimizer,
        digits,
        batch_size=100,
        epochs=1,
        seed=0,
        scheduler=scheduler,
    )
    assert history.lr == pytest.approx([0.2 * 0.5 ** (t // 4) for t in range(15)])
    assert_same_weights(ours, reference, rtol=1e-12, atol=1e-15)


def test_schedule_plateau_steps_per_evaluation(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer)
    history = train(
        model,
        F.cross_entropy,
        optimizer,
        digits,
        batch_size=100,
        epochs=3,
        schedule=scheduler,
        progress=False,
    )
    assert scheduler.last_epoch == len(history.eval_step) - 1
    assert scheduler.best == pytest.approx(min(history.val_loss[1:]))


def test_schedule_negative_lr_raises(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.raises(ValueError, match="returned lr=-0.1 for step 0"):
        train(
            model,
            F.cross_entropy,
            optimizer,
            digits,
            batch_size=100,
            steps=2,
            schedule=lambda step: -0.1,
            progress=False,
        )


def test_schedule_bad_type_raises(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.raises(TypeError, match="schedule must be"):
        Trainer(model, F.cross_entropy, optimizer, digits, batch_size=10, schedule=0.1)


def test_schedule_other_optimizer_raises(digits: Dataset) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    other = torch.optim.SGD(model.parameters(), lr=0.05)
    scheduler = torch.optim.lr_scheduler.StepLR(other, step_size=1)
    with pytest.raises(ValueError, match="different optimizer"):
        Trainer(
            model, F.cross_entropy, optimizer, digits, batch_size=10, schedule=scheduler
        )


# -- argument checks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
        ({"batch_size": 5000}, ValueError, "larger than the 1438 training"),
        ({"batch_size": 10, "seed": -2}, ValueError, "non-negative integer"),
        ({"batch_size": 10, "eval_every": 0}, ValueError, "eval_every must be"),
        (
            {"batch_size": 10, "accumulation_steps": 2, "micro_batch_size": 2},
            ValueError,
            "not both",
        ),
    ],
)
def test_trainer_rejects_bad_argument(
    digits: Dataset, kwargs: dict, error: type, message: str
) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.raises(error, match=message):
        Trainer(model, F.cross_entropy, optimizer, digits, **kwargs)


def test_trainer_rejects_non_optimizer(digits: Dataset) -> None:
    with pytest.raises(TypeError, match="torch.optim.Optimizer"):
        Trainer(make_mlp(), F.cross_entropy, "SGD", digits, batch_size=10)


def test_trainer_rejects_non_dataset() -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.raises(TypeError, match="course_lib.data.Dataset"):
        Trainer(model, F.cross_entropy, optimizer, (1, 2), batch_size=10)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trainer_rejects_model_on_other_device() -> None:
    data = load_digits(device="cuda")
    model = nn.Linear(64, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    with pytest.raises(ValueError, match="model.to"):
        Trainer(model, F.cross_entropy, optimizer, data, batch_size=10)


# -- evaluation, per-example gradients, memory ----------------------------------------


def test_evaluate_in_chunks(digits: Dataset) -> None:
    model = make_mlp()
    whole = evaluate(model, F.cross_entropy, digits.x_val, digits.y_val)
    chunked = evaluate(
        model, F.cross_entropy, digits.x_val, digits.y_val, batch_size=64
    )
    assert chunked[0] == pytest.approx(whole[0], rel=1e-12)
    assert chunked[1] == pytest.approx(whole[1], rel=1e-12)


def test_evaluate_restores_mode(digits: Dataset) -> None:
    model = nn.Sequential(nn.Linear(64, 10), nn.Dropout(0.5)).double()
    model.train()
    evaluate(model, F.cross_entropy, digits.x_val, digits.y_val)
    assert model.training
    first = evaluate(model, F.cross_entropy, digits.x_val, digits.y_val)
    second = evaluate(model, F.cross_entropy, digits.x_val, digits.y_val)
    assert first == second


def test_accuracy_multiclass() -> None:
    output = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]])
    assert accuracy(output, torch.tensor([0, 1, 1])).item() == pytest.approx(2 / 3)


def test_accuracy_single_logit() -> None:
    output = torch.tensor([[1.5], [-0.5], [0.2], [-2.0]])
    assert accuracy(output, torch.tensor([1, 0, 0, 0])).item() == pytest.approx(0.75)


def test_per_example_gradients_match_autograd(digits: Dataset) -> None:
    model = make_mlp()
    x, y = digits.x_train[:5], digits.y_train[:5]
    rows = per_example_gradients(model, F.cross_entropy, x, y)
    for i in range(5):
        expected = full_batch_gradient(model, x[i : i + 1], y[i : i + 1])
        torch.testing.assert_close(rows[i], expected)


def test_per_example_gradients_mean_is_batch_gradient(digits: Dataset) -> None:
    model = make_mlp()
    x, y = digits.x_train[:50], digits.y_train[:50]
    rows = per_example_gradients(model, F.cross_entropy, x, y)
    assert rows.shape == (50, sum(p.numel() for p in model.parameters()))
    torch.testing.assert_close(rows.mean(dim=0), full_batch_gradient(model, x, y))


def test_step_memory_gradients_and_parameters(digits: Dataset) -> None:
    model = make_mlp()
    memory = step_memory(
        model, F.cross_entropy, digits.x_train[:32], digits.y_train[:32]
    )
    parameter_bytes = sum(p.numel() * 8 for p in model.parameters())
    assert memory.parameter_bytes == parameter_bytes
    assert memory.gradient_bytes == parameter_bytes
    assert memory.batch_bytes == 32 * 64 * 8 + 32 * 8
    assert memory.peak_bytes is None


def test_step_memory_activations_grow_linearly(digits: Dataset) -> None:
    model = make_mlp(hidden=16)
    sizes = {}
    for batch in (16, 32, 64):
        x, y = digits.x_train[:batch], digits.y_train[:batch]
        sizes[batch] = step_memory(model, F.cross_entropy, x, y).activation_bytes
    assert sizes[64] - sizes[32] == 2 * (sizes[32] - sizes[16])
    # At least the hidden activations (16 per example) and the
    # log-probabilities (10 per example), in float64.
    assert sizes[32] - sizes[16] >= 16 * (16 + 10) * 8


def test_step_memory_leaves_weights(digits: Dataset) -> None:
    model = make_mlp()
    before = [p.detach().clone() for p in model.parameters()]
    step_memory(model, F.cross_entropy, digits.x_train[:8], digits.y_train[:8])
    for old, new in zip(before, model.parameters()):
        torch.testing.assert_close(new, old, rtol=0, atol=0)


# -- many configurations at once ---------------------------------------------------


def test_batched_matches_separate_runs(digits: Dataset) -> None:
    lrs = [0.02, 0.1, 0.3]
    seeds = [0, 1, 2]
    models = [make_mlp(seed=i) for i in range(3)]
    references = [make_mlp(seed=i) for i in range(3)]
    batched = train_batched(
        models,
        F.cross_entropy,
        digits,
        optimizer="SGD",
        hyperparameters={"lr": torch.tensor(lrs, dtype=torch.float64), "momentum": 0.9},
        batch_size=64,
        epochs=1,
        seeds=seeds,
    )
    for c, reference in enumerate(references):
        optimizer = torch.optim.SGD(reference.parameters(), lr=lrs[c], momentum=0.9)
        history = train(
            reference,
            F.cross_entropy,
            optimizer,
            digits,
            batch_size=64,
            epochs=1,
            seed=seeds[c],
            progress=False,
        )
        assert_same_weights(models[c], reference, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(
            batched.loss[:, c], torch.tensor(history.loss, dtype=torch.float32)
        )
        assert batched.val_accuracy[-1, c].item() == pytest.approx(
            history.val_accuracy[-1], abs=1e-6
        )


def test_batched_adam_matches_torch(digits: Dataset) -> None:
    lrs = [0.001, 0.01]
    beta2 = [0.99, 0.999]
    models = [make_mlp(seed=0), make_mlp(seed=0)]
    train_batched(
        models,
        F.cross_entropy,
        digits,
        optimizer="Adam",
        hyperparameters={
            "lr": torch.tensor(lrs, dtype=torch.float64),
            "betas": (0.9, torch.tensor(beta2, dtype=torch.float64)),
        },
        batch_size=128,
        steps=20,
    )
    for c in range(2):
        reference = make_mlp(seed=0)
        optimizer = torch.optim.Adam(
            reference.parameters(), lr=lrs[c], betas=(0.9, beta2[c])
        )
        train(
            reference,
            F.cross_entropy,
            optimizer,
            digits,
            batch_size=128,
            steps=20,
            progress=False,
        )
        assert_same_weights(models[c], reference, rtol=1e-9, atol=1e-12)


def test_batched_divergence_per_configuration(diabetes: Dataset) -> None:
    model = make_linear()
    batched = train_batched(
        [model],
        F.mse_loss,
        diabetes,
        hyperparameters={"lr": torch.tensor([0.05, HUGE_LR], dtype=torch.float64)},
        batch_size=32,
        epochs=50,
    )
    reference = make_linear()
    optimizer = torch.optim.SGD(reference.parameters(), lr=HUGE_LR)
    history = train(
        reference,
        F.mse_loss,
        optimizer,
        diabetes,
        batch_size=32,
        epochs=50,
        progress=False,
    )
    assert batched.diverged.tolist() == [False, True]
    assert batched.diverged_at[1].item() == history.diverged_at
    assert torch.isfinite(batched.val_loss[:, 0]).all()


def test_batched_shared_seed_same_batches(digits: Dataset) -> None:
    models = [make_mlp(seed=0), make_mlp(seed=0)]
    batched = train_batched(
        models,
        F.cross_entropy,
        digits,
        hyperparameters={"lr": torch.tensor([0.1, 0.1], dtype=torch.float64)},
        batch_size=64,
        steps=10,
        seeds=4,
    )
    torch.testing.assert_close(batched.loss[:, 0], batched.loss[:, 1])
    assert batched.eval_step == [0, 10]


def test_batched_rejects_mismatched_counts(digits: Dataset) -> None:
    models = [make_mlp(seed=i) for i in range(3)]
    with pytest.raises(ValueError, match="different numbers of configurations"):
        train_batched(
            models,
            F.cross_entropy,
            digits,
            hyperparameters={"lr": torch.tensor([0.1, 0.2], dtype=torch.float64)},
            batch_size=64,
            steps=2,
        )


def test_batched_rejects_unknown_optimizer(digits: Dataset) -> None:
    with pytest.raises(KeyError, match="unknown optimizer 'Sgd'"):
        train_batched(
            [make_mlp()],
            F.cross_entropy,
            digits,
            optimizer="Sgd",
            batch_size=10,
            steps=1,
        )
