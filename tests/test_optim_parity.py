"""Trajectories of every course_lib optimizer against torch.optim's.

For every optimizer, every combination of its options (from
``optim_oracle.OPTION_VALUES``) runs 50 steps on a small network next to the
same ``torch.optim`` class. The parameters are compared after each step, in
float64 within 1e-10 absolute and in float32 within 1e-5 relative.
"""

from __future__ import annotations

import pytest
import torch
from optim_oracle import (
    NAMES,
    first_step_over,
    lockstep,
    max_abs_difference,
    max_relative_difference,
    option_id,
    option_table,
    trajectory_differences,
)

FLOAT64_TOLERANCE = 1e-10
FLOAT32_TOLERANCE = 1e-5

TABLE = [
    pytest.param(name, options, id=f"{name}[{option_id(options)}]")
    for name in NAMES
    for options in option_table(name)
]


# The tables run with two parameter groups at different learning rates and
# a parameter without gradient, which covers everything a single group does.
# test_single_group_trajectory checks that layout once per optimizer.


@pytest.mark.parametrize(("name", "options"), TABLE)
def test_float64_trajectory(name, options):
    run = lockstep(name, options, dtype=torch.float64, layout="two")
    differences = trajectory_differences(run, max_abs_difference)
    step = first_step_over(differences, FLOAT64_TOLERANCE)
    assert step is None, (
        f"max abs difference {differences[step - 1]:.3g} at step {step}"
    )


@pytest.mark.parametrize(("name", "options"), TABLE)
def test_float32_trajectory(name, options):
    run = lockstep(name, options, dtype=torch.float32, layout="two")
    differences = trajectory_differences(run, max_relative_difference)
    step = first_step_over(differences, FLOAT32_TOLERANCE)
    assert step is None, (
        f"max relative difference {differences[step - 1]:.3g} at step {step}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_single_group_trajectory(name):
    run = lockstep(name, {}, dtype=torch.float64, layout="one")
    differences = trajectory_differences(run, max_abs_difference)
    step = first_step_over(differences, FLOAT64_TOLERANCE)
    assert step is None, (
        f"max abs difference {differences[step - 1]:.3g} at step {step}"
    )


@pytest.mark.parametrize("name", NAMES)
def test_tensor_lr_trajectory(name):
    # torch.tensor(0.01) is float32, so torch computes the step size in
    # float32 even for float64 parameters, and ours must do the same.
    lr = torch.tensor(0.01)
    run = lockstep(name, {}, dtype=torch.float64, layout="two", lr=lr)
    differences = trajectory_differences(run, max_abs_difference)
    step = first_step_over(differences, FLOAT64_TOLERANCE)
    assert step is None, (
        f"max abs difference {differences[step - 1]:.3g} at step {step}"
    )


def test_adam_tensor_betas_trajectory():
    betas = (torch.tensor(0.8), torch.tensor(0.99))
    run = lockstep("Adam", {"betas": betas}, dtype=torch.float64)
    differences = trajectory_differences(run, max_abs_difference)
    step = first_step_over(differences, FLOAT64_TOLERANCE)
    assert step is None, (
        f"max abs difference {differences[step - 1]:.3g} at step {step}"
    )


def test_trajectories_move():
    # A parity table is only a check if the runs change the parameters.
    for name in NAMES:
        run = lockstep(name, {}, dtype=torch.float64)
        start = [param.clone() for param in run.our_net.parameters()]
        trajectory_differences(run, max_abs_difference, steps=5)
        moved = max_abs_difference(run.our_net.parameters(), start)
        assert moved > 1e-4, f"{name} moved the parameters by only {moved:.3g}"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("name", "options"), TABLE)
def test_cuda_float32_trajectory(name, options):
    # On CUDA, torch.optim defaults to its foreach implementation, so this
    # also compares against a second implementation of each algorithm.
    run = lockstep(name, options, dtype=torch.float32, device="cuda", layout="two")
    differences = trajectory_differences(run, max_relative_difference)
    step = first_step_over(differences, FLOAT32_TOLERANCE)
    assert step is None, (
        f"max relative difference {differences[step - 1]:.3g} at step {step}"
    )
