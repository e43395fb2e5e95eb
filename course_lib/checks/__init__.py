"""Checkers for the notebooks' exercises: `check_<name>(fn)` tests a learner's function on several inputs.

A checker prints one success line on a pass; on a failure it raises AssertionError naming the input,
what was expected and what came back; on an unfinished stub it says "not implemented yet".
One topic per module (`checks.attention`, ...); every checker is re-exported here.
"""

from .core import CheckCase, run_checks

__all__ = ["CheckCase", "run_checks"]
