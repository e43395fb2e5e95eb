"""The architecture diagram every notebook opens with: which boxes are lit, read back from the drawn patches, and
Chinese labels drawn with the bundled font (no "Glyph missing" warning)."""

import warnings
from collections import Counter

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib import font_manager
from matplotlib.colors import to_rgb

from course_lib import MultiHeadAttention, MultiHeadLatentAttention, Transformer
from course_lib.viz import BLOCKS, draw_architecture, register_cjk_font
from course_lib.viz.architecture import DROPOUT_KINDS, dropout_sites, highlighted_boxes
from course_lib.viz.fonts import FONT_DIR

matplotlib.use("Agg")

ORANGE = to_rgb("tab:orange")
ENC_SELF, DEC_SELF = "Multi-Head Self-Attention\n多头自注意力", "Masked Multi-Head Self-Attention\n掩码多头自注意力"
CROSS = "Cross-Attention 交叉注意力"
ENCODER, DECODER = "Encoder 编码器 × N", "Decoder 解码器 × N"
ADD_NORM, FFN, PE = "Add & Norm", "Feed-Forward 前馈网络", "+ Positional Encoding 位置编码"
EVERY_BOX = 15 + 2  # the boxes, and the two stacks around the encoder and decoder layers

# block key -> the labels of the boxes it lights (each once per box: both sides have their own Add & Norm, ...)
EXPECTED = {
    "embedding": ["Input Embedding 输入嵌入", "Output Embedding 输出嵌入"],
    "positional_encoding": [PE, PE],
    "attention": [ENC_SELF, DEC_SELF, CROSS],
    "masking": [ENC_SELF, DEC_SELF, CROSS],  # padding mask in all three, the causal mask in the decoder's
    "multi_head_attention": [ENC_SELF, DEC_SELF, CROSS],
    "feed_forward": [FFN, FFN],
    "add_and_norm": [ADD_NORM] * 5,
    "encoder": [ENCODER],
    "decoder": [DECODER],
    "mla": [DEC_SELF],  # notebook 11 replaces the decoder's self-attention only (Transformer(self_attention="mla"))
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def drawn_boxes(fig) -> list[tuple[str, bool]]:
    """(label, lit) for every box and stack of the drawn diagram, read from its patches and the texts on them."""
    ax = fig.axes[0]
    labels = [text for text in ax.texts if text.get_text()]  # the memory arrow is an empty annotation
    assert len(ax.patches) == len(labels) == EVERY_BOX
    boxes = []
    for patch, label in zip(ax.patches, labels, strict=True):
        x, y, w, h = patch.get_x(), patch.get_y(), patch.get_width(), patch.get_height()
        tx, ty = label.get_position()
        assert tx == pytest.approx(x + w / 2) and y <= ty <= y + h + 0.2, f"{label.get_text()!r} is off its box"
        lit = patch.get_fill() and to_rgb(patch.get_facecolor()) == pytest.approx(ORANGE)
        boxes.append((label.get_text(), bool(lit)))
    return boxes


@pytest.mark.parametrize("key", list(EXPECTED))
def test_each_block_lights_its_boxes(key):
    lit = [label for label, on in drawn_boxes(draw_architecture(key)) if on]
    assert Counter(lit) == Counter(EXPECTED[key])
    assert Counter(highlighted_boxes(key)) == Counter(EXPECTED[key])


@pytest.mark.parametrize("key", ["transformer", "translator"])
def test_the_whole_model_lights_every_box(key):
    boxes = drawn_boxes(draw_architecture(key))
    assert all(on for _, on in boxes) and len(highlighted_boxes(key)) == EVERY_BOX


def test_masking_lights_every_attention_block_and_nothing_else():
    boxes = drawn_boxes(draw_architecture("masking"))
    attention = {ENC_SELF, DEC_SELF, CROSS}
    assert {label for label, on in boxes if on} == attention
    assert not any(on for label, on in boxes if label not in attention)


def test_mla_lights_the_box_the_transformer_switch_replaces():
    model = Transformer(7, 7, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=8,
                        self_attention="mla")
    replaced = {"encoder self-attention": isinstance(model.encoder.layers[0].self_attn, MultiHeadLatentAttention),
                "decoder self-attention": isinstance(model.decoder.layers[0].self_attn, MultiHeadLatentAttention),
                "cross-attention": not isinstance(model.decoder.layers[0].cross_attn, MultiHeadAttention)}
    assert replaced == {"encoder self-attention": False, "decoder self-attention": True, "cross-attention": False}
    boxes = dict(drawn_boxes(draw_architecture("mla")))
    assert boxes[DEC_SELF] and not boxes[ENC_SELF] and not boxes[CROSS]
    assert [label for label, on in boxes.items() if on] == [DEC_SELF]


def test_every_block_key_is_drawn_as_highlighted_boxes_says():
    for key in BLOCKS:
        lit = [label for label, on in drawn_boxes(draw_architecture(key)) if on]
        assert Counter(lit) == Counter(highlighted_boxes(key)), key
        plt.close("all")


def test_dropout_dots_are_drawn_only_on_request_at_the_four_kinds_of_site():
    assert not draw_architecture("transformer").axes[0].collections  # off by default: every other notebook
    ax = draw_architecture("transformer", dropout=True).axes[0]
    assert all(on for _, on in drawn_boxes(ax.figure))  # the boxes are untouched
    sites = dropout_sites()
    boxes = Counter((kind, text) for *_, kind, text in sites)
    # the paper: the two sums of embeddings and positions, and the output of each of the five sublayers;
    # nn.Transformer adds the attention weights of the three attentions and the FFN's hidden layer
    assert boxes == Counter({("paper", PE): 2, **{("paper", box): 1 for box in (ENC_SELF, DEC_SELF, CROSS)},
                             ("paper", FFN): 2, **{("added", box): 1 for box in (ENC_SELF, DEC_SELF, CROSS)},
                             ("added", FFN): 2})
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == [DROPOUT_KINDS["paper"], DROPOUT_KINDS["added"]]
    for collection, kind in zip(ax.collections, DROPOUT_KINDS, strict=True):
        drawn = sorted(map(tuple, collection.get_offsets().tolist()))
        assert drawn == sorted((x, y) for x, y, k, _ in sites if k == kind)


def test_title_names_the_notebook_and_the_block():
    ax = draw_architecture("masking").axes[0]
    assert ax.get_title() == "Notebook 04: Masks 掩码"
    fig, given = plt.subplots()
    assert draw_architecture("encoder", ax=given) is fig and given.get_title() == "Notebook 08: Encoder 编码器"


@pytest.mark.parametrize("draw", [highlighted_boxes, draw_architecture])
def test_an_unknown_block_raises_naming_it(draw):
    with pytest.raises(ValueError, match=r"highlight must be one of \[.*'masking'.*\], got highlight='attn'"):
        draw("attn")


def test_register_cjk_font_uses_the_bundled_font():
    bundled = sorted(FONT_DIR.glob("*.otf")) + sorted(FONT_DIR.glob("*.ttf"))
    assert bundled and (FONT_DIR / "OFL.txt").is_file(), "the font ships with its licence"
    family = register_cjk_font()
    assert family == font_manager.FontProperties(fname=str(bundled[0])).get_name()
    assert str(bundled[0]) in {entry.fname for entry in font_manager.fontManager.ttflist}
    assert matplotlib.rcParams["font.family"][:2] == [family, "DejaVu Sans"]
    assert matplotlib.rcParams["font.sans-serif"][0] == family


def test_chinese_labels_draw_without_a_glyph_warning():
    register_cjk_font()  # what importing course_lib.viz does
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a "Glyph ... missing from font" warning fails the test
        for key in BLOCKS:
            fig = draw_architecture(key)
            fig.axes[0].set_xlabel("两只猫昨天吃了鱼 attention √d_k")  # the common simplified set and maths
            fig.canvas.draw()
            plt.close(fig)


def test_without_the_bundled_font_the_glyphs_would_be_missing():
    # the check above can fail: with matplotlib's default font alone the same drawing warns
    with matplotlib.rc_context({"font.family": ["DejaVu Sans"]}), pytest.warns(UserWarning, match="Glyph"):
        draw_architecture("masking").canvas.draw()
