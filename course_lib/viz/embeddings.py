"""Notebook 01's plots: how similar token vectors are, with and without the sqrt(d_model) scale, and how their
size compares with the positional encodings'. Each plot has a pure data function beside it."""

import math

import matplotlib.pyplot as plt
import torch

from ..positional_encoding import sinusoidal_positional_encoding

TOKENS = ("I", "like", "apples")  # the study notes' sentence

# how the embedding table is first filled: name -> standard deviation of its entries for a given d_model
DEFAULT_INIT = "N(0, 1/d_model): TokenEmbedding's, as in tensor2tensor"
INITS = {
    DEFAULT_INIT: lambda d_model: d_model**-0.5,
    "N(0, 1): nn.Embedding's default": lambda d_model: 1.0,
}


def token_vectors(d_model: int, num_tokens: int = 3, init: str = DEFAULT_INIT, scaled: bool = True,
                  seed: int = 0) -> torch.Tensor:
    """Freshly initialised embedding rows (num_tokens, d_model), times sqrt(d_model) when `scaled`."""
    if init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got init={init!r}")
    generator = torch.Generator().manual_seed(seed)
    rows = torch.randn(num_tokens, d_model, generator=generator, dtype=torch.float64)  # (N, d_model)
    rows = rows * INITS[init](d_model)  # (N, d_model)
    return rows * math.sqrt(d_model) if scaled else rows


def similarity_data(vectors: torch.Tensor) -> dict[str, torch.Tensor]:
    """Dot products (N, N), cosine similarities (N, N) and norms (N,) of the rows of `vectors` (N, d)."""
    dot = vectors @ vectors.T  # (N, N)
    norm = vectors.norm(dim=-1)  # (N,)
    # cos(u, v) = u . v / (|u| |v|)
    cosine = dot / (norm[:, None] * norm[None, :]).clamp_min(1e-12)  # (N, N)
    return {"dot": dot, "cosine": cosine, "norm": norm}


def positional_norms(num_positions: int, d_model: int) -> torch.Tensor:
    """Norm of each position's sinusoidal encoding (num_positions,): sqrt(d_model / 2) for even d_model."""
    return sinusoidal_positional_encoding(num_positions, d_model, dtype=torch.float64).norm(dim=-1)


def _fmt(value: float) -> str:
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"


def _heatmap(ax, matrix: torch.Tensor, tokens, title: str, limit: float) -> None:
    """One annotated heatmap with the tokens on both axes."""
    ax.imshow(matrix.numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_xticks(range(len(tokens)), tokens)
    ax.set_yticks(range(len(tokens)), tokens)
    for i in range(matrix.size(0)):
        for j in range(matrix.size(1)):
            value = matrix[i, j].item()
            colour = "white" if abs(value) > 0.6 * limit else "black"  # readable on the dark cells
            ax.text(j, i, _fmt(value), ha="center", va="center", fontsize=8, color=colour)
    ax.set_title(title, fontsize=10)


def plot_similarity(data: dict[str, torch.Tensor], tokens=TOKENS, pe_norm: torch.Tensor | None = None,
                    title: str | None = None):
    """Heatmaps of dot products and cosines; with `pe_norm`, bars of vector vs position norms. Return the figure."""
    panels = 2 if pe_norm is None else 3
    fig, axes = plt.subplots(1, panels, figsize=(3.3 * panels, 3.2))
    dot_limit = data["dot"].abs().max().item()
    _heatmap(axes[0], data["dot"], tokens, "dot product u·v", dot_limit)
    _heatmap(axes[1], data["cosine"], tokens, "cosine similarity", 1.0)
    if pe_norm is not None:
        ax, where = axes[2], torch.arange(len(tokens))
        ax.bar(where - 0.2, data["norm"].numpy(), width=0.4, label="token vector")
        ax.bar(where + 0.2, pe_norm.numpy(), width=0.4, label="positional encoding")
        ax.set_xticks(range(len(tokens)), tokens)
        ax.set_ylabel("norm")
        ax.set_ylim(0, 1.35 * max(data["norm"].max().item(), pe_norm.max().item()))  # room for the legend on top
        ax.set_title("size: token vs position", fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def explore_similarity(d_model: int = 8, scaled: bool = True, init: str = DEFAULT_INIT, seed: int = 0) -> None:
    """The explorer: similarity and size of the sentence's fresh token vectors for a chosen width, scale and init."""
    vectors = token_vectors(d_model, len(TOKENS), init, scaled, seed)  # (3, d_model)
    scale = "× √d_model" if scaled else "no scale"
    plot_similarity(similarity_data(vectors), TOKENS, positional_norms(len(TOKENS), d_model),
                    title=f"d_model = {d_model}, {scale}, init {init}")
    plt.show()


def norm_growth_data(d_models, rows: int = 256, seed: int = 0) -> dict[str, list[float]]:
    """Mean row norm against d_model: positional encodings, and tables initialised small or N(0, 1), scaled or not."""
    small, unit = list(INITS)
    data = {"positional encoding": [positional_norms(rows, d).mean().item() for d in d_models]}
    for name, init, scaled in [("N(0, 1/d) table", small, False), ("N(0, 1/d) table × √d: TokenEmbedding", small, True),
                               ("N(0, 1) table × √d: nn.Embedding's init", unit, True)]:
        data[name] = [token_vectors(d, rows, init, scaled, seed).norm(dim=-1).mean().item() for d in d_models]
    return data


def plot_norm_growth(d_models, data: dict[str, list[float]], ax=None):
    """Log-log lines of mean vector norm against d_model, one per series of `norm_growth_data`; return the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.4))
    for name, norms in data.items():
        ax.plot(d_models, norms, marker="o", label=name, linestyle="--" if name == "positional encoding" else "-")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("d_model")
    ax.set_ylabel("mean vector norm")
    ax.set_title("How big is a vector at the input of the encoder?", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax.figure
