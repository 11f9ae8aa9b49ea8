"""The capstone dashboard and the scripted runs under it, checked against torch."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.optim import lr_scheduler

from course_lib.data import Dataset, load_diabetes, load_digits, num_batches
from course_lib.widgets import CapstoneDashboard
from course_lib.widgets.capstone import (
    CAPSTONE_SCHEDULES,
    OPTIMIZER_CHOICES,
    RunRecord,
    best_run,
    build_optimizer,
    build_schedule,
    planned_learning_rates,
    range_test_batches,
    run_range_test,
    runs_table_html,
    train_run,
)
from course_lib.widgets.training import default_model

# 2 epochs of 6 batches of 256 digits: a whole run takes 12 steps.
BATCH = 256
EPOCHS = 2
STEPS = EPOCHS * 6


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_digits(device="cpu")


@pytest.fixture(scope="module")
def digits64() -> Dataset:
    return load_digits(device="cpu", dtype=torch.float64)


@pytest.fixture
def dashboard(digits: Dataset):
    board = CapstoneDashboard(
        digits, lr=0.1, batch_size=BATCH, epochs=EPOCHS, steps_per_tick=5
    )
    yield board
    board.close()


def reference_model(data: Dataset, seed: int = 0) -> torch.nn.Module:
    """Build the initial network independently of course_lib's helpers."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return default_model(data).to(dtype=data.x_train.dtype)


def torch_lrs(make_scheduler, steps: int, lr: float) -> list[float]:
    """Record the learning rate a torch scheduler gives each of ``steps`` steps."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    scheduler = make_scheduler(optimizer)
    values = []
    for _ in range(steps):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return values


def body_rows(table: str) -> int:
    return table.count("<tr") - 1  # minus the header row


# -- the choices ---------------------------------------------------------------


TORCH_SCHEDULERS = {
    "step": lambda o: lr_scheduler.StepLR(o, step_size=17, gamma=0.1),
    "cosine": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=50),
    "warmup_cosine": lambda o: lr_scheduler.SequentialLR(
        o,
        [
            lr_scheduler.LinearLR(o, start_factor=1 / 3, total_iters=5),
            lr_scheduler.CosineAnnealingLR(o, T_max=45),
        ],
        milestones=[5],
    ),
    "one_cycle": lambda o: lr_scheduler.OneCycleLR(
        o, max_lr=0.3, total_steps=50, cycle_momentum=False
    ),
}


@pytest.mark.parametrize("kind", list(TORCH_SCHEDULERS))
def test_schedule_matches_torch(kind: str) -> None:
    ours = planned_learning_rates(build_schedule(kind, 0.3, 50), 0.3, 50)
    theirs = torch_lrs(TORCH_SCHEDULERS[kind], 50, 0.3)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-15)


def test_constant_schedule_is_none() -> None:
    assert build_schedule("constant", 0.3, 50) is None
    np.testing.assert_array_equal(planned_learning_rates(None, 0.3, 4), [0.3] * 4)


def test_schedule_choices_cover_course() -> None:
    assert list(CAPSTONE_SCHEDULES) == [
        "constant",
        "step",
        "cosine",
        "warmup_cosine",
        "one_cycle",
    ]


def test_schedule_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        build_schedule("linear", 0.1, 10)
    with pytest.raises(ValueError, match="warmup_cosine needs at least 2 steps"):
        build_schedule("warmup_cosine", 0.1, 1)


def torch_twin(name: str, params, lr: float) -> torch.optim.Optimizer:
    """Build torch's optimizer for a choice of OPTIMIZER_CHOICES."""
    if name.startswith("SGD"):
        momentum = 0.9 if "momentum" in name or "Nesterov" in name else 0.0
        return torch.optim.SGD(
            params, lr=lr, momentum=momentum, nesterov="Nesterov" in name
        )
    return getattr(torch.optim, name)(params, lr=lr)


@pytest.mark.parametrize("name", list(OPTIMIZER_CHOICES))
def test_optimizer_choice_matches_torch(name: str) -> None:
    start = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    scale = torch.tensor([1.0, 10.0, 0.1], dtype=torch.float64)
    ours = start.clone().requires_grad_(True)
    theirs = start.clone().requires_grad_(True)
    optimizers = [
        build_optimizer(name, [ours], lr=0.01),
        torch_twin(name, [theirs], lr=0.01),
    ]
    for _ in range(5):
        for param, optimizer in zip((ours, theirs), optimizers):
            optimizer.zero_grad()
            (scale * param**2).sum().backward()
            optimizer.step()
    torch.testing.assert_close(ours, theirs)


def test_optimizer_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'LBFGS'"):
        build_optimizer("LBFGS", [torch.zeros(1, requires_grad=True)], 0.1)


# -- scripted runs -------------------------------------------------------------


def test_train_run_matches_torch_loop(digits64: Dataset) -> None:
    record = train_run(
        digits64,
        optimizer="SGD, momentum 0.9",
        lr=0.1,
        schedule="cosine",
        batch_size=BATCH,
        epochs=EPOCHS,
    )

    model = reference_model(digits64)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=STEPS)
    generator = torch.Generator().manual_seed(0)
    lrs = []
    for _ in range(EPOCHS):
        order = torch.randperm(digits64.num_train, generator=generator)
        for index in torch.split(order, BATCH):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.zero_grad()
            output = model(digits64.x_train[index])
            F.cross_entropy(output, digits64.y_train[index]).backward()
            optimizer.step()
            scheduler.step()

    with torch.no_grad():
        train_loss = F.cross_entropy(model(digits64.x_train), digits64.y_train)
        predicted = model(digits64.x_val).argmax(dim=1)
    accuracy = (predicted == digits64.y_val).double().mean().item()
    assert record.steps == STEPS
    assert record.train_loss == pytest.approx(train_loss.item(), rel=1e-9)
    assert record.val_accuracy == pytest.approx(accuracy)
    np.testing.assert_allclose(record.history.lr, lrs, rtol=1e-12)


def test_range_test_batches_span_epochs(digits: Dataset) -> None:
    batches = range_test_batches(digits, 1000, 5, seed=3)
    generator = torch.Generator().manual_seed(3)
    first = torch.randperm(digits.num_train, generator=generator)
    second = torch.randperm(digits.num_train, generator=generator)
    assert [len(x) for x, _ in batches] == [1000, 438, 1000, 438, 1000]
    torch.testing.assert_close(batches[1][0], digits.x_train[first[1000:]])
    torch.testing.assert_close(batches[2][1], digits.y_train[second[:1000]])


def test_range_test_sweep_and_restore(digits64: Dataset) -> None:
    model = reference_model(digits64)
    before = [p.detach().clone() for p in model.parameters()]
    result = run_range_test(
        digits64, optimizer="Adam", batch_size=64, model=model, num_steps=40
    )
    expected = [1e-4 * (1e5) ** (i / 39) for i in range(len(result.lrs))]
    np.testing.assert_allclose(result.lrs, expected, rtol=1e-12)
    order = torch.randperm(
        digits64.num_train, generator=torch.Generator().manual_seed(0)
    )
    first = order[:64]
    with torch.no_grad():
        output = reference_model(digits64)(digits64.x_train[first])
        loss = F.cross_entropy(output, digits64.y_train[first])
    assert result.losses[0] == pytest.approx(loss.item(), rel=1e-12)
    for old, new in zip(before, model.parameters()):
        torch.testing.assert_close(new, old, rtol=0, atol=0)


# -- the table -----------------------------------------------------------------


def make_record(accuracy: float, *, diverged_at: int | None = None) -> RunRecord:
    return RunRecord(
        optimizer="SGD <plain>",
        lr=0.1,
        schedule="cosine",
        batch_size=64,
        epochs=8,
        steps=184,
        train_loss=0.01,
        val_loss=1 - accuracy,
        val_accuracy=accuracy,
        seconds=0.5,
        diverged_at=diverged_at,
    )


def test_table_rows_and_best() -> None:
    records = [
        make_record(0.95),
        make_record(0.99),
        make_record(math.nan, diverged_at=7),
    ]
    table = runs_table_html(records)
    assert body_rows(table) == 3
    assert '<tr style="font-weight: bold"><td>2</td>' in table
    assert "<td>diverged at step 7</td>" in table
    assert "<td>99.0 %</td>" in table
    assert "SGD &lt;plain&gt;" in table


def test_table_empty_message() -> None:
    assert runs_table_html([]).startswith("<p>Finished runs appear here")


def test_best_run_ignores_diverged() -> None:
    assert best_run([make_record(math.nan, diverged_at=3)]) is None
    assert best_run([make_record(0.9), make_record(math.nan, diverged_at=3)]) == 0


def test_best_regression_by_val_loss() -> None:
    low = dataclasses.replace(make_record(math.nan), val_loss=0.5)
    high = dataclasses.replace(low, val_loss=5.0)
    assert best_run([high, low]) == 1


# -- the dashboard -------------------------------------------------------------


def test_initial_status_shows_budget(
    dashboard: CapstoneDashboard, digits: Dataset
) -> None:
    with torch.no_grad():
        output = reference_model(digits)(digits.x_train)
        loss = F.cross_entropy(output, digits.y_train).item()
    status = dashboard.status.value
    assert status.startswith(f"step 0 of {STEPS} · loss {loss:.4f}")
    assert "SGD, momentum 0.9, lr 0.1, constant, batch 256, 2 epochs" in status
    assert dashboard.progress.max == STEPS


def test_run_button_adds_row(dashboard: CapstoneDashboard) -> None:
    dashboard.run_button.click()
    assert dashboard.last_error is None
    assert dashboard.trainer.step_count == STEPS
    assert len(dashboard.runs) == 1
    assert body_rows(dashboard.table.value) == 1
    assert dashboard.status.value.startswith(f"finished 2 epochs ({STEPS} steps)")
    assert dashboard.status.value.endswith("row 1 of the table")
    assert dashboard.progress.value == STEPS
    assert dashboard.progress.bar_style == "success"


def test_run_record_matches_history(dashboard: CapstoneDashboard) -> None:
    dashboard.run()
    record = dashboard.runs[0]
    history = dashboard.trainer.history
    assert record.train_loss == history.train_loss[-1]
    assert record.val_accuracy == history.val_accuracy[-1]
    assert record.seconds == history.time[-1]
    assert (record.optimizer, record.schedule) == ("SGD, momentum 0.9", "constant")


def test_run_matches_train_run(digits: Dataset) -> None:
    board = CapstoneDashboard(
        digits,
        optimizer="Adam",
        lr=0.01,
        schedule="one_cycle",
        batch_size=BATCH,
        epochs=EPOCHS,
    )
    board.run()
    scripted = train_run(
        digits,
        optimizer="Adam",
        lr=0.01,
        schedule="one_cycle",
        batch_size=BATCH,
        epochs=EPOCHS,
    )
    assert board.runs[0].train_loss == pytest.approx(scripted.train_loss, rel=1e-6)
    assert board.runs[0].val_accuracy == scripted.val_accuracy
    assert board.trainer.history.lr == pytest.approx(scripted.history.lr)
    board.close()


def test_play_past_budget_records_once(dashboard: CapstoneDashboard) -> None:
    dashboard.play.playing = True
    for _ in range(6):
        dashboard.play.value += 1
    assert dashboard.trainer.step_count == STEPS
    assert len(dashboard.runs) == 1
    assert dashboard.play.playing is False
    dashboard.run_button.click()
    assert len(dashboard.runs) == 1


def test_schedule_control_draws_lr(dashboard: CapstoneDashboard) -> None:
    dashboard.controls["schedule"].value = "cosine"
    dashboard.train_steps(5)
    expected = torch_lrs(
        lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=STEPS), STEPS, 0.1
    )
    _, planned = dashboard.planned_lr_line.get_data()
    np.testing.assert_allclose(planned, expected, rtol=1e-10)
    _, used = dashboard.lr_line.get_data()
    np.testing.assert_allclose(used, expected[:5], rtol=1e-10)
    # The trainer writes each step's rate into the optimizer just before it.
    group = dashboard.trainer.optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(expected[4], rel=1e-10)


def test_epochs_control_sets_budget(dashboard: CapstoneDashboard) -> None:
    dashboard.controls["epochs"].value = 4
    assert dashboard.total_steps == 24
    assert dashboard.progress.max == 24
    for ax in (dashboard.loss_ax, dashboard.accuracy_ax, dashboard.lr_ax):
        assert ax.get_xlim() == (0.0, 24.0)


def test_batch_size_budget_in_steps(dashboard: CapstoneDashboard) -> None:
    dashboard.controls["batch_size"].value = 64
    assert dashboard.total_steps == EPOCHS * num_batches(1438, 64)
    assert dashboard.max_steps == dashboard.total_steps


def test_setting_change_keeps_previous(dashboard: CapstoneDashboard) -> None:
    dashboard.run()
    dashboard.controls["lr"].value = 0.01
    assert dashboard.trainer.step_count == 0
    assert dashboard.previous_val_line.get_label() == (
        "previous: SGD, momentum 0.9, lr 0.1,\nconstant, batch 256, 2 epochs"
    )
    assert len(dashboard.runs) == 1


def test_divergence_row_and_status(digits: Dataset) -> None:
    board = CapstoneDashboard(digits, optimizer="SGD", lr=10.0, batch_size=32)
    board.run_button.click()
    diverged_at = board.trainer.history.diverged_at
    assert diverged_at is not None
    assert board.status.value.startswith(f"diverged at step {diverged_at}")
    assert board.runs[-1].diverged_at == diverged_at
    assert f"<td>diverged at step {diverged_at}</td>" in board.table.value
    assert board.progress.bar_style == "danger"
    _, batch_losses = board.batch_loss_line.get_data()
    assert len(batch_losses) == diverged_at - 1
    assert np.isfinite(batch_losses).all()
    assert board.last_error is None
    board.close()


def test_range_button_sets_lr(dashboard: CapstoneDashboard, digits: Dataset) -> None:
    dashboard.train_steps(5)  # a range test mid-run still uses the initial weights
    dashboard.range_button.click()
    expected = run_range_test(digits, optimizer="SGD, momentum 0.9", batch_size=BATCH)
    assert dashboard.last_error is None
    assert dashboard.range_result.lrs == expected.lrs
    assert dashboard.controls["lr"].value == pytest.approx(expected.suggested_lr)
    optimizer = dashboard.trainer.optimizer
    assert optimizer.param_groups[0]["lr"] == pytest.approx(expected.suggested_lr)
    assert dashboard.trainer.step_count == 0
    assert dashboard.suggestion_line.get_visible()
    assert dashboard.suggestion_line.get_ydata()[0] == pytest.approx(
        expected.suggested_lr
    )
    assert dashboard.status.value.startswith(
        f"range test (SGD, momentum 0.9, batch {BATCH}, {len(expected.lrs)} steps)"
    )


def test_range_test_without_suggestion(digits: Dataset) -> None:
    board = CapstoneDashboard(
        digits, batch_size=BATCH, epochs=EPOCHS, range_test_steps=2
    )
    board.range_button.click()
    assert board.last_error is None
    assert "no suggestion, lr unchanged" in board.status.value
    assert board.controls["lr"].value == pytest.approx(0.1)
    assert not board.suggestion_line.get_visible()
    board.close()


def test_clear_button_empties_table(dashboard: CapstoneDashboard) -> None:
    dashboard.run()
    dashboard.clear_button.click()
    assert dashboard.runs == []
    assert body_rows(dashboard.table.value) == -1  # no table at all
    assert dashboard.table.value.startswith("<p>")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"schedule": "linear"}, "unknown schedule 'linear'"),
        ({"epochs": 1}, "epochs must be an integer from 2 to 30"),
        ({"epochs": 31}, "epochs must be an integer from 2 to 30"),
        ({"range_test_steps": 1}, "range_test_steps must be an integer of at"),
        ({"optimizer": "LBFGS"}, "unknown optimizer 'LBFGS'"),
    ],
)
def test_constructor_rejects_bad_argument(
    digits: Dataset, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        CapstoneDashboard(digits, **kwargs)


def test_random_settings_never_raise(digits: Dataset) -> None:
    # 300 training digits keep whole runs cheap. Half the optimizer draws are
    # SGD variants and half the lr draws are 10, where SGD diverges within
    # about 30 steps.
    board = CapstoneDashboard(
        digits.subset(300),
        batch_size=32,
        epochs=2,
        steps_per_tick=20,
        range_test_steps=30,
    )
    rng = random.Random(0)
    sizes = [size for _, size in board.controls["batch_size"].options]
    sgd_variants = [name for name in OPTIMIZER_CHOICES if name.startswith("SGD")]
    buttons = {
        "step": board.step_button,
        "run": board.run_button,
        "range": board.range_button,
        "reset": board.reset_button,
        "clear": board.clear_button,
    }
    diverged_runs = 0
    for _ in range(40):
        setting = {
            "optimizer": rng.choice(
                [rng.choice(sgd_variants), rng.choice(list(OPTIMIZER_CHOICES))]
            ),
            "lr": rng.choice([10 ** rng.uniform(-4, 1), 10.0]),
            "schedule": rng.choice(list(CAPSTONE_SCHEDULES)),
            "batch_size": rng.choice(sizes),
            "epochs": rng.randint(2, 30),
        }
        for name in rng.sample(list(setting), rng.randint(1, 5)):
            board.controls[name].value = setting[name]
        assert board.last_error is None, board.status.value

        action = rng.choice(["step", "tick", "run", "run", "range", "reset", "clear"])
        if action == "tick" or (action == "run" and board.total_steps > 400):
            board.play.value += 1
        else:
            buttons[action].click()
        assert board.last_error is None, board.status.value
        history = board.trainer.history
        diverged_runs += board.trainer.diverged
        if action == "range":
            assert board.status.value.startswith("range test (")
        elif board.trainer.diverged:
            assert board.status.value.startswith(
                f"diverged at step {history.diverged_at}"
            )
        elif board.finished:
            assert board.status.value.startswith("finished ")
        else:
            assert board.status.value.startswith(f"step {history.steps} ")
    assert diverged_runs > 0
    board.close()


# -- other data and display ----------------------------------------------------


def test_regression_has_two_panels() -> None:
    data = load_diabetes(device="cpu")
    board = CapstoneDashboard(data, optimizer="Adam", lr=0.01, batch_size=64)
    board.run()
    assert board.accuracy_ax is None
    assert len(board.figure.axes) == 2
    assert "accuracy" not in board.status.value
    assert math.isnan(board.runs[0].val_accuracy)
    assert "<td>–</td>" in board.table.value
    board.close()


def test_view_has_table_and_image(dashboard: CapstoneDashboard) -> None:
    view = dashboard.view
    assert view.children[-1].children[0] is dashboard.table
    before = dashboard._image.value
    dashboard.run_button.click()
    assert dashboard._image.value != before
    assert dashboard._image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert view is dashboard.view


def test_display_carries_static_png(dashboard: CapstoneDashboard) -> None:
    bundle = dashboard._repr_mimebundle_()
    assert "image/png" in bundle
    assert "application/vnd.jupyter.widget-view+json" in bundle
