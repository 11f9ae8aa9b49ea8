"""The teaching autograd engine against torch.autograd in float64."""

from __future__ import annotations

import math
import random
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from course_lib.autograd import (
    MLP,
    BackwardPass,
    Layer,
    Neuron,
    Value,
    backward_levels,
    gradcheck,
    topological_order,
    value_sum,
)

DTYPE = torch.float64


def _leaf(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=DTYPE, requires_grad=True)


def _assert_close(actual: float, expected: torch.Tensor | float) -> None:
    torch.testing.assert_close(
        torch.tensor(actual, dtype=DTYPE),
        torch.as_tensor(expected, dtype=DTYPE).detach(),
        rtol=1e-10,
        atol=1e-12,
    )


# -- single operations ---------------------------------------------------------------

BINARY_OPS = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}
UNARY_OPS = {
    "neg": lambda a: -a,
    "exp": lambda a: a.exp(),
    "log": lambda a: a.log(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "sqrt": lambda a: a**0.5,
    "inverse": lambda a: a**-1,
}


@pytest.mark.parametrize("name", BINARY_OPS)
@pytest.mark.parametrize(("a", "b"), [(1.7, -0.6), (0.3, 2.5), (4.0, 0.5)])
def test_binary_op_matches_torch(name, a, b) -> None:
    op = BINARY_OPS[name]
    x, y = Value(a), Value(b)
    z = op(x, y)
    z.backward()
    tx, ty = _leaf(a), _leaf(b)
    tz = op(tx, ty)
    tz.backward()
    _assert_close(z.data, tz)
    _assert_close(x.grad, tx.grad)
    _assert_close(y.grad, ty.grad)


@pytest.mark.parametrize("name", BINARY_OPS)
def test_reflected_op_matches_torch(name) -> None:
    op = BINARY_OPS[name]
    x = Value(1.3)
    z = op(2.5, x)
    z.backward()
    tx = _leaf(1.3)
    tz = op(torch.tensor(2.5, dtype=DTYPE), tx)
    tz.backward()
    _assert_close(z.data, tz)
    _assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("name", BINARY_OPS)
def test_number_operand_matches_torch(name) -> None:
    op = BINARY_OPS[name]
    x = Value(1.3)
    z = op(x, 0.7)
    z.backward()
    tx = _leaf(1.3)
    tz = op(tx, 0.7)
    tz.backward()
    _assert_close(z.data, tz)
    _assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("name", UNARY_OPS)
@pytest.mark.parametrize("a", [0.8, 2.3])
def test_unary_op_matches_torch(name, a) -> None:
    op = UNARY_OPS[name]
    x = Value(a)
    z = op(x)
    z.backward()
    tx = _leaf(a)
    tz = op(tx)
    tz.backward()
    _assert_close(z.data, tz)
    _assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("name", ["neg", "tanh", "relu", "sigmoid", "square", "cube"])
@pytest.mark.parametrize("a", [-1.9, 0.0])
def test_unary_op_nonpositive_matches_torch(name, a) -> None:
    op = UNARY_OPS[name]
    x = Value(a)
    op(x).backward()
    tx = _leaf(a)
    op(tx).backward()
    _assert_close(x.grad, tx.grad)


@pytest.mark.parametrize("a", [-1000.0, 1000.0])
def test_sigmoid_extreme_inputs(a) -> None:
    x = Value(a)
    z = x.sigmoid()
    z.backward()
    tx = _leaf(a)
    tz = torch.sigmoid(tx)
    tz.backward()
    _assert_close(z.data, tz)
    _assert_close(x.grad, tx.grad)


def test_value_sum_matches_torch() -> None:
    values = [Value(v) for v in (0.5, -1.25, 3.0)]
    total = value_sum([*values, 2.0]) * values[0]
    total.backward()
    tensors = [_leaf(v) for v in (0.5, -1.25, 3.0)]
    expected = (tensors[0] + tensors[1] + tensors[2] + 2.0) * tensors[0]
    expected.backward()
    _assert_close(total.data, expected)
    for value, tensor in zip(values, tensors):
        _assert_close(value.grad, tensor.grad)


# -- random expression trees --------------------------------------------------------


def _random_expression(
    rng: random.Random,
    values: list[Value],
    tensors: list[torch.Tensor],
    depth: int,
) -> tuple[Value, torch.Tensor]:
    """Build the same random expression on Values and on torch tensors.

    Operations are chosen so that their arguments stay in the domain: logs of
    positive numbers, denominators away from 0, positive bases for powers
    with a Value exponent. Results above 50 in size pass through tanh to
    keep exp from overflowing.
    """
    if depth == 0 or rng.random() < 0.15:
        index = rng.randrange(len(values))
        return values[index], tensors[index]

    a, ta = _random_expression(rng, values, tensors, depth - 1)
    kind = rng.choice(
        ["add", "sub", "mul", "div", "pow", "radd", "rsub", "rmul", "rdiv"]
        + ["neg", "exp", "log", "tanh", "relu", "sigmoid", "square", "cube"]
    )
    constant = rng.uniform(-2.0, 2.0)
    if kind in ("add", "sub", "mul", "div", "pow"):
        b, tb = _random_expression(rng, values, tensors, depth - 1)
        if kind == "add":
            out, tout = a + b, ta + tb
        elif kind == "sub":
            out, tout = a - b, ta - tb
        elif kind == "mul":
            out, tout = a * b, ta * tb
        elif kind == "div":
            # The denominator b**2 + 0.5 is at least 0.5.
            out, tout = a / (b * b + 0.5), ta / (tb * tb + 0.5)
        else:
            # A positive base and an exponent in (-1, 1).
            out = (a * a + 0.5) ** b.tanh()
            tout = (ta * ta + 0.5) ** torch.tanh(tb)
    elif kind == "radd":
        out, tout = constant + a, constant + ta
    elif kind == "rsub":
        out, tout = constant - a, constant - ta
    elif kind == "rmul":
        out, tout = constant * a, constant * ta
    elif kind == "rdiv":
        out, tout = constant / (a * a + 1.0), constant / (ta * ta + 1.0)
    elif kind == "neg":
        out, tout = -a, -ta
    elif kind == "exp":
        out, tout = a.exp(), torch.exp(ta)
    elif kind == "log":
        out, tout = (a * a + 0.1).log(), torch.log(ta * ta + 0.1)
    elif kind == "tanh":
        out, tout = a.tanh(), torch.tanh(ta)
    elif kind == "relu":
        out, tout = a.relu(), torch.relu(ta)
    elif kind == "sigmoid":
        out, tout = a.sigmoid(), torch.sigmoid(ta)
    elif kind == "square":
        out, tout = a**2, ta**2
    else:
        out, tout = a**3, ta**3

    if abs(out.data) > 50:
        out, tout = out.tanh(), torch.tanh(tout)
    return out, tout


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 6))
def test_random_expression_matches_torch(seed, depth) -> None:
    rng = random.Random(seed)
    points = [rng.uniform(-2.0, 2.0) for _ in range(3)]
    values = [Value(x) for x in points]
    tensors = [_leaf(x) for x in points]
    out, tout = _random_expression(rng, values, tensors, depth)
    out.backward()
    grads = torch.autograd.grad(tout, tensors, allow_unused=True)
    _assert_close(out.data, tout)
    for value, grad in zip(values, grads):
        _assert_close(value.grad, 0.0 if grad is None else grad)


# -- graph structure -------------------------------------------------------------------


def test_reused_node_accumulates() -> None:
    x = Value(3.0)
    y = x * x + x  # dy/dx = 2x + 1
    y.backward()
    assert x.grad == 7.0


def test_reused_intermediate_accumulates() -> None:
    x, w = Value(0.5), Value(-1.5)
    a = x * w
    b = a * a + a.tanh() * a
    b.backward()
    tx, tw = _leaf(0.5), _leaf(-1.5)
    ta = tx * tw
    (ta * ta + torch.tanh(ta) * ta).backward()
    _assert_close(x.grad, tx.grad)
    _assert_close(w.grad, tw.grad)


def test_deep_chain_20000_operations() -> None:
    n = 20_000
    assert sys.getrecursionlimit() < n
    x = Value(0.3)
    y = x
    for _ in range(n):
        y = y * 1.0001
    y.backward()
    # y = x * 1.0001**n, so dy/dx = 1.0001**n.
    assert math.isclose(x.grad, 1.0001**n, rel_tol=1e-9)


def test_deep_chain_matches_torch() -> None:
    x = Value(0.3)
    tx = _leaf(0.3)
    y, ty = x, tx
    for i in range(20_000):
        if i % 2:
            y, ty = (y * 0.9999).tanh() + 0.0001, torch.tanh(ty * 0.9999) + 0.0001
        else:
            y, ty = y + 0.001, ty + 0.001
    y.backward()
    ty.backward()
    _assert_close(y.data, ty)
    _assert_close(x.grad, tx.grad)


def test_topological_order_inputs_first() -> None:
    x, w = Value(1.0), Value(2.0)
    loss = ((x * w).tanh() + x) ** 2
    order = topological_order(loss)
    position = {node: i for i, node in enumerate(order)}
    assert len(order) == len(set(order))
    assert order[-1] is loss
    for node in order:
        for child in node.inputs:
            assert position[child] < position[node]


def test_backward_twice_accumulates_like_torch() -> None:
    x = Value(0.7)
    y = (x * x).tanh() * x
    y.backward()
    y.backward()
    tx = _leaf(0.7)
    ty = torch.tanh(tx * tx) * tx
    ty.backward(retain_graph=True)
    ty.backward()
    _assert_close(x.grad, tx.grad)


def test_backward_seed_gradient() -> None:
    x = Value(1.2)
    y = x.exp() * x
    y.backward(gradient=-2.5)
    tx = _leaf(1.2)
    (torch.exp(tx) * tx).backward(torch.tensor(-2.5, dtype=DTYPE))
    _assert_close(x.grad, tx.grad)


# -- domain errors ---------------------------------------------------------------------


@pytest.mark.parametrize("x", [0.0, -1.0])
def test_log_nonpositive_raises(x) -> None:
    with pytest.raises(ValueError, match="positive numbers only"):
        Value(x).log()


def test_division_by_zero_raises() -> None:
    with pytest.raises(ZeroDivisionError, match="equal to 0.0"):
        Value(1.0) / Value(0.0)


def test_reflected_division_by_zero_raises() -> None:
    with pytest.raises(ZeroDivisionError, match="equal to 0.0"):
        2.0 / Value(0.0)


def test_negative_power_of_zero_raises() -> None:
    with pytest.raises(ZeroDivisionError, match="negative power of zero"):
        Value(0.0) ** -1


def test_fractional_power_of_negative_raises() -> None:
    with pytest.raises(ValueError, match="integer exponent"):
        Value(-2.0) ** 0.5


def test_sqrt_of_zero_raises() -> None:
    with pytest.raises(ValueError, match="infinite derivative"):
        Value(0.0) ** 0.5


def test_value_exponent_needs_positive_base() -> None:
    with pytest.raises(ValueError, match="positive base"):
        Value(-2.0) ** Value(2.0)


def test_exp_overflow_raises() -> None:
    with pytest.raises(OverflowError, match="at most 709.78"):
        Value(710.0).exp()


def test_value_rejects_non_number() -> None:
    with pytest.raises(TypeError, match="real number"):
        Value("1.0")  # type: ignore[arg-type]


def test_value_rejects_list_operand() -> None:
    with pytest.raises(TypeError):
        Value(1.0) + [1.0]  # type: ignore[operator]


def test_power_zero_exponent_at_zero() -> None:
    x = Value(0.0)
    (x**0).backward()
    assert x.grad == 0.0


# -- the MLP ---------------------------------------------------------------------------


def _torch_forward(mlp: MLP, inputs: torch.Tensor) -> tuple[torch.Tensor, list]:
    """Copy the MLP's weights into torch leaves and run the same network."""
    leaves = []
    h = inputs
    for index, layer in enumerate(mlp.layers):
        weight = torch.tensor(
            [[w.data for w in neuron.weights] for neuron in layer.neurons],
            dtype=DTYPE,
            requires_grad=True,
        )
        bias = torch.tensor(
            [neuron.bias.data for neuron in layer.neurons],
            dtype=DTYPE,
            requires_grad=True,
        )
        leaves.append((weight, bias))
        h = h @ weight.T + bias
        if index < len(mlp.layers) - 1:
            h = torch.tanh(h)
    return h, leaves


def test_mlp_matches_torch() -> None:
    mlp = MLP(3, [4, 4, 2], seed=7)
    examples = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
    targets = [[1.0, -1.0], [0.0, 0.5]]
    loss = value_sum(
        (out - t) ** 2
        for x, target in zip(examples, targets)
        for out, t in zip(mlp(x), target)
    )
    loss.backward()

    out, leaves = _torch_forward(mlp, torch.tensor(examples, dtype=DTYPE))
    expected = ((out - torch.tensor(targets, dtype=DTYPE)) ** 2).sum()
    expected.backward()

    _assert_close(loss.data, expected)
    for layer, (weight, bias) in zip(mlp.layers, leaves):
        for j, neuron in enumerate(layer.neurons):
            for i, w in enumerate(neuron.weights):
                _assert_close(w.grad, weight.grad[j, i])
            _assert_close(neuron.bias.grad, bias.grad[j])


def test_mlp_parameter_count() -> None:
    mlp = MLP(3, [4, 2])
    assert len(mlp.parameters()) == (3 + 1) * 4 + (4 + 1) * 2


def test_mlp_zero_grad() -> None:
    mlp = MLP(2, [3, 1])
    [out] = mlp([1.0, -1.0])
    out.backward()
    assert any(p.grad != 0.0 for p in mlp.parameters())
    mlp.zero_grad()
    assert all(p.grad == 0.0 for p in mlp.parameters())


def test_mlp_seed_reproducible() -> None:
    first = [p.data for p in MLP(2, [3, 1], seed=3).parameters()]
    second = [p.data for p in MLP(2, [3, 1], seed=3).parameters()]
    other = [p.data for p in MLP(2, [3, 1], seed=4).parameters()]
    assert first == second
    assert first != other


def test_mlp_initial_weights_bounded() -> None:
    mlp = MLP(9, [16, 1])
    bound = 1 / math.sqrt(9)
    assert all(abs(p.data) <= bound for p in mlp.layers[0].parameters())


def test_mlp_parameter_labels() -> None:
    mlp = MLP(2, [3, 1])
    labels = [p.label for p in mlp.layers[1].parameters()]
    assert labels == ["w2[0,0]", "w2[0,1]", "w2[0,2]", "b2[0]"]


def test_neuron_rejects_wrong_input_count() -> None:
    with pytest.raises(ValueError, match="3 weights but got 2 inputs"):
        Neuron(3)([1.0, 2.0])


def test_layer_rejects_zero_neurons() -> None:
    with pytest.raises(ValueError, match="at least one neuron"):
        Layer(2, 0)


def test_mlp_rejects_unknown_activation() -> None:
    with pytest.raises(ValueError, match="activation must be one of"):
        MLP(2, [3, 1], activation="gelu")


# -- gradcheck -------------------------------------------------------------------------


def _smooth(a: Value, b: Value, c: Value) -> Value:
    return (a * b).tanh() + (c * c + 1).log() * a / (b * b + 2) + c.sigmoid()


def test_gradcheck_passes_correct_function() -> None:
    result = gradcheck(_smooth, [0.4, -1.3, 0.9])
    assert result.passed
    assert result.max_relative_error < 1e-7
    assert len(result.relative_errors) == 3


def test_gradcheck_gradients_match_torch() -> None:
    point = [0.4, -1.3, 0.9]
    result = gradcheck(_smooth, point)
    tensors = [_leaf(x) for x in point]
    a, b, c = tensors
    expected = (
        torch.tanh(a * b) + torch.log(c * c + 1) * a / (b * b + 2) + torch.sigmoid(c)
    )
    grads = torch.autograd.grad(expected, tensors)
    for analytic, numeric, grad in zip(result.analytic, result.numeric, grads):
        _assert_close(analytic, grad)
        torch.testing.assert_close(
            torch.tensor(numeric, dtype=DTYPE), grad, rtol=1e-6, atol=1e-8
        )


def test_gradcheck_catches_wrong_gradient() -> None:
    def wrong_square(a: Value, b: Value) -> Value:
        # The local derivative of a**2 should be 2a; this node claims 3a.
        square = Value(a.data**2, inputs=(a,), local_grads=(3 * a.data,), op="**2")
        return square + b * 2

    result = gradcheck(wrong_square, [1.5, 0.5])
    assert not result.passed
    assert result.worst_input == 0
    assert result.relative_errors[1] < 1e-7


def test_gradcheck_constant_function() -> None:
    result = gradcheck(lambda a, b: 3.0, [1.0, 2.0])
    assert result.analytic == (0.0, 0.0)
    assert result.passed


def test_gradcheck_rejects_bad_eps() -> None:
    with pytest.raises(ValueError, match="eps must be positive"):
        gradcheck(lambda a: a * a, [1.0], eps=0.0)


def test_gradcheck_rejects_non_value_output() -> None:
    with pytest.raises(TypeError, match="must return a Value"):
        gradcheck(lambda a: "a", [1.0])


# -- the step-by-step backward pass ----------------------------------------------------


def _network_loss() -> tuple[MLP, Value]:
    mlp = MLP(2, [2, 1], seed=1)
    [out] = mlp([Value(0.5, "x1"), Value(-1.0, "x2")])
    return mlp, (out - Value(1.0, "y")) ** 2


def test_backward_pass_matches_backward() -> None:
    mlp, loss = _network_loss()
    loss.backward()
    expected = [p.grad for p in mlp.parameters()]
    stepper = BackwardPass(loss)
    assert all(p.grad == 0.0 for p in mlp.parameters())
    stepper.run_to(stepper.num_steps)
    assert stepper.done
    assert [p.grad for p in mlp.parameters()] == pytest.approx(expected, rel=1e-12)


def test_backward_pass_order_valid() -> None:
    _, loss = _network_loss()
    stepper = BackwardPass(loss)
    position = {node: i for i, node in enumerate(stepper.order)}
    assert stepper.order[0] is loss
    assert stepper.num_steps == len(topological_order(loss))
    for node in stepper.order:
        for child in node.inputs:
            assert position[node] < position[child]


def test_backward_pass_last_layer_first() -> None:
    mlp, loss = _network_loss()
    stepper = BackwardPass(loss)
    first_layer = set(mlp.layers[0].parameters())
    last_layer = set(mlp.layers[1].parameters())
    finalized = []
    while not stepper.done:
        stepper.step()
        for p in first_layer | last_layer:
            if stepper.state(p) == "final" and p not in finalized:
                finalized.append(p)
    layer_of = [2 if p in last_layer else 1 for p in finalized]
    assert layer_of == sorted(layer_of, reverse=True)
    assert len(finalized) == len(first_layer | last_layer)


def test_backward_pass_states() -> None:
    x = Value(2.0, "x")
    a = x * 3.0
    loss = a + x.tanh()
    stepper = BackwardPass(loss)
    assert stepper.state(loss) == "unknown"
    assert stepper.current is None
    stepper.step()
    assert stepper.current is loss
    assert stepper.state(loss) == "final"
    assert loss.grad == 1.0
    # loss = a + tanh(x): after visiting the loss, x has one use pending.
    assert stepper.state(a) == "final"
    stepper.step()
    assert stepper.state(x) == "partial"
    stepper.run_to(stepper.num_steps)
    assert stepper.state(x) == "final"
    _assert_close(x.grad, 3.0 + (1 - math.tanh(2.0) ** 2))


def test_backward_pass_reset() -> None:
    _, loss = _network_loss()
    stepper = BackwardPass(loss)
    stepper.run_to(5)
    assert stepper.steps_done == 5
    stepper.reset()
    assert stepper.steps_done == 0
    assert all(node.grad == 0.0 for node in stepper.order)


def test_backward_pass_step_past_end() -> None:
    loss = Value(1.0) * Value(2.0)
    stepper = BackwardPass(loss)
    stepper.run_to(100)
    assert stepper.steps_done == 3
    with pytest.raises(StopIteration, match="complete"):
        stepper.step()


def test_backward_levels_decrease_toward_root() -> None:
    _, loss = _network_loss()
    levels = backward_levels(loss)
    assert levels[loss] == 0
    for node in levels:
        for child in node.inputs:
            assert levels[child] > levels[node]
