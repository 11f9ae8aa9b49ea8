"""The learning-rate range test on a regression of scikit-learn's diabetes set."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes
from torch import nn
from torch.nn import functional

import course_lib.optim
from course_lib.range_test import RangeTestResult, lr_range_test


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Run torch on one thread while these tests run.

    The models are so small that a second thread only adds synchronization,
    which costs many times the compute on a busy machine.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def diabetes() -> tuple[torch.Tensor, torch.Tensor]:
    """Standardized features and targets of the 442 diabetes patients."""
    features, targets = load_diabetes(return_X_y=True)
    features = (features - features.mean(axis=0)) / features.std(axis=0)
    targets = (targets - targets.mean()) / targets.std()
    return (
        torch.tensor(features, dtype=torch.float32),
        torch.tensor(targets, dtype=torch.float32)[:, None],
    )


def make_loader(
    data: tuple[torch.Tensor, torch.Tensor], batch_size: int = 32, seed: int = 0
) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*data),
        batch_size=batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )


def make_mlp(seed: int = 0, *, batch_norm: bool = False, dropout: float = 0.0):
    torch.manual_seed(seed)
    layers: list[nn.Module] = [nn.Linear(10, 16)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(16))
    layers += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, 1)]
    return nn.Sequential(*layers)


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: torch.utils.data.DataLoader,
    steps: int,
) -> None:
    batches = iter(loader)
    for _ in range(steps):
        try:
            inputs, targets = next(batches)
        except StopIteration:
            batches = iter(loader)
            inputs, targets = next(batches)
        optimizer.zero_grad()
        functional.mse_loss(model(inputs), targets).backward()
        optimizer.step()


def full_loss(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> float:
    with torch.no_grad():
        return functional.mse_loss(model(data[0]), data[1]).item()


@pytest.mark.filterwarnings(
    "ignore:the smoothed loss reached its minimum:RuntimeWarning"
)
def test_lrs_sweep_exponentially(diabetes) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(
        model,
        functional.mse_loss,
        optimizer,
        make_loader(diabetes),
        start_lr=1e-6,
        end_lr=1e-2,
        num_steps=40,
    )
    assert not result.stopped_early
    expected = torch.logspace(-6, -2, 40, dtype=torch.float64)
    lrs = torch.tensor(result.lrs, dtype=torch.float64)
    torch.testing.assert_close(lrs, expected, rtol=1e-12, atol=0.0)
    assert len(result.losses) == 40
    assert len(result.smoothed) == 40


@pytest.mark.filterwarnings(
    "ignore:the smoothed loss reached its minimum:RuntimeWarning"
)
@pytest.mark.parametrize("smoothing", [0.0, 0.5, 0.98])
def test_smoothed_is_bias_corrected_average(diabetes, smoothing: float) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(
        model,
        functional.mse_loss,
        optimizer,
        make_loader(diabetes),
        start_lr=1e-5,
        end_lr=1e-2,
        num_steps=30,
        smoothing=smoothing,
    )
    # The smoothed loss at step t (from 1) is the average of the losses with
    # weights beta**(t - i), which add up to (1 - beta**t) / (1 - beta).
    losses = np.array(result.losses)
    for t in range(1, len(losses) + 1):
        weights = smoothing ** (t - np.arange(1, t + 1))
        expected = np.sum(weights * losses[:t]) / np.sum(weights)
        assert result.smoothed[t - 1] == pytest.approx(expected, rel=1e-12)


def test_stops_early_on_divergence(diabetes) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(
        model,
        functional.mse_loss,
        optimizer,
        make_loader(diabetes),
        start_lr=1e-4,
        end_lr=100.0,
        num_steps=100,
    )
    assert result.stopped_early
    assert len(result.lrs) < 100
    last = result.smoothed[-1]
    assert not math.isfinite(last) or last > 4.0 * min(result.smoothed[:-1])
    assert all(
        value <= 4.0 * min(result.smoothed[: index + 1])
        for index, value in enumerate(result.smoothed[:-1])
    )


def test_stops_on_nan_loss(diabetes) -> None:
    calls = 0

    def loss_turning_nan(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        loss = functional.mse_loss(outputs, targets)
        return loss * math.nan if calls > 12 else loss

    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.warns(RuntimeWarning):
        result = lr_range_test(
            model,
            loss_turning_nan,
            optimizer,
            make_loader(diabetes),
            start_lr=1e-4,
            end_lr=1e-3,
            num_steps=50,
            smoothing=0.5,
        )
    assert result.stopped_early
    assert len(result.losses) == 13
    assert math.isnan(result.losses[-1])
    assert math.isnan(result.smoothed[-1])


OPTIMIZERS: list = [
    pytest.param(lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), id="torch-SGD"),
    pytest.param(lambda p: torch.optim.Adam(p, lr=1e-3), id="torch-Adam"),
    pytest.param(
        lambda p: torch.optim.RMSprop(p, lr=1e-3, centered=True), id="torch-RMSprop"
    ),
    pytest.param(
        lambda p: course_lib.optim.SGD(p, lr=0.05, momentum=0.9), id="course-SGD"
    ),
    pytest.param(lambda p: course_lib.optim.Adam(p, lr=1e-3), id="course-Adam"),
]


def optimizer_snapshot(optimizer: torch.optim.Optimizer) -> tuple[dict, list]:
    state = {
        id(param): {key: copy.deepcopy(value) for key, value in values.items()}
        for param, values in optimizer.state.items()
    }
    groups = [
        {key: copy.deepcopy(value) for key, value in group.items() if key != "params"}
        for group in optimizer.param_groups
    ]
    return state, groups


@pytest.mark.filterwarnings(
    "ignore:the smoothed loss reached its minimum:RuntimeWarning"
)
@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_restores_model_and_optimizer(diabetes, make_optimizer: Callable) -> None:
    model = make_mlp(batch_norm=True)
    optimizer = make_optimizer(model.parameters())
    loader = make_loader(diabetes)
    train(model, optimizer, loader, steps=3)
    inputs, targets = next(iter(loader))
    functional.mse_loss(model(inputs), targets).backward()
    model.eval()

    named_tensors = list(model.named_parameters()) + list(model.named_buffers())
    before = {name: tensor.detach().clone() for name, tensor in named_tensors}
    grads_before = {
        name: param.grad.clone() for name, param in model.named_parameters()
    }
    state_before, groups_before = optimizer_snapshot(optimizer)
    params_before = [list(group["params"]) for group in optimizer.param_groups]

    lr_range_test(
        model,
        functional.mse_loss,
        optimizer,
        loader,
        start_lr=1e-5,
        end_lr=10.0,
        num_steps=30,
    )

    for name, tensor in named_tensors:
        assert torch.equal(tensor, before[name]), name
    for name, param in model.named_parameters():
        assert torch.equal(param.grad, grads_before[name]), name
    assert not any(module.training for module in model.modules())

    state_after, groups_after = optimizer_snapshot(optimizer)
    assert state_after.keys() == state_before.keys()
    for key, values in state_before.items():
        assert state_after[key].keys() == values.keys()
        for name, value in values.items():
            assert torch.equal(state_after[key][name], value), name
    assert groups_after == groups_before
    assert [list(group["params"]) for group in optimizer.param_groups] == params_before


@pytest.mark.filterwarnings(
    "ignore:the smoothed loss reached its minimum:RuntimeWarning"
)
def test_restores_empty_state(diabetes) -> None:
    model = make_mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    lr_range_test(
        model, functional.mse_loss, optimizer, make_loader(diabetes), num_steps=10
    )
    assert len(optimizer.state) == 0
    assert all(param.grad is None for param in model.parameters())


@pytest.mark.filterwarnings(
    "ignore:the smoothed loss reached its minimum:RuntimeWarning"
)
def test_restores_tensor_lr(diabetes) -> None:
    model = make_mlp()
    lr = torch.tensor(1e-3)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, foreach=False)
    lr_range_test(
        model, functional.mse_loss, optimizer, make_loader(diabetes), num_steps=10
    )
    restored = optimizer.param_groups[0]["lr"]
    assert isinstance(restored, torch.Tensor)
    assert torch.equal(restored, torch.tensor(1e-3))


@pytest.mark.filterwarnings(
    "ignore:the smoothed loss reached its minimum:RuntimeWarning"
)
@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_next_step_is_unchanged(diabetes, make_optimizer: Callable) -> None:
    # Dropout draws from torch's generator and the loader shuffles with its
    # own. The range test restores both, so the next steps draw the same
    # numbers.
    model = make_mlp(dropout=0.2)
    optimizer = make_optimizer(model.parameters())
    train(model, optimizer, make_loader(diabetes, seed=5), steps=2)
    twin_model = copy.deepcopy(model)
    twin_optimizer = make_optimizer(twin_model.parameters())
    twin_optimizer.load_state_dict(copy.deepcopy(optimizer.state_dict()))

    torch.manual_seed(1234)
    loader = make_loader(diabetes, seed=7)
    lr_range_test(
        model,
        functional.mse_loss,
        optimizer,
        loader,
        start_lr=1e-5,
        end_lr=1.0,
        num_steps=20,
    )
    train(model, optimizer, loader, steps=3)

    torch.manual_seed(1234)
    train(twin_model, twin_optimizer, make_loader(diabetes, seed=7), steps=3)

    for param, twin in zip(model.parameters(), twin_model.parameters()):
        assert torch.equal(param, twin)


def test_restores_after_error(diabetes) -> None:
    calls = 0

    def failing_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls > 5:
            raise RuntimeError("loss failed")
        return functional.mse_loss(outputs, targets)

    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    before = [param.detach().clone() for param in model.parameters()]
    with pytest.raises(RuntimeError, match="loss failed"):
        lr_range_test(model, failing_loss, optimizer, make_loader(diabetes))
    for param, value in zip(model.parameters(), before):
        assert torch.equal(param, value)
    assert len(optimizer.state) == 0
    assert optimizer.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize(
    "make_optimizer",
    [
        pytest.param(lambda p, lr: torch.optim.SGD(p, lr=lr), id="torch-SGD"),
        pytest.param(lambda p, lr: torch.optim.Adam(p, lr=lr), id="torch-Adam"),
        pytest.param(lambda p, lr: course_lib.optim.Adam(p, lr=lr), id="course-Adam"),
    ],
)
def test_suggested_lr_trains(diabetes, make_optimizer: Callable) -> None:
    model = make_mlp(seed=3)
    loader = make_loader(diabetes, seed=3)
    result = lr_range_test(
        model,
        functional.mse_loss,
        make_optimizer(model.parameters(), 1e-3),
        loader,
        start_lr=1e-6,
        end_lr=10.0,
        num_steps=100,
    )
    initial_loss = full_loss(model, diabetes)
    for lr in (result.suggested_lr, result.min_loss_lr_over_10):
        assert math.isfinite(lr)
        assert 1e-6 <= lr <= 10.0
        trained = copy.deepcopy(model)
        train(trained, make_optimizer(trained.parameters(), lr), loader, steps=300)
        # A learning rate too small to matter would leave the loss near 1.
        assert full_loss(trained, diabetes) < 0.6 * initial_loss


def test_suggested_lr_before_minimum(diabetes) -> None:
    model = make_mlp()
    result = lr_range_test(
        model,
        functional.mse_loss,
        torch.optim.SGD(model.parameters(), lr=0.01),
        make_loader(diabetes),
        start_lr=1e-6,
        end_lr=10.0,
    )
    best = int(np.argmin(result.smoothed))
    assert result.suggested_lr <= result.lrs[best]
    assert result.min_loss_lr_over_10 == pytest.approx(result.lrs[best] / 10)


def test_no_suggestion_without_descent(diabetes) -> None:
    calls = 0

    def rising_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        return functional.mse_loss(outputs, targets) * 0 + calls

    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.warns(RuntimeWarning, match="too early to measure a descent"):
        result = lr_range_test(
            model,
            rising_loss,
            optimizer,
            make_loader(diabetes),
            num_steps=10,
        )
    assert math.isnan(result.suggested_lr)
    assert result.min_loss_lr_over_10 == pytest.approx(1e-8)


class CountingLoader:
    """A re-iterable list of batches that counts the passes over it."""

    def __init__(self, batches: list) -> None:
        self.batches = batches
        self.passes = 0

    def __iter__(self) -> Iterator:
        self.passes += 1
        return iter(self.batches)


@pytest.mark.filterwarnings(
    "ignore:the smoothed loss reached its minimum:RuntimeWarning"
)
def test_cycles_short_loader(diabetes) -> None:
    inputs, targets = diabetes
    loader = CountingLoader(
        [(inputs[i : i + 20], targets[i : i + 20]) for i in (0, 20, 40)]
    )
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(
        model, functional.mse_loss, optimizer, loader, end_lr=1e-3, num_steps=10
    )
    assert len(result.losses) == 10
    assert loader.passes == 4


def test_empty_loader(diabetes) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match="data_loader yielded no batches"):
        lr_range_test(model, functional.mse_loss, optimizer, [])


def test_one_shot_iterator(diabetes) -> None:
    inputs, targets = diabetes
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    batches = iter([(inputs[:20], targets[:20])] * 3)
    with pytest.raises(ValueError, match="ran out and yielded nothing"):
        lr_range_test(
            model, functional.mse_loss, optimizer, batches, end_lr=1e-3, num_steps=10
        )


@pytest.mark.filterwarnings(
    "ignore:the smoothed loss reached its minimum:RuntimeWarning"
)
def test_progress_bar(diabetes, capsys) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    result = lr_range_test(
        model,
        functional.mse_loss,
        optimizer,
        make_loader(diabetes),
        end_lr=1e-3,
        num_steps=5,
        progress=True,
    )
    assert isinstance(result, RangeTestResult)
    assert "lr range test" in capsys.readouterr().err


INVALID = [
    (dict(num_steps=1), "num_steps=1 is too few"),
    (dict(num_steps=2.5), "num_steps must be a whole number"),
    (dict(start_lr=0.0), "start_lr=0.0 must be positive"),
    (dict(start_lr=-1e-3), "start_lr=-0.001 must be positive"),
    (dict(start_lr=1e-3, end_lr=1e-4), "end_lr=0.0001 must be above start_lr=0.001"),
    (dict(start_lr=1e-3, end_lr=1e-3), "end_lr=0.001 must be above start_lr=0.001"),
    (dict(end_lr=math.inf), "end_lr must be finite"),
    (dict(smoothing=1.0), r"smoothing=1.0 must be in \[0, 1\)"),
    (dict(smoothing=-0.1), r"smoothing=-0.1 must be in \[0, 1\)"),
    (dict(diverge_factor=1.0), "diverge_factor=1.0 must be above 1"),
]


@pytest.mark.parametrize("arguments, message", INVALID, ids=[m for _, m in INVALID])
def test_invalid_arguments(diabetes, arguments: dict, message: str) -> None:
    model = make_mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match=message):
        lr_range_test(
            model, functional.mse_loss, optimizer, make_loader(diabetes), **arguments
        )
