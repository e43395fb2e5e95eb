"""Notebook 05's plots: attention maps head by head.

`pattern_heads` sets the weights of a 4-head `MultiHeadAttention` by hand so that each head has its own, readable
pattern (previous token, same token, next token, first token); `head_maps_data` runs it on one sentence and
returns the (H, L, L) weights; `plot_head_maps` draws them side by side and `explore_heads` is the explorer.
Titles and the explorer number the heads 1..H, as the notebook's prose does; tensor indices stay 0-based.
"""

import math

import matplotlib.pyplot as plt
import torch

from ..multi_head_attention import MultiHeadAttention
from .attention import plot_attention_map

TOKENS = ("<bos>", "I", "like", "apples")  # the study notes' "I like apples", after the start token
HEAD_NAMES = ("previous token", "same token", "next token", "first token")
D_MODEL, NUM_HEADS = 8, 4
D_K = D_MODEL // NUM_HEADS  # 2: each head's query/key is a point in the plane
STEP = math.pi / 3  # 60 degrees between the circle points of neighbouring positions
SHIFTS = (-1, 0, 1)  # head indices 0-2 turn each query by this many positions; index 3 always asks for position 0


def position_codes(length: int) -> torch.Tensor:
    """(L, 2): position i as the point (cos i*STEP, sin i*STEP) on the unit circle."""
    angles = torch.arange(length, dtype=torch.float32) * STEP  # (L,)
    return torch.stack([angles.cos(), angles.sin()], dim=-1)  # (L, 2)


def rotation(angle: float) -> torch.Tensor:
    """(2, 2) matrix turning a point of the plane by `angle` radians."""
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]])


def sentence_input(seed: int = 0) -> torch.Tensor:
    """(1, L, d_model): dims 0-1 hold each token's position code, dims 2-7 random 'word' features the heads ignore."""
    words = torch.randn(1, len(TOKENS), D_MODEL - 2, generator=torch.Generator().manual_seed(seed))  # (1, L, 6)
    return torch.cat([position_codes(len(TOKENS))[None], words], dim=-1)  # (1, L, d_model)


@torch.no_grad()
def pattern_heads(sharpness: float = 8.0) -> MultiHeadAttention:
    """A MultiHeadAttention(8, 4) whose head h scores key j for query i as sharpness * cos(angle to its target)."""
    if not isinstance(sharpness, int | float) or sharpness < 0:
        raise ValueError(f"sharpness must be a number >= 0, got sharpness={sharpness!r}")
    mha = MultiHeadAttention(D_MODEL, NUM_HEADS)
    for parameter in mha.parameters():
        parameter.zero_()
    # the score is q.k / sqrt(d_k): a query of length sharpness * sqrt(d_k) against unit keys gives sharpness * cos
    radius = sharpness * math.sqrt(D_K)
    for head in range(NUM_HEADS):
        rows = slice(D_K * head, D_K * (head + 1))  # head h's slice of the projections' outputs
        mha.k_proj.weight[rows, :2] = torch.eye(2)  # k_j = position code of j
        mha.v_proj.weight[rows, :2] = torch.eye(2)  # v_j = position code of j: the output says where it looked
        if head < len(SHIFTS):  # q_i = the position code of i + shift, stretched
            mha.q_proj.weight[rows, :2] = radius * rotation(SHIFTS[head] * STEP)
        else:  # q_i = the code of position 0 for every i: a constant, so it lives in the bias
            mha.q_proj.bias[rows] = radius * position_codes(1)[0]
    mha.out_proj.weight.copy_(torch.eye(D_MODEL))  # W^O = I: the concatenated heads come out unchanged
    return mha


def head_maps_data(sharpness: float = 8.0) -> torch.Tensor:
    """(H, L, L): the four heads' attention weights on TOKENS."""
    mha = pattern_heads(sharpness)
    mha(sentence_input())  # keeps the weights in mha.attn_weights, (1, H, L, L)
    return mha.attn_weights[0]  # (H, L, L)


def head_targets(length: int = len(TOKENS)) -> torch.Tensor:
    """(H, L): the key each head's query i should pick; at the ends, where there is no neighbour, itself."""
    i = torch.arange(length)  # (L,)
    shifted = [(i + shift).clamp(0, length - 1) for shift in SHIFTS]  # 3 x (L,)
    return torch.stack([*shifted, torch.zeros_like(i)])  # (H, L)


def plot_head_maps(weights: torch.Tensor, tokens=TOKENS, names=HEAD_NAMES, axes=None):
    """One annotated heatmap per head, side by side, titled "head 1: ..." (counted from 1); return the figure."""
    if axes is None:
        _, axes = plt.subplots(1, len(weights), figsize=(2.45 * len(weights), 2.8))
    for head, (ax, name) in enumerate(zip(axes, names, strict=True)):
        plot_attention_map(weights[head], tokens, ax=ax, title=f"head {head + 1}: {name}")
        if head:
            ax.set_ylabel("")
    axes[0].figure.tight_layout()
    return axes[0].figure


def explore_heads(head: int = 1, sharpness: float = 8.0) -> None:
    """The explorer: head `head` (counted from 1, as in the dropdown) beside the average of all heads."""
    if not isinstance(head, int) or not 1 <= head <= NUM_HEADS:
        raise ValueError(f"head must be an int in 1..{NUM_HEADS}, got head={head!r}")
    weights = head_maps_data(sharpness)  # (H, L, L)
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.1))
    plot_attention_map(weights[head - 1], TOKENS, ax=axes[0], title=f"head {head}: {HEAD_NAMES[head - 1]}")
    plot_attention_map(weights.mean(dim=0), TOKENS, ax=axes[1], title="average of the 4 heads")
    axes[1].set_ylabel("")
    fig.tight_layout()
    plt.show()


def head_layout_data(d_model: int = 8, num_heads: int = 2) -> dict[str, torch.Tensor]:
    """Which head (counted from 0) owns each of the d_model columns of Q = XW^Q, (d_model,) per layout: contiguous
    blocks of d_k columns (section 2, course_lib) or interleaved, every H-th column (exercise 1)."""
    if d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    columns = torch.arange(d_model)  # (d_model,)
    return {"contiguous": columns // (d_model // num_heads), "interleaved": columns % num_heads}


def plot_head_layouts(layouts: dict[str, torch.Tensor], ax=None):
    """One row of cells per layout, a column of Q per cell, coloured and labelled by its head (counted from 1)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.55 * len(next(iter(layouts.values()))) + 1.6, 0.5 * len(layouts) + 1.1))
    owners = torch.stack(list(layouts.values()))  # (layouts, d_model)
    ax.imshow(owners.numpy(), cmap="Pastel1", vmin=0, vmax=8, aspect="auto")
    for row in range(owners.size(0)):
        for column in range(owners.size(1)):
            ax.text(column, row, f"{owners[row, column].item() + 1}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(owners.size(1)))
    ax.set_yticks(range(len(layouts)), list(layouts))
    ax.set_xlabel("column of $Q = XW^Q$ (the number in a cell: the head that owns it)")
    ax.set_title(f"{int(owners.max()) + 1} heads of d_k = {owners.size(1) // (int(owners.max()) + 1)}: two layouts",
                 fontsize=10)
    ax.figure.tight_layout()
    return ax.figure
