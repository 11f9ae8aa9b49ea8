"""Step through a backward pass, one node per click.

The dashboard draws a small computational graph built from
:class:`~course_lib.autograd.Value` nodes, with each node's value and
gradient. "Step" visits the next node of the backward pass, from the loss
through the last layer back to the first, and passes its gradient to its
inputs. "Reset" goes back to before the first step. Box colours show which
gradients are known so far: grey (no contribution yet), yellow (partial: some
of the nodes that use it have sent their share) and green (final).

Redraws re-render only the boxes whose text or colour changed, over a cached
picture of the arrows. A full render of the network's 25 boxes took 0.2 to
0.4 s on a shared 2-core CPU, several times the 50 ms budget of an update.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets
import numpy as np
from matplotlib.transforms import Bbox

from course_lib.autograd import MLP, BackwardPass, Value
from course_lib.widgets.base import Dashboard, canvas_png
from course_lib.widgets.graph_drawing import GraphDrawing, node_name

__all__ = [
    "EXAMPLES",
    "BackpropStepper",
    "network_example",
    "neuron_example",
]


def neuron_example() -> Value:
    """Build L = (tanh(w x + b) - y)**2 for one neuron and one example."""
    x = Value(0.8, "x")
    w = Value(-0.5, "w")
    b = Value(0.2, "b")
    y = Value(1.0, "y")
    return ((w * x + b).tanh() - y) ** 2


def network_example(seed: int = 1) -> Value:
    """Build the squared error of a 2-2-1 tanh network on one example."""
    mlp = MLP(2, [2, 1], seed=seed)
    [output] = mlp([Value(0.5, "x1"), Value(-1.0, "x2")])
    return (output - Value(1.0, "y")) ** 2


EXAMPLES: dict[str, Callable[[], Value]] = {
    "one neuron": neuron_example,
    "two-layer network": network_example,
}


def _check_example(name: str) -> None:
    if name not in EXAMPLES:
        raise ValueError(
            f"unknown example {name!r}; choose one of {', '.join(EXAMPLES)}"
        )


# Pixels added around a box when its region is repainted, for the outline.
_BOX_MARGIN = 3


class BackpropStepper(Dashboard):
    """The backward pass of a small graph, one node per step.

    Controls: ``example`` (which graph) and ``step`` (how many nodes have
    been visited). The "Step" and "Reset" buttons in ``buttons`` move the
    step slider forward by one and back to 0.

    Args:
        example: a key of :data:`EXAMPLES`.
    """

    def __init__(self, example: str = "two-layer network") -> None:
        _check_example(example)
        super().__init__(figsize=(10.0, 5.2))
        self.controls = {
            "example": widgets.Dropdown(
                options=list(EXAMPLES), value=example, description="graph"
            ),
            "step": widgets.IntSlider(
                value=0, min=0, max=1, description="step", continuous_update=True
            ),
        }
        self.buttons = {
            "step": widgets.Button(description="Step", icon="step-forward"),
            "reset": widgets.Button(description="Reset", icon="undo"),
        }
        self.buttons["step"].on_click(self._on_step_click)
        self.buttons["reset"].on_click(self._on_reset_click)

        self.ax = self.figure.add_subplot()
        self.figure.subplots_adjust(left=0.01, right=0.99, top=0.93, bottom=0.02)
        self.example_name = ""
        self.loss: Value | None = None
        self.backward_pass: BackwardPass | None = None
        self.drawing: GraphDrawing | None = None
        self._building = False
        # Pixels of the figure without the boxes, and what each box showed
        # when it was last drawn; see render().
        self._boxless: np.ndarray | None = None
        self._drawn: dict[Value, tuple] = {}
        self._png: bytes | None = None
        self._connect()

    # -- controls ----------------------------------------------------------

    def _on_step_click(self, _button: widgets.Button) -> None:
        step = self.controls["step"]
        step.value = min(step.value + 1, step.max)

    def _on_reset_click(self, _button: widgets.Button) -> None:
        self.controls["step"].value = 0

    def control_box(self) -> widgets.Widget:
        return widgets.VBox(
            [
                self.controls["example"],
                widgets.HBox(
                    [self.buttons["step"], self.buttons["reset"], self.controls["step"]]
                ),
            ]
        )

    # -- building the graph ------------------------------------------------

    def _build(self, name: str) -> None:
        """Draw the graph of example ``name`` and fit the step slider to it."""
        _check_example(name)
        self.ax.clear()
        self.loss = EXAMPLES[name]()
        self.backward_pass = BackwardPass(self.loss)
        self.drawing = GraphDrawing(self.ax, self.loss, show_local_grads=True)
        self.drawing.legend(loc="lower left", bbox_to_anchor=(0.0, -0.02))
        self.ax.set_title(
            f"Backward pass, {name}: grad = dL/d(node); "
            "blue numbers are local derivatives d(node)/d(input)",
            fontsize=9,
        )
        self.example_name = name
        self._boxless = None

        # Setting the slider's range calls update() again through the slider
        # observer; _building makes that nested call return at once.
        step = self.controls["step"]
        self._building = True
        try:
            step.max = self.backward_pass.num_steps
            step.value = 0
        finally:
            self._building = False

    # -- the contract ------------------------------------------------------

    def update(self) -> None:
        if self._building:
            return
        name = self.controls["example"].value
        if name != self.example_name:
            self._build(name)
        assert self.backward_pass is not None and self.drawing is not None

        backward = self.backward_pass
        backward.run_to(int(self.controls["step"].value))
        states = {node: backward.state(node) for node in backward.order}
        self.drawing.update(states, backward.current)
        self.status.value = self._status_text(backward, states)
        self.redraw()

    @staticmethod
    def _status_text(backward: BackwardPass, states: dict[Value, str]) -> str:
        total = backward.num_steps
        final = sum(state == "final" for state in states.values())
        done = backward.steps_done
        current = backward.current
        if current is None:
            return (
                f"step 0 of {total}: no gradient known yet; Step seeds "
                "dL/dL = 1 at the loss"
            )
        name = node_name(current)
        if current.is_leaf:
            action = f"{name} is a leaf, so its gradient {current.grad:.4f} is final"
        else:
            action = (
                f"{name} passed its gradient {current.grad:.4f} times each local "
                f"derivative to its {len(current.inputs)} inputs"
            )
        if backward.done:
            return f"step {done} of {total}: {action}; backward pass complete"
        return f"step {done} of {total}: {action}; {final} of {total} gradients final"

    # -- rendering ---------------------------------------------------------

    def render(self) -> bytes:
        """Render the figure to PNG, repainting only the boxes that changed.

        The base class's blitting redraws every animated artist on each
        render, which for 25 boxes of text is too slow, so this override
        keeps its own cache. The first render after a graph is built draws
        everything, then caches a picture without the boxes. Later renders
        copy that picture back under each changed box and draw the box
        again. Each box keeps its size because the gradient line has a fixed
        width, so no arrow needs redrawing.
        """
        assert self.drawing is not None
        canvas = self.canvas
        texts = self.drawing.texts
        if self._boxless is None:
            for text in texts.values():
                text.set_animated(False)
            # The first draw places the boxes, which the arrows are clipped to.
            canvas.draw()
            for text in texts.values():
                text.set_animated(True)
            canvas.draw()
            self._boxless = np.asarray(canvas.buffer_rgba()).copy()
            self._drawn = {}
            self._png = None

        pixels = np.asarray(canvas.buffer_rgba())
        height = pixels.shape[0]
        renderer = canvas.get_renderer()
        changed = False
        for node, text in texts.items():
            patch = text.get_bbox_patch()
            appearance = (
                text.get_text(),
                patch.get_facecolor(),
                patch.get_edgecolor(),
                patch.get_linewidth(),
            )
            if self._drawn.get(node) == appearance:
                continue
            if node in self._drawn:
                box = Bbox(patch.get_window_extent(renderer)).padded(_BOX_MARGIN)
                # Display y runs upward and array rows downward.
                rows = slice(max(0, int(height - box.y1)), int(height - box.y0) + 1)
                columns = slice(max(0, int(box.x0)), int(box.x1) + 1)
                pixels[rows, columns] = self._boxless[rows, columns]
            self.ax.draw_artist(text)
            self._drawn[node] = appearance
            changed = True

        # Encoding the PNG costs about as much as drawing a few boxes, so an
        # unchanged picture reuses the previous bytes.
        if changed or self._png is None:
            self._png = canvas_png(canvas)
        return self._png

    def close(self) -> None:
        for button in self.buttons.values():
            button.close()
        super().close()
