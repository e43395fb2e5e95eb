"""Shared by the checker tests: what a checker told the learner, and assertions on it."""

import re

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
