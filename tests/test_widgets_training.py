"""The live training dashboard, driven headlessly through its widgets."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib.data import Dataset, load_diabetes, load_digits
from course_lib.optim import OPTIMIZERS
from course_lib.widgets import TrainingDashboard
from course_lib.widgets.training import batch_size_options, default_model


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits(device="cpu")


@pytest.fixture
def dashboard(digits: Dataset):
    board = TrainingDashboard(digits, lr=0.1, batch_size=32, steps_per_tick=5)
    yield board
    board.close()


def initial_model(data: Dataset, seed: int = 0) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return default_model(data)


# -- the first state ----------------------------------------------------------


def test_initial_status_shows_loss(
    dashboard: TrainingDashboard, digits: Dataset
) -> None:
    model = initial_model(digits)
    with torch.no_grad():
        loss = F.cross_entropy(model(digits.x_train), digits.y_train).item()
    assert dashboard.status.value.startswith(f"step 0 · loss {loss:.4f}")
    assert "SGD, lr 0.1, batch 32" in dashboard.status.value


def test_initial_curves_have_one_point(dashboard: TrainingDashboard) -> None:
    x, _ = dashboard.val_loss_line.get_data()
    assert list(x) == [0]
    assert len(dashboard.batch_loss_line.get_xdata()) == 0


def test_batch_size_options_end_with_full() -> None:
    options = batch_size_options(100)
    assert [size for _, size in options] == [1, 2, 4, 8, 16, 32, 64, 100]
    assert options[-1][0] == "full (100)"


# -- Step, Play, Pause, Reset -------------------------------------------------


def test_step_button_takes_one_step(dashboard: TrainingDashboard) -> None:
    dashboard.step_button.click()
    assert dashboard.trainer.history.steps == 1
    assert dashboard.status.value.startswith("step 1 · epoch ")
    assert len(dashboard.batch_loss_line.get_xdata()) == 1
    assert dashboard.last_error is None


def test_play_tick_takes_steps_per_tick(dashboard: TrainingDashboard) -> None:
    dashboard.play.value += 1
    dashboard.play.value += 1
    history = dashboard.trainer.history
    assert history.steps == 10
    assert history.eval_step == [0, 5, 10]
    assert "samples/s" in dashboard.status.value


def test_play_stop_takes_no_step(dashboard: TrainingDashboard) -> None:
    dashboard.play.value = 3
    dashboard.play.value = 0
    assert dashboard.trainer.history.steps == 5


def test_pause_takes_no_step(dashboard: TrainingDashboard) -> None:
    dashboard.play.playing = True
    dashboard.play.playing = False
    assert dashboard.trainer.history.steps == 0


def test_status_matches_history(dashboard: TrainingDashboard) -> None:
    dashboard.train_steps(45)
    history = dashboard.trainer.history
    status = dashboard.status.value
    assert status.startswith(f"step 45 · epoch {45 / 45:.2f}")
    assert f"loss {history.train_loss[-1]:.4f}" in status
    assert f"val accuracy {100 * history.val_accuracy[-1]:.1f}%" in status


def test_curves_are_the_history(dashboard: TrainingDashboard) -> None:
    dashboard.train_steps(20)
    history = dashboard.trainer.history
    x, y = dashboard.val_loss_line.get_data()
    assert list(x) == history.eval_step
    assert list(y) == pytest.approx(history.val_loss)
    _, accuracy = dashboard.val_accuracy_line.get_data()
    assert list(accuracy) == pytest.approx([100 * a for a in history.val_accuracy])
    _, batch = dashboard.batch_loss_line.get_data()
    assert list(batch) == pytest.approx(history.loss)


def test_training_matches_torch_loop(
    dashboard: TrainingDashboard, digits: Dataset
) -> None:
    dashboard.train_steps(30)
    model = initial_model(digits)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(digits.num_train, generator=generator)
    for step in range(30):
        index = order[step * 32 : (step + 1) * 32]
        optimizer.zero_grad()
        F.cross_entropy(model(digits.x_train[index]), digits.y_train[index]).backward()
        optimizer.step()
    for ours, reference in zip(dashboard.model.parameters(), model.parameters()):
        torch.testing.assert_close(ours, reference)


def test_setting_change_restarts_and_keeps_previous(
    dashboard: TrainingDashboard,
) -> None:
    dashboard.train_steps(20)
    old = list(dashboard.trainer.history.val_loss)
    dashboard.controls["lr"].value = 0.01
    assert dashboard.trainer.history.steps == 0
    _, previous = dashboard.previous_val_line.get_data()
    assert list(previous) == pytest.approx(old)
    assert dashboard.previous_val_line.get_label() == "previous: SGD, lr 0.1, batch 32"


def test_restart_uses_initial_weights(dashboard: TrainingDashboard) -> None:
    first = [p.detach().clone() for p in dashboard.model.parameters()]
    dashboard.train_steps(10)
    dashboard.controls["batch_size"].value = 64
    for before, after in zip(first, dashboard.model.parameters()):
        torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_reset_button_clears(dashboard: TrainingDashboard) -> None:
    dashboard.train_steps(10)
    dashboard.controls["batch_size"].value = 8
    dashboard.train_steps(10)
    dashboard.reset_button.click()
    assert dashboard.trainer.history.steps == 0
    assert len(dashboard.previous_val_line.get_xdata()) == 0
    assert dashboard.status.value.startswith("step 0")


def test_optimizer_dropdown_builds_class(dashboard: TrainingDashboard) -> None:
    dashboard.controls["optimizer"].value = "Adam"
    assert type(dashboard.trainer.optimizer) is OPTIMIZERS["Adam"]
    assert dashboard.trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.1)


def test_batch_size_control_sets_trainer(dashboard: TrainingDashboard) -> None:
    dashboard.controls["batch_size"].value = 1438
    dashboard.step_button.click()
    assert dashboard.trainer.batch_size == 1438
    assert dashboard.trainer.epoch == pytest.approx(1.0)


def test_steps_per_tick_sets_evaluation(dashboard: TrainingDashboard) -> None:
    dashboard.steps_per_tick.value = 3
    dashboard.play.value += 1
    assert dashboard.trainer.history.eval_step == [0, 3]


# -- limits and failures ------------------------------------------------------


def test_divergence_reported(dashboard: TrainingDashboard) -> None:
    dashboard.controls["lr"].value = 10.0
    dashboard.play.playing = True
    for _ in range(40):
        dashboard.play.value += 1
    trainer = dashboard.trainer
    assert trainer.diverged
    assert dashboard.status.value.startswith(
        f"diverged at step {trainer.history.diverged_at}"
    )
    assert dashboard.play.playing is False
    assert dashboard.last_error is None


def test_divergence_drawn_up_to_last_finite(dashboard: TrainingDashboard) -> None:
    dashboard.controls["lr"].value = 10.0
    dashboard.train_steps(200)
    x, y = dashboard.batch_loss_line.get_data()
    assert len(x) == dashboard.trainer.history.diverged_at - 1
    assert np.isfinite(y).all()


def test_divergence_then_step_is_harmless(dashboard: TrainingDashboard) -> None:
    dashboard.controls["lr"].value = 10.0
    dashboard.train_steps(200)
    status = dashboard.status.value
    dashboard.step_button.click()
    assert dashboard.status.value == status
    assert dashboard.last_error is None


def test_max_steps_pauses(digits: Dataset) -> None:
    board = TrainingDashboard(digits, steps_per_tick=10, max_steps=25)
    board.play.playing = True
    for _ in range(5):
        board.play.value += 1
    assert board.trainer.history.steps == 25
    assert board.play.playing is False
    assert "stopped at max_steps=25" in board.status.value
    board.close()


def test_error_in_step_shown(digits: Dataset) -> None:
    def loss_fn(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # Evaluation runs without gradients, so only training steps raise.
        if torch.is_grad_enabled():
            raise RuntimeError("loss exploded on purpose")
        return F.cross_entropy(output, target)

    board = TrainingDashboard(digits, loss_fn=loss_fn)
    board.step_button.click()
    assert isinstance(board.last_error, RuntimeError)
    assert board.status.value == "error: RuntimeError: loss exploded on purpose"
    board.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"optimizer": "LBFGS"}, "unknown optimizer 'LBFGS'"),
        ({"batch_size": 33}, "batch_size=33 is not offered"),
        ({"lr": 100.0}, "lr must be a number from 1e-4 to 10"),
        ({"steps_per_tick": 0}, "steps_per_tick must be an integer from 1"),
        ({"max_steps": 0}, "max_steps must be a positive integer"),
        ({"interval": 2.5}, "interval must be a positive integer"),
    ],
)
def test_constructor_rejects_bad_argument(
    digits: Dataset, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        TrainingDashboard(digits, **kwargs)


def test_random_settings_never_raise(dashboard: TrainingDashboard) -> None:
    rng = random.Random(0)
    sizes = [size for _, size in dashboard.controls["batch_size"].options]
    for _ in range(25):
        name = rng.choice(["optimizer", "lr", "batch_size", "reset", "steps"])
        if name == "optimizer":
            dashboard.controls["optimizer"].value = rng.choice(list(OPTIMIZERS))
        elif name == "lr":
            dashboard.controls["lr"].value = 10 ** rng.uniform(-4, 1)
        elif name == "batch_size":
            dashboard.controls["batch_size"].value = rng.choice(sizes)
        elif name == "reset":
            dashboard.reset_button.click()
        else:
            dashboard.steps_per_tick.value = rng.randint(1, 20)
        assert dashboard.last_error is None, dashboard.status.value
        for _ in range(rng.randint(1, 3)):
            dashboard.play.value += 1
            assert dashboard.last_error is None, dashboard.status.value
        assert dashboard.status.value.startswith(("step ", "diverged at step "))


# -- other data and display -----------------------------------------------------


def test_regression_single_panel() -> None:
    data = load_diabetes(device="cpu")
    board = TrainingDashboard(data, lr=0.01, batch_size=16)
    board.train_steps(20)
    assert board.accuracy_ax is None
    assert "accuracy" not in board.status.value
    assert board.status.value.startswith("step 20")
    assert math.isfinite(board.trainer.history.val_loss[-1])
    board.close()


def test_view_image_changes_on_tick(dashboard: TrainingDashboard) -> None:
    view = dashboard.view
    before = dashboard._image.value
    dashboard.play.value += 1
    assert view is dashboard.view
    assert dashboard._image.value != before
    assert dashboard._image.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_display_carries_static_png(dashboard: TrainingDashboard) -> None:
    bundle = dashboard._repr_mimebundle_()
    assert "image/png" in bundle
    assert "application/vnd.jupyter.widget-view+json" in bundle
