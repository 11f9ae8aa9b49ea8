"""The public face of each optimizer against torch.optim's: class names,
constructor signatures, defaults, validation messages, implementation flags,
the registry and the docstring examples.
"""

from __future__ import annotations

import doctest
import inspect
import re

import pytest
import torch
from optim_oracle import NAMES, make_net

import course_lib.optim as optim
from course_lib.optim import OPTIMIZERS, FunctionalOptimizer, default_hyperparameters
from course_lib.optim._base import IMPLEMENTATION_FLAGS

MODULES = {
    "SGD": "sgd",
    "Adagrad": "adagrad",
    "RMSprop": "rmsprop",
    "Adadelta": "adadelta",
    "Adam": "adam",
    "AdamW": "adamw",
    "Adamax": "adamax",
    "NAdam": "nadam",
    "RAdam": "radam",
}


def torch_class(name: str) -> type[torch.optim.Optimizer]:
    return getattr(torch.optim, name)


def signature_of(cls: type) -> list[tuple[str, inspect._ParameterKind, object]]:
    # Annotations are left out: torch's are objects, ours are strings.
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [(p.name, p.kind, p.default) for p in parameters]


def test_registry_lists_every_optimizer():
    assert list(OPTIMIZERS) == list(MODULES)


@pytest.mark.parametrize("name", NAMES)
def test_class_name_matches_torch(name):
    assert OPTIMIZERS[name].__name__ == torch_class(name).__name__


@pytest.mark.parametrize("name", NAMES)
def test_class_is_functional_optimizer(name):
    assert issubclass(OPTIMIZERS[name], FunctionalOptimizer)
    assert issubclass(OPTIMIZERS[name], torch.optim.Optimizer)


@pytest.mark.parametrize("name", NAMES)
def test_class_exported_by_package(name):
    assert getattr(optim, name) is OPTIMIZERS[name]


def test_adamw_subclasses_adam():
    assert issubclass(torch.optim.AdamW, torch.optim.Adam)
    assert issubclass(optim.AdamW, optim.Adam)


@pytest.mark.parametrize("name", NAMES)
def test_signature_matches_torch(name):
    assert signature_of(OPTIMIZERS[name]) == signature_of(torch_class(name))


@pytest.mark.parametrize("name", NAMES)
def test_defaults_match_torch(name):
    ours = OPTIMIZERS[name](make_net().parameters())
    theirs = torch_class(name)(make_net().parameters())
    assert ours.defaults == theirs.defaults


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_match_torch(name):
    ours = OPTIMIZERS[name](make_net().parameters(), lr=0.05)
    theirs = torch_class(name)(make_net().parameters(), lr=0.05)
    assert ours.state_dict()["param_groups"] == theirs.state_dict()["param_groups"]


@pytest.mark.parametrize("name", NAMES)
def test_hyperparameters_are_group_keys(name):
    cls = OPTIMIZERS[name]
    group = cls(make_net().parameters()).param_groups[0]
    missing = [key for key in cls.hyperparameters if key not in group]
    assert missing == []


@pytest.mark.parametrize("name", NAMES)
def test_default_hyperparameters_match_torch(name):
    theirs = torch_class(name)(make_net().parameters()).defaults
    expected = {key: theirs[key] for key in OPTIMIZERS[name].hyperparameters}
    assert default_hyperparameters(name) == expected


def test_default_hyperparameters_unknown_name():
    with pytest.raises(KeyError, match="unknown optimizer 'Lion'"):
        default_hyperparameters("Lion")


# Each case: an optimizer and keyword arguments torch.optim rejects with a
# ValueError. The expected message is whatever torch raises for the input.
INVALID = [
    ("SGD", {"lr": -0.1}),
    ("SGD", {"lr": torch.tensor([0.1, 0.2])}),
    ("SGD", {"momentum": -0.5}),
    ("SGD", {"weight_decay": -1e-3}),
    ("SGD", {"nesterov": True}),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("Adagrad", {"lr": -0.1}),
    ("Adagrad", {"lr": torch.tensor([0.1, 0.2])}),
    ("Adagrad", {"lr_decay": -0.1}),
    ("Adagrad", {"weight_decay": -0.1}),
    ("Adagrad", {"initial_accumulator_value": -0.1}),
    ("Adagrad", {"eps": -1e-10}),
    ("RMSprop", {"lr": -0.1}),
    ("RMSprop", {"lr": torch.tensor([0.1, 0.2])}),
    ("RMSprop", {"eps": -1e-8}),
    ("RMSprop", {"momentum": -0.9}),
    ("RMSprop", {"weight_decay": -0.1}),
    ("RMSprop", {"alpha": -0.99}),
    ("Adadelta", {"lr": -1.0}),
    ("Adadelta", {"lr": torch.tensor([0.1, 0.2])}),
    ("Adadelta", {"rho": -0.1}),
    ("Adadelta", {"rho": 1.5}),
    ("Adadelta", {"eps": -1e-6}),
    ("Adadelta", {"weight_decay": -0.1}),
    ("Adam", {"lr": -1e-3}),
    ("Adam", {"lr": torch.tensor([0.1, 0.2])}),
    ("Adam", {"eps": -1e-8}),
    ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (-0.1, 0.999)}),
    ("Adam", {"betas": (0.9, 1.0)}),
    ("Adam", {"weight_decay": -0.1}),
    ("Adam", {"betas": (0, 0.999)}),
    ("Adam", {"betas": (torch.tensor(0.9), 0.999)}),
    ("AdamW", {"lr": -1e-3}),
    ("AdamW", {"betas": (0.9, 1.5)}),
    ("AdamW", {"weight_decay": -0.1}),
    ("AdamW", {"eps": -1e-8}),
    ("Adamax", {"lr": -2e-3}),
    ("Adamax", {"lr": torch.tensor([0.1, 0.2])}),
    ("Adamax", {"eps": -1e-8}),
    ("Adamax", {"betas": (1.0, 0.999)}),
    ("Adamax", {"betas": (0.9, -0.5)}),
    ("Adamax", {"weight_decay": -0.1}),
    ("NAdam", {"lr": -2e-3}),
    ("NAdam", {"lr": torch.tensor([0.1, 0.2])}),
    ("NAdam", {"eps": -1e-8}),
    ("NAdam", {"betas": (1.2, 0.999)}),
    ("NAdam", {"betas": (0.9, 1.0)}),
    ("NAdam", {"weight_decay": -0.1}),
    ("NAdam", {"momentum_decay": -4e-3}),
    ("RAdam", {"lr": -1e-3}),
    ("RAdam", {"lr": torch.tensor([0.1, 0.2])}),
    ("RAdam", {"eps": -1e-8}),
    ("RAdam", {"betas": (1.0, 0.999)}),
    ("RAdam", {"betas": (0.9, 2.0)}),
    ("RAdam", {"weight_decay": -0.1}),
]


def invalid_id(case: tuple[str, dict]) -> str:
    name, kwargs = case
    return f"{name}[{','.join(f'{k}={v}' for k, v in kwargs.items())}]"


@pytest.mark.parametrize(("name", "kwargs"), INVALID, ids=map(invalid_id, INVALID))
def test_invalid_value_message_matches_torch(name, kwargs):
    with pytest.raises(ValueError) as expected:
        torch_class(name)(make_net().parameters(), **kwargs)
    torch_message = str(expected.value)
    with pytest.raises(ValueError, match=f"^{re.escape(torch_message)}$"):
        OPTIMIZERS[name](make_net().parameters(), **kwargs)


def test_empty_params_message_matches_torch():
    with pytest.raises(ValueError) as expected:
        torch.optim.Adam([])
    with pytest.raises(ValueError, match=f"^{re.escape(str(expected.value))}$"):
        optim.Adam([])


FLAG_CASES = [
    (name, flag)
    for name in NAMES
    for flag in IMPLEMENTATION_FLAGS
    if flag in inspect.signature(torch_class(name).__init__).parameters
]


@pytest.mark.parametrize(("name", "flag"), FLAG_CASES)
def test_flag_true_rejected(name, flag):
    with pytest.raises(ValueError, match=rf"{name}\({flag}=True\) is not supported"):
        OPTIMIZERS[name](make_net().parameters(), **{flag: True})


@pytest.mark.parametrize(("name", "flag"), FLAG_CASES)
def test_flag_message_names_default(name, flag):
    default = IMPLEMENTATION_FLAGS[flag]
    with pytest.raises(ValueError, match=f"Leave {flag} at its default {default}"):
        OPTIMIZERS[name](make_net().parameters(), **{flag: True})


@pytest.mark.parametrize(("name", "flag"), FLAG_CASES)
def test_flag_false_accepted(name, flag):
    optimizer = OPTIMIZERS[name](make_net().parameters(), **{flag: False})
    assert optimizer.defaults[flag] is False


def test_flags_cover_torch_signatures():
    flags_per_class = {
        name: {flag for flag_name, flag in FLAG_CASES if flag_name == name}
        for name in NAMES
    }
    assert flags_per_class["SGD"] == {"foreach", "differentiable", "fused"}
    assert flags_per_class["Adam"] == set(IMPLEMENTATION_FLAGS)
    assert flags_per_class["RAdam"] == {"foreach", "capturable", "differentiable"}


@pytest.mark.parametrize("name", NAMES)
def test_docstring_example_runs(name):
    module = getattr(optim, MODULES[name])
    finder = doctest.DocTestFinder()
    tests = finder.find(module, globs={**vars(module), "torch": torch})
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests:
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    assert results.failed == 0
