"""Notebook 10's plots: the training curves, and the trained model's cross-attention on the copy and reverse tasks.

Each plot has a pure data function beside it; the explorer picks a task, a decoder layer and a head.
"""

import math

import matplotlib.pyplot as plt
import torch

from ..decoding import greedy_decode
from ..fused import set_fused
from ..tokens import EOS_ID
from ..toy_tasks import FIRST_DIGIT_ID, TASKS, TOKEN_NAMES
from ..validation import require_choice, require_probability


def smoothed_loss_floor(vocab_size: int, smoothing: float) -> float:
    """The lowest label-smoothed cross-entropy any model can reach: the entropy H(q) of its smoothed target q."""
    require_probability("smoothing", smoothing)
    # q = (1 - ε)·one-hot + ε/V: one entry 1 - ε + ε/V, the other V - 1 entries ε/V; H(q) = -Σ q log q
    high, low = 1.0 - smoothing + smoothing / vocab_size, smoothing / vocab_size
    return -high * math.log(high) - (0.0 if low == 0 else (vocab_size - 1) * low * math.log(low))


def plot_training(losses: dict[str, list[float]], floor: float | None = None, ax=None):
    """Training loss per step, one line per task, and the dashed floor when given; return the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 3.2))
    for task, values in losses.items():
        ax.plot(range(1, len(values) + 1), values, label=task, linewidth=1)
    if floor is not None:
        ax.axhline(floor, color="black", linestyle="--", linewidth=1, label=f"floor H(q) = {floor:.3f}")
    ax.set_xlabel("training step")
    ax.set_ylabel("label-smoothed loss")
    ax.set_title("Training on the toy tasks", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    return ax.figure


def digits_to_source(digits: list[int]) -> torch.Tensor:
    """Digits such as [3, 1, 4] -> one source row (1, L + 1): their token ids, then <eos>."""
    if not digits or any(not 0 <= d <= 9 for d in digits):
        raise ValueError(f"digits must be a non-empty list of 0..9, got {digits!r}")
    return torch.tensor([[FIRST_DIGIT_ID + d for d in digits] + [EOS_ID]])  # (1, L + 1)


def expected_source_positions(task: str, length: int) -> torch.Tensor:
    """(length,): the source position decoder query t must read to write answer digit t."""
    require_choice("task", task, TASKS)
    t = torch.arange(length)  # (L,)
    return t if task == "copy" else length - 1 - t  # copy: the diagonal; reverse: the anti-diagonal


@torch.no_grad()
def cross_attention_data(model, task: str, digits: list[int]) -> dict:
    """Decode `digits` greedily, rerun the decoded prefix, and collect every layer's cross-attention.

    Returns weights (layers, H, Lt, Ls), the source and decoder-input token names, the greedy output ids, the
    expected source position of each digit-writing query, and the alignment score per layer and head
    (layers, H): the mean weight those queries put on their expected positions.
    """
    src = digits_to_source(digits)  # (1, Ls)
    was_training = model.training
    fused = {m: m.fused for m in model.modules() if hasattr(type(m), "fused")}
    set_fused(model.eval(), False)  # the explicit path keeps attn_weights
    try:
        ids = greedy_decode(model, src, max_new_tokens=len(digits) + 1)  # (1, 1 + steps)
        model(src, ids[:, :-1])  # queries: <bos> and every token but the last
        weights = torch.stack([layer.cross_attn.attn_weights[0] for layer in model.decoder.layers])  # (N, H, Lt, Ls)
    finally:
        for module, flag in fused.items():
            module.fused = flag
        model.train(was_training)
    expected = expected_source_positions(task, len(digits))[: weights.size(2)]  # (min(L, Lt),)
    rows = torch.arange(len(expected))  # the queries that write a digit
    scores = weights[:, :, rows, expected].mean(dim=-1)  # (N, H)
    return {"weights": weights, "source": [TOKEN_NAMES[i] for i in src[0].tolist()],
            "queries": [TOKEN_NAMES[i] for i in ids[0, :-1].tolist()], "output": ids[0, 1:].tolist(),
            "expected": expected, "scores": scores}


def best_head(data: dict) -> tuple[int, int]:
    """(layer, head) of the highest alignment score, both counted from 0."""
    flat = int(data["scores"].argmax())
    return divmod(flat, data["scores"].size(1))


def plot_cross_attention(data: dict, layer: int, head: int, title: str | None = None, ax=None):
    """Heatmap of one head's cross-attention (queries down, source across), expected cells circled; return figure."""
    weights = data["weights"]
    if not (0 <= layer < weights.size(0) and 0 <= head < weights.size(1)):
        raise ValueError(f"layer must be in [0, {weights.size(0)}) and head in [0, {weights.size(1)}), "
                         f"got layer={layer}, head={head}")
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.8))
    ax.imshow(weights[layer, head].numpy(), cmap="Blues", vmin=0.0, vmax=1.0)
    rows = torch.arange(len(data["expected"]))
    ax.scatter(data["expected"].numpy(), rows.numpy(), s=160, facecolors="none", edgecolors="tab:red",
               linewidths=1.2, label="expected source")
    ax.set_xticks(range(len(data["source"])), data["source"])
    ax.set_yticks(range(len(data["queries"])), data["queries"])
    ax.set_xlabel("source (keys)")
    ax.set_ylabel("decoder input (queries)")
    score = data["scores"][layer, head].item()
    ax.set_title(title or f"layer {layer + 1}, head {head + 1}: {score:.0%} on the circles", fontsize=10)
    return ax.figure


def plot_tasks(datas: dict[str, dict], picks: dict[str, tuple[int, int]]):
    """Side by side: each task's chosen (layer, head) cross-attention; return the figure."""
    fig, axes = plt.subplots(1, len(datas), figsize=(4.2 * len(datas), 3.8))
    for ax, (task, data) in zip(list(axes), datas.items(), strict=True):
        layer, head = picks[task]
        score = data["scores"][layer, head].item()
        plot_cross_attention(data, layer, head, f"{task}: layer {layer + 1}, head {head + 1} ({score:.0%})", ax)
    fig.tight_layout()
    return fig


def cross_attention_explorer(datas: dict[str, dict]):
    """The explorer's callback: show(task, layer, head) with layer and head counted from 1, as on the sliders."""

    def show(task: str, layer: int = 1, head: int = 1) -> None:
        data = datas[task]
        plot_cross_attention(data, layer - 1, head - 1)
        plt.show()

    return show
