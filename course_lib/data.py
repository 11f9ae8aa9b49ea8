"""Real data sets bundled with scikit-learn, as tensors on the chosen device.

:func:`load_dataset` (or one of the named loaders such as
:func:`load_digits`) returns a :class:`Dataset`: a seeded train/validation
split whose features are standardized with the mean and standard deviation
of the training split only, so no statistic of the validation examples leaks
into training. Every set ships inside scikit-learn, so nothing is
downloaded.

:func:`batch_indices` and :func:`iterate_batches` draw seeded mini-batches
with or without replacement. Without replacement, each epoch is one
permutation ``torch.randperm(n, generator=generator)`` cut into consecutive
chunks of ``batch_size``, and the last chunk is smaller unless ``drop_last``
is set. A plain PyTorch loop that calls ``torch.randperm`` with the same
generator draws the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
from sklearn import datasets as sklearn_datasets
from torch import Tensor

from course_lib.device import get_device

Task = Literal["classification", "regression"]


@dataclass(frozen=True)
class _Source:
    loader: Callable[..., Any]
    task: Task
    description: str
    loader_kwargs: tuple[tuple[str, Any], ...] = ()


# The raw diabetes features are loaded (scaled=False) because scikit-learn's
# scaled version is centred and scaled with statistics of all 442 patients,
# which would leak the validation split into the standardization.
_SOURCES: dict[str, _Source] = {
    "digits": _Source(
        sklearn_datasets.load_digits,
        "classification",
        "1797 handwritten digits, 8x8 pixels of intensity 0-16, 10 classes",
    ),
    "diabetes": _Source(
        sklearn_datasets.load_diabetes,
        "regression",
        "442 diabetes patients, 10 clinical measurements, disease progression "
        "after one year",
        (("scaled", False),),
    ),
    "breast_cancer": _Source(
        sklearn_datasets.load_breast_cancer,
        "classification",
        "569 breast tumours, 30 cell-nucleus measurements, malignant or benign",
    ),
    "wine": _Source(
        sklearn_datasets.load_wine,
        "classification",
        "178 wines, 13 chemical measurements, 3 cultivars",
    ),
}

DATASETS: tuple[str, ...] = tuple(_SOURCES)


@dataclass(frozen=True)
class Dataset:
    """A train/validation split of one data set, as tensors on one device.

    Features have shape ``(n, num_features)`` and the dtype requested at
    loading. Classification targets are class indices of dtype ``int64`` and
    shape ``(n,)``, as ``torch.nn.functional.cross_entropy`` expects them.
    Regression targets have shape ``(n, 1)``, the shape of the output of
    ``torch.nn.Linear(num_features, 1)``, so ``mse_loss(model(x), y)``
    compares like with like.

    ``feature_mean`` and ``feature_std`` are the training-split statistics
    the features were standardized with (zeros and ones when
    ``standardize=False``). A constant feature, such as a pixel that is
    blank in every training digit, keeps a standard deviation of 1 so that
    no division by zero occurs. ``target_mean`` and ``target_std`` play the
    same role for standardized regression targets. An original-unit
    prediction is ``prediction * target_std + target_mean``.
    """

    name: str
    task: Task
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    feature_mean: Tensor
    feature_std: Tensor
    target_mean: float = 0.0
    target_std: float = 1.0
    description: str = ""

    @property
    def num_train(self) -> int:
        """Number of training examples."""
        return self.x_train.shape[0]

    @property
    def num_val(self) -> int:
        """Number of validation examples."""
        return self.x_val.shape[0]

    @property
    def num_features(self) -> int:
        """Number of input features."""
        return self.x_train.shape[1]

    @property
    def num_classes(self) -> int | None:
        """Number of classes, or None for a regression set."""
        return len(self.class_names) if self.task == "classification" else None

    @property
    def num_outputs(self) -> int:
        """Width of a model's output layer: one logit per class, or 1."""
        return self.num_classes or 1

    @property
    def device(self) -> torch.device:
        """Device of every tensor of the split."""
        return self.x_train.device

    def to(self, device: torch.device | str) -> Dataset:
        """Return a copy with every tensor moved to ``device``."""
        device = torch.device(device)
        tensors = {
            field: getattr(self, field).to(device)
            for field in (
                "x_train",
                "y_train",
                "x_val",
                "y_val",
                "feature_mean",
                "feature_std",
            )
        }
        return replace(self, **tensors)

    def subset(self, num_train: int, *, seed: int = 0) -> Dataset:
        """Return a copy with a seeded random subset of the training examples.

        The validation split and the standardization statistics are kept, so
        results on the subset remain comparable with the full set.
        """
        _check_positive_int("num_train", num_train)
        if num_train > self.num_train:
            raise ValueError(
                f"num_train={num_train} is larger than the {self.num_train} "
                f"training examples of {self.name!r}; use at most {self.num_train}"
            )
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(self.num_train, generator=generator)[:num_train]
        keep = keep.to(self.device)
        return replace(self, x_train=self.x_train[keep], y_train=self.y_train[keep])

    def train_batches(
        self,
        batch_size: int,
        *,
        generator: torch.Generator | None = None,
        shuffle: bool = True,
        replacement: bool = False,
        drop_last: bool = False,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Iterate over one epoch of training mini-batches ``(x, y)``.

        See :func:`batch_indices` for the arguments and the order of batches.
        """
        return iterate_batches(
            self.x_train,
            self.y_train,
            batch_size,
            generator=generator,
            shuffle=shuffle,
            replacement=replacement,
            drop_last=drop_last,
        )


# -- loading -----------------------------------------------------------------


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _split_indices(
    labels: np.ndarray | None,
    num_examples: int,
    val_fraction: float,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Draw validation indices, per class when ``labels`` is given."""
    if labels is None:
        order = torch.randperm(num_examples, generator=generator)
        num_val = round(val_fraction * num_examples)
        return order[num_val:].sort().values, order[:num_val].sort().values
    train_parts, val_parts = [], []
    for label in np.unique(labels):
        members = torch.from_numpy(np.flatnonzero(labels == label))
        order = members[torch.randperm(len(members), generator=generator)]
        num_val = round(val_fraction * len(members))
        val_parts.append(order[:num_val])
        train_parts.append(order[num_val:])
    return torch.cat(train_parts).sort().values, torch.cat(val_parts).sort().values


def load_dataset(
    name: str,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    standardize: bool = True,
    standardize_target: bool = True,
    stratify: bool = True,
) -> Dataset:
    """Load a data set bundled with scikit-learn as a seeded, standardized split.

    Args:
        name: one of :data:`DATASETS`: ``"digits"`` (10 classes),
            ``"breast_cancer"`` (2 classes), ``"wine"`` (3 classes) or
            ``"diabetes"`` (regression).
        val_fraction: fraction of the examples held out for validation,
            strictly between 0 and 1. With ``stratify`` it is applied per class.
        seed: seed of the split. The same seed gives the same split.
        device: where the tensors live; ``get_device()`` when None.
        dtype: floating dtype of the features and regression targets.
        standardize: shift and scale each feature to mean 0 and standard
            deviation 1 on the training split, and apply the same shift and
            scale to the validation split.
        standardize_target: for regression sets, standardize the target the
            same way. It is ignored for classification.
        stratify: for classification sets, hold out ``val_fraction`` of each
            class, so both splits keep the class proportions.

    Raises:
        ValueError: an unknown name, or a fraction or seed out of range.
    """
    if name not in _SOURCES:
        raise ValueError(
            f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}"
        )
    if isinstance(val_fraction, bool) or not isinstance(val_fraction, (int, float)):
        raise ValueError(f"val_fraction must be a number, got {val_fraction!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(
            f"val_fraction must be strictly between 0 and 1, got {val_fraction!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")
    device = get_device() if device is None else torch.device(device)

    source = _SOURCES[name]
    bunch = source.loader(**dict(source.loader_kwargs))
    features = np.asarray(bunch.data, dtype=np.float64)
    targets = np.asarray(bunch.target)
    classification = source.task == "classification"

    generator = torch.Generator().manual_seed(seed)
    labels = targets if classification and stratify else None
    train_index, val_index = _split_indices(
        labels, len(features), val_fraction, generator
    )
    if len(train_index) == 0 or len(val_index) == 0:
        raise ValueError(
            f"val_fraction={val_fraction} leaves an empty split of the "
            f"{len(features)} examples of {name!r}; choose a fraction nearer 0.5"
        )

    # Statistics are computed in float64 on the training rows only.
    x = torch.from_numpy(features)
    x_train, x_val = x[train_index], x[val_index]
    mean = torch.zeros(x.shape[1], dtype=torch.float64)
    std = torch.ones(x.shape[1], dtype=torch.float64)
    if standardize:
        mean = x_train.mean(dim=0)
        std = x_train.std(dim=0)
        std = torch.where(std > 0, std, torch.ones_like(std))
        x_train = (x_train - mean) / std
        x_val = (x_val - mean) / std

    target_mean, target_std = 0.0, 1.0
    if classification:
        y = torch.from_numpy(targets.astype(np.int64))
        y_train, y_val = y[train_index], y[val_index]
        class_names = tuple(str(c) for c in getattr(bunch, "target_names", []))
        if not class_names:
            class_names = tuple(str(c) for c in np.unique(targets))
    else:
        y = torch.from_numpy(targets.astype(np.float64)).reshape(-1, 1)
        y_train, y_val = y[train_index], y[val_index]
        class_names = ()
        if standardize_target:
            target_mean = float(y_train.mean())
            target_std = float(y_train.std())
            y_train = (y_train - target_mean) / target_std
            y_val = (y_val - target_mean) / target_std
        y_train, y_val = y_train.to(dtype), y_val.to(dtype)

    return Dataset(
        name=name,
        task=source.task,
        x_train=x_train.to(device=device, dtype=dtype),
        y_train=y_train.to(device),
        x_val=x_val.to(device=device, dtype=dtype),
        y_val=y_val.to(device),
        feature_names=tuple(str(f) for f in bunch.feature_names),
        class_names=class_names,
        feature_mean=mean.to(device=device, dtype=dtype),
        feature_std=std.to(device=device, dtype=dtype),
        target_mean=target_mean,
        target_std=target_std,
        description=source.description,
    )


def load_digits(**kwargs: Any) -> Dataset:
    """Load the 8x8 handwritten digits (10 classes); see :func:`load_dataset`."""
    return load_dataset("digits", **kwargs)


def load_diabetes(**kwargs: Any) -> Dataset:
    """Load the diabetes regression set (442 patients); see :func:`load_dataset`."""
    return load_dataset("diabetes", **kwargs)


def load_breast_cancer(**kwargs: Any) -> Dataset:
    """Load the breast cancer set (569 tumours, 2 classes); see :func:`load_dataset`."""
    return load_dataset("breast_cancer", **kwargs)


def load_wine(**kwargs: Any) -> Dataset:
    """Load the wine set (178 wines, 3 classes); see :func:`load_dataset`."""
    return load_dataset("wine", **kwargs)


# -- mini-batches ------------------------------------------------------------


def num_batches(num_examples: int, batch_size: int, *, drop_last: bool = False) -> int:
    """Return the number of mini-batches in one epoch of ``num_examples``."""
    _check_positive_int("num_examples", num_examples)
    _check_positive_int("batch_size", batch_size)
    if drop_last:
        return num_examples // batch_size
    return -(-num_examples // batch_size)


def batch_indices(
    num_examples: int,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    replacement: bool = False,
    drop_last: bool = False,
    device: torch.device | str | None = None,
) -> tuple[Tensor, ...]:
    """Draw the example indices of every mini-batch of one epoch.

    Without replacement, the epoch is ``torch.randperm(num_examples,
    generator=generator)`` (or ``torch.arange`` when ``shuffle`` is False)
    cut into consecutive chunks of ``batch_size``, so every example appears
    exactly once. With replacement, the epoch's indices are
    ``torch.randint(num_examples, (total,), generator=generator)`` cut the
    same way, so an example may appear several times or not at all. Either
    way the epoch has :func:`num_batches` batches, the last one smaller
    unless ``drop_last`` is set.

    Args:
        num_examples: size of the set the indices point into.
        batch_size: examples per batch. Without replacement it is at most
            ``num_examples``, and ``num_examples`` itself is one full batch.
        generator: the random number generator, advanced by each epoch drawn.
            When None, torch's global generator is used, which
            ``seed_everything`` seeds.
        shuffle: draw a random order. It must be True with replacement.
        replacement: draw each index independently and uniformly.
        drop_last: leave out the last batch when it is smaller than
            ``batch_size``.
        device: where the index tensors are placed; the CPU when None.

    Raises:
        ValueError: a size that is not a positive integer, a batch larger
            than the set without replacement, or replacement without shuffle.
    """
    _check_positive_int("num_examples", num_examples)
    _check_positive_int("batch_size", batch_size)
    if replacement and not shuffle:
        raise ValueError(
            "replacement=True draws random indices, so it needs shuffle=True"
        )
    if batch_size > num_examples and not replacement:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {num_examples} examples; "
            f"use at most {num_examples} (one full batch) or replacement=True"
        )
    count = num_batches(num_examples, batch_size, drop_last=drop_last)
    total = count * batch_size if drop_last else num_examples
    if replacement:
        order = torch.randint(num_examples, (total,), generator=generator)
    elif shuffle:
        order = torch.randperm(num_examples, generator=generator)[:total]
    else:
        order = torch.arange(total)
    if device is not None:
        order = order.to(device)
    return torch.split(order, batch_size)


def iterate_batches(
    x: Tensor,
    y: Tensor,
    batch_size: int,
    *,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    replacement: bool = False,
    drop_last: bool = False,
) -> Iterator[tuple[Tensor, Tensor]]:
    """Return an iterator over the ``(x, y)`` mini-batches of one epoch.

    The batches index ``x`` and ``y`` along their first dimension in the
    order :func:`batch_indices` gives, on the device of ``x``. The epoch's
    order is drawn, and the arguments checked, when this function is called.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            f"x has {x.shape[0]} examples but y has {y.shape[0]}; "
            f"they must have the same first dimension"
        )
    indices = batch_indices(
        x.shape[0],
        batch_size,
        generator=generator,
        shuffle=shuffle,
        replacement=replacement,
        drop_last=drop_last,
        device=x.device,
    )
    return ((x[index], y[index]) for index in indices)


__all__ = [
    "DATASETS",
    "Dataset",
    "batch_indices",
    "iterate_batches",
    "load_breast_cancer",
    "load_dataset",
    "load_diabetes",
    "load_digits",
    "load_wine",
    "num_batches",
]
