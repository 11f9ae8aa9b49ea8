"""Errors raised by the checks, and hints for errors raised anywhere else.

Every check failure is a :class:`GradingError`, a subclass of
``AssertionError``, so nbgrader and pytest count it as a failed test. Its
message says what differs from the oracle and, when the learner's result
matches a known wrong variant, names the mistake and the fix.

:func:`hint_for_error` turns any other error that ends a test cell
(``NotImplementedError`` from a stub, a ``NameError``, a timeout) into a
sentence for the learner; ``python -m course_lib.grade`` prints it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# Longest hint the learner command prints; a learner's exception message can
# hold megabytes.
MAX_HINT_CHARS = 600

# Error names that course_lib.grading.execution writes into the outputs of a
# cell that stopped the kernel or ran past the per-cell timeout.
TIMEOUT_ERROR = "CellTimeoutError"
DEAD_KERNEL_ERROR = "DeadKernelError"


class GradingError(AssertionError):
    """A check found a wrong result; the message says what to fix."""


class WrongTypeError(GradingError):
    """The learner's function returned something that is not a number or tensor."""


class WrongShapeError(GradingError):
    """The learner's result has another shape than the oracle's."""


class WrongValueError(GradingError):
    """The learner's result differs from the oracle's, for no known reason."""


class LearnerCodeError(GradingError):
    """Calling the learner's function raised an exception."""


class KnownMistakeError(GradingError):
    """The learner's result matches a known wrong variant of the computation."""

    def __init__(self, message: str, mistake: Mistake) -> None:
        super().__init__(message)
        self.mistake = mistake


@dataclass(frozen=True)
class Mistake:
    """A wrong variant of a computation, with the hint that names it.

    Attributes:
        name: a short identifier, such as ``"eps_inside_sqrt"``; tests match
            on it.
        hint: one or two sentences for the learner: what the mistake is and
            what the right computation does.
        result: what the wrong variant computes on the check's inputs, in the
            same form as the correct result (a float64 tensor or a float).
    """

    name: str
    hint: str
    result: Any


def shorten(text: str, limit: int = MAX_HINT_CHARS) -> str:
    """Cut ``text`` to at most ``limit`` characters, marking the cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 25].rstrip() + f" ... [{len(text) - limit + 25} more chars]"


_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def strip_ansi(text: str) -> str:
    """Remove the terminal colour codes that IPython puts into tracebacks."""
    return _ANSI_ESCAPE.sub("", text)


def hint_for_error(ename: str, evalue: str) -> str:
    """Return a sentence for the learner about an error that ended a test cell.

    Args:
        ename: the exception's class name, as in a notebook's error output.
        evalue: the exception's message.
    """
    evalue = strip_ansi(evalue).strip()
    if ename == "NotImplementedError":
        return (
            "The function still raises NotImplementedError: replace the "
            "`raise NotImplementedError()` line in its solution cell with your code."
        )
    if ename == "NameError":
        return shorten(
            f"{evalue}. Run the cell that defines it, and make sure that cell "
            "finishes without an error."
        )
    if ename == TIMEOUT_ERROR:
        return shorten(
            f"{evalue}. Look for a loop that never ends, or make the code faster."
        )
    if ename == DEAD_KERNEL_ERROR:
        return shorten(evalue)
    if ename in ("SystemExit", "KeyboardInterrupt"):
        return (
            f"The cell raised {ename}. Remove the sys.exit(), exit() or input() "
            "call from your code."
        )
    if evalue:
        return shorten(f"{ename}: {evalue}")
    return f"{ename} was raised."
