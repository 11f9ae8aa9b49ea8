"""Every optimizer of the course, written from scratch.

Each class has ``torch.optim``'s name, constructor signature, defaults and
error messages, and takes the same steps. Under each class are two pure
functions, ``<Class>.init_state`` and ``<Class>.update``, that also run a
leading batch of hyperparameter configurations at once (see ``_base``).
"""

from __future__ import annotations

import inspect
from typing import Any

from course_lib.optim._base import FunctionalOptimizer, as_batched
from course_lib.optim.adadelta import Adadelta
from course_lib.optim.adagrad import Adagrad
from course_lib.optim.adam import Adam
from course_lib.optim.adamax import Adamax
from course_lib.optim.adamw import AdamW
from course_lib.optim.nadam import NAdam
from course_lib.optim.radam import RAdam
from course_lib.optim.rmsprop import RMSprop
from course_lib.optim.sgd import SGD

# Each optimizer module adds its import here and its class to OPTIMIZERS.

OPTIMIZERS: dict[str, type[FunctionalOptimizer]] = {
    "SGD": SGD,
    "Adagrad": Adagrad,
    "RMSprop": RMSprop,
    "Adadelta": Adadelta,
    "Adam": Adam,
    "AdamW": AdamW,
    "Adamax": Adamax,
    "NAdam": NAdam,
    "RAdam": RAdam,
}


def default_hyperparameters(name: str) -> dict[str, Any]:
    """Return the defaults of an optimizer's hyperparameters, by class name.

    The keys are the class's ``hyperparameters``, so the dict can be passed
    to ``init_state`` and ``update`` after overriding what a sweep varies.
    """
    if name not in OPTIMIZERS:
        raise KeyError(
            f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}"
        )
    cls = OPTIMIZERS[name]
    parameters = inspect.signature(cls.__init__).parameters
    defaults = {}
    for key in cls.hyperparameters:
        default = parameters[key].default
        if default is inspect.Parameter.empty:
            raise TypeError(f"{name}.__init__ gives {key!r} no default")
        defaults[key] = default
    return defaults


__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "FunctionalOptimizer",
    "NAdam",
    "RAdam",
    "RMSprop",
    "as_batched",
    "default_hyperparameters",
]
