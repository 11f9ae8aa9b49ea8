"""The optimizer race dashboard, driven headlessly through its widgets."""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from course_lib.landscapes import get_surface
from course_lib.optim import OPTIMIZERS
from course_lib.race import Entrant, race_on_surface
from course_lib.widgets import RaceDashboard
from course_lib.widgets.race import (
    CUSTOM,
    DEFAULT_PRESET,
    PRESETS,
    RACE_PROBLEMS,
    SETTING_CONTROLS,
    default_settings,
    entrant_hyperparameters,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run torch on one thread: the races are tiny, and on a busy machine a
    second thread only waits for a core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def board() -> Iterator[RaceDashboard]:
    dashboard = RaceDashboard(device="cpu")
    yield dashboard
    dashboard.close()


def surface_of(label: str):
    _, name, params = RACE_PROBLEMS[label]
    return get_surface(name, **params)


# -- the first state ----------------------------------------------------------


def test_default_status_is_the_race_summary(board: RaceDashboard) -> None:
    spec = PRESETS[DEFAULT_PRESET]
    entrants = [
        Entrant(
            name,
            entrant_hyperparameters(name, {**default_settings(name), **s}),
            label=name,
        )
        for name, s in spec["optimizers"].items()
    ]
    order = list(OPTIMIZERS)
    entrants.sort(key=lambda entrant: order.index(entrant.optimizer))
    expected = race_on_surface(
        surface_of(spec["problem"]),
        entrants,
        steps=spec["steps"],
        target=spec["target"],
    )
    assert board.status.value == expected.summary()
    assert board.status.value.startswith("first to gap 0.001")


def test_preset_sets_the_controls(board: RaceDashboard) -> None:
    preset = "08 · badly scaled bowl: SGD against Adagrad, RMSprop, Adadelta"
    board.controls["preset"].value = preset
    spec = PRESETS[preset]
    assert board.controls["problem"].value == spec["problem"]
    assert board.controls["steps"].value == spec["steps"]
    assert set(board.controls["optimizers"].value) == set(spec["optimizers"])
    assert list(board.controls["edit"].options) == list(
        board.controls["optimizers"].value
    )
    edited = board.controls["edit"].value
    assert board.controls["lr"].value == pytest.approx(spec["optimizers"][edited]["lr"])
    assert board.controls["preset"].value == preset


def test_paths_are_the_race_positions(board: RaceDashboard) -> None:
    result = board.result
    for column, name in enumerate(result.optimizers):
        x, y = board.paths[name].get_data()
        assert_close(torch.as_tensor(np.asarray(x)), result.positions[:, column, 0])
        assert_close(torch.as_tensor(np.asarray(y)), result.positions[:, column, 1])
    unused = set(OPTIMIZERS) - set(result.optimizers)
    for name in unused:
        assert len(board.paths[name].get_xdata()) == 0


def test_loss_curves_floor_the_gaps(board: RaceDashboard) -> None:
    result = board.result
    for column, name in enumerate(result.optimizers):
        steps, values = board.curves[name].get_data()
        gaps = result.gaps[:, column].numpy()
        assert list(steps) == result.loss_steps
        np.testing.assert_allclose(values, np.maximum(gaps, 1e-16))


# -- editing one optimizer at a time ------------------------------------------


def test_lr_slider_edits_the_chosen_optimizer(board: RaceDashboard) -> None:
    board.controls["edit"].value = "Adam"
    board.controls["lr"].value = 0.02
    board.controls["edit"].value = "RMSprop"
    rmsprop_lr = PRESETS[DEFAULT_PRESET]["optimizers"]["RMSprop"]["lr"]
    assert board.controls["lr"].value == pytest.approx(rmsprop_lr)
    assert board.settings["Adam"]["lr"] == pytest.approx(0.02)
    index = board.result.optimizers.index("Adam")
    assert board.result.hyperparameters[index]["lr"] == pytest.approx(0.02)
    assert board.controls["preset"].value == CUSTOM


def test_controls_shown_follow_the_optimizer(board: RaceDashboard) -> None:
    board.controls["edit"].value = "SGD"
    shown = {n for n in SETTING_CONTROLS if board.controls[n].layout.display != "none"}
    assert shown == {"lr", "momentum", "weight_decay", "nesterov"}
    board.controls["edit"].value = "Adam"
    shown = {n for n in SETTING_CONTROLS if board.controls[n].layout.display != "none"}
    assert shown == {"lr", "beta1", "beta2", "weight_decay", "amsgrad"}


def test_selection_updates_edit_options(board: RaceDashboard) -> None:
    board.controls["optimizers"].value = ("Adagrad", "NAdam")
    assert list(board.controls["edit"].options) == ["Adagrad", "NAdam"]
    assert board.result.optimizers == ["Adagrad", "NAdam"]


def test_no_optimizer_selected(board: RaceDashboard) -> None:
    board.controls["optimizers"].value = ()
    assert board.status.value == "choose at least one optimizer"
    assert board.last_error is None


# -- divergence and invalid settings -----------------------------------------


def test_diverging_run_drawn_to_last_point(board: RaceDashboard) -> None:
    board.controls["problem"].value = "rosenbrock"
    board.controls["edit"].value = "SGD"
    board.controls["momentum"].value = 0.0
    board.controls["lr"].value = 0.01
    result = board.result
    column = result.optimizers.index("SGD")
    diverged_at = int(result.diverged_at[column])
    assert diverged_at > 0
    assert f"diverged: SGD (step {diverged_at})" in board.status.value
    x, _ = board.paths["SGD"].get_data()
    assert np.isfinite(np.asarray(x)[:diverged_at]).all()
    end_x, _ = board.ends["SGD"].get_data()
    assert end_x[0] == pytest.approx(
        float(result.positions[diverged_at - 1, column, 0])
    )
    assert board.ends["SGD"].get_marker() == "X"


def test_invalid_setting_sits_out(board: RaceDashboard) -> None:
    board.controls["edit"].value = "SGD"
    board.controls["momentum"].value = 0.0
    board.controls["nesterov"].value = True
    assert "invalid: SGD: Nesterov momentum requires" in board.status.value
    assert "SGD" not in board.result.optimizers
    assert board.last_error is None


def test_target_change_reuses_runs(board: RaceDashboard) -> None:
    before = board.result
    board.controls["target"].value = 1e-6
    after = board.result
    assert after.target == pytest.approx(1e-6)
    assert_close(after.losses, before.losses)
    assert board.target_line.get_ydata()[0] == pytest.approx(1e-6)


# -- data sets ------------------------------------------------------------------


def test_dataset_race_fills_accuracy_bars(board: RaceDashboard) -> None:
    board.controls["optimizers"].value = ("SGD", "Adam")
    board.controls["steps"].value = 20
    board.controls["problem"].value = "digits (data set, full batch)"
    result = board.result
    assert result.problem == "digits"
    assert result.positions is None
    names = list(OPTIMIZERS)
    for column, name in enumerate(result.optimizers):
        bar = board.bars[names.index(name)]
        assert bar.get_width() == pytest.approx(float(result.val_accuracy[column]))
        assert len(board.paths[name].get_xdata()) == 0
    assert not board.ax_surface.get_visible()
    assert board.last_error is None


# -- robustness and rendering ---------------------------------------------------


def test_random_controls_never_raise(board: RaceDashboard) -> None:
    _ = board.view  # builds the image widget, so updates render
    rng = random.Random(0)
    surfaces = [label for label, spec in RACE_PROBLEMS.items() if spec[0] == "surface"]
    names = list(OPTIMIZERS)
    board.controls["steps"].value = 40
    for _ in range(20):
        choice = rng.choice(["problem", "optimizers", "edit", "setting", "target"])
        if choice == "problem":
            board.controls["problem"].value = rng.choice(surfaces)
        elif choice == "optimizers":
            board.controls["optimizers"].value = tuple(
                rng.sample(names, rng.randint(0, 4))
            )
        elif choice == "edit":
            board.controls["edit"].value = rng.choice(board.controls["edit"].options)
        elif choice == "target":
            board.controls["target"].value = 10 ** rng.uniform(-8, 0)
        else:
            name = rng.choice(SETTING_CONTROLS)
            control = board.controls[name]
            if name in ("amsgrad", "nesterov"):
                control.value = rng.random() < 0.5
            elif name == "lr":
                # Up to 10, where most optimizers diverge on most surfaces.
                control.value = 10 ** rng.uniform(-5, 1)
            else:
                control.value = rng.uniform(control.min, control.max)
        assert board.last_error is None, board.status.value
        assert board.status.value


@pytest.mark.slow
def test_every_preset_runs(board: RaceDashboard) -> None:
    for preset in PRESETS:
        if RACE_PROBLEMS[PRESETS[preset]["problem"]][0] == "dataset":
            continue  # trained in test_dataset_race_fills_accuracy_bars
        board.controls["preset"].value = preset
        assert board.last_error is None, preset
        assert board.result.size == len(PRESETS[preset]["optimizers"])


def test_blitted_render_equals_full_draw(board: RaceDashboard) -> None:
    _ = board.view
    board.controls["edit"].value = "Adam"
    board.controls["lr"].value = 0.03
    blitted = board.render()
    board.invalidate_background()
    full = board.render()
    assert blitted == full


def test_display_carries_static_png(board: RaceDashboard) -> None:
    bundle = board._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"])[:4] == b"\x89PNG"


def test_unknown_preset_raises() -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        RaceDashboard("fastest")


def test_entrant_hyperparameters_maps_betas() -> None:
    assert entrant_hyperparameters(
        "Adam", {"lr": 0.1, "beta1": 0.8, "beta2": 0.99, "momentum": 0.5}
    ) == {"lr": 0.1, "betas": (0.8, 0.99)}
    defaults = default_settings("NAdam")
    assert defaults["beta1"] == pytest.approx(0.9)
    assert not math.isnan(defaults["lr"])


def test_prefetched_lr_matches_a_fresh_run(board: RaceDashboard) -> None:
    # A new lr runs its slider neighbours in the same batch; moving to a
    # neighbour must show exactly what a race of that setting alone gives.
    board.controls["lr"].value = 10 ** (math.log10(board.controls["lr"].value) + 0.05)
    cached = len(board._cache)
    neighbour = 10 ** (math.log10(board.controls["lr"].value) - 0.1)
    board.controls["lr"].value = neighbour
    assert len(board._cache) == cached
    label = board.controls["problem"].value
    steps = board.controls["steps"].value
    for column, entrant in enumerate(board.entrants()):
        alone = race_on_surface(surface_of(label), [entrant], steps=steps, target=None)
        assert_close(board.result.positions[:, column], alone.positions[:, 0])
