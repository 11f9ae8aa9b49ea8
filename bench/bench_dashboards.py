"""Time one update of every course dashboard against rebuilding it.

Each dashboard is built as its chapter notebook builds it and its view is
built, so every update renders the PNG the browser shows. Then:

- update: one learner action at that setting, timed from the control change
  or button click to the new PNG. The action is a slider moved one slider
  step and back, or one click of Step for the dashboards that step through
  a run (see ``cases()``);
- rebuild: a new dashboard from scratch, constructor plus view, which
  computes the contours and renders the whole figure.

Budget: an update at most 50 ms median on a 2-core CPU, and at least 5x
faster than a rebuild. torch runs on one thread, as the dashboard tests run
it, and on the CPU.

Usage::

    .venv/bin/python bench/bench_dashboards.py [--write] [--quick]
        [--only TEXT] [--profile TEXT]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as widgets
import torch
from machine import machine_description, replace_section

import course_lib.widgets
from course_lib.data import load_diabetes, load_digits
from course_lib.widgets import (
    BackpropStepper,
    BallOnCurve,
    CapstoneDashboard,
    Dashboard,
    EffectiveStepDashboard,
    LossExplorer,
    LossSurface,
    MomentumDashboard,
    NesterovStepper,
    RaceDashboard,
    RateMapDashboard,
    ScheduleDesigner,
    SurfaceDashboard,
    TrainingDashboard,
)

UPDATE_BUDGET_MS = 50.0
MIN_SPEEDUP = 5.0
WARM_UPDATES = 3


# -- learner actions -----------------------------------------------------------


def slider_neighbour(control: widgets.ValueWidget, direction: int) -> float | None:
    """Return the value one slider step from the current one, or None past a limit.

    A ``FloatLogSlider``'s ``step``, ``min`` and ``max`` are exponents of its
    ``base``, so its neighbour is ``value * base ** step``.
    """
    if isinstance(control, widgets.FloatLogSlider):
        exponent = math.log(control.value, control.base) + direction * control.step
        if not control.min <= exponent <= control.max:
            return None
        return float(control.base**exponent)
    value = control.value + direction * control.step
    if not control.min <= value <= control.max:
        return None
    return value


def check_no_error(dashboard: Dashboard) -> None:
    """Raise when the last control change or button click failed in the dashboard."""
    if dashboard.last_error is not None:
        raise RuntimeError(
            f"{type(dashboard).__name__} update failed: {dashboard.last_error!r}"
        ) from dashboard.last_error


class Interaction:
    """One learner action, repeated for timing.

    ``setup`` runs once after the view is built, ``prepare`` before each
    timed ``act`` (outside the timing), and ``describe`` names the action
    for the table.
    """

    def setup(self, dashboard: Any) -> None:
        pass

    def prepare(self, dashboard: Any) -> None:
        pass

    def act(self, dashboard: Any) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass
class SliderToggle(Interaction):
    """Move the control ``name`` one slider step up (down at the top), then back."""

    name: str
    values: tuple[Any, Any] = field(default=(None, None), init=False)

    def setup(self, dashboard: Any) -> None:
        control = dashboard.controls[self.name]
        nearby = slider_neighbour(control, 1)
        if nearby is None:
            nearby = slider_neighbour(control, -1)
        self.values = (control.value, nearby)

    def act(self, dashboard: Any) -> None:
        control = dashboard.controls[self.name]
        first, second = self.values
        control.value = second if control.value == first else first
        check_no_error(dashboard)

    def describe(self) -> str:
        first, second = self.values
        return f"`{self.name}` {first:.3g} ↔ {second:.3g}"


@dataclass
class SliderWalk(Interaction):
    """Move the control ``name`` one slider step further at each update.

    For dashboards that cache results by setting, where moving back to a
    value already seen would time a cache lookup instead of a run.
    """

    name: str
    direction: int = -1
    start: float = field(default=math.nan, init=False)

    def setup(self, dashboard: Any) -> None:
        self.start = dashboard.controls[self.name].value
        self._way = "lower" if self.direction < 0 else "higher"

    def act(self, dashboard: Any) -> None:
        control = dashboard.controls[self.name]
        value = slider_neighbour(control, self.direction)
        if value is None:
            # NOTE: after turning at a limit the walk revisits values, so
            # those updates may be cache hits.
            self.direction = -self.direction
            value = slider_neighbour(control, self.direction)
        control.value = value
        check_no_error(dashboard)

    def describe(self) -> str:
        return (
            f"`{self.name}` one slider step {self._way} per update from "
            f"{self.start:.3g} (a new value each time, because results are cached "
            "by setting)"
        )


@dataclass
class StepClick(Interaction):
    """Click the dashboard's Step button once.

    ``at_end(dashboard)`` returns True when Step can no longer advance, and
    then ``restart(dashboard)`` runs, outside the timing, before the next click.
    """

    button: Callable[[Any], widgets.Button]
    at_end: Callable[[Any], bool]
    restart: Callable[[Any], None]
    start: str = ""

    def prepare(self, dashboard: Any) -> None:
        if self.at_end(dashboard):
            self.restart(dashboard)
            check_no_error(dashboard)

    def act(self, dashboard: Any) -> None:
        before = dashboard.status.value
        self.button(dashboard).click()
        check_no_error(dashboard)
        if dashboard.status.value == before:
            raise RuntimeError(
                f"{type(dashboard).__name__}: the Step click left the status at "
                f"{before!r}, so no step was timed"
            )

    def describe(self) -> str:
        return "one Step click" + (f" ({self.start})" if self.start else "")


def set_step(value: int) -> Callable[[Any], None]:
    """Return a function that sets a dashboard's ``step`` slider to ``value``."""

    def restart(dashboard: Any) -> None:
        dashboard.controls["step"].value = value

    return restart


def step_slider_at_end(dashboard: Any) -> bool:
    step = dashboard.controls["step"]
    return step.value >= step.max


def training_at_end(dashboard: TrainingDashboard) -> bool:
    trainer = dashboard.trainer
    return trainer.diverged or trainer.history.steps >= dashboard.max_steps


# -- the dashboards, as their chapter notebooks build them ---------------------


@dataclass
class Case:
    """A dashboard construction from a notebook and the update timed on it."""

    label: str
    notebook: str
    build: Callable[[], Dashboard]
    interaction: Interaction
    # What the notebook does between building the dashboard and showing it.
    prepare: Callable[[Any], None] | None = None


def diabetes_features() -> tuple[torch.Tensor, torch.Tensor]:
    """Return the two features and the targets that 01_loss passes to LossSurface."""
    data = load_diabetes(device="cpu", dtype=torch.float64)
    columns = [data.feature_names.index("bmi"), data.feature_names.index("s5")]
    return data.x_train[:, columns], data.y_train.squeeze(1)


def train_head_start(dashboard: TrainingDashboard) -> None:
    dashboard.train_steps(300)


def capstone_runs(dashboard: CapstoneDashboard) -> None:
    dashboard.run()
    dashboard.controls["schedule"].value = "warmup_cosine"
    dashboard.run()


RACE_08 = "08 · badly scaled bowl: SGD against Adagrad, RMSprop, Adadelta"
RACE_09 = "09 · the Adam family at lr 0.1 on Rosenbrock"
# 10_putting_it_together passes lr=2 * steep, where steep is the range test's
# steepest-descent reading, which it prints as 0.19.
CAPSTONE_LR = 2 * 0.19


def cases() -> list[Case]:
    """Build the list of timed cases, one per notebook construction and action."""
    x2, y = diabetes_features()
    digits = load_digits(device="cpu")

    def training() -> TrainingDashboard:
        return TrainingDashboard(digits, optimizer="SGD", lr=0.1, batch_size=32)

    def capstone() -> CapstoneDashboard:
        return CapstoneDashboard(
            digits,
            optimizer="SGD, momentum 0.9",
            lr=CAPSTONE_LR,
            batch_size=64,
            epochs=8,
        )

    training_label = 'TrainingDashboard(data, optimizer="SGD", lr=0.1, batch_size=32)'
    capstone_label = (
        'CapstoneDashboard(digits, optimizer="SGD, momentum 0.9", '
        f"lr={CAPSTONE_LR:g}, batch_size=64, epochs=8)"
    )
    return [
        Case(
            "BallOnCurve(start=2.5, lr=0.05, steps=10)",
            "00_welcome",
            lambda: BallOnCurve(start=2.5, lr=0.05, steps=10),
            SliderToggle("lr"),
        ),
        Case("LossExplorer()", "01_loss", LossExplorer, SliderToggle("prediction")),
        Case(
            'LossSurface(x2, y, ("bmi", "s5"))',
            "01_loss",
            lambda: LossSurface(x2, y, ("bmi", "s5")),
            SliderToggle("w1"),
        ),
        Case(
            "BackpropStepper()",
            "02_backprop",
            BackpropStepper,
            StepClick(
                lambda d: d.buttons["step"],
                step_slider_at_end,
                set_step(15),
                "from step 15, back to 15 at the end",
            ),
            prepare=set_step(15),
        ),
        Case(
            'SurfaceDashboard("quadratic", "SGD", lr=0.1, steps=50, '
            'optimizers=["SGD"])',
            "03_gradient_descent",
            lambda: SurfaceDashboard(
                "quadratic", "SGD", lr=0.1, steps=50, optimizers=["SGD"]
            ),
            SliderToggle("lr"),
        ),
        Case(
            training_label,
            "04_batch_size",
            training,
            StepClick(
                lambda d: d.step_button,
                training_at_end,
                lambda d: d.reset(),
                "after the notebook's 300 steps",
            ),
            prepare=train_head_start,
        ),
        Case(
            training_label,
            "04_batch_size",
            training,
            SliderToggle("lr"),
            prepare=train_head_start,
        ),
        Case(
            'SurfaceDashboard("two_basins", "SGD", lr=0.05, steps=200)',
            "05_learning_rate",
            lambda: SurfaceDashboard("two_basins", "SGD", lr=0.05, steps=200),
            SliderToggle("lr"),
        ),
        Case(
            'ScheduleDesigner("cosine", lr=3.0, steps=100)',
            "05_learning_rate",
            lambda: ScheduleDesigner("cosine", lr=3.0, steps=100),
            SliderToggle("lr"),
        ),
        Case(
            "MomentumDashboard()",
            "06_momentum",
            MomentumDashboard,
            SliderToggle("momentum"),
        ),
        Case(
            "RateMapDashboard(condition_number=25.0)",
            "06_momentum",
            lambda: RateMapDashboard(condition_number=25.0),
            SliderToggle("momentum"),
        ),
        Case(
            "NesterovStepper()",
            "07_nesterov",
            NesterovStepper,
            StepClick(
                lambda d: d.buttons["step"],
                step_slider_at_end,
                set_step(8),
                "from step 8, back to 8 at the end",
            ),
            prepare=set_step(8),
        ),
        Case(
            'EffectiveStepDashboard(optimizer="Adagrad", lr=0.5, '
            "condition_number=100.0, steps=200)",
            "08_adaptive",
            lambda: EffectiveStepDashboard(
                optimizer="Adagrad", lr=0.5, condition_number=100.0, steps=200
            ),
            SliderToggle("lr"),
        ),
        Case(
            f'RaceDashboard("{RACE_08}")',
            "08_adaptive",
            lambda: RaceDashboard(RACE_08),
            SliderWalk("lr"),
        ),
        Case(
            f'RaceDashboard("{RACE_09}")',
            "09_adam_family",
            lambda: RaceDashboard(RACE_09),
            SliderWalk("lr"),
        ),
        Case(
            capstone_label,
            "10_putting_it_together",
            capstone,
            StepClick(
                lambda d: d.step_button,
                lambda d: d.finished,
                lambda d: d.reset(),
                "from step 0 of a fresh run",
            ),
        ),
        Case(
            capstone_label,
            "10_putting_it_together",
            capstone,
            SliderToggle("lr"),
            prepare=capstone_runs,
        ),
    ]


def unmeasured_dashboards(measured: list[Case]) -> list[str]:
    """Name the Dashboard subclasses exported by course_lib.widgets with no case."""
    exported = {
        name
        for name, value in vars(course_lib.widgets).items()
        if isinstance(value, type)
        and issubclass(value, Dashboard)
        and value is not Dashboard
    }
    built = {case.label.split("(", 1)[0] for case in measured}
    return sorted(exported - built)


# -- measuring -----------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def time_calls(
    call: Callable[[], object],
    repeats: int,
    before: Callable[[], object] | None = None,
) -> list[float]:
    """Time ``repeats`` calls of ``call`` in ms, each after an untimed ``before``."""
    timings = []
    for _ in range(repeats):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1e3)
    return timings


def rebuild(factory: Callable[[], Dashboard]) -> None:
    dashboard = factory()
    _ = dashboard.view
    dashboard.close()


def ready_dashboard(case: Case) -> Dashboard:
    """Build the case's dashboard and view, as the notebook leaves it, and warm it."""
    dashboard = case.build()
    if case.prepare is not None:
        case.prepare(dashboard)
    _ = dashboard.view
    case.interaction.setup(dashboard)
    for _ in range(WARM_UPDATES):  # warm caches and torch's dispatcher
        case.interaction.prepare(dashboard)
        case.interaction.act(dashboard)
    return dashboard


def measure_update(case: Case, updates: int) -> dict[str, Any]:
    dashboard = ready_dashboard(case)
    interaction = case.interaction
    update_ms = time_calls(
        lambda: interaction.act(dashboard),
        updates,
        before=lambda: interaction.prepare(dashboard),
    )
    result = {
        "update_median": statistics.median(update_ms),
        "update_p95": percentile(update_ms, 0.95),
        "action": interaction.describe(),
        "status": dashboard.status.value,
    }
    dashboard.close()
    return result


def measure_rebuild(case: Case, rebuilds: int) -> dict[str, float]:
    rebuild(case.build)  # the first build pays for imports and font caches
    rebuild_ms = time_calls(lambda: rebuild(case.build), rebuilds)
    return {
        "rebuild_median": statistics.median(rebuild_ms),
        "rebuild_p95": percentile(rebuild_ms, 0.95),
    }


def measure(selected: list[Case], updates: int, rebuilds: int) -> list[dict]:
    """Time every case; cases that share a construction share its rebuild timing."""
    rebuilt: dict[str, dict[str, float]] = {}
    results = []
    for case in selected:
        print(f"timing {case.label}", file=sys.stderr, flush=True)
        result = {"label": case.label, "notebook": case.notebook}
        result.update(measure_update(case, updates))
        if case.label not in rebuilt:
            rebuilt[case.label] = measure_rebuild(case, rebuilds)
        result.update(rebuilt[case.label])
        results.append(result)
    return results


def profile(case: Case, updates: int, lines: int = 30) -> str:
    """Profile ``updates`` timed actions of ``case`` and return cProfile's top lines."""
    dashboard = ready_dashboard(case)
    profiler = cProfile.Profile()
    for _ in range(updates):
        case.interaction.prepare(dashboard)
        profiler.enable()
        case.interaction.act(dashboard)
        profiler.disable()
    dashboard.close()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(lines)
    return stream.getvalue()


# -- the table -----------------------------------------------------------------


def verdict(result: dict[str, Any]) -> str:
    """Return "yes", or "**no**" with by how much each budget is missed."""
    misses = []
    if result["update_median"] > UPDATE_BUDGET_MS:
        over = result["update_median"] / UPDATE_BUDGET_MS
        misses.append(f"median {over:.1f}x the {UPDATE_BUDGET_MS:.0f} ms")
    speedup = result["rebuild_median"] / result["update_median"]
    if speedup < MIN_SPEEDUP:
        misses.append(f"rebuild only {speedup:.1f}x the update")
    return "yes" if not misses else "**no**: " + "; ".join(misses)


def table(
    results: list[dict[str, Any]],
    updates: int,
    rebuilds: int,
    load: str,
    command: str,
    unmeasured: list[str],
) -> str:
    lines = [
        "## Dashboard updates",
        "",
        f"Machine: {machine_description()}; load average {load} during the run "
        "(other work shared the CPU). torch ran on one thread "
        "(`torch.set_num_threads(1)`, as in the dashboard tests) on the CPU.",
        f"Command: `{command}` ({updates} updates and {rebuilds} rebuilds per "
        "dashboard, built as its notebook builds it, view built so each update "
        "renders its PNG).",
        f"Budget: update median at most {UPDATE_BUDGET_MS:.0f} ms and at least "
        f"{MIN_SPEEDUP:.0f}x faster than a rebuild. An update is one control "
        "change or button click, timed from the change to the new PNG; a "
        "rebuild is the constructor plus the view.",
        "",
        "| dashboard (notebook) | update | update median ms | update p95 ms "
        "| rebuild median ms | rebuild p95 ms | rebuild / update | within budget |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for result in results:
        speedup = result["rebuild_median"] / result["update_median"]
        lines.append(
            f"| `{result['label']}` ({result['notebook']}) | {result['action']} | "
            f"{result['update_median']:.1f} | {result['update_p95']:.1f} | "
            f"{result['rebuild_median']:.0f} | {result['rebuild_p95']:.0f} | "
            f"{speedup:.1f}x | {verdict(result)} |"
        )
    if unmeasured:
        lines.append("")
        lines.append(
            "Not measured (exported by course_lib.widgets, with no case in "
            f"bench/bench_dashboards.py): {', '.join(unmeasured)}."
        )
    lines.append("")
    lines.append("Status after the timed updates:")
    lines.append("")
    for result in results:
        lines.append(f"- `{result['label']}`, {result['action']}: {result['status']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="rewrite the section in BENCHMARKS.md"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats, for a smoke run"
    )
    parser.add_argument(
        "--only",
        metavar="TEXT",
        help="time only the cases whose construction contains TEXT",
    )
    parser.add_argument(
        "--profile",
        metavar="TEXT",
        help="print a cProfile of the updates of the cases whose construction "
        "contains TEXT, instead of the table",
    )
    args = parser.parse_args()
    if args.write and (args.only or args.profile):
        parser.error("--write rewrites the whole table; drop --only and --profile")
    os.environ.setdefault("COURSE_DEVICE", "cpu")
    torch.set_num_threads(1)
    updates, rebuilds = (10, 3) if args.quick else (60, 10)

    every_case = cases()
    selected = [
        case
        for case in every_case
        if not (args.only or args.profile) or (args.only or args.profile) in case.label
    ]
    if not selected:
        labels = sorted({case.label for case in every_case})
        parser.error("no case matches; the cases are:\n" + "\n".join(labels))
    if args.profile:
        for case in selected:
            report = profile(case, updates)
            print(f"== {case.label}: {case.interaction.describe()}")
            print(report)
        return 0

    before = os.getloadavg()[0]
    results = measure(selected, updates, rebuilds)
    after = os.getloadavg()[0]
    command = " ".join([".venv/bin/python", "bench/bench_dashboards.py", *sys.argv[1:]])
    unmeasured = unmeasured_dashboards(every_case)
    text = table(
        results,
        updates,
        rebuilds,
        f"{before:.1f} to {after:.1f} (1 min)",
        command,
        unmeasured,
    )
    print(text)
    if args.write:
        replace_section("bench_dashboards", text)
    return 1 if unmeasured else 0


if __name__ == "__main__":
    raise SystemExit(main())
