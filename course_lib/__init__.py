"""Companion package of the course *Optimization in deep learning*.

Every notebook imports from here: the optimizers written from scratch, the
loss functions, the teaching autograd engine, the test surfaces, the data
sets, the training loop, the dashboards and the grading checks. The package
returns values and never prints; the notebooks print and plot.
"""

from course_lib.device import (
    DeviceError,
    available_devices,
    get_device,
    seed_everything,
)

__version__ = "0.1.0"

__all__ = [
    "DeviceError",
    "__version__",
    "available_devices",
    "get_device",
    "seed_everything",
]
