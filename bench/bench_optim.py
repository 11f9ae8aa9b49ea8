"""Benchmark course_lib.optim against torch.optim and the batched sweep path.

Usage::

    .venv/bin/python bench/bench_optim.py [--device DEVICE] [--threads N [N ...]]
        [--quick] [--write]

Two measurements, printed as Markdown tables:

1. Step time on 10 million float32 parameters (ten 1000 x 1000 tensors with
   fixed random gradients) for Adam, SGD with momentum 0.9 and RMSprop:
   ``course_lib.optim`` against ``torch.optim`` with its default
   implementation (``foreach=None``), on the same device in the same run.
   The two take turns step by step, and each time is the median over the
   timed steps after warm-up steps. Target: ours/torch at most 1.5.
2. The batched path: SGD with momentum on Rosenbrock's function for 200
   steps on a 100 x 100 grid of (lr, momentum), with one call of the pure
   ``update`` per step. It is timed against a Python loop that runs
   ``torch.optim.SGD`` on a sample of the same configurations, one at a time.
   Both use the closed-form gradient of the surface, so the comparison times
   the optimizer paths only.
   Target: at least 1000 times faster per configuration.

``--write`` replaces the section between ``<!-- bench_optim:start -->`` and
``<!-- bench_optim:end -->`` in BENCHMARKS.md with the tables.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from machine import machine_description, replace_section

import course_lib.optim
from course_lib import get_device
from course_lib.landscapes import get_surface
from course_lib.optim import OPTIMIZERS, default_hyperparameters

STEP_TARGET = 1.5
SWEEP_TARGET = 1000.0


@dataclass
class StepTimes:
    """Step times in seconds of both implementations, and how far apart they end."""

    torch_times: list[float]
    our_times: list[float]
    max_difference: float


@dataclass
class Settings:
    """Sizes of one benchmark run, which ``--quick`` shrinks for a smoke run."""

    tensors: int = 10
    tensor_shape: tuple[int, int] = (1000, 1000)
    warmup_steps: int = 3
    timed_steps: int = 20
    grid_side: int = 100
    sweep_steps: int = 200
    loop_sample: int = 20
    sweep_repeats: int = 3


QUICK = Settings(
    tensors=2,
    tensor_shape=(500, 500),
    warmup_steps=1,
    timed_steps=3,
    grid_side=20,
    sweep_steps=50,
    loop_sample=4,
    sweep_repeats=1,
)

# (row label, optimizer class name, constructor arguments) of the step table.
STEP_CASES: list[tuple[str, str, dict]] = [
    ("Adam", "Adam", dict(lr=1e-3)),
    ("SGD, momentum 0.9", "SGD", dict(lr=1e-3, momentum=0.9)),
    ("RMSprop", "RMSprop", dict(lr=1e-3)),
]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def make_params(
    settings: Settings, device: torch.device, seed: int
) -> list[torch.nn.Parameter]:
    """Make the parameters with fixed random gradients, the same for each seed."""
    generator = torch.Generator().manual_seed(seed)
    params = []
    for _ in range(settings.tensors):
        value = torch.randn(settings.tensor_shape, generator=generator)
        param = torch.nn.Parameter(value.to(device))
        grad = torch.randn(settings.tensor_shape, generator=generator)
        param.grad = grad.to(device)
        params.append(param)
    return params


def time_step(optimizer: torch.optim.Optimizer, device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    optimizer.step()
    synchronize(device)
    return time.perf_counter() - start


def measure_step(
    name: str, arguments: dict, settings: Settings, device: torch.device
) -> StepTimes:
    """Time the steps of torch.optim and of ours on equal parameters."""
    torch_optimizer = getattr(torch.optim, name)(
        make_params(settings, device, seed=0), **arguments
    )
    ours = getattr(course_lib.optim, name)(
        make_params(settings, device, seed=0), **arguments
    )
    for _ in range(settings.warmup_steps):
        time_step(torch_optimizer, device)
        time_step(ours, device)
    torch_times, our_times = [], []
    for repetition in range(settings.timed_steps):
        # Alternate which goes first, so neither always runs on a warm cache.
        if repetition % 2 == 0:
            torch_times.append(time_step(torch_optimizer, device))
            our_times.append(time_step(ours, device))
        else:
            our_times.append(time_step(ours, device))
            torch_times.append(time_step(torch_optimizer, device))

    # Both took the same steps from the same parameters and gradients.
    max_difference = max(
        (ours_param - torch_param).abs().max().item()
        for ours_param, torch_param in zip(
            ours.param_groups[0]["params"], torch_optimizer.param_groups[0]["params"]
        )
    )
    return StepTimes(torch_times, our_times, max_difference)


def step_table(settings: Settings, device: torch.device) -> str:
    rows, height = settings.tensor_shape
    count = settings.tensors * rows * height
    lines = [
        f"Step time on {count:,} float32 parameters ({settings.tensors} tensors of "
        f"{rows} x {height}) with fixed gradients, median of {settings.timed_steps} "
        f"steps taken in turns after {settings.warmup_steps} warm-up steps. "
        f"torch.optim uses its default implementation (foreach=None). The "
        f"fastest step of each is shown too, because other processes on a "
        f"shared machine slow some steps down. The last column is the largest "
        f"difference between the parameters of the two after all their steps.",
        "",
        "| optimizer | torch.optim median (ms) | course_lib.optim median (ms) "
        "| ours / torch, medians | ours / torch, fastest steps "
        f"| target <= {STEP_TARGET} (medians) | max parameter difference |",
        "|---|---:|---:|---:|---:|---|---:|",
    ]
    for label, name, arguments in STEP_CASES:
        times = measure_step(name, arguments, settings, device)
        torch_median = statistics.median(times.torch_times)
        our_median = statistics.median(times.our_times)
        ratio = our_median / torch_median
        fastest_ratio = min(times.our_times) / min(times.torch_times)
        verdict = "met" if ratio <= STEP_TARGET else "missed"
        lines.append(
            f"| {label} | {torch_median * 1e3:.2f} | {our_median * 1e3:.2f} | "
            f"{ratio:.2f} | {fastest_ratio:.2f} | {verdict} | "
            f"{times.max_difference:.1e} |"
        )
    return "\n".join(lines)


def sweep_grid(
    settings: Settings, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the flattened (lr, momentum) grid, lr on a log scale."""
    side = settings.grid_side
    lrs = torch.logspace(-5, -3, side, dtype=torch.float32, device=device)
    momenta = torch.linspace(0.0, 0.99, side, dtype=torch.float32, device=device)
    lr_grid, momentum_grid = torch.meshgrid(lrs, momenta, indexing="ij")
    return lr_grid.reshape(-1), momentum_grid.reshape(-1)


def run_batched(
    grad: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    lrs: torch.Tensor,
    momenta: torch.Tensor,
    steps: int,
) -> torch.Tensor:
    """Run every configuration at once through SGD's pure update."""
    sgd = OPTIMIZERS["SGD"]
    hyperparameters = default_hyperparameters("SGD")
    hyperparameters.update(lr=lrs, momentum=momenta)
    positions = start.expand(lrs.shape[0], 2).clone()
    state = sgd.init_state(positions, **hyperparameters)
    with torch.no_grad():
        for _ in range(steps):
            sgd.update(positions, grad(positions), state, **hyperparameters)
    return positions


def run_loop(
    grad: Callable[[torch.Tensor], torch.Tensor],
    start: torch.Tensor,
    lr: float,
    momentum: float,
    steps: int,
) -> torch.Tensor:
    """Run one configuration through torch.optim.SGD."""
    position = torch.nn.Parameter(start.clone())
    optimizer = torch.optim.SGD([position], lr=lr, momentum=momentum)
    for _ in range(steps):
        position.grad = grad(position.detach())
        optimizer.step()
    return position.detach()


def sweep_table(settings: Settings, device: torch.device) -> str:
    surface = get_surface("rosenbrock")
    start = torch.tensor(surface.default_start, dtype=torch.float32, device=device)
    lrs, momenta = sweep_grid(settings, device)
    configurations = lrs.shape[0]
    sample = torch.linspace(0, configurations - 1, settings.loop_sample).long()

    batched_times, loop_times = [], []
    for _ in range(settings.sweep_repeats + 1):
        synchronize(device)
        begin = time.perf_counter()
        batched = run_batched(surface.grad, start, lrs, momenta, settings.sweep_steps)
        synchronize(device)
        batched_times.append(time.perf_counter() - begin)

        begin = time.perf_counter()
        looped = [
            run_loop(
                surface.grad,
                start,
                lrs[index].item(),
                momenta[index].item(),
                settings.sweep_steps,
            )
            for index in sample.tolist()
        ]
        synchronize(device)
        loop_times.append(time.perf_counter() - begin)
    # The first round is the warm-up.
    batched_time = statistics.median(batched_times[1:])
    loop_time = statistics.median(loop_times[1:])

    looped = torch.stack(looped)
    sampled = batched[sample.to(device)]
    finite = torch.isfinite(looped).all(dim=1) & torch.isfinite(sampled).all(dim=1)
    same_finiteness = bool(
        (torch.isfinite(looped).all(dim=1) == torch.isfinite(sampled).all(dim=1)).all()
    )
    difference = (sampled[finite] - looped[finite]).abs().max().item()

    per_batched = batched_time / configurations
    per_loop = loop_time / settings.loop_sample
    speedup = per_loop / per_batched
    verdict = "met" if speedup >= SWEEP_TARGET else "missed"
    side = settings.grid_side
    return "\n".join(
        [
            f"SGD with momentum on Rosenbrock from {tuple(surface.default_start)}, "
            f"{settings.sweep_steps} steps, on a {side} x {side} grid of lr in "
            f"[1e-5, 1e-3] (log scale) and momentum in [0, 0.99], float32. The "
            f"loop runs torch.optim.SGD on {settings.loop_sample} configurations "
            f"of the grid one by one, and its time per configuration is their "
            f"mean. Both paths use the closed-form gradient, and times are medians "
            f"of {settings.sweep_repeats} rounds after a warm-up round.",
            "",
            "| configurations | batched total (s) | batched per configuration (us) "
            f"| loop per configuration (ms) | speed-up | target >= "
            f"{SWEEP_TARGET:.0f}x |",
            "|---:|---:|---:|---:|---:|---|",
            f"| {configurations:,} | {batched_time:.3f} | {per_batched * 1e6:.2f} | "
            f"{per_loop * 1e3:.2f} | {speedup:,.0f}x | {verdict} |",
            "",
            f"On the {settings.loop_sample} sampled configurations the final "
            f"positions of both paths differ by at most {difference:.1e}, and "
            f"the paths {'agree' if same_finiteness else 'disagree'} on which "
            f"runs diverged.",
        ]
    )


def load_average() -> str:
    """Describe the load average, and warn when it exceeds the core count."""
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    text = f"{one:.1f} (1 min), {five:.1f} (5 min)"
    cores = os.cpu_count() or 1
    if max(one, five) > cores:
        text += (
            f", above the {cores} cores, so other processes competed for the CPU "
            f"and the times below are inflated and noisy"
        )
    return text


def report(
    settings: Settings,
    devices: list[torch.device],
    thread_counts: list[int],
    command: str,
) -> str:
    sections = []
    for device, threads in itertools.product(devices, thread_counts):
        torch.set_num_threads(threads)
        where = f"{device}, {threads} torch thread{'s' if threads > 1 else ''}"
        # The load average shows how busy a shared machine was.
        header = (
            f"Machine: {machine_description(device)}. Load average before the "
            f"run: {load_average()}. Command: `{command}`."
        )
        sections += [
            f"### Optimizer step time on {where}",
            "",
            header,
            "",
            step_table(settings, device),
            "",
            f"### Batched sweep against a loop over torch.optim on {where}",
            "",
            header,
            "",
            sweep_table(settings, device),
            "",
        ]
    return "\n".join(["## Optimizers (bench/bench_optim.py)", "", *sections])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        action="append",
        help="device to benchmark on, such as cpu or cuda:0. Repeat the option "
        "for several devices (default: the course's device, see course_lib.device)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: fewer and smaller tensors, fewer steps, a 20 x 20 grid",
    )
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        help="numbers of torch CPU threads to run with, one run each, set with "
        "torch.set_num_threads (default: torch's default, usually one per core)",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="replace the bench_optim section of BENCHMARKS.md with the tables",
    )
    args = parser.parse_args()

    thread_counts = args.threads or [torch.get_num_threads()]
    if min(thread_counts) < 1:
        parser.error(f"--threads must be 1 or more, got {min(thread_counts)}")

    devices = [get_device(name) for name in args.device or [None]]
    settings = QUICK if args.quick else Settings()
    command = " ".join(["python", "bench/bench_optim.py", *sys.argv[1:]])
    text = report(settings, devices, thread_counts, command)
    print(text)

    if args.write:
        replace_section("bench_optim", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
