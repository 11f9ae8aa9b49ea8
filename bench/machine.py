"""Describe the machine a benchmark ran on, and rewrite BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device: torch.device | None = None) -> str:
    """One line: CPU model, cores, torch version and the device used."""
    parts = [
        cpu_model(),
        f"{os.cpu_count()} cores",
        f"torch {torch.__version__}",
        f"{torch.get_num_threads()} torch thread"
        + ("s" if torch.get_num_threads() != 1 else ""),
    ]
    if device is not None:
        name = str(device)
        if device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(device)})"
        parts.append(f"device {name}")
    return ", ".join(parts)


def replace_section(name: str, body: str, path: Path = BENCHMARKS) -> None:
    """Replace the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.

    The section is appended when the markers are missing.
    """
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
