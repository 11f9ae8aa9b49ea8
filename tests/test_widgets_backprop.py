"""The step-through backward pass dashboard and the graph drawing, headless."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from course_lib.autograd import MLP, Value, topological_order
from course_lib.widgets import BackpropStepper
from course_lib.widgets.base import figure_png
from course_lib.widgets.graph_drawing import (
    CURRENT_EDGE_COLOR,
    STATE_COLORS,
    draw_graph,
    layout_graph,
)

DTYPE = torch.float64


def _torch_network_gradients(seed: int = 1) -> dict[str, float]:
    """Gradients of the dashboard's 2-2-1 network, computed by torch.autograd."""
    mlp = MLP(2, [2, 1], seed=seed)
    hidden, output = mlp.layers
    w1 = torch.tensor(
        [[w.data for w in n.weights] for n in hidden.neurons],
        dtype=DTYPE,
        requires_grad=True,
    )
    b1 = torch.tensor(
        [n.bias.data for n in hidden.neurons], dtype=DTYPE, requires_grad=True
    )
    w2 = torch.tensor(
        [[w.data for w in n.weights] for n in output.neurons],
        dtype=DTYPE,
        requires_grad=True,
    )
    b2 = torch.tensor(
        [n.bias.data for n in output.neurons], dtype=DTYPE, requires_grad=True
    )
    x = torch.tensor([0.5, -1.0], dtype=DTYPE, requires_grad=True)

    h = torch.tanh(w1 @ x + b1)
    loss = ((w2 @ h + b2 - 1.0) ** 2).sum()
    loss.backward()

    grads = {"x1": x.grad[0].item(), "x2": x.grad[1].item()}
    for name, tensor in (("w1", w1), ("w2", w2)):
        for j in range(tensor.shape[0]):
            for i in range(tensor.shape[1]):
                grads[f"{name}[{j},{i}]"] = tensor.grad[j, i].item()
    for name, tensor in (("b1", b1), ("b2", b2)):
        for j in range(tensor.shape[0]):
            grads[f"{name}[{j}]"] = tensor.grad[j].item()
    return grads


@pytest.fixture
def stepper():
    dashboard = BackpropStepper()
    yield dashboard
    dashboard.close()


def _box(dashboard: BackpropStepper, node: Value):
    return dashboard.drawing.texts[node]


def test_initial_status(stepper) -> None:
    assert stepper.status.value.startswith("step 0 of 25: no gradient known yet")
    assert stepper.controls["step"].max == 25


def test_initial_boxes_unknown(stepper) -> None:
    for text in stepper.drawing.texts.values():
        assert text.get_text().endswith("?")
        assert text.get_bbox_patch().get_facecolor()[:3] == pytest.approx(
            _rgb(STATE_COLORS["unknown"])
        )


def _rgb(color: str) -> tuple[float, float, float]:
    return tuple(int(color[i : i + 2], 16) / 255 for i in (1, 3, 5))


def test_step_button_seeds_loss(stepper) -> None:
    stepper.buttons["step"].click()
    assert stepper.controls["step"].value == 1
    assert stepper.status.value.startswith("step 1 of 25")
    loss = stepper.loss
    assert loss.grad == 1.0
    text = _box(stepper, loss)
    assert text.get_text().endswith("1.000")
    assert text.get_bbox_patch().get_edgecolor()[:3] == pytest.approx(
        _rgb(CURRENT_EDGE_COLOR)
    )


def test_reset_button(stepper) -> None:
    for _ in range(4):
        stepper.buttons["step"].click()
    stepper.buttons["reset"].click()
    assert stepper.controls["step"].value == 0
    assert stepper.backward_pass.steps_done == 0
    assert stepper.loss.grad == 0.0


def test_step_past_end_stays(stepper) -> None:
    stepper.controls["step"].value = 25
    stepper.buttons["step"].click()
    assert stepper.controls["step"].value == 25
    assert stepper.last_error is None
    assert stepper.status.value.endswith("backward pass complete")


def test_full_pass_matches_torch(stepper) -> None:
    stepper.controls["step"].value = stepper.controls["step"].max
    expected = _torch_network_gradients()
    leaves = {n.label: n for n in stepper.backward_pass.order if n.is_leaf}
    for label, grad in expected.items():
        assert leaves[label].grad == pytest.approx(grad, rel=1e-12, abs=1e-15)
        assert _box(stepper, leaves[label]).get_text().endswith(f"{grad:.3f}")


def test_last_layer_final_before_first(stepper) -> None:
    # Find the first step at which each layer's weight gradients are final.
    leaves = {n.label: n for n in stepper.backward_pass.order if n.is_leaf}
    first_final = {}
    for step in range(stepper.controls["step"].max + 1):
        stepper.controls["step"].value = step
        for label in ("w2[0,0]", "w1[0,0]"):
            node = leaves[label]
            if (
                label not in first_final
                and stepper.backward_pass.state(node) == "final"
            ):
                first_final[label] = step
    assert first_final["w2[0,0]"] < first_final["w1[0,0]"]


def test_reused_input_partial(stepper) -> None:
    # x1 feeds both hidden neurons, so one use visited leaves it partial.
    x1 = next(n for n in stepper.backward_pass.order if n.label == "x1")
    users = [n for n in stepper.backward_pass.order if x1 in n.inputs]
    order = stepper.backward_pass.order
    first_use = min(order.index(user) for user in users)
    stepper.controls["step"].value = first_use + 1
    assert stepper.backward_pass.state(x1) == "partial"
    assert _box(stepper, x1).get_bbox_patch().get_facecolor()[:3] == pytest.approx(
        _rgb(STATE_COLORS["partial"])
    )


def test_switch_example(stepper) -> None:
    stepper.controls["step"].value = 10
    stepper.controls["example"].value = "one neuron"
    assert stepper.controls["step"].max == 9
    assert stepper.controls["step"].value == 0
    assert stepper.status.value.startswith("step 0 of 9")


def test_neuron_example_matches_torch(stepper) -> None:
    stepper.controls["example"].value = "one neuron"
    stepper.controls["step"].value = 9
    x, w, b, y = (
        torch.tensor(v, dtype=DTYPE, requires_grad=True) for v in (0.8, -0.5, 0.2, 1.0)
    )
    ((torch.tanh(w * x + b) - y) ** 2).backward()
    leaves = {n.label: n for n in stepper.backward_pass.order if n.is_leaf}
    for label, tensor in zip("xwby", (x, w, b, y)):
        assert leaves[label].grad == pytest.approx(tensor.grad.item(), rel=1e-12)


def test_unknown_example_rejected() -> None:
    with pytest.raises(ValueError, match="unknown example"):
        BackpropStepper(example="three layers")


def test_render_matches_full_draw(stepper) -> None:
    assert stepper.view is not None
    for _ in range(7):
        stepper.buttons["step"].click()
    stepper.controls["step"].value = 3
    fast = np.asarray(
        Image.open(io.BytesIO(stepper.render())).convert("RGB"), dtype=int
    )
    full_png = figure_png(stepper.figure, stepper.dpi)
    full = np.asarray(Image.open(io.BytesIO(full_png)).convert("RGB"), dtype=int)
    assert fast.shape == full.shape
    # Only antialiased box outlines may differ.
    assert (np.abs(fast - full).sum(axis=-1) > 60).mean() < 0.002


def test_random_controls_never_raise(stepper) -> None:
    rng = random.Random(2)
    for _ in range(40):
        action = rng.choice(["example", "step", "click", "reset"])
        if action == "example":
            stepper.controls["example"].value = rng.choice(
                ["one neuron", "two-layer network"]
            )
        elif action == "step":
            stepper.controls["step"].value = rng.randint(-3, 30)
        elif action == "click":
            stepper.buttons["step"].click()
        else:
            stepper.buttons["reset"].click()
        assert stepper.last_error is None
        assert stepper.status.value.startswith("step ")


# -- the drawing ---------------------------------------------------------------------


def _network_loss() -> Value:
    mlp = MLP(2, [2, 1], seed=1)
    [out] = mlp([Value(0.5, "x1"), Value(-1.0, "x2")])
    return (out - Value(1.0, "y")) ** 2


def test_layout_edges_point_right() -> None:
    loss = _network_loss()
    positions = layout_graph(loss)
    assert set(positions) == set(topological_order(loss))
    assert positions[loss][0] == max(x for x, _ in positions.values())
    for node in positions:
        for child in node.inputs:
            assert positions[child][0] < positions[node][0]


def test_layout_no_overlap() -> None:
    positions = layout_graph(_network_loss())
    assert len(set(positions.values())) == len(positions)


def test_draw_graph_shows_gradients() -> None:
    loss = _network_loss()
    loss.backward()
    figure = Figure()
    FigureCanvasAgg(figure)
    drawing = draw_graph(figure.add_subplot(), loss, show_local_grads=True)
    arrows = sum(len(node.inputs) for node in drawing.positions)
    assert len(drawing.arrows) == arrows
    assert len(drawing.edge_labels) == arrows
    assert drawing.texts[loss].get_text().endswith("1.000")
