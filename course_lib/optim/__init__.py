"""Every optimizer of the course, written from scratch.

Each class has ``torch.optim``'s name, constructor signature, defaults and
error messages, and takes the same steps. Under each class are two pure
functions, ``<Class>.init_state`` and ``<Class>.update``, that also run a
leading batch of hyperparameter configurations at once (see ``_base``).
"""

from course_lib.optim._base import FunctionalOptimizer, as_batched

# Each optimizer module adds its import here and its class to OPTIMIZERS.

OPTIMIZERS: dict[str, type[FunctionalOptimizer]] = {}

__all__ = ["OPTIMIZERS", "FunctionalOptimizer", "as_batched"]
