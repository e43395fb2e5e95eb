"""Static checks of every course notebook's file: glossary terms, tags, nbval hygiene, slides, exercises, outputs.

Everything is read from the .ipynb files themselves (nothing is executed), so a new notebook is checked as soon as
it lands in notebooks/.
"""

import ast
import io
import json
import keyword
import re
import tokenize
from pathlib import Path

import pytest

from course_lib.glossary import GLOSSARY

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
VIZ_DIR = NOTEBOOK_DIR.parent / "course_lib" / "viz"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9]*.ipynb"))

# Cell tags a notebook may carry. nbval-skip is left out on purpose: a skipped cell's state never reaches the
# cells after it under nbval, and its stored output is never compared.
ALLOWED_TAGS = {"exercise", "solution", "nbval-ignore-output", "raises-exception"}
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
MIN_SLIDES = 8
MAX_IGNORED_SHARE = 0.15
CJK = re.compile(r"[\u3400-\u9fff]")
CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
FULL_WIDTH_PARENS = re.compile(r"（([^（）]*)）")
TERM_SEPARATORS = re.compile(r"[，、；;,/]")
DEFINED_NAME = re.compile(r"^(?:def|class)\s+([A-Za-z_]\w*)", re.MULTILINE)
MEMORY_ADDRESS = re.compile(r"0x[0-9a-f]{6,}")
TEXT_MIME_TYPES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")


def load(path: Path) -> dict:
    """The notebook as plain JSON, with every cell's source joined into one string."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        cell["source"] = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
    return nb


def tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def code_cells(nb: dict) -> list[dict]:
    return [cell for cell in nb["cells"] if cell["cell_type"] == "code"]


def notebook_number(path: Path) -> int:
    return int(re.match(r"\d+", path.name).group())


def output_texts(cell: dict) -> list[str]:
    """Every text a code cell's stored outputs would show (streams, text MIME types, error tracebacks)."""
    texts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            texts.append("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
        elif out["output_type"] == "error":
            texts.append("\n".join([out.get("ename", ""), out.get("evalue", ""), *out.get("traceback", [])]))
        for mime in TEXT_MIME_TYPES:
            value = out.get("data", {}).get(mime)
            if value is not None:
                texts.append("".join(value) if isinstance(value, list) else str(value))
    return texts


def chinese_terms(markdown: str) -> list[str]:
    """The Chinese terms written in full-width parentheses, e.g. "Positional Encoding（位置编码）" -> 位置编码."""
    terms = []
    for inside in FULL_WIDTH_PARENS.findall(markdown):
        terms += [part.strip() for part in TERM_SEPARATORS.split(inside) if CJK.search(part)]
    return terms


# Chinese string literals in course_lib/viz that are example text (tokens of the plotted sentences), not terms.
EXAMPLE_STRINGS = {
    "猫", "吃", "了", "鱼",  # viz.attention: 猫 吃 了 鱼
    # viz.masking's three sentences
    "我", "喜欢", "学习", "编程", "和", "音乐", "吗", "今天", "天气", "很", "好", "我们", "走",
}
# viz modules whose Chinese text belongs to another helper's notebook and glossary group
VIZ_NOT_CHECKED_HERE = {"translator.py", "mla.py"}


def viz_chinese_labels() -> dict[str, list[str]]:
    """module name -> the Chinese runs in its string literals (labels such as "key 键"), example tokens left out."""
    labels = {}
    for path in sorted(VIZ_DIR.glob("*.py")):
        if path.name in VIZ_NOT_CHECKED_HERE:
            continue
        literals = [node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)]
        labels[path.name] = [run for text in literals if text not in EXAMPLE_STRINGS for run in CJK_RUN.findall(text)]
    return labels


def course_map_chinese(nb: dict) -> list[str]:
    """The 中文 column of notebook 00's course-map table."""
    table = next(cell["source"] for cell in nb["cells"]
                 if cell["cell_type"] == "markdown" and "| 中文 |" in cell["source"])
    rows = [line.strip().strip("|").split("|") for line in table.splitlines() if line.startswith("|")]
    column = [cell.strip() for cell in rows[0]].index("中文")
    return [run for row in rows[2:] for run in CJK_RUN.findall(row[column])]


@pytest.fixture(params=NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def notebook(request) -> tuple[Path, dict]:
    return request.param, load(request.param)


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {NOTEBOOK_DIR}"


def test_chinese_terms_are_in_the_glossary(notebook):
    path, nb = notebook
    known = set(GLOSSARY.values())
    missing = sorted({term for cell in nb["cells"] if cell["cell_type"] == "markdown"
                      for term in chinese_terms(cell["source"]) if term not in known})
    assert not missing, f"{path.name}: Chinese terms not in course_lib/glossary.py: {missing}"


def test_chinese_plot_labels_are_in_the_glossary():
    known = set(GLOSSARY.values())
    labels = viz_chinese_labels()
    assert labels["architecture.py"], "the diagram's labels were not found"
    missing = {name: sorted(set(runs) - known) for name, runs in labels.items() if set(runs) - known}
    assert not missing, f"Chinese labels in course_lib/viz not in course_lib/glossary.py: {missing}"


def test_course_map_terms_are_in_the_glossary():
    terms = course_map_chinese(load(NOTEBOOK_DIR / "00_overview.ipynb"))
    assert len(terms) >= 12, f"the course map's 中文 column was not found: {terms}"
    missing = sorted(set(terms) - set(GLOSSARY.values()))
    assert not missing, f"00_overview's course map: Chinese terms not in course_lib/glossary.py: {missing}"


def test_example_strings_are_still_in_course_lib_viz():
    # the allow-list must not rot: each entry is still a whole string literal of some viz module
    literals = {node.value for path in VIZ_DIR.glob("*.py") for node in ast.walk(ast.parse(path.read_text("utf-8")))
                if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert EXAMPLE_STRINGS <= literals, f"not in course_lib/viz any more: {sorted(EXAMPLE_STRINGS - literals)}"


def test_tags_are_known_and_no_comment_markers(notebook):
    path, nb = notebook
    for i, cell in enumerate(nb["cells"]):
        unknown = set(tags(cell)) - ALLOWED_TAGS
        assert not unknown, f"{path.name} cell {i}: tags {sorted(unknown)} not in {sorted(ALLOWED_TAGS)}"
        assert not {"exercise", "solution"} <= set(tags(cell)), f"{path.name} cell {i}: both exercise and solution"
        if cell["cell_type"] == "code":
            assert "NBVAL_" not in cell["source"].upper(), f"{path.name} cell {i}: use a tag, not a # NBVAL_ marker"


def test_ignored_outputs_are_rare_and_followed_by_an_assert(notebook):
    path, nb = notebook
    cells = code_cells(nb)
    ignored = [i for i, cell in enumerate(cells) if "nbval-ignore-output" in tags(cell)]
    assert len(ignored) <= MAX_IGNORED_SHARE * len(cells), (
        f"{path.name}: nbval-ignore-output on {len(ignored)} of {len(cells)} code cells (at most 15%)")
    for i in ignored:
        following = cells[i + 1] if i + 1 < len(cells) else None
        assert following is not None and "nbval-ignore-output" not in tags(following), (
            f"{path.name}: the ignored code cell {cells[i]['source'][:60]!r} must be followed by a checked code cell")
        assert re.search(r"\bassert\b", following["source"]), (
            f"{path.name}: the code cell after the ignored {cells[i]['source'][:60]!r} must assert its result")


def test_slide_metadata(notebook):
    path, nb = notebook
    for i, cell in enumerate(nb["cells"]):
        slide_type = cell.get("metadata", {}).get("slideshow", {}).get("slide_type")
        assert slide_type in SLIDE_TYPES, f"{path.name} cell {i}: slideshow.slide_type is {slide_type!r}"
        if "solution" in tags(cell):
            assert slide_type == "skip", f"{path.name} cell {i}: a solution cell must be slide_type 'skip'"
    slides = sum(cell["metadata"]["slideshow"]["slide_type"] in ("slide", "subslide") for cell in nb["cells"])
    assert slides >= MIN_SLIDES, f"{path.name}: {slides} slides/subslides, want at least {MIN_SLIDES}"


def exercises(nb: dict) -> list[tuple[int, str]]:
    """(cell index, function name) of every exercise stub: the one function it asks for."""
    found = []
    for i, cell in enumerate(nb["cells"]):
        if "exercise" in tags(cell):
            names = DEFINED_NAME.findall(cell["source"])
            assert len(names) == 1, f"cell {i}: an exercise stub defines exactly one function, found {names}"
            found.append((i, names[0]))
    return found


def check_call(name: str) -> re.Pattern:
    """`course_lib.checks.check_<name>(<name>)` or `check_<name>(<name>)`, alone on its line."""
    return re.compile(rf"^(?:course_lib\.checks\.)?check_{name}\({name}\)$", re.MULTILINE)


def test_every_notebook_has_two_exercises_one_beyond_the_text(notebook):
    path, nb = notebook
    found = exercises(nb)
    assert len(found) >= 2, f"{path.name}: {len(found)} exercises, want at least 2"
    prompts = [prompt_of(nb, i) for i, _ in found]
    assert any(BEYOND.search(prompt) for prompt in prompts), (
        f"{path.name}: no exercise prompt says it goes {BEYOND.pattern!r} (at least one per notebook must)")


def prompt_of(nb: dict, stub: int) -> str:
    """The Markdown cells right above an exercise stub: its prompt."""
    cells, i, prompt = nb["cells"], stub - 1, []
    while i >= 0 and cells[i]["cell_type"] == "markdown":
        prompt.insert(0, cells[i]["source"])
        i -= 1
    assert prompt, f"the exercise stub at cell {stub} has no Markdown prompt above it"
    return "\n".join(prompt)


BEYOND = re.compile(r"beyond the text", re.IGNORECASE)


def test_the_learners_function_is_checked_before_the_solution(notebook):
    # stub -> check of the learner's function -> hidden solution that re-defines it and checks itself. Run All
    # (or Shift-Enter) checks the learner's code first, whatever the solution below does.
    path, nb = notebook
    cells = nb["cells"]
    for i, name in exercises(nb):
        stub, check, solution = cells[i], cells[i + 1], cells[i + 2]
        assert "raise NotImplementedError" in stub["source"], f"{path.name} cell {i}: a stub raises NotImplementedError"
        assert check["cell_type"] == "code" and not tags(check), f"{path.name}: the cell after the {name} stub"
        assert check["source"].strip() and check_call(name).fullmatch(check["source"].strip()), (
            f"{path.name}: the cell after the {name} stub must be just `course_lib.checks.check_{name}({name})`, "
            f"got {check['source']!r}")
        assert "solution" in tags(solution), f"{path.name}: the cell after {name}'s check must be its solution"
        assert name in DEFINED_NAME.findall(solution["source"]), f"{path.name}: {name}'s solution must define {name}"
        assert solution["metadata"].get("jupyter", {}).get("source_hidden") is True, (
            f"{path.name}: {name}'s solution cell needs metadata jupyter.source_hidden = true")
        assert check_call(name).search(solution["source"].strip().splitlines()[-1]), (
            f"{path.name}: {name}'s solution must end by checking itself: check_{name}({name})")


def test_no_other_cell_depends_on_an_exercise(notebook):
    # the student edition has no solutions: a cell that called the learner's function would stop Run All
    path, nb = notebook
    cells = nb["cells"]
    for i, name in exercises(nb):
        own = {i, i + 1, i + 2}
        use = re.compile(rf"(?<![.\w])(?<!def ){name}\s*\(|\b{name}\s*=(?!=)")  # a call, or a new binding
        users = [j for j, cell in enumerate(cells) if j not in own and cell["cell_type"] == "code"
                 and use.search(cell["source"])]
        assert not users, f"{path.name}: cells {users} call or rebind the exercise function {name}"


def test_checker_names_in_the_readme_and_the_notebooks_exist():
    import course_lib.checks

    texts = {"README.md": (NOTEBOOK_DIR.parent / "README.md").read_text(encoding="utf-8")}
    texts |= {path.name: "\n".join(cell["source"] for cell in load(path)["cells"]) for path in NOTEBOOKS}
    # a checker is named in code (`check_x(`) or in backticks in prose; `check_<name>` is a pattern, not a name
    mention = re.compile(r"\b(check_\w+)\s*\(|`[^`\n]*?\b(check_\w+)\b[^`\n]*`")
    named = {(where, call or quoted) for where, text in texts.items() for call, quoted in mention.findall(text)}
    missing = sorted((where, name) for where, name in named if not hasattr(course_lib.checks, name))
    assert not missing, f"checkers named but not in course_lib.checks: {missing}"


def test_every_code_cell_was_executed_with_clean_outputs(notebook):
    path, nb = notebook
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("execution_count") is not None, f"{path.name} cell {i}: not executed (run `make outputs`)"
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error" or "raises-exception" in tags(cell), (
                f"{path.name} cell {i}: a stored error: {out.get('ename')}: {out.get('evalue')}")
            if out["output_type"] == "execute_result":
                assert out.get("execution_count") is not None, f"{path.name} cell {i}: a result without a count"
        for text in output_texts(cell):
            if "raises-exception" not in tags(cell):
                assert "Traceback" not in text, f"{path.name} cell {i}: a traceback in the output"
            assert "Warning" not in text, f"{path.name} cell {i}: a warning in the output: {text[:200]!r}"
            address = MEMORY_ADDRESS.search(text)
            assert not address, f"{path.name} cell {i}: a memory address {address and address.group()} in the output"


def test_first_code_cell_seeds_torch(notebook):
    path, nb = notebook
    cells = code_cells(nb)
    assert cells and re.search(r"\btorch\.manual_seed\(", cells[0]["source"]), (
        f"{path.name}: the first code cell must call torch.manual_seed")


COURSE = ["00_overview", "01_embeddings", "02_positional_encoding", "03_attention", "04_masking",
          "05_multi_head_attention", "06_feed_forward", "07_add_and_norm", "08_encoder", "09_decoder",
          "10_transformer", "11_mla", "12_translator"]


def test_readme_course_map_links_every_notebook():
    readme = (NOTEBOOK_DIR.parent / "README.md").read_text(encoding="utf-8")
    linked = re.findall(r"\]\(notebooks/([0-9][^)]*)\.ipynb\)", readme)
    assert linked == COURSE, "the README's course map must link the notebooks in course order"
    missing = [name for name in COURSE if not (NOTEBOOK_DIR / f"{name}.ipynb").is_file()]
    assert not missing, f"the course map links notebooks that do not exist: {missing}"


# ---------------------------------------------------------------- exercises that ask for thinking

MIN_TOKENS = 8  # a solution line shorter than this (`return x`, `d = x.size(1)`) says nothing on its own
COMPOUND = {"if", "elif", "else", "for", "while", "with", "try", "except", "finally"}  # headers: no work of their own
MAX_COPIED_SHARE = 0.5
CODE_SPAN = re.compile(r"```(?:python)?\n(.*?)```|`([^`\n]+)`", re.DOTALL)


def logical_lines(code: str) -> list[list[tokenize.TokenInfo]]:
    """The code's logical lines as token lists (comments and layout dropped); [] when it does not tokenize."""
    lines, current = [], []
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type in (tokenize.NEWLINE, tokenize.ENDMARKER):
                lines, current = lines + [current] if current else lines, []
            elif token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.INDENT, tokenize.DEDENT):
                current.append(token)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return []
    return lines + [current] if current else lines


def normalised(tokens: list[tokenize.TokenInfo]) -> str:
    """A line modulo names: every name but keywords and attributes is `_`; `return` and assignment targets go."""
    words = []
    for i, token in enumerate(tokens):
        attribute = i > 0 and tokens[i - 1].string == "."
        is_local = token.type == tokenize.NAME and not keyword.iskeyword(token.string) and not attribute
        words.append("_" if is_local else token.string)
    if words and words[0] == "return":
        words = words[1:]
    depth = 0
    for i, word in enumerate(words):  # `a, b = expr` -> `expr`
        depth += word in "([{" and len(word) == 1
        depth -= word in ")]}" and len(word) == 1
        if word == "=" and depth == 0:
            return " ".join(words[i + 1:])
    return " ".join(words)


def solution_lines(code: str, name: str) -> list[str]:
    """The normalised lines that do the solution's work: no def/class/decorator/docstring, no checker call."""
    kept = []
    for tokens in logical_lines(code):
        first = tokens[0].string
        text = " ".join(t.string for t in tokens)
        if first in ("def", "class", "@", "pass", *COMPOUND) or tokens[0].type == tokenize.STRING \
                or "check_" in text or text.startswith("super ( )"):
            continue
        line = normalised(tokens)
        if len(line.split()) >= MIN_TOKENS:
            kept.append(line)
    return kept


def shown_before(nb: dict, stub: int, overview: dict) -> set[str]:
    """Every normalised line a learner has seen before an exercise: earlier code and code spans, and notebook 00."""
    sources = [cell["source"] for cell in overview["cells"] if cell["cell_type"] == "code"]
    for cell in nb["cells"][:stub]:
        if cell["cell_type"] == "code":
            sources.append(cell["source"])
        else:
            sources += [block or span for block, span in CODE_SPAN.findall(cell["source"])]
    return {normalised(tokens) for source in sources for tokens in logical_lines(source)}


def test_no_solution_stands_in_an_earlier_cell(notebook):
    path, nb = notebook
    overview = load(NOTEBOOK_DIR / "00_overview.ipynb")
    if path.name == "00_overview.ipynb":
        overview = {"cells": []}
    for stub, name in exercises(nb):
        lines = solution_lines(nb["cells"][stub + 2]["source"], name)
        seen = shown_before(nb, stub, overview)
        copied = [line for line in lines if line in seen]
        assert lines, f"{path.name}: {name}'s solution has no line of {MIN_TOKENS}+ tokens to compare"
        assert len(copied) < MAX_COPIED_SHARE * len(lines), (
            f"{path.name}: {len(copied)} of the {len(lines)} working lines of {name}'s solution already stand, modulo "
            f"names, in earlier cells or notebook 00: {copied}")
