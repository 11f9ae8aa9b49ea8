"""Checks for chapter 02, backpropagation. ``torch.autograd`` is the oracle.

- :func:`check_linear_backward`: the backward pass of ``y = x @ w + b``;
- :func:`check_mlp_backward`: the gradients of a two-layer network's MSE
  loss, computed from the loss backwards, last layer first;
- :func:`check_numerical_gradient`: central finite differences, the usual
  way to test a backward pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from course_lib.grading.compare import (
    assert_matches,
    call_learner,
    generator,
    quiet_check,
    randn,
    to_tensor,
    to_tuple,
)
from course_lib.grading.feedback import GradingError, Mistake

MLP_KEYS = ("w1", "b1", "w2", "b2")


@quiet_check
def check_linear_backward(linear_backward: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``linear_backward(x, w, b, grad_output) -> (grad_x, grad_w, grad_b)``.

    ``x`` has shape ``(n, d_in)``, ``w`` ``(d_in, d_out)``, ``b`` ``(d_out,)``
    and ``grad_output`` is ``dL/dy`` of shape ``(n, d_out)``.
    """
    gen = generator(seed)
    x, w, b = randn(5, 3, gen=gen), randn(3, 2, gen=gen), randn(2, gen=gen)
    grad_output = randn(5, 2, gen=gen)
    leaves = [t.clone().requires_grad_(True) for t in (x, w, b)]
    output = leaves[0] @ leaves[1] + leaves[2]
    expected = torch.autograd.grad(output, leaves, grad_output)

    returned = call_learner(
        linear_backward, x.clone(), w.clone(), b.clone(), grad_output.clone()
    )
    items = to_tuple(returned, 3, what="the value returned by linear_backward")
    names = ("grad_x", "grad_w", "grad_b")
    mistakes = {
        "grad_x": [
            Mistake(
                "grad_x_without_w",
                "grad_x must carry the gradient back through w: "
                "grad_x = grad_output @ w.T, of shape (n, d_in).",
                grad_output.sum(dim=1, keepdim=True).expand_as(x),
            )
        ],
        "grad_w": [
            Mistake(
                "grad_w_transposed",
                "grad_w is transposed: it must have w's shape (d_in, d_out), "
                "grad_w = x.T @ grad_output.",
                grad_output.T @ x,
            ),
            Mistake(
                "grad_w_mean",
                "grad_w is divided by the batch size; each sample's contribution "
                "adds up: grad_w = x.T @ grad_output.",
                x.T @ grad_output / x.shape[0],
            ),
        ],
        "grad_b": [
            Mistake(
                "grad_b_not_summed",
                "grad_b must have b's shape: sum grad_output over the batch, "
                "grad_b = grad_output.sum(dim=0).",
                grad_output,
            ),
            Mistake(
                "grad_b_mean",
                "grad_b is a mean where a sum belongs here: b is added to every "
                "row, so its gradient is grad_output.sum(dim=0).",
                grad_output.mean(dim=0),
            ),
        ],
    }
    for name, item, want in zip(names, items, expected):
        actual = to_tensor(item, what=f"{name} returned by linear_backward")
        assert_matches(
            actual,
            want,
            what=f"{name} returned by linear_backward",
            oracle="torch.autograd",
            mistakes=mistakes[name],
        )
    return "linear_backward matches torch.autograd for grad_x, grad_w and grad_b."


def _mlp_loss(x: Tensor, y: Tensor, params: dict[str, Tensor]) -> Tensor:
    hidden = torch.relu(x @ params["w1"] + params["b1"])
    return F.mse_loss(hidden @ params["w2"] + params["b2"], y)


def _manual_mlp_gradients(
    x: Tensor,
    y: Tensor,
    params: dict[str, Tensor],
    *,
    scale: float = 2.0,
    mean: bool = True,
    relu_mask: bool = True,
) -> dict[str, Tensor]:
    # The backward pass written out, with switches for the known mistakes:
    # dL/d(output) = scale·(output − y) / n, and the ReLU's mask on the way
    # back to the first layer.
    pre = x @ params["w1"] + params["b1"]
    hidden = torch.relu(pre)
    output = hidden @ params["w2"] + params["b2"]
    grad_output = scale * (output - y) / (y.numel() if mean else 1)
    grad_hidden = grad_output @ params["w2"].T
    if relu_mask:
        grad_hidden = grad_hidden * (pre > 0)
    return {
        "w1": x.T @ grad_hidden,
        "b1": grad_hidden.sum(dim=0),
        "w2": hidden.T @ grad_output,
        "b2": grad_output.sum(dim=0),
    }


@quiet_check
def check_mlp_backward(mlp_backward: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``mlp_backward(x, y, params) -> dict of gradients``.

    The network is ``relu(x @ w1 + b1) @ w2 + b2`` with the loss
    ``mse_loss(output, y)``; ``params`` and the returned dict have the keys
    ``"w1"``, ``"b1"``, ``"w2"``, ``"b2"``.
    """
    gen = generator(seed + 1)
    x, y = randn(6, 3, gen=gen), randn(6, 2, gen=gen)
    params = {
        "w1": randn(3, 4, gen=gen),
        "b1": randn(4, gen=gen, scale=0.5),
        "w2": randn(4, 2, gen=gen),
        "b2": randn(2, gen=gen),
    }

    leaves = {key: value.clone().requires_grad_(True) for key, value in params.items()}
    grads = torch.autograd.grad(_mlp_loss(x, y, leaves), list(leaves.values()))
    expected = dict(zip(leaves, grads))
    summed = _manual_mlp_gradients(x, y, params, mean=False)
    without_two = _manual_mlp_gradients(x, y, params, scale=1.0)
    unmasked = _manual_mlp_gradients(x, y, params, relu_mask=False)

    returned = call_learner(
        mlp_backward,
        x.clone(),
        y.clone(),
        {key: value.clone() for key, value in params.items()},
    )
    if not isinstance(returned, dict):
        raise GradingError(
            f"mlp_backward returned a {type(returned).__name__}; return a dict with "
            f"the keys {', '.join(MLP_KEYS)}"
        )
    for key in reversed(MLP_KEYS):
        if key not in returned:
            raise GradingError(
                f"the dict returned by mlp_backward has no key {key!r}; give the "
                f"gradient of every parameter: {', '.join(MLP_KEYS)}"
            )
        actual = to_tensor(returned[key], what=f"the gradient for {key}")
        assert_matches(
            actual,
            expected[key],
            what=f"the gradient for {key}",
            oracle="torch.autograd",
            mistakes=[
                Mistake(
                    "sum",
                    "The gradient is that of the summed squared error; the MSE "
                    f"is a mean over all {y.numel()} elements of the output, so "
                    "dL/d(output) = 2·(output − y) / output.numel().",
                    summed[key],
                ),
                Mistake(
                    "missing_two",
                    "The factor 2 of d(e²)/de = 2e is missing from "
                    "dL/d(output) = 2·(output − y) / n.",
                    without_two[key],
                ),
                Mistake(
                    "relu_ignored",
                    "The ReLU's derivative is missing: multiply the gradient of "
                    "the hidden layer by (pre-activation > 0) before going on "
                    "to w1 and b1.",
                    unmasked[key],
                ),
            ],
        )
    return "mlp_backward matches torch.autograd for w2, b2, w1 and b1."


@quiet_check
def check_numerical_gradient(
    numerical_gradient: Callable[..., Any], *, seed: int = 0
) -> str:
    """Check ``numerical_gradient(f, x, h) -> tensor``: central differences.

    Entry ``i`` is ``(f(x + h·e_i) − f(x − h·e_i)) / (2h)``; ``f`` maps a
    tensor to a 0-dim tensor. The check compares with the exact gradient
    from ``torch.autograd`` to within the method's error, and with the
    central differences themselves.
    """
    gen = generator(seed + 2)
    x = randn(5, gen=gen)
    weights = randn(5, gen=gen)
    h = 1e-3

    def f(point: Tensor) -> Tensor:
        return torch.sum(torch.sin(point) * weights) + (point**3).sum() / 3

    leaf = x.clone().requires_grad_(True)
    (exact,) = torch.autograd.grad(f(leaf), leaf)
    basis = torch.eye(5, dtype=torch.float64)
    central = torch.stack([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in basis])
    forward = torch.stack([(f(x + h * e) - f(x)) / h for e in basis])

    returned = call_learner(numerical_gradient, f, x.clone(), h)
    actual = to_tensor(returned, what="the value returned by numerical_gradient")
    mistakes = [
        Mistake(
            "forward_difference",
            "These are forward differences (f(x + h) − f(x)) / h, whose error "
            "shrinks like h; central differences (f(x + h) − f(x − h)) / (2h) "
            "err like h².",
            forward,
        ),
        Mistake(
            "missing_half",
            "The difference f(x + h) − f(x − h) spans 2h: divide by 2h, not h.",
            2 * central,
        ),
    ]
    # The exact gradient is the oracle; central differences with h = 1e-3 are
    # within about h² · |f'''| / 6 of it.
    assert_matches(
        actual,
        exact,
        what="numerical_gradient",
        oracle="torch.autograd",
        mistakes=mistakes,
        rtol=1e-4,
        atol=1e-5,
    )
    assert_matches(
        actual,
        central,
        what="numerical_gradient",
        oracle="the central difference (f(x + h·e_i) − f(x − h·e_i)) / (2h)",
        mistakes=mistakes,
    )
    return "numerical_gradient gives central differences that match torch.autograd."
