"""Student handouts: no solutions, no outputs, and they run with only the unfinished checkers failing."""

import nbformat
import pytest
from edition_tools import ROOT, RobustNotebookClient, build_edition, notebook_params


def failing_cells(nb) -> list[tuple[str, str]]:
    """(source, error) of every code cell that raised when the notebook ran."""
    failed = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                failed.append((cell.source, f"{out.ename}: {out.evalue}"))
    return failed


@pytest.mark.parametrize("notebook", notebook_params())
def test_student_notebook_runs_with_only_checkers_failing(notebook, tmp_path):
    build_edition("student", [notebook], tmp_path)
    nb = nbformat.read(tmp_path / notebook.name, as_version=4)
    assert not [c for c in nb.cells if "solution" in c.metadata.get("tags", [])], "a solution cell was left in"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "outputs were left in"
    exercises = sum("exercise" in c.metadata.get("tags", []) for c in nb.cells)

    RobustNotebookClient(nb, timeout=600, allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()

    failed = failing_cells(nb)
    for source, error in failed:
        assert "check_" in source and "not implemented yet" in error, (
            f"a cell that is not an unfinished checker failed in the student {notebook.name}:\n{source}\n{error}")
    # every exercise leaves at least one checker saying "not implemented yet"
    assert len(failed) >= exercises
