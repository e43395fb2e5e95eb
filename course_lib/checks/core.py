"""The machinery every checker shares: run cases, compare, and report in one clear sentence."""

from collections.abc import Callable
from dataclasses import dataclass, field

import torch


@dataclass
class CheckCase:
    """One input to try: a description for the message, the arguments, and the expected result."""

    description: str
    args: tuple
    expected: object
    kwargs: dict = field(default_factory=dict)


def _short(value) -> str:
    """A compact, rounded rendering of a value for an error message."""
    if isinstance(value, torch.Tensor):
        shown = value.detach().to(torch.float64).round(decimals=4) if value.is_floating_point() else value
        more = " ..." if value.numel() > 8 else ""
        return f"tensor of shape {tuple(value.shape)}: {shown.flatten()[:8].tolist()}{more}"
    return repr(value)


def _compare(got, expected, atol: float) -> str | None:
    """None when `got` matches `expected`, else why not."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(got, torch.Tensor):
            return f"expected a tensor, got {type(got).__name__}"
        if got.shape != expected.shape:
            return f"expected shape {tuple(expected.shape)}, got shape {tuple(got.shape)}"
        if expected.dtype == torch.bool or not expected.is_floating_point():
            if not torch.equal(got.to(expected.dtype), expected):
                return f"expected {_short(expected)}, got {_short(got)}"
            return None
        if torch.isnan(got).any():
            return f"got NaN: {_short(got)}"
        diff = (got.to(expected.dtype) - expected).abs().max().item()
        if diff > atol:
            return f"expected {_short(expected)}, got {_short(got)} (max difference {diff:.3g})"
        return None
    if isinstance(expected, tuple):
        if not isinstance(got, tuple) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)} values, got {_short(got)}"
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            why = _compare(g, e, atol)
            if why:
                return f"item {i}: {why}"
        return None
    return None if got == expected else f"expected {_short(expected)}, got {_short(got)}"


def run_checks(name: str, fn: Callable, cases: list[CheckCase], atol: float = 1e-5) -> None:
    """Call `fn` on every case; print one success line, or raise AssertionError on the first failure."""
    for case in cases:
        try:
            got = fn(*case.args, **case.kwargs)
        except NotImplementedError:
            raise AssertionError(f"{name}: not implemented yet (replace `raise NotImplementedError`)") from None
        except AssertionError:  # a case that checks by calling fn itself already said what went wrong
            raise
        except Exception as err:  # a crash is a failure on this input: say which one
            raise AssertionError(f"{name} failed on {case.description}: it raised {type(err).__name__}: {err}") from err
        why = _compare(got, case.expected, atol)
        if why:
            raise AssertionError(f"{name} failed on {case.description}: {why}")
    print(f"✔ {name}: all {len(cases)} checks passed")
