"""Notebook 04's plots: the padding and causal masks of a padded batch, built from the sentences' lengths.

`mask_builder_data` is the pure data function (token ids, the masks, the fully masked query rows);
`plot_masks` draws one (Lq, Lk) image per sentence and `explore_masks` is the ipywidgets explorer.
"""

import matplotlib.pyplot as plt
import torch

from ..masking import causal_mask, padding_mask
from ..tokens import PAD_ID

# three short sentences to cut to the slider lengths; the first is the study notes' example
SENTENCES = (
    ("我", "喜欢", "学习", "编程", "和", "音乐"),
    ("猫", "吃", "鱼", "了", "吗", "？"),
    ("今天", "天气", "很", "好", "我们", "走"),
)
MAX_LEN = len(SENTENCES[0])
PADDING_SIDES = ("right", "left")
FIRST_WORD_ID = 4  # ids 0-3 are <pad>, <bos>, <eos>, <unk>


def _check_lengths(lengths, max_len: int) -> None:
    if not lengths or len(lengths) > len(SENTENCES):
        raise ValueError(f"lengths must hold 1 to {len(SENTENCES)} sentence lengths, got lengths={lengths!r}")
    for n in lengths:
        if not isinstance(n, int) or not 0 <= n <= max_len:
            raise ValueError(f"each length must be an int in 0..{max_len}, got lengths={lengths!r}")


def batch_tokens(lengths, max_len: int = MAX_LEN, padding_side: str = "right") -> torch.Tensor:
    """Token ids (B, max_len): sentence b has lengths[b] word ids (4, 5, ...) and PAD_ID elsewhere."""
    _check_lengths(lengths, max_len)
    if padding_side not in PADDING_SIDES:
        raise ValueError(f"padding_side must be one of {PADDING_SIDES}, got padding_side={padding_side!r}")
    tokens = torch.full((len(lengths), max_len), PAD_ID, dtype=torch.long)  # (B, L)
    for b, n in enumerate(lengths):
        words = torch.arange(FIRST_WORD_ID, FIRST_WORD_ID + n)  # (n,)
        if padding_side == "right":
            tokens[b, :n] = words
        elif n:
            tokens[b, -n:] = words
    return tokens


def token_labels(tokens: torch.Tensor) -> list[list[str]]:
    """The word (or "<pad>") at every position of every sentence of `tokens` (B, L)."""
    return [[SENTENCES[b][int(i) - FIRST_WORD_ID] if i != PAD_ID else "<pad>" for i in row]
            for b, row in enumerate(tokens)]


def mask_builder_data(lengths, causal: bool = True, padding_side: str = "right", max_len: int = MAX_LEN) -> dict:
    """The masks of a padded batch: tokens (B, L), padding (B, 1, 1, L), causal (1, 1, L, L), their combination
    mask (B, 1, L, L) (True = may attend), fully_masked (B, L) query rows with no key left, and the labels."""
    tokens = batch_tokens(lengths, max_len, padding_side)  # (B, L)
    pad = padding_mask(tokens, PAD_ID)  # (B, 1, 1, L): may attend every real key
    if causal:
        future = causal_mask(max_len)[None, None]  # (1, 1, L, L): query i may attend keys 0..i
    else:
        future = torch.ones(1, 1, max_len, max_len, dtype=torch.bool)  # (1, 1, L, L)
    # both conditions must hold: a real key and not in the future
    mask = pad & future  # (B, 1, 1, L) & (1, 1, L, L) -> (B, 1, L, L)
    fully_masked = ~mask.any(dim=-1)[:, 0]  # (B, L)
    return {"tokens": tokens, "padding": pad, "causal": future, "mask": mask, "fully_masked": fully_masked,
            "labels": token_labels(tokens), "lengths": list(lengths)}


def plot_masks(data: dict, axes=None):
    """One image per sentence of its (Lq, Lk) mask, dark = may attend, fully masked rows marked; return the figure."""
    masks = data["mask"][:, 0]  # (B, L, L)
    if axes is None:
        _, axes = plt.subplots(1, len(masks), figsize=(3.2 * len(masks), 3.3), squeeze=False)
        axes = axes[0]
    for b, ax in enumerate(axes):
        ax.imshow(masks[b].int().numpy(), cmap="Greens", vmin=-0.25, vmax=1, interpolation="nearest")
        labels = data["labels"][b]
        ax.set_xticks(range(len(labels)), labels, rotation=90, fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        for row in torch.nonzero(data["fully_masked"][b]).flatten().tolist():
            ax.text(len(labels) / 2 - 0.5, row, "fully masked", color="tab:red", ha="center", va="center", fontsize=8)
        ax.set_xlabel("key 键", fontsize=9)
        ax.set_ylabel("query 查询", fontsize=9)
        ax.set_title(f"sentence {b + 1}: {data['lengths'][b]} tokens", fontsize=9)
    fig = axes[0].figure
    fig.tight_layout()
    return fig


def explore_masks(len1: int = 4, len2: int = 2, len3: int = 5, causal: bool = True,
                  padding_side: str = "right") -> None:
    """The explorer: the combined padding (and causal) masks of three sentences of the given lengths."""
    plot_masks(mask_builder_data([len1, len2, len3], causal, padding_side))
    plt.show()
