"""Notebooks 08 and 09's plots: every layer's self- and cross-attention maps, and which input positions can change
which output positions (the padding and causal masks at work). Each plot has a pure data function beside it."""

from contextlib import contextmanager

import matplotlib.pyplot as plt
import torch
from torch import nn

KINDS = {"self": "self-attention", "cross": "cross-attention"}


@contextmanager
def explicit_eval(model: nn.Module):
    """Run `model` in eval mode on the explicit attention path (which keeps `attn_weights`), then restore it."""
    was_training = model.training
    fused = {m: m.fused for m in model.modules() if hasattr(type(m), "fused")}
    for module in fused:
        module.fused = False
    model.eval()
    try:
        yield model
    finally:
        for module, flag in fused.items():
            module.fused = flag
        model.train(was_training)


@torch.no_grad()
def encoder_attention_maps(encoder: nn.Module, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Run the encoder on x (B, L, d_model) and stack every layer's self-attention weights: (N, B, H, L, L)."""
    with explicit_eval(encoder):
        encoder(x, mask)
        return torch.stack([layer.self_attn.attn_weights for layer in encoder.layers])  # (N, B, H, L, L)


@torch.no_grad()
def decoder_attention_maps(decoder: nn.Module, y: torch.Tensor, memory: torch.Tensor,
                           tgt_mask: torch.Tensor | None = None,
                           memory_mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Run the decoder and stack every layer's weights: "self" (N, B, H, Lt, Lt) and "cross" (N, B, H, Lt, Ls)."""
    with explicit_eval(decoder):
        decoder(y, memory, tgt_mask, memory_mask)
        return {"self": torch.stack([layer.self_attn.attn_weights for layer in decoder.layers]),  # (N, B, H, Lt, Lt)
                "cross": torch.stack([layer.cross_attn.attn_weights for layer in decoder.layers])}  # (N, B, H, Lt, Ls)


def _annotated_heatmap(ax, matrix: torch.Tensor, rows, columns, cmap: str, vmax: float, zero_text: str) -> None:
    """Heatmap of `matrix` with its values written in the cells; exact zeros written as `zero_text`."""
    ax.imshow(matrix.numpy(), cmap=cmap, vmin=0.0, vmax=vmax)
    ax.set_xticks(range(len(columns)), columns)
    ax.set_yticks(range(len(rows)), rows)
    for i in range(matrix.size(0)):
        for j in range(matrix.size(1)):
            value = matrix[i, j].item()
            text = zero_text if value == 0 else f"{value:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if value > 0.6 * vmax else "black")


def plot_attention(weights: torch.Tensor, queries, keys, title: str = "", ax=None):
    """One head's weights (Lq, Lk) as an annotated heatmap, queries down and keys across; return the figure."""
    if weights.shape != (len(queries), len(keys)):
        raise ValueError(f"weights must be (len(queries), len(keys)) = ({len(queries)}, {len(keys)}), "
                         f"got shape {tuple(weights.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(3.4, 3.2))
    _annotated_heatmap(ax, weights, queries, keys, "Blues", 1.0, "0")
    ax.set_xlabel("keys")
    ax.set_ylabel("queries")
    ax.set_title(title, fontsize=9)
    return ax.figure


def _check_layer_head(maps: torch.Tensor, layer: int, head: int) -> None:
    """Raise ValueError unless layer and head (counted from 1) index maps (N, H, Lq, Lk)."""
    num_layers, num_heads = maps.shape[:2]
    if not (1 <= layer <= num_layers and 1 <= head <= num_heads):
        raise ValueError(f"layer must be in 1..{num_layers} and head in 1..{num_heads}, got layer={layer}, head={head}")


def plot_layers(maps: torch.Tensor, head: int, queries, keys, kind: str = "self"):
    """Layer by layer: head `head` (from 1) of maps (N, H, Lq, Lk), one panel per layer; return the figure."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got kind={kind!r}")
    _check_layer_head(maps, 1, head)
    num_layers = maps.size(0)
    fig, axes = plt.subplots(1, num_layers, figsize=(min(3.2 * num_layers, 10), 3.2), squeeze=False)
    for layer, ax in enumerate(axes[0], start=1):
        plot_attention(maps[layer - 1, head - 1], queries, keys, f"layer {layer}, head {head}", ax)
        if layer > 1:
            ax.set_ylabel("")
    fig.suptitle(f"{KINDS[kind]}, layer by layer", fontsize=10)
    fig.tight_layout()
    return fig


def attention_explorer(maps: dict[str, torch.Tensor], tokens: dict[str, tuple[list, list]]):
    """For `interact`: a function (kind, layer, head) drawing maps[kind][layer - 1, head - 1] with its tokens.

    `maps[kind]` is (N, H, Lq, Lk) for one sentence; `tokens[kind]` its (queries, keys).
    """
    if set(maps) != set(tokens) or not set(maps) <= set(KINDS):
        raise ValueError(f"maps and tokens must have the same keys among {list(KINDS)}, "
                         f"got {sorted(maps)} and {sorted(tokens)}")

    def show(kind: str, layer: int, head: int) -> None:
        _check_layer_head(maps[kind], layer, head)
        queries, keys = tokens[kind]
        plot_attention(maps[kind][layer - 1, head - 1], queries, keys, f"{KINDS[kind]}: layer {layer}, head {head}")
        plt.show()

    return show


@torch.no_grad()
def influence_data(fn, x: torch.Tensor, row: int = 0, seed: int = 0) -> torch.Tensor:
    """(L, L): entry [i, j] is the largest change of output position i of batch row `row` when a random vector is
    added to input position j of that row. `fn` maps x (B, L, d_model) to (B, L, d_model)."""
    generator = torch.Generator().manual_seed(seed)
    base = fn(x)[row]  # (L, d_model)
    length = x.size(1)
    influence = torch.zeros(length, length, dtype=x.dtype)
    for j in range(length):
        changed = x.clone()
        changed[row, j] += torch.randn(x.size(-1), generator=generator, dtype=x.dtype)
        influence[:, j] = (fn(changed)[row] - base).abs().amax(dim=-1)  # (L,)
    return influence


def plot_influence(panels: dict[str, torch.Tensor], tokens):
    """One heatmap per (title -> influence (L, L)): changed input across, output down, "0" where exactly 0."""
    vmax = max(matrix.max().item() for matrix in panels.values()) or 1.0
    fig, axes = plt.subplots(1, len(panels), figsize=(min(3.6 * len(panels), 10), 3.4), squeeze=False)
    for ax, (title, matrix) in zip(axes[0], panels.items(), strict=True):
        _annotated_heatmap(ax, matrix, tokens, tokens, "Reds", vmax, "0")
        ax.set_xlabel("changed input position")
        ax.set_ylabel("output position")
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig
