"""The encoder-decoder diagram every notebook opens with, the current block highlighted."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

# block key -> (label, notebook), in course order
BLOCKS = {
    "embedding": ("Embedding 词嵌入", "01"),
    "positional_encoding": ("Positional Encoding 位置编码", "02"),
    "attention": ("Scaled Dot-Product Attention 缩放点积注意力", "03"),
    "masking": ("Masks 掩码", "04"),
    "multi_head_attention": ("Multi-Head Attention 多头注意力", "05"),
    "feed_forward": ("Feed-Forward 前馈网络", "06"),
    "add_and_norm": ("Add & Norm 残差与归一化", "07"),
    "encoder": ("Encoder 编码器", "08"),
    "decoder": ("Decoder 解码器", "09"),
    "transformer": ("Transformer", "10"),
    "mla": ("Multi-head Latent Attention 多头潜在注意力", "11"),
    "translator": ("Translator 翻译器", "12"),
}

# each box: (x, y, width, height, text, the blocks that light it up)
_ATTN = ("attention", "multi_head_attention")
# MLA (notebook 11) replaces only the decoder's masked self-attention: it caches what decoding re-reads.
# every attention block takes a mask: the padding mask (encoder self-attention, cross-attention), and the padding and
# causal masks together (decoder self-attention)
_BOXES = [
    (0.4, 0.2, 3.2, 0.7, "Input Embedding 输入嵌入", ("embedding",)),
    (0.4, 1.1, 3.2, 0.6, "+ Positional Encoding 位置编码", ("positional_encoding",)),
    (0.4, 2.1, 3.2, 0.8, "Multi-Head Self-Attention\n多头自注意力", _ATTN + ("masking",)),
    (0.4, 3.0, 3.2, 0.5, "Add & Norm", ("add_and_norm",)),
    (0.4, 3.7, 3.2, 0.8, "Feed-Forward 前馈网络", ("feed_forward",)),
    (0.4, 4.6, 3.2, 0.5, "Add & Norm", ("add_and_norm",)),
    (4.4, 0.2, 3.2, 0.7, "Output Embedding 输出嵌入", ("embedding",)),
    (4.4, 1.1, 3.2, 0.6, "+ Positional Encoding 位置编码", ("positional_encoding",)),
    (4.4, 2.1, 3.2, 0.8, "Masked Multi-Head Self-Attention\n掩码多头自注意力", _ATTN + ("masking", "mla")),
    (4.4, 3.0, 3.2, 0.5, "Add & Norm", ("add_and_norm",)),
    (4.4, 3.7, 3.2, 0.8, "Cross-Attention 交叉注意力", ("attention", "multi_head_attention", "masking")),
    (4.4, 4.6, 3.2, 0.5, "Add & Norm", ("add_and_norm",)),
    (4.4, 5.3, 3.2, 0.8, "Feed-Forward 前馈网络", ("feed_forward",)),
    (4.4, 6.2, 3.2, 0.5, "Add & Norm", ("add_and_norm",)),
    (4.4, 7.45, 3.2, 0.6, "Linear + Softmax 输出层", ("transformer", "translator")),
]
# the stacked layers: (x, y, width, height, label, block)
_STACKS = [
    (0.2, 1.95, 3.6, 3.3, "Encoder 编码器 × N", "encoder"),
    (4.2, 1.95, 3.6, 4.9, "Decoder 解码器 × N", "decoder"),
]
_WHOLE = ("transformer", "translator")

# Dropout (随机失活), drawn on request as dots. The paper's two places: each sublayer's output before the residual
# add, and the sum of embeddings and positions. nn.Transformer (and course_lib) add two: the attention weights and
# the FFN's hidden layer. Each entry: (the box it belongs to, where on it, which kind).
DROPOUT_KINDS = {
    "paper": "dropout 随机失活, the paper's:\nsublayer outputs, embeddings + positions",
    "added": "dropout added by nn.Transformer:\nattention weights, the FFN's hidden layer",
}
_SUBLAYERS = ("Self-Attention", "Cross-Attention", "Feed-Forward")


def dropout_sites() -> list[tuple[float, float, str, str]]:
    """(x, y, kind, box text) of every dropout the course's Transformer applies, kind a key of DROPOUT_KINDS."""
    sites = []
    for x, y, w, h, text, _ in _BOXES:
        if text.startswith("+ Positional Encoding"):
            sites.append((x + w - 0.3, y + h + 0.2, "paper", text))  # on the sum, before the first layer
        elif any(name in text for name in _SUBLAYERS):
            sites.append((x + w - 0.3, y + h + 0.05, "paper", text))  # the sublayer's output, before Add & Norm
            sites.append((x + w - 0.15, y + h / 2, "added", text))  # inside: attention weights or FFN hidden
    return sites


def highlighted_boxes(highlight: str) -> list[str]:
    """The texts of the boxes lit for `highlight` (what the diagram colours; used by tests)."""
    if highlight not in BLOCKS:
        raise ValueError(f"highlight must be one of {list(BLOCKS)}, got highlight={highlight!r}")
    whole = highlight in _WHOLE
    lit = [text for *_, text, keys in _BOXES if whole or highlight in keys]
    lit += [label for *_, label, key in _STACKS if whole or key == highlight]
    return lit


def draw_architecture(highlight: str, ax=None, dropout: bool = False):
    """Draw the encoder-decoder with the boxes of block `highlight` coloured (and, with `dropout`, where dropout
    acts); return the figure."""
    lit = set(highlighted_boxes(highlight))
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 6.2))
    for x, y, w, h, label, _ in _STACKS:
        on = label in lit
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fill=on, alpha=0.15 if on else 1,
                                    facecolor="tab:orange", edgecolor="tab:orange" if on else "grey", lw=2))
        ax.text(x + w / 2, y + h + 0.1, label, ha="center", va="bottom", fontsize=10.5)
    for x, y, w, h, text, _ in _BOXES:
        on = text in lit
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.03",
                                    facecolor="tab:orange" if on else "whitesmoke", edgecolor="black"))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5)
    ax.annotate("", xy=(4.4, 4.1), xytext=(3.6, 4.85), arrowprops=dict(arrowstyle="->", lw=1.5))  # memory
    if dropout:
        _draw_dropout(ax)
    name, notebook = BLOCKS[highlight]
    ax.set_title(f"Notebook {notebook}: {name}", fontsize=11)
    ax.set_xlim(0, 8)
    ax.set_ylim(0, 8.2)
    ax.set_axis_off()
    return ax.figure


def _draw_dropout(ax) -> None:
    """The dropout sites as dots, filled for the paper's, hollow for nn.Transformer's additions, with a legend."""
    sites = dropout_sites()
    for kind, face in (("paper", "black"), ("added", "white")):
        xs, ys = zip(*[(x, y) for x, y, k, _ in sites if k == kind], strict=True)
        ax.scatter(xs, ys, s=36, facecolors=face, edgecolors="black", linewidths=1.2, zorder=3,
                   label=DROPOUT_KINDS[kind])
    ax.legend(loc="upper left", fontsize=8, frameon=False, bbox_to_anchor=(0.0, 0.97), labelspacing=1.0)
