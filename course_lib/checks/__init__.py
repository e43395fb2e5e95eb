"""Checkers for the notebooks' exercises: `check_<name>(fn)` tests a learner's function on several inputs.

A checker never raises, so Run All goes on past an unfinished exercise: it prints one line, `✔` on a pass, `✘` with
the input, the expected and the actual value and a hint at the likely cause on a failure, or "not implemented yet" on
a stub. `core.outcome(check, fn)` returns that line as a string.
One topic per module (`checks.attention`, ...); every `check_*` function of every topic module is
re-exported here, so a notebook calls `course_lib.checks.check_<name>(fn)`.
"""

import importlib
import pkgutil

from .core import CheckCase, CheckFailed, Mistake, outcome, run_checks

__all__ = ["CheckCase", "CheckFailed", "Mistake", "outcome", "run_checks"]


def _export_topic_checkers() -> None:
    """Import each topic module and lift its `check_*` functions into this package."""
    for info in pkgutil.iter_modules(__path__):
        if info.name == "core":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name in dir(module):
            if name.startswith("check_"):
                globals()[name] = getattr(module, name)
                __all__.append(name)


_export_topic_checkers()
