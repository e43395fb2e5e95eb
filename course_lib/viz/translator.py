"""Notebook 12's plots: training curves, beam search's live beams and pool, the cross-attention of a translation,
and the playground."""

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


def beam_search_data(steps: list[dict], words: list[str]) -> dict:
    """One sentence's beam search (`beam_search(..., return_trace=True)`) as what `plot_beam_search` draws.

    `live` and `finished`: per step, each live beam and each hypothesis that finished, as dicts of step, log P, the
    log P of the prefix it extends and its newest word; `pool`: the finished hypotheses at the end as (text,
    log P / lp), best first; `stop`: why the search stopped. `words[id]` names token `id`.
    """
    before = {(): 0.0}  # prefix -> its log P at the previous step: <bos> alone at step 0
    live, finished = [], []
    for record in steps:
        finished += [{**beam_point(record["step"], tokens, log_p, before, words), "normalised": normalised}
                     for tokens, log_p, normalised in record["finished"]]
        live += [beam_point(record["step"], tokens, log_p, before, words) for tokens, log_p in record["live"]]
        before = dict(record["live"])
    pool = [(" ".join(words[t] for t in tokens), normalised) for tokens, _, normalised in steps[-1]["pool"]]
    return {"live": live, "finished": finished, "pool": pool, "stop": steps[-1]["stop"]}


def beam_point(step: int, tokens: tuple, log_p: float, before: dict, words) -> dict:
    """A hypothesis as a point: its step and log P, the log P of the prefix it extends, and its newest word."""
    return {"step": step, "logp": log_p, "parent": before[tokens[:-1]], "word": words[tokens[-1]]}


def plot_beam_search(data: dict):
    """Left: the live beams (dots) and the hypotheses that finished (stars) by step and log P, each joined to the
    prefix it extends. Right: the pool of finished hypotheses, ranked by log P / lp (the answer on top)."""
    fig, (tree, pool) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    for points, style in ((data["live"], dict(marker="o", color="tab:blue", label="live beam")),
                          (data["finished"], dict(marker="*", color="tab:red", s=120, label="finished → pool"))):
        for p in points:
            tree.plot([p["step"] - 1, p["step"]], [p["parent"], p["logp"]], color=style["color"], lw=0.8, alpha=0.5)
            tree.annotate(p["word"], (p["step"], p["logp"]), xytext=(4, 2), textcoords="offset points", fontsize=8)
        tree.scatter([p["step"] for p in points], [p["logp"] for p in points], zorder=3, **style)
    tree.set(xlabel="step", ylabel="log P (prefix)", title=f"Beam search 束搜索 — stopped: {data['stop']}")
    tree.legend(loc="lower left", fontsize=8)
    texts = [text for text, _ in data["pool"]][::-1]  # best on top
    scores = [score for _, score in data["pool"]][::-1]
    colours = ["tab:red" if i == len(texts) - 1 else "lightcoral" for i in range(len(texts))]
    pool.bar_label(pool.barh(range(len(texts)), scores, color=colours), fmt="%.2f", fontsize=8, label_type="center")
    pool.set_yticks(range(len(texts)), texts, fontsize=8)
    pool.set(xlabel="log P / lp", title="The pool of finished hypotheses")
    fig.tight_layout()
    return fig


@torch.no_grad()
def translation_beam_data(translator, text: str, beam: int = 4, alpha: float = 0.6) -> dict:
    """Beam search of `translator` on `text`, as `beam_search_data` with the target vocabulary's words."""
    ids, _ = translator.encode(text)
    src = torch.tensor([ids], device=translator.device)  # (1, Ls)
    _, trace = beam_search(translator.model, src, translator.max_len - 1, beam_size=beam, alpha=alpha,
                           return_trace=True)
    return beam_search_data(trace[0], translator.languages.tgt_vocab.to_list())


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
