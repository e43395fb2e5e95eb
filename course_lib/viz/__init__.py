"""Plots and explorers for the notebooks. Importing this registers the bundled CJK font for Chinese labels.

One topic per module (`viz.attention`, `viz.masking`, ...); the architecture diagram lives in
`viz.architecture` and is shared by every notebook.
"""

from .architecture import BLOCKS, draw_architecture
from .fonts import register_cjk_font

register_cjk_font()

__all__ = ["BLOCKS", "draw_architecture", "register_cjk_font"]
