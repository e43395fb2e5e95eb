"""Notebook 03's plots: attention weights as a heatmap over a sentence's tokens, how the softmax saturates as d_k
grows when the scores are not divided by sqrt(d_k), and what that does to the gradient that reaches the queries.
Each plot has a pure data function beside it."""

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


def _query_rows(num_queries: int, num_keys: int, d_k: int, generator: torch.Generator):
    """N independent rows: one query (N, 1, d_k) against its own keys (N, keys, d_k), N(0, 1) entries (float64)."""
    q = torch.randn(num_queries, 1, d_k, generator=generator, dtype=torch.float64)  # (N, 1, d_k)
    k = torch.randn(num_queries, num_keys, d_k, generator=generator, dtype=torch.float64)  # (N, keys, d_k)
    return q, k


def _row_scores(q: torch.Tensor, k: torch.Tensor, scaled: bool) -> torch.Tensor:
    """Each row's scores q . k (N, keys), divided by sqrt(d_k) when `scaled`."""
    scores = (q @ k.transpose(-2, -1)).squeeze(1)  # (N, 1, d_k) @ (N, d_k, keys) -> (N, keys)
    return scores / math.sqrt(q.size(-1)) if scaled else scores


def saturation_data(d_ks=D_KS, scaled: bool = True, num_keys: int = len(TOKENS), num_queries: int = 2000,
                    seed: int = 0) -> dict[str, list[float]]:
    """Averages over random queries, one entry per d_k: score std, largest weight and entropy of each softmax row."""
    generator = torch.Generator().manual_seed(seed)
    data = {"d_k": list(d_ks), "score_std": [], "max_weight": [], "entropy": []}
    for d_k in d_ks:
        scores = _row_scores(*_query_rows(num_queries, num_keys, d_k, generator), scaled)  # (N, keys)
        weights = torch.softmax(scores, dim=-1)  # (N, keys)
        # H(w) = -sum_j w_j ln w_j: ln(keys) when uniform, 0 when one key takes everything
        entropy = -torch.special.xlogy(weights, weights).sum(-1)  # (N,)
        data["score_std"].append(scores.std().item())
        data["max_weight"].append(weights.max(dim=-1).values.mean().item())
        data["entropy"].append(entropy.mean().item())
    return data


def gradient_data(d_ks=D_KS, scaled: bool = True, num_keys: int = len(TOKENS), num_queries: int = 2000,
                  seed: int = 0, tiny: float = 0.01) -> dict[str, list[float]]:
    """The gradient a random loss sends back to each query, per d_k: quantiles of its norm and the share that is tiny.

    Each row: A = softmax(q . k_j [/ sqrt(d_k)]) over its keys, L = sum_j G_j A_j with G ~ N(0, 1) (a random
    downstream loss), and the norm of dL/dq from autograd; `tiny` is the norm below which a row counts as no gradient.
    """
    generator = torch.Generator().manual_seed(seed)
    data = {"d_k": list(d_ks), "p10": [], "median": [], "p90": [], "tiny_share": []}
    levels = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    for d_k in d_ks:
        q, k = _query_rows(num_queries, num_keys, d_k, generator)  # (N, 1, d_k), (N, keys, d_k)
        upstream = torch.randn(num_queries, num_keys, generator=generator, dtype=torch.float64)  # (N, keys): G
        q.requires_grad_(True)
        weights = torch.softmax(_row_scores(q, k, scaled), dim=-1)  # (N, keys)
        (weights * upstream).sum().backward()  # every row's L = sum_j G_j A_j, all at once
        norms = q.grad.squeeze(1).norm(dim=-1)  # (N,): |dL/dq| of each row
        for key, value in zip(("p10", "median", "p90"), torch.quantile(norms, levels).tolist(), strict=True):
            data[key].append(value)
        data["tiny_share"].append((norms < tiny).double().mean().item())
    return data


@functools.lru_cache(maxsize=1)
def gradient_curves() -> tuple[dict, dict]:
    """The gradient curves (scaled, unscaled) over D_KS, computed once."""
    return gradient_data(scaled=True), gradient_data(scaled=False)


def plot_gradients(scaled: dict, unscaled: dict, tiny: float = 0.01, axes=None):
    """|dL/dq| against d_k (median and 10-90 % band, log scale) and the share of rows with almost none; the figure."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 3.2))
    for data, label, color in [(scaled, "÷ √d_k", "tab:blue"), (unscaled, "no scale", "tab:orange")]:
        axes[0].plot(data["d_k"], data["median"], marker="o", ms=3, color=color, label=f"{label}: median")
        axes[0].fill_between(data["d_k"], data["p10"], data["p90"], color=color, alpha=0.2,
                             label=f"{label}: 10–90 % of rows")
        axes[1].plot(data["d_k"], data["tiny_share"], marker="o", ms=3, color=color, label=label)
    axes[0].set_yscale("log")
    axes[0].set_ylim(1e-7, 10)  # the unscaled band runs on far below: those rows get nothing
    axes[0].set_ylabel(r"$\|\partial L / \partial q\|$ of a row")
    axes[0].set_title("the gradient that reaches a query", fontsize=10)
    axes[1].set_ylim(-0.02, 1.02)
    axes[1].set_ylabel(rf"share of rows with $\|\partial L / \partial q\| < {tiny:g}$")
    axes[1].set_title("rows that get (almost) no gradient", fontsize=10)
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xlabel("d_k")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].figure.tight_layout()
    return axes[0].figure


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
