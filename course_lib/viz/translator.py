"""Notebook 12's plots: training curves, the cross-attention of a translation, and the playground."""

from contextlib import contextmanager

import matplotlib.pyplot as plt
import torch

from ..decoding import beam_search, greedy_decode
from ..fused import set_fused
from ..tokens import EOS_ID


def curves_data(history: dict, window: int = 20) -> dict:
    """Training loss (a moving average over `window` steps) and the validation loss and BLEU, by step."""
    loss = torch.tensor(history["loss"], dtype=torch.float64)  # (steps,)
    kernel = torch.ones(1, 1, window, dtype=torch.float64) / window
    smooth = torch.nn.functional.conv1d(loss[None, None], kernel)[0, 0] if loss.numel() >= window else loss
    valid = history["valid"]
    return {"step": list(history["step"][len(history["step"]) - smooth.numel():]), "loss": smooth.tolist(),
            "valid_step": [v["step"] for v in valid], "valid_loss": [v["loss"] for v in valid],
            "valid_bleu": [v["bleu"] for v in valid]}


def plot_curves(history: dict, window: int = 20):
    """Two panels: training and validation loss; validation BLEU."""
    data = curves_data(history, window)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.plot(data["step"], data["loss"], label=f"train (mean of {window} steps)")
    left.plot(data["valid_step"], data["valid_loss"], "o-", label="valid")
    left.set(xlabel="step", ylabel="loss per target token", title="Loss 损失")
    left.legend()
    right.plot(data["valid_step"], data["valid_bleu"], "o-", color="tab:green")
    right.set(xlabel="step", ylabel="BLEU", ylim=(0, 100), title="Validation BLEU 验证集")
    fig.tight_layout()
    return fig


@contextmanager
def explicit_attention(model):
    """Run the notebooks' explicit attention path (it keeps `attn_weights`), then restore the fused setting."""
    fused = {module: module.fused for module in model.modules() if hasattr(type(module), "fused")}
    set_fused(model, False)
    try:
        yield model
    finally:
        for module, value in fused.items():
            module.fused = value


@torch.no_grad()
def cross_attention_data(translator, text: str, layer: int = -1, beam: int = 1) -> dict:
    """Translate `text`; the decoder's cross-attention (heads averaged) for each output token over the source.

    Returns the source tokens (with <eos>), the output tokens (with <eos> if produced) and weights (L_out, L_src).
    """
    ids, _ = translator.encode(text)
    src = torch.tensor([ids], device=translator.device)  # (1, Ls)
    model = translator.model
    search = beam_search if beam > 1 else greedy_decode
    kwargs = {"beam_size": beam} if beam > 1 else {}
    out = search(model, src, translator.max_len - 1, **kwargs)[0].tolist()  # [<bos>, y1, ..., <eos>]
    out = out[: out.index(EOS_ID) + 1] if EOS_ID in out else out
    with explicit_attention(model):
        memory, src_mask = model.encode(src)
        model.decode(torch.tensor([out[:-1]], device=src.device), memory, src_mask)  # position t predicts y_t+1
        weights = model.decoder.layers[layer].cross_attn.attn_weights[0].mean(dim=0)  # (L_out, Ls)
    src_words = translator.languages.src_vocab.to_list()
    tgt_words = translator.languages.tgt_vocab.to_list()
    return {"source": [src_words[i] for i in ids], "output": [tgt_words[i] for i in out[1:]],
            "weights": weights.cpu(), "translation": translator.decode(out)}


def plot_cross_attention(data: dict, ax=None, title: str = ""):
    """Heatmap: one row per output token, one column per source token."""
    if ax is None:
        _, ax = plt.subplots(figsize=(0.45 * len(data["source"]) + 2, 0.35 * len(data["output"]) + 1.2))
    ax.imshow(data["weights"].numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(data["source"])), data["source"], rotation=60, ha="right")
    ax.set_yticks(range(len(data["output"])), data["output"])
    ax.set(xlabel="source (English)", ylabel="output (中文)", title=title or data["translation"])
    return ax


def explore_translation(translator, text: str = "I ate two apples yesterday.", beam: int = 1) -> None:
    """Playground: print the translation of `text` and draw its cross-attention."""
    data = cross_attention_data(translator, text, beam=beam)
    print(data["translation"])
    plot_cross_attention(data)
    plt.show()
