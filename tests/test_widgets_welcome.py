"""The welcome chapter's dashboard, driven headlessly."""

from __future__ import annotations

import base64
import random

import numpy as np
import pytest

from course_lib.widgets import BallOnCurve
from course_lib.widgets.welcome import (
    gradient_descent_1d,
    welcome_loss,
    welcome_loss_derivative,
)


@pytest.fixture
def ball():
    dashboard = BallOnCurve(start=2.5, lr=0.05, steps=10)
    yield dashboard
    dashboard.close()


def test_derivative_matches_finite_difference():
    for w in np.linspace(-3, 3, 13):
        h = 1e-6
        numeric = (welcome_loss(w + h) - welcome_loss(w - h)) / (2 * h)
        assert welcome_loss_derivative(w) == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_one_step_by_hand():
    positions, diverged_at = gradient_descent_1d(2.0, 0.1, 1)
    # f'(2) = 0.4 * 8 - 1.2 * 2 + 0.25 = 1.05, so w1 = 2 - 0.1 * 1.05.
    assert positions == pytest.approx([2.0, 1.895])
    assert diverged_at == -1


def test_status_reports_final_loss(ball):
    w = ball.positions[-1]
    assert ball.status.value.startswith(f"loss {welcome_loss(w):.4f}")
    assert "after 10 steps" in ball.status.value


def test_plotted_trail_is_the_run(ball):
    xs, ys = ball.trail.get_data()
    expected, _ = gradient_descent_1d(2.5, 0.05, 10)
    assert list(xs) == pytest.approx(expected)
    assert list(ys) == pytest.approx([welcome_loss(w) for w in expected])
    ball_x, _ = ball.ball.get_data()
    assert list(ball_x) == pytest.approx(expected[-1:])


def test_more_steps_lower_loss(ball):
    ball.controls["steps"].value = 5
    few = welcome_loss(ball.positions[-1])
    ball.controls["steps"].value = 50
    many = welcome_loss(ball.positions[-1])
    assert many < few
    assert len(ball.trail.get_data()[0]) == 51


def test_zero_steps_keeps_start(ball):
    ball.controls["steps"].value = 0
    assert ball.positions == [2.5]
    assert "after 0 steps" in ball.status.value


def test_large_lr_reports_divergence(ball):
    ball.controls["lr"].value = 3.0
    assert ball.status.value.startswith("diverged at step")
    assert ball.diverged_at > 0
    assert np.isfinite(ball.trail.get_data()[0]).all()


def test_start_decides_valley(ball):
    ball.controls["steps"].value = 100
    ball.controls["start"].value = 2.5
    right = ball.positions[-1]
    ball.controls["start"].value = -0.5
    left = ball.positions[-1]
    assert right == pytest.approx(1.617, abs=1e-2)
    assert left == pytest.approx(-1.827, abs=1e-2)


def test_random_controls_never_raise(ball):
    _ = ball.view  # builds the image widget, so updates render
    rng = random.Random(0)
    for _ in range(60):
        name = rng.choice(list(ball.controls))
        control = ball.controls[name]
        control.value = rng.uniform(control.min, control.max)
        assert ball.last_error is None
        assert ball.status.value


def test_image_changes_with_control(ball):
    before = ball.view.children[1].value
    ball.controls["start"].value = -2.0
    after = ball.view.children[1].value
    assert before[:8] == b"\x89PNG\r\n\x1a\n"
    assert before != after


def test_display_carries_static_png(ball):
    bundle = ball._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"])[:4] == b"\x89PNG"


def test_blitted_render_equals_full_draw(ball):
    _ = ball.view  # builds the image widget, so updates render
    ball.controls["start"].value = -1.0
    blitted = ball.render()
    ball.invalidate_background()
    full = ball.render()
    assert blitted == full


def test_callback_errors_reach_status(ball, monkeypatch):
    def broken():
        raise RuntimeError("boom")

    monkeypatch.setattr(ball, "update", broken)
    ball.controls["lr"].value = 0.2
    assert ball.status.value == "error: RuntimeError: boom"
    assert isinstance(ball.last_error, RuntimeError)
