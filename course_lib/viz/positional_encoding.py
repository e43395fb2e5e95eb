"""Notebook 02's plots: the sinusoidal table as a heatmap and as curves, PE(p)·PE(q) against the distance |p - q|,
and one (sin, cos) pair turning round its circle. Each plot has a pure data function beside it."""

import math

import matplotlib.pyplot as plt
import torch

from ..positional_encoding import sinusoidal_positional_encoding
from ..validation import require_positive_int


def pe_heatmap_data(max_len: int, d_model: int) -> torch.Tensor:
    """The (max_len, d_model) sinusoidal table in float64: row = position, column = dimension."""
    return sinusoidal_positional_encoding(max_len, d_model, dtype=torch.float64)


def default_dims(d_model: int) -> list[int]:
    """The dimensions the curves show: the first sin/cos pair, one from the middle and the last sin."""
    require_positive_int("d_model", d_model)
    return sorted({0, min(1, d_model - 1), 2 * (d_model // 4), 2 * ((d_model - 1) // 2)})


def wavelength(dim: int, d_model: int) -> float:
    """The period in positions of dimension `dim`: 2π · 10000^(2i / d_model) for the pair i = dim // 2."""
    return 2 * math.pi * 10000 ** (2 * (dim // 2) / d_model)


def pe_curves_data(max_len: int, d_model: int, dims) -> dict:
    """Positions (max_len,), the table's columns `dims` as curves (len(dims), max_len) and each one's wavelength."""
    table = pe_heatmap_data(max_len, d_model)  # (max_len, d_model)
    dims = list(dims)
    for dim in dims:
        if not 0 <= dim < d_model:
            raise ValueError(f"dims must lie in [0, {d_model}) for d_model={d_model}, got dim={dim}")
    return {"position": torch.arange(max_len), "dims": dims, "curves": table[:, dims].T,  # (len(dims), max_len)
            "wavelength": [wavelength(dim, d_model) for dim in dims]}


def plot_pe_curves(curves: dict, ax=None, title: str = "one curve per dimension"):
    """The table's columns of `pe_curves_data` against the position, the legend below the curves; return the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.6))
    for dim, curve, period in zip(curves["dims"], curves["curves"], curves["wavelength"], strict=True):
        kind = "sin" if dim % 2 == 0 else "cos"
        ax.plot(curves["position"].numpy(), curve.numpy(), label=f"dim {dim} ({kind}, period {period:.0f})")
    ax.set_xlabel("position 位置")
    ax.set_ylabel("PE(pos, dim)")
    ax.set_ylim(-1.1, 1.1)
    # below the axes, so that no curve is hidden behind it
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax.set_title(title, fontsize=10)
    return ax.figure


def plot_pe(table: torch.Tensor, curves: dict, position: int | None = None):
    """Three panels: the table as a heatmap, the chosen columns as curves, and row `position` as bars."""
    max_len, d_model = table.shape
    panels = 2 if position is None else 3
    fig, axes = plt.subplots(1, panels, figsize=(10, 4.0), width_ratios=[1.1, 1.4, 1][:panels])
    ax = axes[0]
    image = ax.imshow(table.numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("dimension 维度")
    ax.set_ylabel("position 位置")
    ax.set_title(f"PE table, d_model = {d_model}", fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.05)
    plot_pe_curves(curves, axes[1])
    if position is not None:
        axes[0].axhline(position, color="black", lw=1)
        axes[1].axvline(position, color="black", lw=1, ls="--")
        ax = axes[2]
        ax.bar(range(d_model), table[position].numpy(), color="tab:orange")
        ax.set_ylim(-1.1, 1.1)
        ax.set_xlabel("dimension 维度")
        ax.set_title(f"PE(pos = {position})", fontsize=10)
    fig.tight_layout()
    return fig


def explore_pe(d_model: int = 16, position: int = 10, max_len: int = 64) -> None:
    """The explorer: the table, its curves and one position's vector for a chosen width and position."""
    table = pe_heatmap_data(max_len, d_model)  # (max_len, d_model)
    plot_pe(table, pe_curves_data(max_len, d_model, default_dims(d_model)), min(position, max_len - 1))
    plt.show()


def dot_vs_distance_data(d_model: int, max_distance: int, anchors=(0, 20, 50)) -> dict:
    """PE(p)·PE(p + k) for each anchor p and k = 0..max_distance (len(anchors), K), and the closed form (K,)."""
    if d_model % 2:
        raise ValueError(f"d_model must be even (whole sin/cos pairs), got d_model={d_model}")
    anchors = list(anchors)
    table = pe_heatmap_data(max(anchors) + max_distance + 1, d_model)  # (max_len, d_model)
    distance = torch.arange(max_distance + 1)  # (K,)
    dots = torch.stack([table[p + distance] @ table[p] for p in anchors])  # (len(anchors), K)
    # sin(a)sin(b) + cos(a)cos(b) = cos(a - b), so pair i adds cos(k ω_i) with ω_i = 1 / 10000^(2i / d_model)
    omega = 10000.0 ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d_model / 2,)
    formula = torch.cos(distance[:, None] * omega).sum(-1)  # (K,)
    return {"distance": distance, "anchors": anchors, "dots": dots, "formula": formula}


def plot_dot_vs_distance(data: dict, ax=None):
    """One line of PE(p)·PE(p + k) against k per anchor p, and the closed form dashed; return the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.2))
    distance = data["distance"].numpy()
    for p, dots in zip(data["anchors"], data["dots"], strict=True):
        ax.plot(distance, dots.numpy(), lw=4 if p == data["anchors"][0] else 1.5, alpha=0.6, label=f"p = {p}")
    ax.plot(distance, data["formula"].numpy(), "k--", lw=1, label=r"$\sum_i \cos(k\,\omega_i)$")
    ax.set_xlabel("distance k = |p − q|")
    ax.set_ylabel("PE(p) · PE(q)")
    ax.set_title("the dot product depends only on the distance", fontsize=10)
    ax.legend(fontsize=8)
    return ax.figure


def explore_dot_vs_distance(d_model: int = 64, anchor: int = 20, max_distance: int = 100) -> None:
    """The explorer: PE(p)·PE(p + k) against k for positions 0 and `anchor`, for a chosen width."""
    plot_dot_vs_distance(dot_vs_distance_data(d_model, max_distance, anchors=(0, anchor)))
    plt.show()


def pair_points(max_len: int, d_model: int, pair: int) -> torch.Tensor:
    """(max_len, 2): the pair (PE(pos, 2i), PE(pos, 2i + 1)) of each position, a point on the unit circle."""
    if not 0 <= pair < d_model // 2:
        raise ValueError(f"pair must lie in [0, {d_model // 2}) for d_model={d_model}, got pair={pair}")
    return pe_heatmap_data(max_len, d_model)[:, 2 * pair : 2 * pair + 2]  # (max_len, 2)


def plot_pair_circle(points: torch.Tensor, shift: int, ax=None, title: str = ""):
    """The points on their circle, each labelled with its position, and arrows pos -> pos + shift; return the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.6))
    circle = torch.linspace(0, 2 * math.pi, 200)
    ax.plot(torch.sin(circle).numpy(), torch.cos(circle).numpy(), color="lightgrey", lw=1)
    ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), color="tab:blue", zorder=3)
    for pos, (x, y) in enumerate(points.tolist()):
        ax.annotate(str(pos), (x, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    for pos in range(len(points) - shift):
        (x0, y0), (x1, y1) = points[pos].tolist(), points[pos + shift].tolist()
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color="tab:orange", lw=1))
    ax.set_xlabel("sin dimension")
    ax.set_ylabel("cos dimension")
    ax.set_aspect("equal")
    ax.set_xlim(-1.3, 1.3)
    ax.set_ylim(-1.3, 1.3)
    ax.set_title(title or f"pos → pos + {shift} turns by the same angle", fontsize=10)
    return ax.figure
