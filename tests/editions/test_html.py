"""HTML edition: `tools/editions.py html` executes a notebook, keeps its widget state and indexes it."""

import html
import re

import nbformat
from edition_tools import ROOT, build_edition

# a short notebook with an explorer
NOTEBOOK = ROOT / "notebooks" / "06_feed_forward.ipynb"


def test_html_edition_keeps_widget_state_and_indexes_pages(tmp_path):
    build_edition("html", [NOTEBOOK], tmp_path)
    page = (tmp_path / "06_feed_forward.html").read_text(encoding="utf-8")
    assert "application/vnd.jupyter.widget-state+json" in page
    assert "application/vnd.jupyter.widget-view+json" in page
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert '<a href="06_feed_forward.html">' in index


def tiny_notebook(path, title: str) -> None:
    """A two-cell notebook headed `title`: cheap to execute."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\nA fixture."), nbformat.v4.new_code_cell("print(1 + 1)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_the_index_lists_the_notebooks_in_course_order_and_links_each_page(tmp_path):
    course = tmp_path / "notebooks"
    course.mkdir()
    titles = {"00_overview": "00 · Overview", "02_positions": "02 · Positions & <masks>", "10_whole": "10 · 全部"}
    for stem, title in titles.items():
        tiny_notebook(course / f"{stem}.ipynb", title)
    out = tmp_path / "html"
    # given out of order, as a shell glob or a hand-typed list may give them
    build_edition("html", [course / "10_whole.ipynb", course / "00_overview.ipynb", course / "02_positions.ipynb"], out)
    index = (out / "index.html").read_text(encoding="utf-8")
    links = re.findall(r'<li><a href="([^"]+)">([^<]*)</a></li>', index)
    assert links == [(f"{stem}.html", html.escape(title)) for stem, title in titles.items()]
    for href, _ in links:
        assert "<pre>2\n</pre>" in (out / href).read_text(encoding="utf-8"), f"{href} was not executed"
