"""Lecture slides: one reveal.js deck per notebook, at least 8 slides, no solutions."""

import re

import nbformat
from edition_tools import NOTEBOOKS, build_edition


def test_every_notebook_gives_a_deck_without_solutions(tmp_path):
    build_edition("slides", NOTEBOOKS, tmp_path)
    for notebook in NOTEBOOKS:
        deck = (tmp_path / f"{notebook.stem}.slides.html").read_text(encoding="utf-8")
        slides = len(re.findall(r"<section", deck))
        assert slides >= 8, f"{notebook.name}: only {slides} slides"
        nb = nbformat.read(notebook, as_version=4)
        for cell in nb.cells:
            if "solution" in cell.metadata.get("tags", []):
                line = max(cell.source.splitlines(), key=len)
                assert line.strip() not in deck, f"{notebook.name}: its solution is in the deck: {line}"


def test_reveal_prefix_points_decks_at_a_local_copy(tmp_path):
    build_edition("slides", NOTEBOOKS[:1], tmp_path, "--reveal-prefix", "reveal.js")
    deck = (tmp_path / f"{NOTEBOOKS[0].stem}.slides.html").read_text(encoding="utf-8")
    assert "reveal.js/dist/reveal.js" in deck
