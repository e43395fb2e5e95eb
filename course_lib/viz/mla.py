"""Notebook 11's measurements and plots: KV-cache sizes, cache memory against context, the cost of
absorption, decode-step times, and RoPE's relative scores. Each plot has a pure data function beside it."""

import math
import statistics
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from ..latent_attention import MultiHeadLatentAttention
from ..rope import apply_rope

# DeepSeek-V2 (arXiv 2405.04434): 60 layers, 128 heads of 128, latent 512, query latent 1536, rotary 64
DEEPSEEK_V2 = dict(d_model=5120, num_layers=60, num_heads=128, head_dim=128, kv_lora_rank=512, q_lora_rank=1536,
                   qk_rope_head_dim=64)


# ---------------------------------------------------------------- cache sizes

def measured_cache_elements_per_token(module: nn.Module, d_model: int, tokens: int = 4) -> int:
    """Run `module` on `tokens` tokens through a fresh cache on its own device; count the numbers cached per token.

    Build the module on the meta device (`with torch.device("meta"): ...`) and this spends no memory:
    meta tensors carry shapes and dtypes but no data.
    """
    device = next(module.parameters()).device
    cache = module.new_cache(1, tokens, device=device)
    with torch.no_grad():
        module(torch.zeros(1, tokens, d_model, device=device), cache=cache)
    return sum(t.numel() for t in cache.filled().values()) // tokens


def cache_elements_per_token(num_heads: int, head_dim: int, num_kv_heads: int, kv_lora_rank: int,
                             qk_rope_head_dim: int) -> dict[str, int]:
    """Table 1 of the DeepSeek-V2 paper: cached numbers per token per layer for each mechanism."""
    return {
        "MHA": 2 * num_heads * head_dim,
        f"GQA ({num_kv_heads} groups)": 2 * num_kv_heads * head_dim,
        "MQA": 2 * head_dim,
        "MLA": kv_lora_rank + qk_rope_head_dim,
    }


def cache_memory_data(elements_per_token: dict[str, int], contexts, num_layers: int = 60,
                      bytes_per_element: int = 2) -> dict[str, list[float]]:
    """name -> KV cache of one sequence in GiB at each context length (all layers)."""
    return {name: [n * num_layers * bytes_per_element * t / 2**30 for t in contexts]
            for name, n in elements_per_token.items()}


def plot_cache_memory(contexts, memory: dict[str, list[float]], ax=None, title: str = "KV cache of one sequence"):
    """Log-log lines of cache GiB against context length, one per mechanism; return the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.6))
    for name, gib in memory.items():
        ax.plot(contexts, gib, marker="o", label=name)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("KV cache (GiB)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return ax.figure


def cache_explorer_figure(num_heads: int = 128, head_dim: int = 128, num_kv_heads: int = 8, kv_lora_rank: int = 512,
                          qk_rope_head_dim: int = 64, num_layers: int = 60, max_context_log2: int = 17):
    """Cache memory of MHA, GQA, MQA and MLA for chosen sizes (bf16), contexts 1K .. 2^max; returns the figure."""
    contexts = [2**k for k in range(10, max_context_log2 + 1)]
    per_token = cache_elements_per_token(num_heads, head_dim, num_kv_heads, kv_lora_rank, qk_rope_head_dim)
    ratio = per_token["MHA"] / per_token["MLA"]
    title = f"MLA caches {ratio:.1f}x less than MHA, like GQA with {per_token['MLA'] / (2 * head_dim):.2f} groups"
    return plot_cache_memory(contexts, cache_memory_data(per_token, contexts, num_layers), title=title)


def explore_cache(num_heads: int = 128, head_dim: int = 128, num_kv_heads: int = 8, kv_lora_rank: int = 512,
                  qk_rope_head_dim: int = 64, num_layers: int = 60, max_context_log2: int = 17) -> None:
    """The explorer's callback: draw `cache_explorer_figure` (returns None, so `interact` shows it once)."""
    cache_explorer_figure(num_heads, head_dim, num_kv_heads, kv_lora_rank, qk_rope_head_dim, num_layers,
                          max_context_log2)
    plt.show()


# ---------------------------------------------------------------- when absorption pays

def attention_macs(num_heads: int, qk_nope_head_dim: int, qk_rope_head_dim: int, v_head_dim: int,
                   kv_lora_rank: int, queries: int, context: int, absorb: bool) -> int:
    """Multiply-adds of MLA's attention for `queries` new tokens over `context` cached latents, per layer.

    Only the work that differs between the paths is counted (both share W^DQ, W^UQ, W^QR, W^DKV, W^KR, W^O).
    naive:    up-project every latent, T d_c H (d_h + d_v), then attention with d_h + d_h^R wide keys and d_v values.
    absorbed: W^UK^T on each query, H L d_h d_c, attention with d_c + d_h^R wide keys and d_c wide values,
              then W^UV on each head's output, H L d_c d_v.
    """
    h, dn, dr, dv, dc, lq, t = num_heads, qk_nope_head_dim, qk_rope_head_dim, v_head_dim, kv_lora_rank, queries, context
    if absorb:
        return h * lq * dn * dc + h * lq * t * (dc + dr) + h * lq * t * dc + h * lq * dc * dv
    return t * dc * h * (dn + dv) + h * lq * t * (dn + dr) + h * lq * t * dv


def absorption_cost_data(sizes: dict, contexts) -> dict[str, dict[str, list[int]]]:
    """{"decode": {"naive": [...], "absorbed": [...]}, "prefill": {...}}: MACs at each context length.

    decode: one new token over T cached ones; prefill: T new tokens at once (causal masking not discounted).
    """
    keys = ("num_heads", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim", "kv_lora_rank")
    args = [sizes[k] for k in keys]
    return {phase: {path: [attention_macs(*args, queries=1 if phase == "decode" else t, context=t,
                                          absorb=path == "absorbed") for t in contexts]
                    for path in ("naive", "absorbed")}
            for phase in ("decode", "prefill")}


def plot_absorption_cost(contexts, cost: dict[str, dict[str, list[int]]]):
    """Two log-log panels, decode and prefill: multiply-adds of the naive and the absorbed path; return the figure."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, (phase, paths) in zip(axes, cost.items(), strict=True):
        for path, macs in paths.items():
            ax.plot(contexts, macs, marker="o", label=path)
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("context length T (tokens)")
        ax.set_ylabel("multiply-adds per layer")
        ax.set_title(f"{phase}: {'1 new token' if phase == 'decode' else 'T new tokens'}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- timing

@torch.no_grad()
def decode_step_seconds(module: MultiHeadLatentAttention, context: int, absorb: bool, steps: int = 5,
                        warmup: int = 2, chunk: int = 256) -> float:
    """Median seconds of one decode step (one new token) with `context` positions already cached."""
    d_model = module.d_model
    cache = module.new_cache(1, context + warmup + steps)
    for start in range(0, context, chunk):  # fill the cache by a chunked prefill
        module(torch.randn(1, min(chunk, context - start), d_model), cache=cache)
    token = torch.randn(1, 1, d_model)
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        module(token, cache=cache, absorb=absorb)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def plot_decode_times(contexts, milliseconds: dict[str, list[float]]):
    """Decode-step milliseconds against context length, one line per path; return the figure."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for path, ms in milliseconds.items():
        ax.plot(contexts, ms, marker="o", label=path)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("cached positions T")
    ax.set_ylabel("decode step (ms)")
    ax.set_title("MLA decode step on this CPU")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- RoPE

def rope_score_matrix(dim: int = 16, length: int = 12, seed: int = 0) -> torch.Tensor:
    """(length, length) scores RoPE(q at m) . RoPE(k at n) for ONE query vector and ONE key vector at every position.

    The vectors never change, only their positions: each diagonal m - n = const holds one value.
    """
    generator = torch.Generator().manual_seed(seed)
    q, k = torch.randn(1, dim, generator=generator, dtype=torch.float64), torch.randn(1, dim, generator=generator,
                                                                                       dtype=torch.float64)
    rotated_q = apply_rope(q.expand(length, dim))  # (length, dim): q at positions 0 .. length - 1
    rotated_k = apply_rope(k.expand(length, dim))  # (length, dim)
    return rotated_q @ rotated_k.T / math.sqrt(dim)  # (length, length)


def plot_rope_scores(scores: torch.Tensor, ax=None):
    """Heatmap of `rope_score_matrix`: query position down, key position across; return the figure."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    image = ax.imshow(scores.numpy(), cmap="coolwarm")
    ax.set_xlabel("key position n")
    ax.set_ylabel("query position m")
    ax.set_title("RoPE: the score depends on m - n only")
    ax.figure.colorbar(image, ax=ax, fraction=0.046)
    return ax.figure
