"""pyproject.toml and environment.yml list the same packages and bounds."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

# conda-forge names that differ from the PyPI distribution name.
CONDA_TO_PYPI = {"pytorch": "torch"}


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["test"]
    requirements = {}
    for line in lines:
        requirement = Requirement(line)
        # Backports such as tomli apply to old Pythons only; conda resolves
        # them through python itself.
        if requirement.marker is not None:
            continue
        requirements[requirement.name.lower()] = str(requirement.specifier)
    return requirements


def conda_requirements() -> tuple[dict[str, str], list[str]]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    requirements = {}
    pip_lines: list[str] = []
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):
            pip_lines.extend(entry["pip"])
            continue
        requirement = Requirement(entry)
        name = CONDA_TO_PYPI.get(requirement.name.lower(), requirement.name.lower())
        if name in {"python", "pip"}:
            continue
        requirements[name] = str(requirement.specifier)
    return requirements, pip_lines


def specifier_set(text: str) -> set[str]:
    return set(filter(None, text.split(",")))


def test_same_package_names():
    pip_names = set(pyproject_requirements())
    conda_names = set(conda_requirements()[0])
    assert pip_names - conda_names == set(), "missing from environment.yml"
    assert conda_names - pip_names == set(), "missing from pyproject.toml"


@pytest.mark.parametrize("name", sorted(pyproject_requirements()))
def test_same_version_bounds(name):
    conda = conda_requirements()[0]
    assert specifier_set(conda.get(name, "")) == specifier_set(
        pyproject_requirements()[name]
    )


def test_conda_installs_course_lib_editable():
    pip_lines = conda_requirements()[1]
    assert "-e ." in pip_lines


def test_python_floor_matches():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [
        entry
        for entry in environment["dependencies"]
        if isinstance(entry, str) and entry.startswith("python")
    ]
    assert python == ["python" + project["requires-python"]]
