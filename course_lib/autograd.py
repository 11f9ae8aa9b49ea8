"""A scalar reverse-mode autograd engine for teaching, and a tiny MLP on it.

Every arithmetic operation on :class:`Value` objects creates a new node that
stores its result, its inputs and the local derivative of the result with
respect to each input (for z = x * y: dz/dx = y and dz/dy = x). Calling
``loss.backward()`` then applies the chain rule from the loss backwards:

    dL/dx = sum over the nodes z that use x of dL/dz * dz/dx.

The nodes are visited in reverse topological order, found with an explicit
stack instead of recursion, so a chain of tens of thousands of operations
does not reach Python's recursion limit. :class:`BackwardPass` runs the same
pass one node at a time, which the step-through dashboard draws.

Gradients of leaves (nodes made by ``Value(...)`` rather than by an
operation) accumulate over calls to ``backward()`` as ``.grad`` does in
torch, so call :meth:`MLP.zero_grad` between steps. Gradients of the other
nodes are recomputed by each call.
"""

from __future__ import annotations

import math
import numbers
import random
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "MLP",
    "BackwardPass",
    "GradcheckResult",
    "Layer",
    "Neuron",
    "Value",
    "backward_levels",
    "gradcheck",
    "topological_order",
    "value_sum",
]

# math.exp(x) overflows a float for x above log(max float), about 709.78.
EXP_MAX = math.log(sys.float_info.max)


def _check_number(data: object) -> float:
    if isinstance(data, bool) or not isinstance(data, numbers.Real):
        raise TypeError(
            f"Value data must be a real number (int or float), got "
            f"{type(data).__name__} {data!r}; for a 0-dimensional tensor pass "
            "tensor.item()"
        )
    return float(data)


class Value:
    """A scalar node of a computation graph: its value and its gradient.

    Attributes:
        data: the value computed by the forward pass.
        grad: dL/d(this node) after ``L.backward()``; 0.0 before.
        inputs: the nodes this one was computed from (empty for a leaf).
        local_grads: d(this node)/d(input) for each entry of ``inputs``,
            computed in the forward pass.
        op: the operation that made this node ("" for a leaf), for drawing.
        label: an optional name for drawing and printing.
    """

    __slots__ = ("data", "grad", "inputs", "local_grads", "op", "label")

    def __init__(
        self,
        data: float,
        label: str = "",
        *,
        inputs: tuple[Value, ...] = (),
        local_grads: tuple[float, ...] = (),
        op: str = "",
    ) -> None:
        self.data = _check_number(data)
        self.grad = 0.0
        self.inputs = inputs
        self.local_grads = local_grads
        self.op = op
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}, " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    @property
    def is_leaf(self) -> bool:
        """Whether the node was made by ``Value(...)`` rather than an operation."""
        return not self.inputs

    # -- arithmetic --------------------------------------------------------

    def __add__(self, other: Value | float) -> Value:
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        return Value(
            self.data + other.data, inputs=(self, other), local_grads=(1.0, 1.0), op="+"
        )

    def __radd__(self, other: float) -> Value:
        return self + other

    def __sub__(self, other: Value | float) -> Value:
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        return Value(
            self.data - other.data,
            inputs=(self, other),
            local_grads=(1.0, -1.0),
            op="-",
        )

    def __rsub__(self, other: float) -> Value:
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        return other - self

    def __mul__(self, other: Value | float) -> Value:
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        # d(xy)/dx = y and d(xy)/dy = x.
        return Value(
            self.data * other.data,
            inputs=(self, other),
            local_grads=(other.data, self.data),
            op="*",
        )

    def __rmul__(self, other: float) -> Value:
        return self * other

    def __truediv__(self, other: Value | float) -> Value:
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        if other.data == 0:
            raise ZeroDivisionError(
                f"division of {self.data!r} by a Value equal to 0.0"
            )
        # d(x/y)/dx = 1/y and d(x/y)/dy = -x/y**2.
        return Value(
            self.data / other.data,
            inputs=(self, other),
            local_grads=(1.0 / other.data, -self.data / other.data**2),
            op="/",
        )

    def __rtruediv__(self, other: float) -> Value:
        other = _as_value(other)
        if other is NotImplemented:
            return NotImplemented
        return other / self

    def __neg__(self) -> Value:
        return Value(-self.data, inputs=(self,), local_grads=(-1.0,), op="neg")

    def __pow__(self, exponent: Value | float) -> Value:
        if isinstance(exponent, Value):
            return _power_of_values(self, exponent)
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
            return NotImplemented
        return _power(self, float(exponent))

    def __rpow__(self, base: float) -> Value:
        base_value = _as_value(base)
        if base_value is NotImplemented:
            return NotImplemented
        return _power_of_values(base_value, self)

    # -- functions ---------------------------------------------------------

    def exp(self) -> Value:
        """Return e ** self; raise OverflowError above about 709.78."""
        if self.data > EXP_MAX:
            raise OverflowError(
                f"exp({self.data!r}) overflows a float: the argument must be at "
                f"most {EXP_MAX:.2f}"
            )
        result = math.exp(self.data)
        # d(e**x)/dx = e**x.
        return Value(result, inputs=(self,), local_grads=(result,), op="exp")

    def log(self) -> Value:
        """Return the natural logarithm; raise ValueError for data <= 0."""
        if not self.data > 0:
            raise ValueError(
                f"log is defined for positive numbers only, got {self.data!r}; "
                "clamp the argument or add a small epsilon before the log"
            )
        # d(log x)/dx = 1/x.
        return Value(
            math.log(self.data),
            inputs=(self,),
            local_grads=(1.0 / self.data,),
            op="log",
        )

    def tanh(self) -> Value:
        """Return the hyperbolic tangent."""
        result = math.tanh(self.data)
        # d(tanh x)/dx = 1 - tanh(x)**2.
        return Value(result, inputs=(self,), local_grads=(1.0 - result**2,), op="tanh")

    def relu(self) -> Value:
        """Return max(0, self), with gradient 0 at 0 as in torch."""
        positive = self.data > 0
        return Value(
            self.data if positive else 0.0,
            inputs=(self,),
            local_grads=(1.0 if positive else 0.0,),
            op="relu",
        )

    def sigmoid(self) -> Value:
        """Return 1 / (1 + e ** -self), computed without overflow for any input."""
        # Only exp of a non-positive number is formed, so +-1000 is fine.
        if self.data >= 0:
            result = 1.0 / (1.0 + math.exp(-self.data))
        else:
            e = math.exp(self.data)
            result = e / (1.0 + e)
        # d(sigmoid x)/dx = sigmoid(x) (1 - sigmoid(x)).
        return Value(
            result, inputs=(self,), local_grads=(result * (1.0 - result),), op="sigmoid"
        )

    # -- the backward pass -------------------------------------------------

    def backward(self, gradient: float = 1.0) -> None:
        """Fill ``grad`` of every node of the graph with d(self)/d(node).

        ``gradient`` seeds dL/d(self) when ``self`` feeds a larger loss L
        whose gradient the caller has; the default 1.0 makes the gradients
        those of ``self``.
        Leaf gradients are added to what they held before, as torch does;
        the other nodes' gradients are set afresh.
        """
        order = topological_order(self)
        for node in order:
            if not node.is_leaf:
                node.grad = 0.0
        self.grad += _check_number(gradient)
        for node in reversed(order):
            node.propagate()

    def propagate(self) -> None:
        """Add this node's chain-rule contribution to each input's ``grad``.

        Each input x receives dL/d(self) * d(self)/dx. A reused input
        appears once per use and so receives one contribution per use.
        """
        for node, local in zip(self.inputs, self.local_grads):
            node.grad += self.grad * local


def _as_value(other: object) -> Value:
    if isinstance(other, Value):
        return other
    if isinstance(other, bool) or not isinstance(other, numbers.Real):
        return NotImplemented  # type: ignore[return-value]
    return Value(float(other))


def _power(base: Value, exponent: float) -> Value:
    x = base.data
    if x == 0 and exponent < 0:
        raise ZeroDivisionError(
            f"0.0 ** {exponent!r} is undefined: a negative power of zero"
        )
    if x < 0 and not exponent.is_integer():
        raise ValueError(
            f"{x!r} ** {exponent!r} is not a real number: a negative base needs "
            "an integer exponent"
        )
    if x == 0 and 0 < exponent < 1:
        raise ValueError(
            f"0.0 ** {exponent!r} has an infinite derivative; keep the base "
            "away from 0 (for example add a small epsilon)"
        )
    # d(x**n)/dx = n x**(n - 1); x**0 = 1 has derivative 0 even at x = 0.
    local = 0.0 if exponent == 0 else exponent * x ** (exponent - 1)
    op = f"**{exponent:g}"
    return Value(x**exponent, inputs=(base,), local_grads=(local,), op=op)


def _power_of_values(base: Value, exponent: Value) -> Value:
    if not base.data > 0:
        raise ValueError(
            f"a power with a Value exponent needs a positive base, got {base.data!r}, "
            "because its derivative in the exponent is x**y * log(x); use a plain "
            "number as the exponent for other bases"
        )
    result = base.data**exponent.data
    # d(x**y)/dx = y x**(y - 1) and d(x**y)/dy = x**y log x.
    local_base = exponent.data * base.data ** (exponent.data - 1)
    local_exponent = result * math.log(base.data)
    return Value(
        result,
        inputs=(base, exponent),
        local_grads=(local_base, local_exponent),
        op="**",
    )


def value_sum(values: Iterable[Value | float]) -> Value:
    """Add values in one node, whose local derivative is 1 for each input.

    One n-ary node keeps a neuron's weighted sum a single column when the
    graph is drawn, where a chain of binary ``+`` would add a column per term.
    """
    nodes = []
    for value in values:
        node = _as_value(value)
        if node is NotImplemented:
            raise TypeError(
                f"value_sum adds Values and real numbers, got "
                f"{type(value).__name__} {value!r}"
            )
        nodes.append(node)
    if not nodes:
        raise ValueError("value_sum needs at least one value")
    return Value(
        math.fsum(node.data for node in nodes),
        inputs=tuple(nodes),
        local_grads=(1.0,) * len(nodes),
        op="sum",
    )


# -- graph order ------------------------------------------------------------------


def topological_order(root: Value) -> list[Value]:
    """List the nodes of root's graph so that each comes after all its inputs.

    A depth-first search with an explicit stack: a node is emitted when it is
    popped the second time, after all of its inputs have been emitted.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[tuple[Value, bool]] = [(root, False)]
    while stack:
        node, inputs_done = stack.pop()
        if inputs_done:
            order.append(node)
            continue
        if node in visited:
            continue
        visited.add(node)
        stack.append((node, True))
        for child in node.inputs:
            if child not in visited:
                stack.append((child, False))
    return order


def backward_levels(root: Value) -> dict[Value, int]:
    """Map each node to the length of its longest path to ``root``.

    The root has level 0. Every node that uses a node x has a lower level
    than x, so visiting nodes by increasing level is a valid backward order,
    and it finishes each layer of a network before the layer before it.
    """
    levels = {root: 0}
    for node in reversed(topological_order(root)):
        for child in node.inputs:
            levels[child] = max(levels.get(child, 0), levels[node] + 1)
    return levels


class BackwardPass:
    """The backward pass from ``root`` taken one node at a time.

    Nodes are visited by increasing :func:`backward_levels` level: the root,
    then the last layer, back to the inputs. Visiting a node adds its
    gradient times each local derivative to its inputs (the chain rule step).
    A node's gradient is final once every node that uses it has been
    visited, and partial while only some of them have.

    Constructing a pass, or calling :meth:`reset`, sets every node's grad to
    0.0, leaves included, because the pass shows one backward pass from the
    start.
    """

    def __init__(self, root: Value) -> None:
        self.root = root
        levels = backward_levels(root)
        reverse_topological = list(reversed(topological_order(root)))
        rank = {node: index for index, node in enumerate(reverse_topological)}
        self.levels = levels
        self.order: list[Value] = sorted(
            reverse_topological, key=lambda node: (levels[node], rank[node])
        )
        # uses[x]: how many input slots of other nodes x fills.
        self.uses: dict[Value, int] = dict.fromkeys(self.order, 0)
        for node in self.order:
            for child in node.inputs:
                self.uses[child] += 1
        self.reset()

    def reset(self) -> None:
        """Zero every gradient of the graph and go back to before the first step."""
        for node in self.order:
            node.grad = 0.0
        self.steps_done = 0
        self._pending = dict(self.uses)
        self._reached: set[Value] = set()

    @property
    def num_steps(self) -> int:
        """Steps in a full pass: one per node."""
        return len(self.order)

    @property
    def done(self) -> bool:
        """Whether every node has been visited."""
        return self.steps_done == len(self.order)

    @property
    def current(self) -> Value | None:
        """The node visited by the latest step, or None before the first."""
        return self.order[self.steps_done - 1] if self.steps_done else None

    def step(self) -> Value:
        """Visit the next node: pass its gradient to its inputs; return it.

        The first step seeds dL/dL = 1 at the root.

        Raises:
            StopIteration: every node has been visited already.
        """
        if self.done:
            raise StopIteration("the backward pass is complete; call reset()")
        node = self.order[self.steps_done]
        if node is self.root:
            node.grad = 1.0
            self._reached.add(node)
        node.propagate()
        for child in node.inputs:
            self._pending[child] -= 1
            self._reached.add(child)
        self.steps_done += 1
        return node

    def run_to(self, steps: int) -> None:
        """Reset, then take ``steps`` steps (clipped to [0, num_steps])."""
        self.reset()
        for _ in range(max(0, min(int(steps), self.num_steps))):
            self.step()

    def state(self, node: Value) -> str:
        """Return "final", "partial" or "unknown" for the node's gradient.

        "final": every use of the node has sent its contribution (the root
        once seeded). "partial": some have. "unknown": none has.
        """
        if node not in self._reached:
            return "unknown"
        return "final" if self._pending[node] == 0 else "partial"


# -- gradient check ---------------------------------------------------------------


@dataclass(frozen=True)
class GradcheckResult:
    """Engine gradients against central finite differences, input by input.

    ``relative_errors[i]`` is |analytic - numeric| / max(|analytic|,
    |numeric|, floor): relative for gradients larger than ``floor`` and
    absolute below it, so a zero gradient matched by finite-difference
    rounding noise does not count as a large error.
    """

    analytic: tuple[float, ...]
    numeric: tuple[float, ...]
    relative_errors: tuple[float, ...]
    max_relative_error: float
    worst_input: int
    tolerance: float

    @property
    def passed(self) -> bool:
        """Whether the worst relative error is at most ``tolerance``."""
        return self.max_relative_error <= self.tolerance


def _check_output(result: object) -> Value:
    if isinstance(result, Value):
        return result
    if isinstance(result, numbers.Real) and not isinstance(result, bool):
        # A function that ignores its inputs returns a plain number.
        return Value(float(result))
    raise TypeError(
        f"gradcheck: fn must return a Value or a real number, got "
        f"{type(result).__name__}"
    )


def _evaluate(fn: Callable[..., Value | float], arguments: Sequence[float]) -> float:
    return _check_output(fn(*(Value(x) for x in arguments))).data


def gradcheck(
    fn: Callable[..., Value | float],
    inputs: Sequence[float | Value],
    eps: float = 1e-6,
    tolerance: float = 1e-5,
    floor: float = 1.0,
) -> GradcheckResult:
    """Compare the engine's gradients of ``fn`` with central finite differences.

    ``fn`` takes one :class:`Value` per input and returns a scalar Value. The
    engine's gradient dfn/dx_i comes from ``backward()``; the numeric one is
    (fn(x + eps e_i) - fn(x - eps e_i)) / (2 eps), whose truncation error is
    of order eps**2 and whose rounding error is about 1e-16 |fn| / eps.
    Checking a torch function is the job of ``torch.autograd.gradcheck``.

    Args:
        fn: the function to check, built from Value operations.
        inputs: the point, as numbers (or Values, whose ``data`` is used).
        eps: the finite-difference step, in the inputs' units.
        tolerance: the largest relative error that still passes.
        floor: the gradient size below which errors are absolute rather than
            relative (see :class:`GradcheckResult`). With the default 1.0, a
            function whose gradients are all far below 1 in size passes
            easily; pass a smaller floor for such functions.

    Raises:
        ValueError: ``inputs`` is empty, or ``eps`` or ``floor`` is not positive.
    """
    point = [x.data if isinstance(x, Value) else _check_number(x) for x in inputs]
    if not point:
        raise ValueError("gradcheck needs at least one input")
    if not eps > 0:
        raise ValueError(f"gradcheck: eps must be positive, got {eps}")
    if not floor > 0:
        raise ValueError(f"gradcheck: floor must be positive, got {floor}")

    leaves = [Value(x, label=f"x{i}") for i, x in enumerate(point)]
    output = _check_output(fn(*leaves))
    output.backward()
    analytic = tuple(leaf.grad for leaf in leaves)

    numeric = []
    for i in range(len(point)):
        above = list(point)
        below = list(point)
        above[i] += eps
        below[i] -= eps
        difference = _evaluate(fn, above) - _evaluate(fn, below)
        numeric.append(difference / (2 * eps))

    errors = tuple(
        abs(a - n) / max(abs(a), abs(n), floor) for a, n in zip(analytic, numeric)
    )
    worst = max(range(len(errors)), key=errors.__getitem__)
    return GradcheckResult(
        analytic=analytic,
        numeric=tuple(numeric),
        relative_errors=errors,
        max_relative_error=errors[worst],
        worst_input=worst,
        tolerance=tolerance,
    )


# -- a tiny MLP -------------------------------------------------------------------

ACTIVATIONS = ("tanh", "relu", "sigmoid", "linear")


def _activate(value: Value, activation: str) -> Value:
    if activation == "tanh":
        return value.tanh()
    if activation == "relu":
        return value.relu()
    if activation == "sigmoid":
        return value.sigmoid()
    return value


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"activation must be one of {', '.join(ACTIVATIONS)}, got {activation!r}"
        )


class Neuron:
    """One unit: activation(sum_i w_i x_i + b).

    Weights and bias start uniform in [-1/sqrt(n), 1/sqrt(n)] for n inputs,
    the bound of torch.nn.Linear's default initialization. They are labelled
    ``w[i]`` and ``b`` until a :class:`Layer` names them.
    """

    def __init__(
        self,
        n_inputs: int,
        *,
        activation: str = "tanh",
        rng: random.Random | None = None,
    ) -> None:
        if n_inputs < 1:
            raise ValueError(f"a neuron needs at least one input, got {n_inputs}")
        _check_activation(activation)
        rng = rng if rng is not None else random.Random(0)
        bound = 1.0 / math.sqrt(n_inputs)
        self.activation = activation
        self.weights = [
            Value(rng.uniform(-bound, bound), label=f"w[{i}]") for i in range(n_inputs)
        ]
        self.bias = Value(rng.uniform(-bound, bound), label="b")

    def __call__(self, inputs: Sequence[Value | float]) -> Value:
        if len(inputs) != len(self.weights):
            raise ValueError(
                f"the neuron has {len(self.weights)} weights but got "
                f"{len(inputs)} inputs"
            )
        products = [w * x for w, x in zip(self.weights, inputs)]
        return _activate(value_sum([*products, self.bias]), self.activation)

    def parameters(self) -> list[Value]:
        """Return the weights, then the bias."""
        return [*self.weights, self.bias]


class Layer:
    """``n_outputs`` neurons that all read the same inputs.

    With an ``index`` l, neuron j's weight for input i is labelled
    ``w<l>[j,i]`` and its bias ``b<l>[j]``, indices counted from 0.
    """

    def __init__(
        self,
        n_inputs: int,
        n_outputs: int,
        *,
        activation: str = "tanh",
        rng: random.Random | None = None,
        index: int | None = None,
    ) -> None:
        if n_outputs < 1:
            raise ValueError(f"a layer needs at least one neuron, got {n_outputs}")
        rng = rng if rng is not None else random.Random(0)
        self.neurons = [
            Neuron(n_inputs, activation=activation, rng=rng) for _ in range(n_outputs)
        ]
        if index is not None:
            for j, neuron in enumerate(self.neurons):
                for i, weight in enumerate(neuron.weights):
                    weight.label = f"w{index}[{j},{i}]"
                neuron.bias.label = f"b{index}[{j}]"

    def __call__(self, inputs: Sequence[Value | float]) -> list[Value]:
        return [neuron(inputs) for neuron in self.neurons]

    def parameters(self) -> list[Value]:
        """Return each neuron's weights and bias, neuron by neuron."""
        return [p for neuron in self.neurons for p in neuron.parameters()]


class MLP:
    """A multilayer perceptron: hidden layers with ``activation``, a linear output.

    ``MLP(2, [3, 1])`` has a hidden layer of 3 neurons and one output. Layers
    are numbered from 1 in the parameter labels: ``w2[0,1]`` is the weight of
    layer 2, neuron 0, input 1.

    Args:
        n_inputs: the number of input features.
        layer_sizes: neurons per layer, the last entry being the outputs.
        activation: "tanh", "relu", "sigmoid" or "linear" for hidden layers.
        seed: seeds the initial weights, so equal seeds give equal networks.
    """

    def __init__(
        self,
        n_inputs: int,
        layer_sizes: Sequence[int],
        *,
        activation: str = "tanh",
        seed: int = 0,
    ) -> None:
        if not layer_sizes:
            raise ValueError("layer_sizes needs at least one entry (the outputs)")
        _check_activation(activation)
        rng = random.Random(seed)
        sizes = [n_inputs, *layer_sizes]
        last = len(layer_sizes) - 1
        self.layers = [
            Layer(
                sizes[i],
                sizes[i + 1],
                activation=activation if i < last else "linear",
                rng=rng,
                index=i + 1,
            )
            for i in range(len(layer_sizes))
        ]

    def __call__(self, inputs: Sequence[Value | float]) -> list[Value]:
        """Run the forward pass and return the outputs, a list even for one."""
        values: Sequence[Value | float] = inputs
        for layer in self.layers:
            values = layer(values)
        return list(values)  # type: ignore[arg-type]

    def parameters(self) -> list[Value]:
        """Return all weights and biases, first layer first."""
        return [p for layer in self.layers for p in layer.parameters()]

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0.0 before the next backward pass."""
        for p in self.parameters():
            p.grad = 0.0
