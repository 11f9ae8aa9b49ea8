"""Checks for chapter 04, batch size.

- :func:`check_minibatches`: one epoch of shuffled mini-batch indices, the
  batches that the samplers inside ``DataLoader(shuffle=True)`` draw from
  the same generator;
- :func:`check_minibatch_gradient`: the gradient of the mean squared error
  on one mini-batch, against ``torch.autograd``;
- :func:`check_sgd_epoch`: one epoch of mini-batch SGD on a model, against
  the same loop on a copy of the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import BatchSampler, RandomSampler

from course_lib.grading.compare import (
    assert_matches,
    call_learner,
    generator,
    quiet_check,
    randn,
    to_float,
    to_tensor,
)
from course_lib.grading.feedback import GradingError, Mistake, WrongTypeError
from course_lib.grading.gradient_descent import ZERO_GRAD_HINT


def _batches_as_tensors(returned: Any) -> list[Tensor]:
    if isinstance(returned, Tensor) or not isinstance(returned, list | tuple):
        raise WrongTypeError(
            f"minibatches returned a {type(returned).__name__}; return a list of "
            "index tensors, one per batch"
        )
    batches = []
    for number, batch in enumerate(returned, start=1):
        values = to_tensor(batch, what=f"batch {number} returned by minibatches")
        if values.ndim != 1:
            raise GradingError(
                f"batch {number} has shape {tuple(values.shape)}; each batch must "
                "be a 1-D tensor of sample indices"
            )
        batches.append(values)
    return batches


@quiet_check
def check_minibatches(minibatches: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``minibatches(n, batch_size, generator) -> list of index tensors``.

    The batches must be ``torch.randperm(n, generator=generator)`` cut into
    consecutive pieces of ``batch_size``, the last one smaller when
    ``batch_size`` does not divide ``n``. That is what
    ``BatchSampler(RandomSampler(range(n), generator=generator), batch_size,
    drop_last=False)`` yields, the samplers that ``DataLoader(shuffle=True)``
    uses. (A ``DataLoader`` itself first draws a worker seed from the
    generator, so its order differs.)
    """
    for n, batch_size in ((23, 5), (12, 4)):
        sampler = BatchSampler(
            RandomSampler(range(n), generator=generator(seed + n)),
            batch_size=batch_size,
            drop_last=False,
        )
        expected = [torch.tensor(batch, dtype=torch.float64) for batch in sampler]
        returned = call_learner(minibatches, n, batch_size, generator(seed + n))
        batches = _batches_as_tensors(returned)
        flat = torch.cat(batches) if batches else torch.zeros(0, dtype=torch.float64)
        what = f"minibatches({n}, {batch_size}, generator)"
        if flat.numel() == n - n % batch_size and n % batch_size:
            raise GradingError(
                f"{what} has {len(batches)} batches with {flat.numel()} indices; "
                f"the last, smaller batch of {n % batch_size} is missing (as with "
                "drop_last=True). Keep it: every sample is used once per epoch."
            )
        if sorted(flat.tolist()) != list(range(n)):
            raise GradingError(
                f"{what} does not use each index 0..{n - 1} exactly once; shuffle "
                "with torch.randperm(n, generator=generator), which draws without "
                "replacement"
            )
        if flat.tolist() == list(range(n)):
            raise GradingError(
                f"{what} returns the indices in order; shuffle them with "
                "torch.randperm(n, generator=generator)"
            )
        sizes = [int(batch.numel()) for batch in batches]
        expected_sizes = [int(batch.numel()) for batch in expected]
        if sizes != expected_sizes:
            raise GradingError(
                f"{what} gives batches of sizes {sizes}; expected {expected_sizes}"
            )
        order = torch.cat(expected)
        if not torch.equal(flat, order):
            raise GradingError(
                f"{what} is shuffled, but not by the given generator: the order "
                "differs from RandomSampler with that generator. Call "
                "torch.randperm(n, generator=generator) once and cut it into "
                "batches."
            )
    return "minibatches gives the same batches as DataLoader's RandomSampler."


@quiet_check
def check_minibatch_gradient(
    minibatch_gradient: Callable[..., Any], *, seed: int = 0
) -> str:
    """Check ``minibatch_gradient(w, x, y, indices) -> dL/dw``.

    ``L = mse_loss(x[indices] @ w, y[indices])``, the mean over the batch.
    """
    gen = generator(seed + 1)
    x, y, w = randn(30, 4, gen=gen), randn(30, gen=gen), randn(4, gen=gen)
    for size in (8, 3):
        indices = torch.randperm(30, generator=gen)[:size]

        def gradient(rows: Tensor, reduction: str = "mean") -> Tensor:
            leaf = w.clone().requires_grad_(True)
            loss = F.mse_loss(x[rows] @ leaf, y[rows], reduction=reduction)
            (grad,) = torch.autograd.grad(loss, leaf)
            return grad

        expected = gradient(indices)
        returned = call_learner(
            minibatch_gradient, w.clone(), x.clone(), y.clone(), indices.clone()
        )
        actual = to_tensor(returned, what="the value returned by minibatch_gradient")
        assert_matches(
            actual,
            expected,
            what=f"minibatch_gradient on a batch of {size}",
            oracle="torch.autograd on mse_loss(x[indices] @ w, y[indices])",
            mistakes=[
                Mistake(
                    "sum",
                    "This is the gradient of a sum where a mean belongs: divide by "
                    "the batch size, so that the gradient's scale, and the right "
                    "learning rate, do not depend on it.",
                    gradient(indices, reduction="sum"),
                ),
                Mistake(
                    "full_batch",
                    "This is the gradient on the whole data set; use only the "
                    "rows of the batch, x[indices] and y[indices].",
                    gradient(torch.arange(30)),
                ),
            ],
        )
    return "minibatch_gradient matches torch.autograd on batches of 8 and 3."


@quiet_check
def check_sgd_epoch(sgd_epoch: Callable[..., Any], *, seed: int = 0) -> str:
    """Check ``sgd_epoch(model, optimizer, x, y, batches) -> list of losses``.

    For each batch of indices the learner computes
    ``mse_loss(model(x[batch]), y[batch])``, takes one optimizer step and
    records the loss before the step as a float. The oracle runs the same
    loop on a copy of the model with its own ``torch.optim.SGD``.
    """
    gen = generator(seed + 2)
    x, y = randn(24, 3, gen=gen), randn(24, 1, gen=gen)
    batches = list(torch.randperm(24, generator=gen).split(6))
    model = torch.nn.Linear(3, 1).to(torch.float64)
    with torch.no_grad():
        model.weight.copy_(randn(1, 3, gen=gen))
        model.bias.copy_(randn(1, gen=gen))

    def train(*, zero_grad: bool = True) -> tuple[list[float], list[Tensor]]:
        copy_of_model = copy.deepcopy(model)
        optimizer = torch.optim.SGD(copy_of_model.parameters(), lr=0.2, momentum=0.5)
        losses = []
        for batch in batches:
            if zero_grad:
                optimizer.zero_grad()
            loss = F.mse_loss(copy_of_model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses, [p.detach().clone() for p in copy_of_model.parameters()]

    learner_model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(learner_model.parameters(), lr=0.2, momentum=0.5)
    returned = call_learner(
        sgd_epoch,
        learner_model,
        optimizer,
        x.clone(),
        y.clone(),
        [batch.clone() for batch in batches],
    )
    expected_losses, expected_params = train()
    accumulated_losses, accumulated_params = train(zero_grad=False)

    if isinstance(returned, Tensor) or not isinstance(returned, list | tuple):
        raise WrongTypeError(
            f"sgd_epoch returned a {type(returned).__name__}; return a list with "
            "one float loss per batch"
        )
    losses = torch.tensor(
        [to_float(loss, what=f"loss {i + 1}") for i, loss in enumerate(returned)],
        dtype=torch.float64,
    )
    zero_grad = Mistake("zero_grad", ZERO_GRAD_HINT, torch.tensor(accumulated_losses))
    assert_matches(
        losses,
        torch.tensor(expected_losses, dtype=torch.float64),
        what="the losses returned by sgd_epoch",
        oracle="the same loop on a copy of the model",
        mistakes=[zero_grad],
    )
    for param, expected, accumulated in zip(
        learner_model.parameters(), expected_params, accumulated_params
    ):
        assert_matches(
            to_tensor(param, what="a model parameter after sgd_epoch"),
            expected,
            what="the model's parameters after sgd_epoch",
            oracle="the same loop on a copy of the model",
            mistakes=[Mistake("zero_grad", ZERO_GRAD_HINT, accumulated)],
        )
    return (
        f"sgd_epoch trains the model like the reference loop over {len(batches)} "
        "batches."
    )
