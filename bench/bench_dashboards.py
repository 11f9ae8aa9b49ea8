"""Time a dashboard update against rebuilding the dashboard, side by side.

For each dashboard at its default setting, with its view built (so every
update renders the PNG the browser shows):

- update: one ``update()`` call, which reruns the optimizer and redraws the
  animated artists over the cached background;
- rebuild: a new dashboard from scratch, constructor plus view, which
  computes the contours and renders the whole figure.

Budget: an update at most 50 ms median on a 2-core CPU, and at least 5x
faster than a rebuild.

Usage::

    .venv/bin/python bench/bench_dashboards.py [--write] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

from machine import machine_description, replace_section

from course_lib.widgets import ScheduleDesigner, SurfaceDashboard

UPDATE_BUDGET_MS = 50.0
MIN_SPEEDUP = 5.0

DASHBOARDS: dict[str, Callable[[], object]] = {
    "SurfaceDashboard()": SurfaceDashboard,
    "ScheduleDesigner()": ScheduleDesigner,
}


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def time_calls(call: Callable[[], object], repeats: int) -> list[float]:
    """Time ``repeats`` calls of ``call``, in milliseconds."""
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1e3)
    return timings


def rebuild(factory: Callable[[], object]) -> None:
    dashboard = factory()
    _ = dashboard.view
    dashboard.close()


def measure(factory: Callable[[], object], updates: int, rebuilds: int) -> dict:
    dashboard = factory()
    _ = dashboard.view
    for _ in range(3):  # warm caches and torch's dispatcher
        dashboard.update()
    update_ms = time_calls(dashboard.update, updates)
    status = dashboard.status.value
    dashboard.close()
    rebuild(factory)  # the first build pays for imports and font caches
    rebuild_ms = time_calls(lambda: rebuild(factory), rebuilds)
    return {
        "update_median": statistics.median(update_ms),
        "update_p95": percentile(update_ms, 0.95),
        "rebuild_median": statistics.median(rebuild_ms),
        "rebuild_p95": percentile(rebuild_ms, 0.95),
        "status": status,
    }


def table(results: dict[str, dict], updates: int, rebuilds: int, load: str) -> str:
    lines = [
        "## Dashboard updates",
        "",
        f"Machine: {machine_description()}; load average {load} during the run "
        "(other work shared the CPU).",
        "Command: `.venv/bin/python bench/bench_dashboards.py --write` "
        f"({updates} updates and {rebuilds} rebuilds per dashboard, default "
        "settings, view built so each update renders its PNG).",
        f"Budget: update median at most {UPDATE_BUDGET_MS:.0f} ms and at least "
        f"{MIN_SPEEDUP:.0f}x faster than a rebuild.",
        "",
        "| dashboard | update median ms | update p95 ms | rebuild median ms "
        "| rebuild p95 ms | rebuild / update | within budget |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, result in results.items():
        speedup = result["rebuild_median"] / result["update_median"]
        within = result["update_median"] <= UPDATE_BUDGET_MS and speedup >= MIN_SPEEDUP
        lines.append(
            f"| `{name}` | {result['update_median']:.1f} | "
            f"{result['update_p95']:.1f} | {result['rebuild_median']:.0f} | "
            f"{result['rebuild_p95']:.0f} | {speedup:.1f}x | "
            f"{'yes' if within else '**no**'} |"
        )
    lines.append("")
    lines.append("Default settings, with the status they end in:")
    lines.append("")
    for name, result in results.items():
        lines.append(f"- `{name}`: {result['status']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write", action="store_true", help="rewrite the section in BENCHMARKS.md"
    )
    parser.add_argument(
        "--quick", action="store_true", help="fewer repeats, for a smoke run"
    )
    args = parser.parse_args()
    updates, rebuilds = (10, 3) if args.quick else (60, 10)
    before = os.getloadavg()[0]
    results = {
        name: measure(factory, updates, rebuilds)
        for name, factory in DASHBOARDS.items()
    }
    after = os.getloadavg()[0]
    text = table(results, updates, rebuilds, f"{before:.1f} to {after:.1f}")
    print(text)
    if args.write:
        replace_section("bench_dashboards", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
