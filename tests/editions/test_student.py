"""Student handouts: no solutions, no outputs; Run All reports every exercise in one line, done or not, and goes on."""

import ast
import re

import nbformat
import pytest
from edition_tools import NOTEBOOKS, ROOT, RobustNotebookClient, build_edition, notebook_params
from wrong_answers import WRONG_ANSWERS


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


IMPORTS = "import math\n\nimport torch\nfrom torch import nn\n\nimport course_lib\n"
NOT_DONE = "✘ {name}: not implemented yet — write it in the cell above"
ANSWERS = ["untouched", "plausible", "trivial"]


def stub_name(cell) -> str:
    """The one function an exercise stub asks for."""
    return re.search(r"^def (\w+)", cell.source, re.MULTILINE).group(1)


def trivially_wrong(stub: str) -> str:
    """The stub, answering with its first argument (or None) instead of raising NotImplementedError."""
    parameters = ast.parse(stub).body[0].args.args
    return stub.replace("raise NotImplementedError", f"return {parameters[0].arg if parameters else None}")


def answered(stub, notebook: str, answers: str) -> str:
    """The stub cell's source as a learner left it: untouched, or a plausible or trivial wrong answer typed in."""
    if answers == "untouched":
        return stub.source
    if answers == "trivial":
        return trivially_wrong(stub.source)
    wrong = WRONG_ANSWERS.get(notebook, {}).get(stub_name(stub))
    assert wrong, f"tests/editions/wrong_answers.py has no plausible wrong answer for {notebook}: {stub_name(stub)}"
    return IMPORTS + wrong.strip() + "\n"


def printed(cell) -> str:
    """What a code cell printed on stdout."""
    return "".join(out.text for out in cell.get("outputs", []) if out.output_type == "stream" and out.name == "stdout")


@pytest.mark.parametrize("answers", ANSWERS)
@pytest.mark.parametrize("notebook", notebook_params())
def test_run_all_reports_every_exercise_in_one_line_and_carries_on(notebook, answers, tmp_path, monkeypatch):
    # the student edition, run top to bottom the way a learner's Run All does (the first error would stop it), with
    # every stub untouched, or with a wrong answer typed into every stub: each exercise's own check prints one line
    # naming its function, and every other cell still runs
    workdir = tmp_path / "course" / "notebooks"
    if (ROOT / "shared").is_dir():
        workdir.parent.mkdir()
        (workdir.parent / "shared").symlink_to(ROOT / "shared")  # read-only data, e.g. 12's optional corpus
    build_edition("student", [notebook], workdir)
    nb = nbformat.read(workdir / notebook.name, as_version=4)
    stubs = [i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]
    assert stubs, f"{notebook.name} has no exercise"
    for i in stubs:
        nb.cells[i].source = answered(nb.cells[i], notebook.stem, answers)
    monkeypatch.setenv("COURSE_BUDGET", "small")  # training notebooks take their slow-machine budget

    RobustNotebookClient(nb, timeout=600, resources={"metadata": {"path": str(workdir)}}).execute()

    for i in stubs:
        name, line = stub_name(nb.cells[i]), printed(nb.cells[i + 1])
        if answers == "untouched":
            assert line == NOT_DONE.format(name=name) + "\n", f"{notebook.name}: {name}'s check printed {line!r}"
        else:
            assert line.startswith(f"✘ {name} failed on ") and line.count("\n") == 1 and "Hint: " in line, (
                f"{notebook.name}: {name}'s check of a {answers} wrong answer printed {line!r}")
    tracebacks = [c.source for c in nb.cells if c.cell_type == "code" and any(
        "Traceback" in str(out) for out in c.get("outputs", []))]
    assert not tracebacks, f"{notebook.name}: tracebacks in {tracebacks}"


def test_every_exercise_has_a_plausible_wrong_answer():
    known = {(notebook.stem, stub_name(cell)) for notebook in NOTEBOOKS
             for cell in nbformat.read(notebook, as_version=4).cells if "exercise" in cell.metadata.get("tags", [])}
    listed = {(stem, name) for stem, answers in WRONG_ANSWERS.items() for name in answers}
    assert known == listed, f"missing: {sorted(known - listed)}; no longer exercises: {sorted(listed - known)}"
