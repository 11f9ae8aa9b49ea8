"""Checks of a course installation, reported by ``python -m course_lib doctor``.

Each check returns a :class:`Finding`; the command prints them and exits
non-zero when any finding is a problem, with a line saying how to fix it.
"""

from __future__ import annotations

import importlib
import json
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

MIN_PYTHON = (3, 10)

# Lab extensions that ship inside the ipywidgets and ipympl wheels, by the
# folder name each installs under share/jupyter/labextensions.
LAB_EXTENSIONS = {
    "ipywidgets": "@jupyter-widgets/jupyterlab-manager",
    "ipympl": "jupyter-matplotlib",
}

REINSTALL_HINT = "run `make setup` (or `pip install -e .`) from the repository root"


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, what was found, and a fix."""

    name: str
    value: str
    ok: bool
    fix: str = ""


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _major(version: str) -> int:
    return int(version.split(".")[0])


def check_python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    ok = sys.version_info[:2] >= MIN_PYTHON
    fix = "" if ok else "install Python 3.10 or newer and run `make setup` again"
    return Finding("Python", version, ok, fix)


def check_package(distribution: str, major: int | None = None) -> Finding:
    """Check that a distribution is installed, at a given major version."""
    version = _version(distribution)
    if version is None:
        return Finding(distribution, "not installed", False, REINSTALL_HINT)
    if major is not None and _major(version) != major:
        return Finding(
            distribution,
            version,
            False,
            f"the course needs {distribution} {major}.x; {REINSTALL_HINT}",
        )
    return Finding(distribution, version, True)


def check_torch() -> Finding:
    try:
        torch = importlib.import_module("torch")
    except ImportError as error:
        return Finding(
            "torch",
            f"not importable ({error})",
            False,
            "install PyTorch: `make setup` takes the CPU build; for a GPU, "
            "install the CUDA build as the README says",
        )
    return Finding("torch", torch.__version__, True)


def check_device() -> Finding:
    from course_lib.device import DeviceError, get_device

    try:
        device = get_device()
    except DeviceError as error:
        return Finding("device", "unavailable", False, str(error))
    name = str(device)
    if device.type == "cuda":
        import torch

        name += f" ({torch.cuda.get_device_name(device)})"
    return Finding("device", name, True)


def labextension_dirs() -> list[Path]:
    """List the folders JupyterLab searches for prebuilt extensions."""
    from jupyter_core.paths import jupyter_path

    return [Path(path) for path in jupyter_path("labextensions")]


def check_labextension(package: str, folder: str) -> Finding:
    """Check that a package's JupyterLab frontend extension is installed."""
    for root in labextension_dirs():
        manifest = root / folder / "package.json"
        if manifest.is_file():
            version = json.loads(manifest.read_text()).get("version", "?")
            return Finding(f"{package} lab extension", f"{folder} {version}", True)
    return Finding(
        f"{package} lab extension",
        "not found",
        False,
        f"reinstall {package} in this environment "
        f"(`pip install --force-reinstall {package}`) so that JupyterLab "
        f"finds {folder}; searched {', '.join(map(str, labextension_dirs()))}",
    )


def run_checks() -> list[Finding]:
    """Run every check and return the findings in report order."""
    findings = [check_python(), check_torch()]
    findings.append(check_package("ipywidgets", major=8))
    findings.append(check_package("ipympl"))
    findings.append(check_package("jupyterlab", major=4))
    findings.append(check_device())
    for package, folder in LAB_EXTENSIONS.items():
        findings.append(check_labextension(package, folder))
    return findings


def format_report(findings: list[Finding]) -> str:
    """Format findings as aligned lines, each problem followed by its fix."""
    width = max(len(finding.name) for finding in findings)
    lines = []
    for finding in findings:
        mark = "ok " if finding.ok else "FAIL"
        lines.append(f"{mark:4} {finding.name:<{width}}  {finding.value}")
        if not finding.ok:
            lines.append(f"     {'':<{width}}  fix: {finding.fix}")
    problems = sum(not finding.ok for finding in findings)
    if problems:
        lines.append(f"{problems} problem(s) found.")
    else:
        lines.append("Everything the course needs is in place.")
    return "\n".join(lines)
