"""Execute notebooks in place (the stored outputs of `make outputs`): python tools/execute.py NOTEBOOK..."""

import sys
from pathlib import Path

import nbformat
from notebook_client import RobustNotebookClient


def execute_in_place(notebook: Path) -> None:
    """Run every cell in the notebook's folder and write the outputs back."""
    nb = nbformat.read(notebook, as_version=4)
    RobustNotebookClient(nb, timeout=600, kernel_name="python3",
                         resources={"metadata": {"path": str(notebook.parent)}}).execute()
    nbformat.write(nb, notebook)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"executing {name}", flush=True)
        execute_in_place(Path(name))
