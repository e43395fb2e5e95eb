"""Notebook 03's plots: attention weights as a heatmap over a sentence's tokens, and how the softmax saturates as
d_k grows when the scores are not divided by sqrt(d_k). Each plot has a pure data function beside it."""

import functools
import math

import matplotlib.pyplot as plt
import torch

from ..validation import require_positive_int

TOKENS = ("猫", "吃", "了", "鱼")  # "the cat ate fish"
D_KS = tuple(2**p for p in range(11))  # 1 .. 1024: the widths the saturation curves cover


def random_qk(num_tokens: int, d_k: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Queries and keys (num_tokens, d_k) with N(0, 1) entries, as fresh projections give (float64)."""
    require_positive_int("d_k", d_k)
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(num_tokens, d_k, generator=generator, dtype=torch.float64)  # (L, d_k)
    k = torch.randn(num_tokens, d_k, generator=generator, dtype=torch.float64)  # (L, d_k)
    return q, k


def attention_map_data(d_k: int, scaled: bool = True, num_tokens: int = len(TOKENS), seed: int = 0) -> torch.Tensor:
    """The (L, L) weights softmax(q k^T / sqrt(d_k)) of random q, k; without the division when not `scaled`."""
    q, k = random_qk(num_tokens, d_k, seed)
    scores = q @ k.T  # (L, L)
    if scaled:
        scores = scores / math.sqrt(d_k)
    return torch.softmax(scores, dim=-1)  # (L, L)


def saturation_data(d_ks=D_KS, scaled: bool = True, num_keys: int = len(TOKENS), num_queries: int = 2000,
                    seed: int = 0) -> dict[str, list[float]]:
    """Averages over random queries, one entry per d_k: score std, largest weight and entropy of each softmax row."""
    generator = torch.Generator().manual_seed(seed)
    data = {"d_k": list(d_ks), "score_std": [], "max_weight": [], "entropy": []}
    for d_k in d_ks:
        q = torch.randn(num_queries, 1, d_k, generator=generator, dtype=torch.float64)  # (N, 1, d_k)
        k = torch.randn(num_queries, num_keys, d_k, generator=generator, dtype=torch.float64)  # (N, keys, d_k)
        scores = (q @ k.transpose(-2, -1)).squeeze(1)  # (N, keys)
        if scaled:
            scores = scores / math.sqrt(d_k)
        weights = torch.softmax(scores, dim=-1)  # (N, keys)
        # H(w) = -sum_j w_j ln w_j: ln(keys) when uniform, 0 when one key takes everything
        entropy = -torch.special.xlogy(weights, weights).sum(-1)  # (N,)
        data["score_std"].append(scores.std().item())
        data["max_weight"].append(weights.max(dim=-1).values.mean().item())
        data["entropy"].append(entropy.mean().item())
    return data


def plot_attention_map(weights: torch.Tensor, query_tokens=TOKENS, key_tokens=None, ax=None, title: str = ""):
    """An annotated heatmap, queries down and keys across, each row summing to 1; return the figure."""
    key_tokens = query_tokens if key_tokens is None else key_tokens
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.2))
    ax.imshow(weights.numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(key_tokens)), key_tokens)
    ax.set_yticks(range(len(query_tokens)), query_tokens)
    ax.set_xlabel("key 键")
    ax.set_ylabel("query 查询")
    for i in range(weights.size(0)):
        for j in range(weights.size(1)):
            value = weights[i, j].item()
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                    color="white" if value > 0.6 else "black")
    ax.set_title(title or "attention weights", fontsize=10)
    return ax.figure


def plot_saturation(scaled: dict, unscaled: dict, d_k: int | None = None, axes=None):
    """Largest weight and entropy against d_k, with and without 1/sqrt(d_k), a marker at `d_k`; return the figure."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    num_keys = len(TOKENS)
    for ax, key, label in [(axes[0], "max_weight", "largest weight"), (axes[1], "entropy", "entropy (nats)")]:
        ax.plot(scaled["d_k"], scaled[key], marker="o", ms=3, label="÷ √d_k")
        ax.plot(unscaled["d_k"], unscaled[key], marker="o", ms=3, label="no scale")
        if d_k is not None:
            ax.axvline(d_k, color="black", lw=1, ls="--")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("d_k")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].axhline(1 / num_keys, color="grey", lw=1, ls=":", label=f"uniform 1/{num_keys}")
    axes[1].axhline(math.log(num_keys), color="grey", lw=1, ls=":", label=f"uniform ln {num_keys}")
    axes[0].set_ylim(0, 1.05)
    axes[0].set_title("a softmax row's largest weight", fontsize=10)
    axes[1].set_title("a softmax row's entropy", fontsize=10)
    axes[0].legend(fontsize=8)
    return axes[0].figure


@functools.lru_cache(maxsize=1)
def saturation_curves() -> tuple[dict, dict]:
    """The explorer's curves (scaled, unscaled) over D_KS: they do not move with the slider, so compute them once."""
    return saturation_data(scaled=True), saturation_data(scaled=False)


def explore_saturation(d_k: int = 64, scaled: bool = True) -> None:
    """The explorer: random queries and keys of width d_k as an attention map, with or without the scale."""
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.3), width_ratios=[1, 1.2, 1.2])
    scale = "÷ √d_k" if scaled else "no scale"
    plot_attention_map(attention_map_data(d_k, scaled), TOKENS, ax=axes[0], title=f"d_k = {d_k}, {scale}")
    plot_saturation(*saturation_curves(), d_k=d_k, axes=axes[1:])
    fig.tight_layout()
    plt.show()
