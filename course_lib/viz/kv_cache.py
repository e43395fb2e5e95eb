"""Notebook 09's cost of decoding: the work (counted) and the time (measured) of generating one more token after T
target positions, recomputing the prefix or reading it from the KV cache, and the plot of both."""

import time
from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..masking import causal_mask
from ..validation import require_positive_int
from .encoder_decoder import explicit_eval

WAYS = ("uncached", "cached")  # the whole prefix again / only the newest position, the prefix read from the cache


def decode_step(decoder: nn.Module, memory: torch.Tensor, prefix_len: int, cached: bool,
                extra_steps: int = 0) -> Callable[[], torch.Tensor]:
    """A call that decodes the position after `prefix_len` target positions (random vectors: only sizes matter).

    Uncached it runs the decoder on all prefix_len + 1 positions under the causal mask, as decoding without a cache
    does at every step, and returns (B, prefix_len + 1, d_model); cached it feeds the newest position alone to a
    cache already holding the prefix and returns (B, 1, d_model): the same last row. Each cached call appends a
    position, so the cache has room for `extra_steps` more calls. Call it under torch.no_grad().
    """
    require_positive_int("prefix_len", prefix_len)
    batch, d_model = memory.size(0), memory.size(-1)
    generator = torch.Generator().manual_seed(prefix_len)
    y = torch.randn(batch, prefix_len + 1, d_model, generator=generator, dtype=memory.dtype)  # (B, T + 1, d_model)
    y = y.to(memory.device)
    if not cached:
        mask = causal_mask(prefix_len + 1, device=memory.device)  # (T + 1, T + 1)
        return lambda: decoder(y, memory, mask)  # (B, T + 1, d_model)
    cache = decoder.new_cache(batch, prefix_len + 1 + extra_steps, dtype=memory.dtype, device=memory.device)
    decoder(y[:, :prefix_len], memory, None, None, cache)  # the prefix's keys and values, written in one call
    return lambda: decoder(y[:, prefix_len:], memory, None, None, cache)  # (B, 1, d_model)


def step_flops(decoder: nn.Module, memory: torch.Tensor, prefix_lengths: list[int]) -> dict[str, list[int]]:
    """Floating-point operations of one decoding step after each prefix length, "uncached" and "cached", as PyTorch's
    FlopCounterMode counts them (its matrix products: exact, the same on every machine)."""
    counts = {way: [] for way in WAYS}
    with explicit_eval(decoder), torch.no_grad():
        for way in WAYS:
            for length in prefix_lengths:
                step = decode_step(decoder, memory, length, cached=way == "cached")
                with FlopCounterMode(display=False) as counter:
                    step()
                counts[way].append(counter.get_total_flops())
    return counts


def step_times(decoder: nn.Module, memory: torch.Tensor, prefix_lengths: list[int],
               repeats: int = 5) -> dict[str, list[float]]:
    """Seconds of one decoding step after each prefix length, "uncached" and "cached": after a warm-up call, the
    fastest of `repeats` calls (the one other programs disturbed least). Measured: it varies by machine and load."""
    require_positive_int("repeats", repeats)
    times = {way: [] for way in WAYS}
    with explicit_eval(decoder), torch.no_grad():
        for way in WAYS:
            for length in prefix_lengths:
                step = decode_step(decoder, memory, length, cached=way == "cached", extra_steps=repeats + 1)
                step()  # warm-up
                runs = []
                for _ in range(repeats):
                    start = time.perf_counter()
                    step()
                    runs.append(time.perf_counter() - start)
                times[way].append(min(runs))
    return times


def plot_step_costs(prefix_lengths: list[int], times: dict[str, list[float]], flops: dict[str, list[int]]):
    """Per generated token against the prefix length, one line per way: measured milliseconds (left) and counted
    millions of operations (right), on log scales so that both lines show. Return the figure."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9.6, 3.6))
    panels = ((left, times, 1e3, "time per token (ms, measured)"),
              (right, flops, 1e-6, "operations per token (MFLOP, counted)"))
    for ax, values, unit, label in panels:
        for way, style in zip(WAYS, ("o-", "s-"), strict=True):
            ax.plot(prefix_lengths, [v * unit for v in values[way]], style, label=way)
        ax.set_yscale("log")
        ax.set_xlabel("prefix length T (tokens already generated)")
        ax.set_ylabel(label)
        ax.legend()
        ax.grid(alpha=0.3)
    left.set_title("one decoding step: time", fontsize=10)
    right.set_title("one decoding step: work", fontsize=10)
    fig.tight_layout()
    return fig
