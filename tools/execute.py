"""Execute notebooks in place (the stored outputs of `make outputs`): python tools/execute.py NOTEBOOK..."""

import sys
from pathlib import Path

import nbformat
from notebook_client import RobustNotebookClient


def coalesce_streams(outputs: list) -> list:
    """Adjacent stdout (or stderr) chunks as one output, as nbval compares them: a print split by the kernel's
    flush timing is stored as the one stream it is."""
    merged = []
    for output in outputs:
        if (merged and output.output_type == "stream" and merged[-1].output_type == "stream"
                and merged[-1].name == output.name):
            merged[-1].text += output.text
        else:
            merged.append(output)
    return merged


def execute_in_place(notebook: Path) -> None:
    """Run every cell in the notebook's folder and write the outputs back."""
    nb = nbformat.read(notebook, as_version=4)
    RobustNotebookClient(nb, timeout=600, kernel_name="python3",
                         resources={"metadata": {"path": str(notebook.parent)}}).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
    nbformat.write(nb, notebook)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"executing {name}", flush=True)
        execute_in_place(Path(name))
