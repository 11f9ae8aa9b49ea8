"""Optimizer bookkeeping against torch.optim: state dicts, resumed runs,
closures, parameter groups, gradients that are None, per-parameter step
counters, schedulers, hyperparameters edited mid-run and complex parameters.
"""

from __future__ import annotations

import copy

import pytest
import torch
from optim_oracle import (
    BASE_LR,
    NAMES,
    first_step_over,
    lockstep,
    loss_of,
    make_data,
    make_net,
    max_abs_difference,
    param_groups,
    trajectory_differences,
)
from torch import nn

from course_lib.optim import OPTIMIZERS

TOLERANCE = 1e-10

# Options that give each optimizer all of its state buffers.
FULL_STATE = {
    "SGD": {"momentum": 0.9},
    "Adagrad": {"initial_accumulator_value": 0.1},
    "RMSprop": {"momentum": 0.9, "centered": True},
    "Adadelta": {},
    "Adam": {"amsgrad": True},
    "AdamW": {"amsgrad": True},
    "Adamax": {},
    "NAdam": {},
    "RAdam": {},
}


def train(optimizer, net, data, steps):
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of(net, data).backward()
        optimizer.step()


def assert_states_equal(saved, loaded):
    assert saved.keys() == loaded.keys()
    for key, value in saved.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, loaded[key]), key
            assert value.dtype == loaded[key].dtype, key
        else:
            assert value == loaded[key], key


@pytest.mark.parametrize("name", NAMES)
def test_state_keys_match_torch(name):
    run = lockstep(name, FULL_STATE[name], layout="two")
    trajectory_differences(run, max_abs_difference, steps=3)
    ours = run.ours.state_dict()["state"]
    theirs = run.theirs.state_dict()["state"]
    assert ours.keys() == theirs.keys()
    for index in theirs:
        expected = set(theirs[index])
        # torch.optim.SGD keeps no step counter, but ours keeps one.
        if name == "SGD":
            expected.add("step")
        assert set(ours[index]) == expected, index


@pytest.mark.parametrize("name", NAMES)
def test_state_values_match_torch(name):
    run = lockstep(name, FULL_STATE[name], layout="two")
    trajectory_differences(run, max_abs_difference, steps=3)
    ours = run.ours.state_dict()["state"]
    theirs = run.theirs.state_dict()["state"]
    for index, their_state in theirs.items():
        for key, value in their_state.items():
            assert value.dtype == ours[index][key].dtype, (index, key)
            assert value.device == ours[index][key].device, (index, key)
            torch.testing.assert_close(ours[index][key], value, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip(name):
    net, data = make_net(), make_data()
    optimizer = OPTIMIZERS[name](net.parameters(), lr=BASE_LR[name], **FULL_STATE[name])
    train(optimizer, net, data, steps=4)
    saved = copy.deepcopy(optimizer.state_dict())

    fresh = OPTIMIZERS[name](copy.deepcopy(net).parameters(), lr=1.0)
    fresh.load_state_dict(saved)
    loaded = fresh.state_dict()

    assert loaded["param_groups"] == saved["param_groups"]
    assert loaded["state"].keys() == saved["state"].keys()
    for index in saved["state"]:
        assert_states_equal(saved["state"][index], loaded["state"][index])


@pytest.mark.parametrize("name", NAMES)
def test_resumed_run_continues_trajectory(name):
    net, data = make_net(), make_data()
    options = {"lr": BASE_LR[name], **FULL_STATE[name]}
    optimizer = OPTIMIZERS[name](param_groups(net, "two", options["lr"]), **options)
    train(optimizer, net, data, steps=7)

    resumed_net = copy.deepcopy(net)
    resumed = OPTIMIZERS[name](param_groups(resumed_net, "two", 1.0), lr=1.0)
    resumed.load_state_dict(copy.deepcopy(optimizer.state_dict()))

    for step in range(10):
        train(optimizer, net, data, steps=1)
        train(resumed, resumed_net, data, steps=1)
        for original, copied in zip(net.parameters(), resumed_net.parameters()):
            assert torch.equal(original, copied), f"differs after step {step + 1}"


@pytest.mark.parametrize("name", [name for name in NAMES if name != "SGD"])
def test_torch_state_dict_continues_trajectory(name):
    # torch.optim's state dict has the same keys, so a run started with torch
    # can finish with course_lib. SGD is left out: torch keeps no step there.
    run = lockstep(name, FULL_STATE[name], layout="two")
    trajectory_differences(run, max_abs_difference, steps=5)
    with torch.no_grad():
        for ours, theirs in zip(run.our_net.parameters(), run.their_net.parameters()):
            ours.copy_(theirs)
    run.ours.load_state_dict(copy.deepcopy(run.theirs.state_dict()))
    differences = trajectory_differences(run, max_abs_difference, steps=10)
    step = first_step_over(differences, TOLERANCE)
    assert step is None, f"difference {differences[step - 1]:.3g} at step {step}"


@pytest.mark.parametrize("name", NAMES)
def test_closure_loss_returned(name):
    net, data = make_net(), make_data()
    optimizer = OPTIMIZERS[name](net.parameters(), lr=BASE_LR[name])
    calls = []

    def closure():
        calls.append(1)
        optimizer.zero_grad()
        loss = loss_of(net, data)
        loss.backward()
        return loss

    loss = optimizer.step(closure)
    assert len(calls) == 1
    assert loss.item() == pytest.approx(loss_of(make_net(), data).item())


def test_step_without_closure_returns_none():
    net, data = make_net(), make_data()
    optimizer = OPTIMIZERS["Adam"](net.parameters())
    loss_of(net, data).backward()
    assert optimizer.step() is None


@pytest.mark.parametrize("name", NAMES)
def test_closure_trajectory_matches_torch(name):
    run = lockstep(name, FULL_STATE[name])

    def closure_for(optimizer, net):
        def closure():
            optimizer.zero_grad()
            loss = loss_of(net, run.data)
            loss.backward()
            return loss

        return closure

    for step in range(20):
        our_loss = run.ours.step(closure_for(run.ours, run.our_net))
        their_loss = run.theirs.step(closure_for(run.theirs, run.their_net))
        assert abs(our_loss.item() - their_loss.item()) < TOLERANCE, step
    assert run.differences(max_abs_difference) < TOLERANCE


@pytest.mark.parametrize("name", NAMES)
def test_none_grad_parameter_untouched(name):
    net, data = make_net(), make_data()
    before = net.unused.detach().clone()
    options = {"lr": BASE_LR[name], "weight_decay": 0.1, **FULL_STATE[name]}
    optimizer = OPTIMIZERS[name](net.parameters(), **options)
    train(optimizer, net, data, steps=3)
    assert net.unused.grad is None
    assert torch.equal(net.unused.detach(), before)


@pytest.mark.parametrize("name", [name for name in NAMES if name != "Adagrad"])
def test_none_grad_parameter_has_no_state(name):
    net, data = make_net(), make_data()
    optimizer = OPTIMIZERS[name](net.parameters(), lr=BASE_LR[name])
    train(optimizer, net, data, steps=3)
    assert len(optimizer.state[net.unused]) == 0


def test_adagrad_state_made_at_construction():
    # torch.optim.Adagrad fills every parameter's state in its constructor.
    theirs = torch.optim.Adagrad(make_net().parameters(), initial_accumulator_value=0.3)
    ours = OPTIMIZERS["Adagrad"](make_net().parameters(), initial_accumulator_value=0.3)
    their_state = theirs.state_dict()["state"]
    our_state = ours.state_dict()["state"]
    assert our_state.keys() == their_state.keys()
    for index in their_state:
        assert_states_equal(their_state[index], our_state[index])


@pytest.mark.parametrize("name", NAMES)
def test_step_counter_per_parameter(name):
    # The output layer gets a gradient only on even steps, so its counter
    # and its trajectory lag the hidden layer's, in torch as in ours.
    run = lockstep(name, FULL_STATE[name])
    nets = (run.our_net, run.their_net)
    for step in range(1, 13):
        for net in nets:
            net.zero_grad()
        (loss_of(run.our_net, run.data) + loss_of(run.their_net, run.data)).backward()
        if step % 2 == 1:
            for net in nets:
                for param in net.output.parameters():
                    param.grad = None
        run.ours.step()
        run.theirs.step()
    assert run.differences(max_abs_difference) < TOLERANCE
    assert run.ours.state[run.our_net.hidden.weight]["step"].item() == 12
    assert run.ours.state[run.our_net.output.weight]["step"].item() == 6


@pytest.mark.parametrize("name", NAMES)
def test_step_counter_dtype_matches_torch(name):
    run = lockstep(name, FULL_STATE[name])
    run.step()
    ours = run.ours.state[run.our_net.hidden.weight]
    theirs = run.theirs.state[run.their_net.hidden.weight]
    assert ours["step"].dtype == torch.float32
    assert ours["step"].device == torch.device("cpu")
    assert ours["step"].ndim == 0
    if "step" in theirs:
        assert ours["step"].dtype == theirs["step"].dtype


@pytest.mark.parametrize("name", NAMES)
def test_step_counter_float64_default_dtype(name):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        run = lockstep(name, FULL_STATE[name])
        run.step()
    finally:
        torch.set_default_dtype(previous)
    ours = run.ours.state[run.our_net.hidden.weight]
    theirs = run.theirs.state[run.their_net.hidden.weight]
    assert ours["step"].dtype == torch.float64
    if "step" in theirs:
        assert ours["step"].dtype == theirs["step"].dtype


@pytest.mark.parametrize("name", NAMES)
def test_step_lr_scheduler_matches_torch(name):
    run = lockstep(name, FULL_STATE[name], layout="two")
    schedulers = [
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
        for optimizer in (run.ours, run.theirs)
    ]
    for step in range(20):
        run.step()
        for scheduler in schedulers:
            scheduler.step()
        our_lrs = [group["lr"] for group in run.ours.param_groups]
        their_lrs = [group["lr"] for group in run.theirs.param_groups]
        assert our_lrs == their_lrs, step
        assert run.differences(max_abs_difference) < TOLERANCE, step
    assert our_lrs[0] == BASE_LR[name] * 0.5**4


# A hyperparameter each optimizer reads at every step, and a new value.
EDITS = {
    "SGD": ("momentum", 0.5),
    "Adagrad": ("lr_decay", 0.1),
    "RMSprop": ("alpha", 0.9),
    "Adadelta": ("rho", 0.5),
    "Adam": ("betas", (0.8, 0.99)),
    "AdamW": ("weight_decay", 0.5),
    "Adamax": ("betas", (0.5, 0.9)),
    "NAdam": ("momentum_decay", 0.05),
    "RAdam": ("betas", (0.5, 0.95)),
}


@pytest.mark.parametrize("name", NAMES)
def test_group_edit_mid_run_matches_torch(name):
    run = lockstep(name, FULL_STATE[name])
    trajectory_differences(run, max_abs_difference, steps=10)
    key, value = EDITS[name]
    for optimizer in (run.ours, run.theirs):
        optimizer.param_groups[0][key] = value
    before = [param.clone() for param in run.our_net.parameters()]
    differences = trajectory_differences(run, max_abs_difference, steps=10)
    step = first_step_over(differences, TOLERANCE)
    assert step is None, f"difference {differences[step - 1]:.3g} at step {step}"
    assert max_abs_difference(run.our_net.parameters(), before) > 0


def test_add_param_group_after_steps():
    def new_params():
        first = torch.ones(3, dtype=torch.float64, requires_grad=True)
        second = torch.full((2,), -1.0, dtype=torch.float64, requires_grad=True)
        return first, second

    ours_params, theirs_params = new_params(), new_params()
    ours = OPTIMIZERS["Adam"]([ours_params[0]], lr=0.01)
    theirs = torch.optim.Adam([theirs_params[0]], lr=0.01)
    for step in range(8):
        if step == 3:
            ours.add_param_group({"params": [ours_params[1]], "lr": 0.1})
            theirs.add_param_group({"params": [theirs_params[1]], "lr": 0.1})
        for optimizer, params in ((ours, ours_params), (theirs, theirs_params)):
            optimizer.zero_grad()
            sum(((param - 2.0) ** 2).sum() for param in params).backward()
            optimizer.step()
    assert torch.equal(ours_params[0], theirs_params[0])
    assert torch.equal(ours_params[1], theirs_params[1])
    assert ours.state[ours_params[1]]["step"].item() == 5


@pytest.mark.parametrize("name", NAMES)
def test_complex_parameter_matches_torch(name):
    # torch.optim updates a complex parameter through its real view, so
    # real and imaginary parts each get their own adaptive step.
    generator = torch.Generator().manual_seed(3)
    start = torch.randn(4, dtype=torch.complex128, generator=generator)
    target = torch.randn(4, dtype=torch.complex128, generator=generator)
    ours_param = start.clone().requires_grad_()
    theirs_param = start.clone().requires_grad_()
    options = {"lr": BASE_LR[name], **FULL_STATE[name]}
    ours = OPTIMIZERS[name]([ours_param], **options)
    theirs = getattr(torch.optim, name)([theirs_param], **options)
    for step in range(20):
        for optimizer, param in ((ours, ours_param), (theirs, theirs_param)):
            optimizer.zero_grad()
            ((param - target).abs() ** 2).sum().backward()
            optimizer.step()
        difference = (ours_param - theirs_param).abs().max().item()
        assert difference < TOLERANCE, step
    assert not torch.equal(ours_param, start)


def test_sparse_gradient_rejected():
    embedding = nn.Embedding(5, 2, sparse=True)
    optimizer = OPTIMIZERS["Adam"](embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="Adam does not support sparse gradients"):
        optimizer.step()
