"""Conversion and comparison of a learner's results against an oracle.

A check never trusts the returned object: :func:`to_tensor` and
:func:`to_float` build a fresh float64 CPU tensor or a Python float from it
(a tensor subclass is unwrapped first, so its ``__eq__`` or
``__torch_function__`` never runs), and :func:`assert_matches` compares that
copy with ``torch.testing.assert_close``. When the values differ, it tries
each known wrong variant and, if one matches, raises
:class:`~course_lib.grading.feedback.KnownMistakeError` with its hint.
"""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from torch import Tensor

from course_lib.grading.feedback import (
    KnownMistakeError,
    LearnerCodeError,
    Mistake,
    WrongShapeError,
    WrongTypeError,
    WrongValueError,
)

# Tolerances of a result that reproduces the oracle's formula in float64.
# They also accept a learner who computes in float32 in places, and every
# mistake a check recognizes changes the result by far more than this.
RTOL = 1e-5
ATOL = 1e-8

CheckFunction = TypeVar("CheckFunction", bound=Callable[..., str])


def generator(seed: int) -> torch.Generator:
    """Return a CPU generator seeded with ``seed``, for a check's inputs."""
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, gen: torch.Generator, scale: float = 1.0) -> Tensor:
    """Draw a float64 tensor of standard normal values times ``scale``."""
    return torch.randn(*shape, generator=gen, dtype=torch.float64) * scale


def quiet_check(check: CheckFunction) -> CheckFunction:
    """Make a check drop the warnings raised while it runs.

    nbgrader gives zero points to a test cell that writes to stderr, where
    Python prints warnings, and a warning from torch or from the learner's
    code is no mistake in the result.
    """

    @functools.wraps(check)
    def quiet(*args: Any, **kwargs: Any) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return check(*args, **kwargs)

    return quiet  # type: ignore[return-value]


def call_learner(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function and return its result.

    ``NotImplementedError`` (the exercise stub) passes through unchanged.
    Any other exception becomes a :class:`LearnerCodeError` that shows the
    call, chained to the original so its traceback stays visible.
    """
    if not callable(function):
        raise WrongTypeError(
            f"expected a function, got {type(function).__name__}; pass the "
            "function itself, without calling it"
        )
    name = getattr(function, "__name__", "the function")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as error:
        call = _describe_call(name, args, kwargs)
        raise LearnerCodeError(
            f"{call} raised {type(error).__name__}: {error}"
        ) from error


def _describe_call(name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    parts = [_describe_value(value) for value in args]
    parts += [f"{key}={_describe_value(value)}" for key, value in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _describe_value(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"<tensor of shape {tuple(value.shape)}>"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{key!r}: ..." for key in value) + "}"
    if callable(value):
        return getattr(value, "__name__", "<function>")
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def to_tensor(value: Any, *, what: str, expected: str = "a torch.Tensor") -> Tensor:
    """Copy a learner's result into a new float64 CPU tensor.

    Accepts a tensor (of any subclass, device and floating or integer dtype),
    a NumPy array or scalar, a Python number, or a nested list or tuple of
    numbers.

    Raises:
        WrongTypeError: anything else, such as ``None``, a bool, a complex
            value or an object that only pretends to be equal.
    """
    if isinstance(value, Tensor):
        # Unwrapping to a plain Tensor skips a subclass's __torch_function__
        # and __eq__, which could otherwise change what the copy computes.
        plain = Tensor.as_subclass(value, Tensor).detach()
        if plain.is_sparse:
            plain = plain.to_dense()
        if plain.is_complex() or plain.dtype == torch.bool:
            raise WrongTypeError(
                f"{what} is a tensor of dtype {plain.dtype}; expected real numbers"
            )
        return plain.to(device="cpu", dtype=torch.float64, copy=True)
    if isinstance(value, bool | np.bool_) or value is None:
        raise WrongTypeError(f"{what} is {value!r}; expected {expected}")
    if isinstance(value, np.ndarray | np.number):
        array = np.asarray(value)
        if array.dtype.kind not in "iuf":
            raise WrongTypeError(
                f"{what} is a NumPy array of dtype {array.dtype}; expected real numbers"
            )
        return torch.tensor(array.astype(np.float64))
    if isinstance(value, numbers.Real):
        return torch.tensor(float(value), dtype=torch.float64)
    if isinstance(value, list | tuple):
        try:
            items = [to_tensor(item, what=what) for item in value]
            return torch.stack(items) if items else torch.zeros(0, dtype=torch.float64)
        except (WrongTypeError, RuntimeError) as error:
            raise WrongTypeError(
                f"{what} is a {type(value).__name__} that is not a regular array "
                f"of numbers ({error}); return a torch.Tensor"
            ) from None
    raise WrongTypeError(f"{what} is a {type(value).__name__}; expected {expected}")


def to_float(value: Any, *, what: str) -> float:
    """Convert a learner's scalar result (a number or one-element tensor) to float.

    Raises:
        WrongTypeError: the value is not a real number.
        WrongShapeError: the value contains more than one number.
    """
    tensor = to_tensor(value, what=what, expected="a number")
    if tensor.numel() != 1:
        raise WrongShapeError(
            f"{what} has shape {tuple(tensor.shape)}; expected a single number"
        )
    return float(tensor.reshape(()).item())


def to_tuple(value: Any, length: int, *, what: str) -> tuple[Any, ...]:
    """Check that a learner's result is a tuple or list of ``length`` items."""
    if isinstance(value, Tensor) or not isinstance(value, tuple | list):
        raise WrongTypeError(
            f"{what} is a {type(value).__name__}; expected a tuple of {length} values"
        )
    if len(value) != length:
        raise WrongTypeError(
            f"{what} has {len(value)} items; expected a tuple of {length} values"
        )
    return tuple(value)


def is_close(
    actual: Tensor, expected: Tensor, *, rtol: float = RTOL, atol: float = ATOL
) -> bool:
    """Tell whether two tensors of one shape agree, NaN matching NaN."""
    if actual.shape != expected.shape:
        return False
    try:
        torch.testing.assert_close(
            actual, expected, rtol=rtol, atol=atol, equal_nan=True
        )
    except AssertionError:
        return False
    return True


def assert_matches(
    actual: Tensor | float,
    expected: Tensor | float,
    *,
    what: str,
    oracle: str,
    mistakes: Iterable[Mistake] = (),
    rtol: float = RTOL,
    atol: float = ATOL,
) -> None:
    """Assert that a learner's converted result equals the oracle's.

    Args:
        actual: the learner's result, already converted by :func:`to_tensor`
            or :func:`to_float`.
        expected: the oracle's result.
        what: names the value in messages, e.g. ``"the step of adam_step at
            step 3"``.
        oracle: names the reference, e.g. ``"torch.optim.Adam"``.
        mistakes: known wrong variants; the first whose result matches
            ``actual`` names the mistake in the error.

    Raises:
        KnownMistakeError: ``actual`` matches one of ``mistakes``.
        WrongShapeError: the shapes differ and no mistake explains it.
        WrongValueError: the values differ and no mistake explains it.
    """
    actual_tensor = torch.as_tensor(actual, dtype=torch.float64)
    expected_tensor = torch.as_tensor(expected, dtype=torch.float64)
    if is_close(actual_tensor, expected_tensor, rtol=rtol, atol=atol):
        return

    for mistake in mistakes:
        variant = torch.as_tensor(mistake.result, dtype=torch.float64)
        if is_close(actual_tensor, variant, rtol=rtol, atol=atol):
            raise KnownMistakeError(
                f"{what} differs from {oracle}. {mistake.hint}", mistake
            )

    if actual_tensor.shape != expected_tensor.shape:
        raise WrongShapeError(
            f"{what} has shape {tuple(actual_tensor.shape)}; {oracle} gives shape "
            f"{tuple(expected_tensor.shape)}"
        )
    raise WrongValueError(
        f"{what} differs from {oracle}: "
        + describe_difference(actual_tensor, expected_tensor, rtol=rtol, atol=atol)
    )


def describe_difference(
    actual: Tensor, expected: Tensor, *, rtol: float = RTOL, atol: float = ATOL
) -> str:
    """Describe where two tensors of one shape differ most, in one sentence."""
    finite_expected = bool(torch.isfinite(expected).all())
    if finite_expected and not bool(torch.isfinite(actual).all()):
        count = int((~torch.isfinite(actual)).sum())
        return (
            f"{count} of {actual.numel()} values are NaN or infinite (the oracle's "
            "are all finite); look for a division by zero or an overflow"
        )
    difference = (actual - expected).abs()
    bad = difference > atol + rtol * expected.abs()
    flat_index = int(torch.argmax(torch.where(bad, difference, -1.0)))
    index = tuple(int(i) for i in np.unravel_index(flat_index, tuple(actual.shape)))
    got = float(actual.reshape(-1)[flat_index])
    want = float(expected.reshape(-1)[flat_index])
    where = f" at index {index}" if actual.ndim else ""
    return (
        f"{int(bad.sum())} of {actual.numel()} values differ; the largest "
        f"absolute difference is {float(difference.max()):.3g}{where} "
        f"(got {_format_number(got)}, expected {_format_number(want)})"
    )


def _format_number(value: float) -> str:
    if math.isfinite(value):
        return f"{value:.6g}"
    return str(value)
