"""Draw a computational graph of :class:`~course_lib.autograd.Value` nodes.

Matplotlib only: each node is a text box with its name, its value and its
gradient, and each edge an arrow from an input to the node computed from it.
Columns follow :func:`~course_lib.autograd.backward_levels`, so inputs sit
on the left, the loss on the right, and the backward pass runs right to
left. Within a column, nodes are ordered by the mean height of the nodes
that use them (the barycenter heuristic), which keeps most edges short.
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.axes import Axes
from matplotlib.patches import Patch
from matplotlib.text import Annotation, Text

from course_lib.autograd import Value, backward_levels, topological_order

__all__ = [
    "STATE_COLORS",
    "GraphDrawing",
    "draw_graph",
    "layout_graph",
    "node_name",
]

# Box colours for the state of a node's gradient in a backward pass.
STATE_COLORS = {
    "unknown": "#e4e4e4",
    "partial": "#ffe28a",
    "final": "#a8e0a8",
}
CURRENT_EDGE_COLOR = "#d62728"

OP_NAMES = {
    "+": "+",
    "-": "−",
    "*": "×",
    "/": "÷",
    "neg": "negate",
    "sum": "Σ",
    "**": "power",
}


def node_name(node: Value) -> str:
    """Return the node's label, or the symbol of the operation that made it."""
    if node.label:
        return node.label
    if node.op.startswith("**") and node.op != "**":
        return "x" + node.op.replace("**", "^")
    return OP_NAMES.get(node.op, node.op)


def layout_graph(root: Value) -> dict[Value, tuple[float, float]]:
    """Place each node at (column, row): the root rightmost, inputs leftward.

    The column of a node is (max level - its level). Rows are spaced 1 apart
    and each column is centred on 0.
    """
    levels = backward_levels(root)
    max_level = max(levels.values())
    rank = {node: i for i, node in enumerate(reversed(topological_order(root)))}
    users: dict[Value, list[Value]] = {node: [] for node in levels}
    for node in levels:
        for child in node.inputs:
            users[child].append(node)

    columns: dict[int, list[Value]] = {}
    for node in sorted(levels, key=rank.__getitem__):
        columns.setdefault(levels[node], []).append(node)

    positions: dict[Value, tuple[float, float]] = {}
    for level in sorted(columns):
        nodes = columns[level]
        if level > 0:
            # Users sit in columns to the right, which are placed already.
            def barycenter(node: Value) -> float:
                rows = [positions[user][1] for user in users[node]]
                return sum(rows) / len(rows)

            nodes = sorted(nodes, key=lambda node: (-barycenter(node), rank[node]))
        top = (len(nodes) - 1) / 2
        for i, node in enumerate(nodes):
            positions[node] = (float(max_level - level), top - i)
    return positions


class GraphDrawing:
    """The boxes and arrows of one graph on an Axes, updated in place.

    Args:
        ax: the axes to draw on; its frame and ticks are hidden.
        root: the node whose graph is drawn, usually the loss.
        show_local_grads: label each arrow with the local derivative
            d(node)/d(input) that the chain rule multiplies by.
        fontsize: size of the node text, in points.
    """

    def __init__(
        self,
        ax: Axes,
        root: Value,
        *,
        show_local_grads: bool = False,
        fontsize: float = 7.0,
    ) -> None:
        self.ax = ax
        self.root = root
        self.positions = layout_graph(root)
        self.texts: dict[Value, Text] = {}
        self.arrows: list[Annotation] = []
        self.edge_labels: list[Text] = []

        for node, (x, y) in self.positions.items():
            self.texts[node] = ax.text(
                x,
                y,
                self.node_text(node, "final"),
                ha="center",
                va="center",
                fontsize=fontsize,
                family="monospace",
                bbox={
                    "boxstyle": "square,pad=0.35" if node.is_leaf else "round,pad=0.35",
                    "facecolor": STATE_COLORS["final"],
                    "edgecolor": "0.35",
                    "linewidth": 0.8,
                },
                zorder=3,
            )

        for node in self.positions:
            for child, local in zip(node.inputs, node.local_grads):
                self.arrows.append(self._arrow(child, node))
                if show_local_grads:
                    self.edge_labels.append(self._edge_label(child, node, local))

        xs = [x for x, _ in self.positions.values()]
        ys = [y for _, y in self.positions.values()]
        ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
        ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
        ax.set_axis_off()

    def _arrow(self, child: Value, node: Value) -> Annotation:
        # Clipping the arrow to both boxes makes it start and end at their
        # edges whatever their text size.
        return self.ax.annotate(
            "",
            xy=self.positions[node],
            xytext=self.positions[child],
            arrowprops={
                "arrowstyle": "-|>",
                "color": "0.45",
                "linewidth": 0.8,
                "shrinkA": 0,
                "shrinkB": 0,
                "patchA": self.texts[child].get_bbox_patch(),
                "patchB": self.texts[node].get_bbox_patch(),
            },
            zorder=1,
        )

    def _edge_label(self, child: Value, node: Value, local: float) -> Text:
        (x0, y0), (x1, y1) = self.positions[child], self.positions[node]
        return self.ax.text(
            (x0 + x1) / 2,
            (y0 + y1) / 2,
            f"{local:.2g}",
            ha="center",
            va="center",
            fontsize=6,
            color="tab:blue",
            bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "lw": 0},
            zorder=2,
        )

    @staticmethod
    def node_text(node: Value, state: str) -> str:
        """Three lines: the name, the value, and the gradient or "?".

        The gradient is right-aligned in 7 characters, so a box keeps its
        size when "?" turns into a number below 1000 in size.
        """
        grad = "?" if state == "unknown" else f"{node.grad:.3f}"
        return f"{node_name(node)}\n= {node.data:.3f}\ngrad {grad:>7}"

    def update(self, states: Mapping[Value, str], current: Value | None = None) -> None:
        """Refresh every box's text and colour; outline ``current`` in red.

        ``states`` maps nodes to "unknown", "partial" or "final"; nodes it
        leaves out are drawn as final.
        """
        for node, text in self.texts.items():
            state = states.get(node, "final")
            text.set_text(self.node_text(node, state))
            patch = text.get_bbox_patch()
            patch.set_facecolor(STATE_COLORS[state])
            if node is current:
                patch.set_edgecolor(CURRENT_EDGE_COLOR)
                patch.set_linewidth(2.2)
            else:
                patch.set_edgecolor("0.35")
                patch.set_linewidth(0.8)

    def legend(self, **kwargs: object) -> None:
        """Add a legend of the gradient states and the current-node outline."""
        handles = [
            Patch(facecolor=STATE_COLORS["unknown"], edgecolor="0.35", label="grad ?"),
            Patch(facecolor=STATE_COLORS["partial"], edgecolor="0.35", label="partial"),
            Patch(facecolor=STATE_COLORS["final"], edgecolor="0.35", label="final"),
            Patch(facecolor="white", edgecolor=CURRENT_EDGE_COLOR, label="this step"),
        ]
        options = {"loc": "lower left", "fontsize": 7, "ncol": 4, "frameon": False}
        options.update(kwargs)
        self.ax.legend(handles=handles, **options)


def draw_graph(
    ax: Axes, root: Value, *, show_local_grads: bool = False, fontsize: float = 7.0
) -> GraphDrawing:
    """Draw root's graph with the gradients the nodes hold now.

    Call ``root.backward()`` first to show a finished backward pass.
    """
    return GraphDrawing(ax, root, show_local_grads=show_local_grads, fontsize=fontsize)
