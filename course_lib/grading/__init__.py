"""Checks behind the exercises, and the machinery that grades notebooks.

Each ``check_<name>(function, *, seed=0)`` calls a learner's function on
fresh inputs drawn from ``seed``, compares the results with PyTorch (the
oracle) and returns a one-line summary. On a wrong result it raises a
:class:`GradingError` (an ``AssertionError``) whose message names the
likely mistake when it recognizes one. The checks live in one module per
chapter, imported on first use, so that the grading commands, which only
read and run notebooks, load none of them.

The hidden tests of the exercises reload these modules and also compare
with torch directly, so a learner who redefines or patches a check still
fails them. NOTE: the tests run in the learner's kernel, as nbgrader runs
them, so code that patches ``importlib`` or torch itself can still fool
them; only a review of the submission catches that.

Modules:
    loss, backprop, gradient_descent, batch_size, learning_rate, momentum,
    nesterov, adaptive, adam_family: the checks of chapters 01 to 09.
    compare, feedback, steps, trajectories, problems: their shared helpers.
    notebooks, execution, nbgrader_execute: reading, running and scoring
    nbgrader notebooks, for ``python -m course_lib.grade`` and
    ``python -m course_lib.tools.instructor``.
"""

from __future__ import annotations

import importlib
from typing import Any

from course_lib.grading.feedback import GradingError, KnownMistakeError

# Each check's module, by chapter.
CHECKS: dict[str, str] = {
    "check_mse_loss": "loss",
    "check_mse_grad": "loss",
    "check_bce_with_logits": "loss",
    "check_linear_backward": "backprop",
    "check_mlp_backward": "backprop",
    "check_numerical_gradient": "backprop",
    "check_gradient_descent": "gradient_descent",
    "check_max_stable_lr": "gradient_descent",
    "check_fit_linear_regression": "gradient_descent",
    "check_minibatches": "batch_size",
    "check_minibatch_gradient": "batch_size",
    "check_sgd_epoch": "batch_size",
    "check_step_lr": "learning_rate",
    "check_cosine_lr": "learning_rate",
    "check_warmup_cosine_lr": "learning_rate",
    "check_momentum_step": "momentum",
    "check_heavy_ball": "momentum",
    "check_optimal_momentum": "momentum",
    "check_nesterov_step": "nesterov",
    "check_lookahead_step": "nesterov",
    "check_adagrad_step": "adaptive",
    "check_rmsprop_step": "adaptive",
    "check_adadelta_step": "adaptive",
    "check_adam_step": "adam_family",
    "check_amsgrad_step": "adam_family",
    "check_adamw_step": "adam_family",
}


def __getattr__(name: str) -> Any:
    # Module-level __getattr__ (PEP 562) runs only for names not yet set, so
    # a check that a learner reassigns on this package stays reassigned. The
    # hidden tests reload the chapter module to get the original back.
    if name not in CHECKS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{CHECKS[name]}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted([*globals(), *CHECKS])


__all__ = ["CHECKS", "GradingError", "KnownMistakeError", *CHECKS]
