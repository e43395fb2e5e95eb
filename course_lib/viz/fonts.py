"""Register the bundled Noto Sans SC subset so Chinese text in plots renders with real glyphs."""

from pathlib import Path

import matplotlib
from matplotlib import font_manager

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"


def register_cjk_font() -> str | None:
    """Add the bundled font to matplotlib and put it first in the sans-serif fallback list."""
    fonts = sorted(FONT_DIR.glob("*.otf")) + sorted(FONT_DIR.glob("*.ttf"))
    if not fonts:
        return None
    for path in fonts:
        font_manager.fontManager.addfont(str(path))
    family = font_manager.FontProperties(fname=str(fonts[0])).get_name()
    matplotlib.rcParams["font.family"] = [family, "DejaVu Sans"]  # per-glyph fallback: Chinese, then Greek/maths
    matplotlib.rcParams["font.sans-serif"] = [family, "DejaVu Sans"]
    matplotlib.rcParams["axes.unicode_minus"] = False
    return family
