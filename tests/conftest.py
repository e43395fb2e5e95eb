"""Shared fixtures of the course_lib tests: a fixed seed for every test, and the dtypes to run in (tolerances.py)."""

import pytest
import torch
from tolerances import DTYPES

torch.set_num_threads(1)  # the test machine is shared: one thread keeps every test small and steady


@pytest.fixture(autouse=True)
def seed():
    """Every test starts from the same random state."""
    torch.manual_seed(0)
    return 0


@pytest.fixture(params=DTYPES, ids=["float64", "float32"])
def dtype(request) -> torch.dtype:
    """Run a test in float64 (tolerance 1e-10) and float32 (tolerance 1e-5)."""
    return request.param
