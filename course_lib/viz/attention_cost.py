"""Notebook 03's cost section: what self-attention and the position-wise FFN cost as the sequence grows.

`cost_counts` counts exactly (multiply-adds, bytes of the largest intermediate tensor); `measure_cost` runs the
course's own `scaled_dot_product_attention` and `PositionwiseFeedForward` and times them on this machine (times vary
from machine to machine and run to run; the bytes are read from the tensors and do not); `plot_cost` draws both.
"""

import functools
import time

import matplotlib.pyplot as plt
import torch

from ..attention import scaled_dot_product_attention
from ..feed_forward import PositionwiseFeedForward
from ..validation import require_head_split, require_positive_int

SEQ_LENS = tuple(2**p for p in range(5, 12))  # 32 .. 2048
FLOAT32_BYTES = 4


def cost_counts(seq_len: int, d_model: int, num_heads: int, d_ff: int) -> dict[str, int]:
    """Exact costs of one sequence through one layer: multiply-adds and float32 bytes of the largest intermediate."""
    require_positive_int("seq_len", seq_len)
    require_head_split(d_model, num_heads)
    require_positive_int("d_ff", d_ff)
    return {
        # Q K^T and A V: L x L dot products of width d_k per head, h heads -> 2 L^2 d_model
        "attention_macs": 2 * seq_len * seq_len * d_model,
        # W_Q, W_K, W_V, W_O: four (L, d_model) @ (d_model, d_model) products
        "projection_macs": 4 * seq_len * d_model * d_model,
        # W_1 and W_2: (L, d_model) @ (d_model, d_ff) and back
        "ffn_macs": 2 * seq_len * d_model * d_ff,
        # the scores (and the weights after them): h matrices of L x L
        "score_bytes": num_heads * seq_len * seq_len * FLOAT32_BYTES,
        # the FFN's hidden layer: L x d_ff
        "hidden_bytes": seq_len * d_ff * FLOAT32_BYTES,
    }


def crossovers(d_model: int, num_heads: int, d_ff: int) -> dict[str, float]:
    """The length L above which attention's quadratic part costs more than the FFN, in multiply-adds and in bytes."""
    require_head_split(d_model, num_heads)
    require_positive_int("d_ff", d_ff)
    # 2 L^2 d_model > 2 L d_model d_ff  <=>  L > d_ff;   h L^2 > L d_ff  <=>  L > d_ff / h
    return {"macs": float(d_ff), "bytes": d_ff / num_heads}


def _best_time(fn, repeats: int) -> float:
    """The fastest of `repeats` runs of fn(), in seconds (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@torch.no_grad()
def measure_cost(seq_lens=SEQ_LENS, d_model: int = 64, num_heads: int = 4, d_ff: int = 256, repeats: int = 3,
                 seed: int = 0) -> dict:
    """Time attention (scores, softmax, weights @ V) and the FFN on one sequence of each length; read their bytes."""
    require_head_split(d_model, num_heads)
    require_positive_int("d_ff", d_ff)
    require_positive_int("repeats", repeats)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the FFN's initial weights
    ffn = PositionwiseFeedForward(d_model, d_ff).eval()
    hidden = {}
    ffn.linear1.register_forward_hook(lambda module, inputs, output: hidden.update(bytes=output.nbytes))
    data = {"seq_len": list(seq_lens), "d_model": d_model, "num_heads": num_heads, "d_ff": d_ff,
            "attention_s": [], "ffn_s": [], "score_bytes": [], "hidden_bytes": []}
    d_k = d_model // num_heads
    for seq_len in seq_lens:
        q, k, v = (torch.randn(1, num_heads, seq_len, d_k, generator=generator) for _ in range(3))  # (1, h, L, d_k)
        x = torch.randn(1, seq_len, d_model, generator=generator)  # (1, L, d_model)
        data["attention_s"].append(_best_time(functools.partial(scaled_dot_product_attention, q, k, v), repeats))
        data["ffn_s"].append(_best_time(functools.partial(ffn, x), repeats))
        data["score_bytes"].append(scaled_dot_product_attention(q, k, v)[1].nbytes)  # the weights (1, h, L, L)
        data["hidden_bytes"].append(hidden["bytes"])  # the FFN's hidden layer (1, L, d_ff)
    return data


def plot_cost(data: dict, axes=None):
    """Time (left) and bytes of the largest intermediate (right) against L, log-log, crossovers dashed; the figure."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    lengths = data["seq_len"]
    cross = crossovers(data["d_model"], data["num_heads"], data["d_ff"])
    panels = [
        (axes[0], [1e3 * t for t in data["attention_s"]], [1e3 * t for t in data["ffn_s"]], "time (ms)",
         "time of one layer's part, this machine", cross["macs"], "equal multiply-adds"),
        (axes[1], [b / 2**20 for b in data["score_bytes"]], [b / 2**20 for b in data["hidden_bytes"]], "MiB",
         "its largest tensor (exact)", cross["bytes"], "equal bytes"),
    ]
    for ax, attention, ffn, ylabel, title, crossing, crossing_label in panels:
        ax.plot(lengths, attention, marker="o", ms=3, label="attention: softmax(QKᵀ/√d_k) V")
        ax.plot(lengths, ffn, marker="o", ms=3, label=f"FFN, d_ff = {data['d_ff']}")
        ax.axvline(crossing, color="black", lw=1, ls="--", label=f"L = {crossing:g}: {crossing_label}")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length L")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig = axes[0].figure
    fig.suptitle(f"d_model = {data['d_model']}, {data['num_heads']} heads, d_ff = {data['d_ff']}", fontsize=10)
    fig.tight_layout()
    return fig
