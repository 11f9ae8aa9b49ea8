"""Device choice and seeding."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from course_lib import DeviceError, available_devices, get_device, seed_everything


def test_default_is_best_available(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    assert str(get_device()) == available_devices()[0]


def test_cpu_is_always_available():
    assert available_devices()[-1] == "cpu"


def test_cuda_preferred_when_present(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert get_device() == torch.device("cuda:0")
    assert available_devices()[:2] == ["cuda:0", "cuda:1"]


def test_environment_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_empty_override_means_default(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "  ")
    assert str(get_device()) == available_devices()[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_unavailable_cuda_names_value_and_devices(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(DeviceError) as info:
        get_device()
    message = str(info.value)
    assert "COURSE_DEVICE='cuda'" in message
    assert "not available" in message
    assert "available devices: " + ", ".join(available_devices()) in message


def test_unknown_device_names_value(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu9")
    with pytest.raises(DeviceError) as info:
        get_device()
    assert "'tpu9'" in str(info.value)
    assert "available devices: cpu" in str(info.value)


def test_cuda_index_beyond_count(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(DeviceError, match="cuda:3"):
        get_device("cuda:3")


def test_device_error_is_value_error():
    assert issubclass(DeviceError, ValueError)


def test_seed_repeats_all_generators():
    seed_everything(123)
    first = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(123)
    second = (random.random(), np.random.rand(), torch.rand(3))
    assert first[0] == second[0]
    assert first[1] == second[1]
    assert torch.equal(first[2], second[2])


def test_seed_returns_seeded_generator():
    a = torch.rand(4, generator=seed_everything(7))
    b = torch.rand(4, generator=seed_everything(7))
    c = torch.rand(4, generator=seed_everything(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True])
def test_seed_rejects_non_integers(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        seed_everything(seed)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_tensor_on_chosen_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    device = get_device()
    assert device.type == "cuda"
    assert torch.ones(2, device=device).sum().item() == 2.0
