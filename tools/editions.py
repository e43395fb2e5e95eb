"""Build the course's other editions from the instructor notebooks.

    python tools/editions.py student [--out build/student] NOTEBOOK...   # solutions removed, outputs cleared
    python tools/editions.py slides  [--out build/slides] [--reveal-prefix PATH] NOTEBOOK...
    python tools/editions.py html    [--out build/html] NOTEBOOK...      # executed, widget state kept, index.html
"""

import argparse
import html
import sys
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter, NotebookExporter, SlidesExporter
from notebook_client import RobustExecutePreprocessor
from traitlets.config import Config

# solution cells are what the student writes: every edition handed out leaves them out
WITHOUT_SOLUTIONS = {"TagRemovePreprocessor": {"enabled": True, "remove_cell_tags": ["solution"]}}


def title_of(nb) -> str:
    """The notebook's first Markdown heading, without the #'s."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return "Untitled"


def export(exporter, notebook: Path, out: Path, suffix: str, nb=None) -> Path:
    """Run `exporter` on a notebook (or on the already loaded `nb`) and write the result into `out`."""
    nb = nb if nb is not None else nbformat.read(notebook, as_version=4)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"path": str(notebook.parent)}})
    out.mkdir(parents=True, exist_ok=True)
    target = out / (notebook.stem + suffix)
    target.write_text(body, encoding="utf-8")
    return target


def student(notebooks: list[Path], out: Path, **_) -> None:
    """Student handouts: solution cells removed, every output and execution count cleared."""
    config = Config({**WITHOUT_SOLUTIONS, "ClearOutputPreprocessor": {"enabled": True}})
    for notebook in notebooks:
        export(NotebookExporter(config=config), notebook, out, ".ipynb")


def slides(notebooks: list[Path], out: Path, reveal_prefix: str | None = None, **_) -> None:
    """One reveal.js deck per notebook from its slide metadata (solutions left out)."""
    options = {"reveal_url_prefix": reveal_prefix} if reveal_prefix else {}
    config = Config({**WITHOUT_SOLUTIONS, "SlidesExporter": options})
    for notebook in notebooks:
        export(SlidesExporter(config=config), notebook, out, ".slides.html")


def html_edition(notebooks: list[Path], out: Path, **_) -> None:
    """Executed HTML pages whose widgets keep their state, plus an index in course order."""
    entries = []
    for notebook in notebooks:
        nb = nbformat.read(notebook, as_version=4)
        RobustExecutePreprocessor(timeout=600, store_widget_state=True).preprocess(
            nb, {"metadata": {"path": str(notebook.parent)}})
        page = export(HTMLExporter(), notebook, out, ".html", nb)
        entries.append((page.name, title_of(nb)))
    write_index(out, entries)


def write_index(out: Path, entries: list[tuple[str, str]]) -> None:
    """index.html: the notebooks in course order, linked by title."""
    items = "\n".join(f'  <li><a href="{html.escape(href)}">{html.escape(title)}</a></li>' for href, title in entries)
    (out / "index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Transformer from Scratch</title></head>\n<body>\n<h1>Transformer from Scratch</h1>\n"
        f"<ol>\n{items}\n</ol>\n</body></html>\n", encoding="utf-8")


EDITIONS = {"student": (student, "build/student"), "slides": (slides, "build/slides"),
            "html": (html_edition, "build/html")}


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the student, slides or HTML edition of the course.")
    parser.add_argument("edition", choices=sorted(EDITIONS))
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, help="output folder (default build/<edition>)")
    parser.add_argument("--reveal-prefix", help="slides: where reveal.js lives, e.g. a local copy for offline use")
    args = parser.parse_args()
    missing = [str(nb) for nb in args.notebooks if not nb.is_file()]
    if missing:
        print(f"editions: notebook not found: {', '.join(missing)}", file=sys.stderr)
        return 1
    build, default_out = EDITIONS[args.edition]
    out = args.out or Path(default_out)
    build(sorted(args.notebooks), out, reveal_prefix=args.reveal_prefix)
    print(f"{args.edition}: {len(args.notebooks)} notebooks -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
