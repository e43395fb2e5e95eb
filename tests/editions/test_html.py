"""HTML edition: `tools/editions.py html` executes a notebook, keeps its widget state and indexes it."""

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
