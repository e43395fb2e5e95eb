"""The machinery every checker shares: run cases, compare, and report in one line the learner can act on.

A checker never raises. It prints `✔ name: all N checks passed`, or one `✘` line that names the input, the expected
and the actual value and gives a hint at the likely cause, or `✘ name: not implemented yet — ...` for an unfinished
stub. So *Run All* carries on past an exercise that is not done yet. `outcome(check, fn)` returns that line as a
string, for tests and for grading handouts.

The hint is chosen in this order: a known mistake (`Mistake`) whose output the learner's output equals on the failing
input; else the failing case's own hint; else the checker's general hint.
"""

import contextlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth")


@dataclass
class CheckCase:
    """One input to try: its description for the message, the arguments, the expected result and what it tests."""

    description: str
    args: tuple
    expected: object
    kwargs: dict = field(default_factory=dict)
    hint: str | None = None


@dataclass(frozen=True)
class Mistake:
    """A known wrong answer: `fn` makes it (same arguments as the exercise); `hint` says what went wrong."""

    hint: str
    fn: Callable


class CheckFailed(AssertionError):
    """Raised by a checker's probe to fail the current case with its own words (and, optionally, its own hint)."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def short(value) -> str:
    """A compact, rounded rendering of a value for a message."""
    if isinstance(value, torch.Tensor):
        shown = value.detach().to(torch.float64).round(decimals=4) if value.is_floating_point() else value
        more = " ..." if value.numel() > 8 else ""
        return f"tensor of shape {tuple(value.shape)}: {shown.flatten()[:8].tolist()}{more}"
    if isinstance(value, float):
        return repr(round(value, 6))
    if isinstance(value, list | tuple):  # a list where a tensor was due, say: each item short, on one line
        inner = ", ".join(short(item) for item in value[:8]) + (", ..." if len(value) > 8 else "")
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    return " ".join(repr(value).split())  # one line, whatever the object's repr


def _returned(i: int, count: int, names: Sequence[str] | None) -> str:
    """How a message names the i-th of `count` returned values: its name, else 'the first of the 2 returned values'."""
    if names and len(names) == count:
        return names[i]
    return f"the {ORDINALS[i] if i < len(ORDINALS) else f'#{i + 1}'} of the {count} returned values"


def compare(got, expected, atol: float, names: Sequence[str] | None = None) -> str | None:
    """None when `got` matches `expected`, else why not, in words."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got {type(got).__name__}"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
        if expected.dtype == torch.bool and got.dtype != torch.bool:
            return f"expected a bool tensor (True/False), got dtype {got.dtype}: {short(got)}"
        if not expected.is_floating_point() and expected.dtype != torch.bool and got.is_floating_point():
            return f"expected integers ({expected.dtype}), got dtype {got.dtype}: {short(got)}"
        if expected.dtype == torch.bool or not expected.is_floating_point():
            if not torch.equal(got.to(expected.dtype), expected):
                return f"expected {short(expected)}, got {short(got)}"
            return None
        if not got.is_floating_point() and got.dtype != torch.bool:
            got = got.to(expected.dtype)
        if torch.isnan(got).any():
            return f"got NaN: {short(got)}"
        diff = (got.to(expected.dtype) - expected).abs().max().item()
        if diff > atol:
            return f"expected {short(expected)}, got {short(got)} (max difference {diff:.3g})"
        return None
    if isinstance(expected, tuple):
        if not isinstance(got, tuple) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {short(got)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            why = compare(g, e, atol)
            if why:
                return f"{_returned(i, len(expected), names)}: {why}"
        return None
    if isinstance(expected, float) and isinstance(got, int | float) and not isinstance(got, bool):
        return None if math.isclose(got, expected, abs_tol=atol) else f"expected {short(expected)}, got {short(got)}"
    return None if got == expected else f"expected {short(expected)}, got {short(got)}"


def _same(got, mistaken, atol: float) -> bool:
    """Whether `got` equals a known mistake's output (NaN where it has NaN)."""
    if isinstance(mistaken, torch.Tensor):
        return (isinstance(got, torch.Tensor) and got.shape == mistaken.shape
                and torch.allclose(got.detach().to(torch.float64), mistaken.detach().to(torch.float64),
                                   atol=atol, rtol=0.0, equal_nan=True))
    if isinstance(mistaken, tuple):
        return (isinstance(got, tuple) and len(got) == len(mistaken)
                and all(_same(g, m, atol) for g, m in zip(got, mistaken, strict=True)))
    return compare(got, mistaken, atol) is None


def _diagnose(got, case: CheckCase, call: Callable, mistakes: Sequence[Mistake], atol: float) -> str | None:
    """The hint of the first known mistake whose output on `case` equals `got`."""
    for mistake in mistakes:
        try:
            mistaken = call(mistake.fn, case)
        except Exception:  # a mistake that cannot run on this input explains nothing here
            continue
        if _same(got, mistaken, atol):
            return mistake.hint
    return None


def first_failure(name: str, fn: Callable, cases: Sequence[CheckCase], *, hint: str, atol: float = 1e-5,
                  mistakes: Sequence[Mistake] = (), probe: Callable | None = None,
                  names: Sequence[str] | None = None) -> str | None:
    """The ✘ line for the first case `fn` fails, or None when it passes them all.

    `probe(fn, *args, **kwargs)`, when given, computes what a case compares (for exercises that build a module,
    say); known mistakes go through the same probe.
    """

    def call(function: Callable, case: CheckCase):
        if probe is None:
            return function(*case.args, **case.kwargs)
        return probe(function, *case.args, **case.kwargs)

    for case in cases:
        try:
            got = call(fn, case)
        except NotImplementedError:
            return f"✘ {name}: not implemented yet — write it in the cell above"
        except CheckFailed as failed:  # a probe found something wrong and said what
            return f"✘ {name} failed on {case.description}: {failed}. Hint: {failed.hint or case.hint or hint}"
        except Exception as err:  # a crash is a failure on this input: say which one
            return (f"✘ {name} failed on {case.description}: it raised {type(err).__name__}: {err}. "
                    f"Hint: {case.hint or hint}")
        why = compare(got, case.expected, atol, names)
        if why:
            cause = _diagnose(got, case, call, mistakes, atol) or case.hint or hint
            return f"✘ {name} failed on {case.description}: {why}. Hint: {cause}"
    return None


def run_checks(name: str, fn: Callable, cases: Sequence[CheckCase], *, hint: str, atol: float = 1e-5,
               mistakes: Sequence[Mistake] = (), probe: Callable | None = None,
               names: Sequence[str] | None = None) -> None:
    """Try `fn` on every case and print one line: ✔ when all pass, else the ✘ line of the first failure."""
    verdict = first_failure(name, fn, cases, hint=hint, atol=atol, mistakes=mistakes, probe=probe, names=names)
    print(verdict or f"✔ {name}: all {len(cases)} checks passed")


def outcome(check: Callable, fn: Callable) -> str:
    """What `check(fn)` tells the learner, as a string: the ✔ or ✘ line it prints."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        check(fn)
    return printed.getvalue().strip()
