"""python -m course_lib doctor."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from course_lib import doctor


def run_doctor(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-m", "course_lib", "doctor"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
    )


def test_healthy_install_exits_zero():
    result = run_doctor(COURSE_DEVICE="cpu")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok   device" in result.stdout
    assert "cpu" in result.stdout


@pytest.mark.parametrize(
    "name", ["Python", "torch", "ipywidgets", "ipympl", "jupyterlab"]
)
def test_report_names_versions(name):
    result = run_doctor(COURSE_DEVICE="cpu")
    line = next(line for line in result.stdout.splitlines() if f" {name} " in line)
    assert any(character.isdigit() for character in line)


def test_reports_lab_extensions():
    result = run_doctor(COURSE_DEVICE="cpu")
    assert "@jupyter-widgets/jupyterlab-manager" in result.stdout
    assert "jupyter-matplotlib" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_missing_cuda_fails_with_fix():
    result = run_doctor(COURSE_DEVICE="cuda")
    assert result.returncode == 1
    assert "FAIL device" in result.stdout
    assert "COURSE_DEVICE='cuda'" in result.stdout
    assert "fix:" in result.stdout


def test_missing_extension_fails_with_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(doctor, "labextension_dirs", lambda: [tmp_path])
    finding = doctor.check_labextension("ipympl", "jupyter-matplotlib")
    assert not finding.ok
    assert "pip install --force-reinstall ipympl" in finding.fix


def test_wrong_major_version_is_a_problem(monkeypatch):
    monkeypatch.setattr(doctor, "_version", lambda name: "7.8.0")
    finding = doctor.check_package("ipywidgets", major=8)
    assert not finding.ok
    assert "ipywidgets 8.x" in finding.fix


def test_missing_package_is_a_problem(monkeypatch):
    monkeypatch.setattr(doctor, "_version", lambda name: None)
    finding = doctor.check_package("ipympl")
    assert not finding.ok
    assert finding.value == "not installed"


def test_report_counts_problems():
    findings = [
        doctor.Finding("a", "1", True),
        doctor.Finding("b", "missing", False, "install b"),
    ]
    report = doctor.format_report(findings)
    assert "fix: install b" in report
    assert report.endswith("1 problem(s) found.")
