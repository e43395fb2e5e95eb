"""Shared by the edition tests: built from the instructor notebooks with tools/editions.py, the command `make` runs."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
from notebook_client import RobustNotebookClient  # noqa: E402, F401  (tools/ is not a package; re-exported)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def build_edition(edition: str, notebooks: list[Path], out: Path, *options: str) -> None:
    """Run `tools/editions.py <edition>` as a learner or instructor would."""
    subprocess.run([sys.executable, str(ROOT / "tools" / "editions.py"), edition, "--out", str(out), *options,
                    *map(str, notebooks)], check=True, cwd=ROOT, capture_output=True, text=True)


def notebook_params():
    """One pytest parameter per course notebook, named by its file."""
    return [pytest.param(nb, id=nb.stem) for nb in NOTEBOOKS]
