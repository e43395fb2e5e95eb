"""Lecture slides: one reveal.js deck per notebook, at least 8 slides, no solutions."""

import html
import re
from html.parser import HTMLParser

import nbformat
import pytest
from edition_tools import NOTEBOOKS, ROOT, build_edition
from nbconvert import SlidesExporter

MIN_SLIDES = 8


class RevealSlides(HTMLParser):
    """Counts a deck's slides: reveal.js nests each slide's subslides, every one a <section>, in the slide's."""

    def __init__(self):
        super().__init__()
        self.depth, self.slides, self.views = 0, 0, 0

    def handle_starttag(self, tag, attrs):
        if tag == "section":
            self.depth += 1
            self.slides += self.depth == 1  # a `slide` cell: the outer <section> of a vertical stack
            self.views += self.depth == 2  # the slide itself and each `subslide`: one view each

    def handle_endtag(self, tag):
        if tag == "section":
            self.depth -= 1


def count_slides(deck: str) -> tuple[int, int]:
    """(slides, slides + subslides) of a reveal.js deck."""
    parser = RevealSlides()
    parser.feed(deck)
    return parser.slides, parser.views


def expected_views(nb) -> int:
    """Slide and subslide starts in the notebook's metadata (the first shown cell always starts one)."""
    shown = [c for c in nb.cells if "solution" not in c.metadata.get("tags", [])
             and c.metadata.get("slideshow", {}).get("slide_type") not in ("skip", "notes")]
    starts = sum(c.metadata.get("slideshow", {}).get("slide_type") in ("slide", "subslide") for c in shown[1:])
    return 1 + starts


def deck_text(deck: str) -> str:
    """What a deck shows as text: tags (the highlighter's <span>s among them) stripped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", deck))


def solution_lines(nb) -> list[str]:
    """For each solution cell of `nb`, its longest line that no other cell has: it can only come from the solution."""
    others = "\n".join(c.source for c in nb.cells if "solution" not in c.metadata.get("tags", []))
    lines = []
    for cell in nb.cells:
        if "solution" in cell.metadata.get("tags", []):
            own = [line.strip() for line in cell.source.splitlines() if len(line.strip()) > 8]
            own = [line for line in own if line not in others]
            if own:
                lines.append(max(own, key=len))
    return lines


def solution_leaks(deck: str, nb) -> list[str]:
    """Why `deck` holds a solution of `nb`: a cell tagged solution, or a solution's own source line."""
    leaks = ["a cell tagged solution (celltag_solution)"] if "celltag_solution" in deck else []
    text = deck_text(deck)
    return leaks + [f"the solution line {line!r}" for line in solution_lines(nb) if line in text]


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    """Every notebook's deck, built as `make slides` builds them."""
    out = tmp_path_factory.mktemp("slides")
    build_edition("slides", NOTEBOOKS, out)
    return {nb: (out / f"{nb.stem}.slides.html").read_text(encoding="utf-8") for nb in NOTEBOOKS}


def test_every_deck_has_at_least_8_slides_from_the_slide_metadata(decks):
    for notebook, deck in decks.items():
        nb = nbformat.read(notebook, as_version=4)
        slides, views = count_slides(deck)
        expected = expected_views(nb)
        assert views == expected, f"{notebook.name}: {views} slides in the deck, {expected} in its metadata"
        assert views >= MIN_SLIDES, f"{notebook.name}: only {views} slides ({slides} slides and their subslides)"


def test_no_deck_holds_a_solution(decks):
    for notebook, deck in decks.items():
        nb = nbformat.read(notebook, as_version=4)
        assert solution_leaks(deck, nb) == [], f"{notebook.name}: its solution is in the deck"


def test_the_check_catches_a_deck_built_with_its_solutions_left_in(tmp_path):
    notebook = ROOT / "notebooks" / "03_attention.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
    assert solutions
    for cell in solutions:  # neither removed by tag nor skipped by the slide metadata
        cell.metadata.setdefault("slideshow", {})["slide_type"] = "-"
    deck, _ = SlidesExporter().from_notebook_node(nb)
    leaks = solution_leaks(deck, nb)
    assert "a cell tagged solution (celltag_solution)" in leaks
    assert len(solution_lines(nb)) == len(solutions) and len(leaks) == 1 + len(solutions), leaks
    # the highlighter splits code into <span>s: a search of the raw HTML misses solution lines that the text has
    assert [line for line in solution_lines(nb) if line not in deck]


def test_reveal_prefix_points_decks_at_a_local_copy(tmp_path):
    build_edition("slides", NOTEBOOKS[:1], tmp_path, "--reveal-prefix", "reveal.js")
    deck = (tmp_path / f"{NOTEBOOKS[0].stem}.slides.html").read_text(encoding="utf-8")
    assert "reveal.js/dist/reveal.js" in deck
