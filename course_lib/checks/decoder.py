"""Checkers for notebook 09: single-head cross-attention over the encoder's memory, and one decoder layer."""

import math

import torch

from ..decoder import DecoderLayer
from ..masking import causal_mask, padding_mask
from ..tokens import PAD_ID
from .core import CheckCase, run_checks
from .encoder import padded_ids, randomise_norms


def _cross_attention(y, memory, memory_mask, w_q, w_k, w_v):
    """The reference: softmax(y W_q (memory W_k)^T / sqrt(d_k), masked keys -inf) memory W_v."""
    q, k, v = y @ w_q, memory @ w_k, memory @ w_v  # (B, Lt, d_k), (B, Ls, d_k), (B, Ls, d_v)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, Lt, Ls)
    if memory_mask is not None:
        scores = scores.masked_fill(~memory_mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (B, Lt, Ls)
    return weights @ v, weights  # (B, Lt, d_v), (B, Lt, Ls)


def _cross_case(description: str, batch: int, tgt_len: int, lengths: list[int] | None, src_len: int, d_model: int,
                d_k: int, d_v: int, seed: int) -> CheckCase:
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    y, memory = randn(batch, tgt_len, d_model), randn(batch, src_len, d_model)  # (B, Lt, d), (B, Ls, d)
    mask = None if lengths is None else padded_ids(lengths, src_len)[:, None, :] != PAD_ID  # (B, 1, Ls)
    args = (y, memory, mask, randn(d_model, d_k), randn(d_model, d_k), randn(d_model, d_v))
    return CheckCase(description, args, _cross_attention(*args))


def check_cross_attention(fn) -> None:
    """fn(y (B, Lt, d), memory (B, Ls, d), memory_mask (B, 1, Ls) or None, w_q, w_k, w_v) must return
    (output (B, Lt, d_v), weights (B, Lt, Ls)): queries from y, keys and values from the memory."""
    cases = [
        _cross_case("2 decoder positions y (1, 2, 4) over 3 source positions memory (1, 3, 4), no mask: want output "
                    "(1, 2, 4) and weights (1, 2, 3), one row per decoder position", 1, 2, None, 3, 4, 4, 4, seed=1),
        _cross_case("y (2, 3, 4), memory (2, 4, 4), source 1 padded after 2 tokens: memory_mask (2, 1, 4) = "
                    "[[[T, T, F, F]], [[T, T, T, T]]]", 2, 3, [2, 4], 4, 4, 4, 4, seed=2),
        _cross_case("as long as the source, y (2, 3, 6) and memory (2, 3, 6), d_k=3, d_v=5, source 1 padded after "
                    "1 token", 2, 3, [1, 3], 3, 6, 3, 5, seed=3),
    ]
    run_checks("cross_attention", fn, cases, atol=1e-9, names=("the output", "the weights"),
               hint=('queries from y @ w_q, keys and values from memory @ w_k and memory @ w_v; masked keys get '
                     '-inf before the softmax'))


def _layer_case(description: str, d_model: int, num_heads: int, tgt_lengths: list[int] | None, tgt_len: int,
                src_lengths: list[int] | None, src_len: int, causal: bool, seed: int) -> CheckCase:
    generator = torch.Generator().manual_seed(seed)
    layer = randomise_norms(DecoderLayer(d_model, num_heads, 2 * d_model, dropout=0.0).double().eval(), generator)
    y = torch.randn(2, tgt_len, d_model, generator=generator, dtype=torch.float64)  # (B=2, Lt, d_model)
    memory = torch.randn(2, src_len, d_model, generator=generator, dtype=torch.float64)  # (B=2, Ls, d_model)
    tgt_mask = causal_mask(tgt_len) if causal else None  # (Lt, Lt)
    if tgt_lengths is not None:
        tgt_mask = padding_mask(padded_ids(tgt_lengths, tgt_len), PAD_ID) & tgt_mask  # (B, 1, Lt, Lt)
    memory_mask = None if src_lengths is None else padding_mask(padded_ids(src_lengths, src_len), PAD_ID)
    return CheckCase(description, (layer, y, memory, tgt_mask, memory_mask), layer(y, memory, tgt_mask, memory_mask))


def check_decoder_layer(fn) -> None:
    """fn(layer, y, memory, tgt_mask, memory_mask) must compute a post-norm decoder layer from the layer's parts:
    h1 = norm1(y + self_attn(y, tgt_mask)), h2 = norm2(h1 + cross_attn(h1, memory, memory_mask)),
    then norm3(h2 + ffn(h2))."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # the layers draw random weights
        torch.manual_seed(0)
        cases = [
            _layer_case("y (2, 3, 8) and memory (2, 3, 8), 2 heads, no masks", 8, 2, None, 3, None, 3, False, seed=1),
            _layer_case("y (2, 4, 8), memory (2, 5, 8), tgt_mask = the causal mask (4, 4), no memory mask",
                        8, 2, None, 4, None, 5, True, seed=2),
            _layer_case("y (2, 4, 8), memory (2, 5, 8), target 2 padded after 3 tokens and source 1 after 2: tgt_mask "
                        "(2, 1, 4, 4) = padding & causal, memory_mask (2, 1, 1, 5)", 8, 2, [4, 3], 4, [2, 5], 5, True,
                        seed=3),
            _layer_case("y (2, 2, 16), memory (2, 6, 16), 4 heads, causal tgt_mask, source 2 padded after 4 tokens",
                        16, 4, None, 2, [6, 4], 6, True, seed=4),
        ]
        run_checks("decoder_layer", fn, cases, atol=1e-9,
                   hint=('three sublayers, each x + sublayer then its norm: masked self-attention, cross-attention '
                         'over the memory, the FFN'))
