"""Student handouts: no solutions, no outputs, and they run with only the unfinished checkers failing."""

import re

import nbformat
import pytest
from edition_tools import NOTEBOOKS, ROOT, RobustNotebookClient, build_edition, notebook_params


def tagged(nb, tag: str) -> list[str]:
    """Sources of the cells tagged `tag`, in order."""
    return [c.source for c in nb.cells if tag in c.metadata.get("tags", [])]


def checker_calls(nb) -> list[str]:
    """Every line outside solution cells that calls a `check_...` checker, in order."""
    return [line.strip() for c in nb.cells if "solution" not in c.metadata.get("tags", [])
            for line in c.source.splitlines() if re.search(r"\bcheck_\w+\s*\(", line)]


def test_student_notebooks_keep_stubs_and_checkers_and_lose_solutions_and_outputs(tmp_path):
    build_edition("student", NOTEBOOKS, tmp_path)
    for notebook in NOTEBOOKS:
        source, student = nbformat.read(notebook, as_version=4), nbformat.read(tmp_path / notebook.name, as_version=4)
        name = notebook.name
        assert tagged(student, "exercise") == tagged(source, "exercise"), f"{name}: an exercise stub was changed"
        assert checker_calls(student) == checker_calls(source), f"{name}: a checker call was lost"
        assert tagged(student, "solution") == [], f"{name}: a solution cell was left in"
        code = [c for c in student.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name}: outputs were left in"
        if tagged(source, "solution"):  # an exercise notebook keeps something to do and something that checks it
            assert tagged(student, "exercise") and checker_calls(student), f"{name}: no exercise or checker left"


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
    # run where a learner would, in a notebooks/ folder, but a private one: what a notebook writes to ../build
    # (12's training run) neither races with other runs nor resumes from their checkpoints
    workdir = tmp_path / "course" / "notebooks"
    if (ROOT / "shared").is_dir():
        workdir.parent.mkdir()
        (workdir.parent / "shared").symlink_to(ROOT / "shared")  # read-only data, e.g. 12's optional corpus
    build_edition("student", [notebook], workdir)
    nb = nbformat.read(workdir / notebook.name, as_version=4)
    assert not [c for c in nb.cells if "solution" in c.metadata.get("tags", [])], "a solution cell was left in"
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "outputs were left in"
    exercises = sum("exercise" in c.metadata.get("tags", []) for c in nb.cells)

    RobustNotebookClient(nb, timeout=600, allow_errors=True,
                         resources={"metadata": {"path": str(workdir)}}).execute()

    failed = failing_cells(nb)
    for source, error in failed:
        assert "check_" in source and "not implemented yet" in error, (
            f"a cell that is not an unfinished checker failed in the student {notebook.name}:\n{source}\n{error}")
    # every exercise leaves at least one checker saying "not implemented yet"
    assert len(failed) >= exercises
