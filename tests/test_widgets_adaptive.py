"""The effective-step dashboard of the adaptive chapter, driven headlessly."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from course_lib.adaptive import trace_effective_steps
from course_lib.landscapes import get_surface
from course_lib.widgets import EffectiveStepDashboard


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run torch on one thread: the runs are tiny, and on a busy machine a
    second thread only waits for a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def board() -> Iterator[EffectiveStepDashboard]:
    dashboard = EffectiveStepDashboard(optimizer="Adagrad", lr=0.5, steps=100)
    yield dashboard
    dashboard.close()


def test_status_reports_final_step_sizes(board: EffectiveStepDashboard) -> None:
    surface = get_surface("quadratic", condition_number=100.0)
    trace = trace_effective_steps(
        "Adagrad", surface, torch.tensor(surface.default_start), 100, lr=0.5
    )
    x, y = trace.step_sizes[-1].tolist()
    loss = float(surface.value(trace.positions[-1]))
    assert board.status.value == (
        f"Adagrad: loss {loss:.3g} after 100 steps · step sizes at the end: "
        f"x {x:.3g}, y {y:.3g} (ratio {x / y:.3g})"
    )


def test_step_lines_are_the_trace(board: EffectiveStepDashboard) -> None:
    steps, sizes = board.step_y.get_data()
    assert list(steps) == list(range(1, 101))
    assert_close(torch.as_tensor(np.asarray(sizes)), board.trace.step_sizes[:, 1])


def test_sgd_steps_equal_lr(board: EffectiveStepDashboard) -> None:
    board.controls["optimizer"].value = "SGD"
    board.controls["lr"].value = 0.01
    _, sizes = board.step_x.get_data()
    np.testing.assert_allclose(sizes, 0.01)
    assert board.controls["decay"].layout.display == "none"


def test_decay_reaches_each_optimizer(board: EffectiveStepDashboard) -> None:
    board.controls["decay"].value = 0.9
    board.controls["optimizer"].value = "RMSprop"
    assert board.hyperparameters() == {"lr": 0.5, "alpha": 0.9}
    board.controls["optimizer"].value = "Adadelta"
    assert board.hyperparameters() == {"lr": 0.5, "rho": 0.9}
    board.controls["optimizer"].value = "Adam"
    assert board.hyperparameters() == {"lr": 0.5, "betas": (0.9, 0.9)}


def test_sgd_beyond_stability_diverges(board: EffectiveStepDashboard) -> None:
    # The steep curvature is 100, so plain gradient descent needs lr < 0.02.
    board.controls["optimizer"].value = "SGD"
    board.controls["lr"].value = 0.05
    assert board.status.value.startswith("SGD: diverged at step ")
    x, _ = board.path_line.get_data()
    assert np.isfinite(np.asarray(x)).all()
    assert board.last_error is None


def test_reference_lines_follow_the_bowl(board: EffectiveStepDashboard) -> None:
    board.controls["condition_number"].value = 10.0
    assert board.ideal_y.get_ydata()[0] == pytest.approx(0.1)
    assert board.stability.get_ydata()[0] == pytest.approx(0.2)
    board.controls["angle"].value = 45.0
    assert not board.ideal_x.get_visible()


def test_rotation_equalizes_adagrad_steps(board: EffectiveStepDashboard) -> None:
    board.controls["angle"].value = 45.0
    x, y = board.trace.step_sizes[-1].tolist()
    # The rotated bowl gives both coordinates the same gradient scale.
    assert x / y == pytest.approx(1.0, abs=0.05)


def test_random_controls_never_raise(board: EffectiveStepDashboard) -> None:
    _ = board.view
    rng = random.Random(0)
    for _ in range(15):
        name = rng.choice(list(board.controls))
        control = board.controls[name]
        if name == "optimizer":
            control.value = rng.choice(control.options)
        elif name in ("lr", "condition_number"):
            control.value = 10 ** rng.uniform(control.min, control.max)
        elif name == "steps":
            control.value = rng.randrange(10, 200, 10)
        else:
            control.value = rng.uniform(control.min, control.max)
        assert board.last_error is None, board.status.value
        assert board.status.value


def test_blitted_render_equals_full_draw(board: EffectiveStepDashboard) -> None:
    _ = board.view
    board.controls["lr"].value = 0.2
    blitted = board.render()
    board.invalidate_background()
    assert board.render() == blitted


def test_display_carries_static_png(board: EffectiveStepDashboard) -> None:
    bundle = board._repr_mimebundle_()
    assert base64.b64decode(bundle["image/png"])[:4] == b"\x89PNG"


def test_unknown_optimizer_raises() -> None:
    with pytest.raises(ValueError, match="optimizer must be one of"):
        EffectiveStepDashboard(optimizer="NAdam")
