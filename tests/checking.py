"""Shared by the checker tests: what a checker told the learner, and assertions on it."""

import re

import torch

from course_lib.checks.core import outcome


def says(check, fn) -> str:
    """The one line `check(fn)` prints, without its ✔/✘ mark."""
    return outcome(check, fn).removeprefix("✔ ").removeprefix("✘ ")


def fails_with(check, fn, pattern: str) -> str:
    """Assert that `check(fn)` prints a ✘ line matching `pattern` (searched after the mark); return the line."""
    line = outcome(check, fn)
    assert line.startswith("✘ "), f"expected a ✘ line, got: {line}"
    assert re.search(pattern, line[2:]), f"{pattern!r} not found in: {line}"
    return line


def leaves_the_random_stream_alone(check, fn) -> bool:
    """Whether `check(fn)` leaves torch's global random stream where it found it (checkers seed their own)."""
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    outcome(check, fn)
    return torch.equal(torch.rand(3), expected)
