"""Checker for notebook 09's decoder layer, the one section 2 builds: its spot-the-bug cells call it."""

import torch

from ..decoder import DecoderLayer
from ..masking import causal_mask, padding_mask
from ..tokens import PAD_ID
from .core import CheckCase, Mistake, run_checks
from .encoder import padded_ids, randomise_norms


def _decoder_layer(layer, y, memory, tgt_mask, memory_mask, *, cross=None, norms=None):
    """Section 2's three sublayers; `cross(h1, y, memory)` -> (query, source) and `norms` make the known mistakes."""
    norm1, norm2, norm3 = norms or (layer.norm1, layer.norm2, layer.norm3)
    h1 = norm1(y + layer.self_attn(y, mask=tgt_mask))  # (B, Lt, d_model)
    query, source = (h1, memory) if cross is None else cross(h1, y, memory)
    h2 = norm2(h1 + layer.cross_attn(query, source, mask=memory_mask))  # (B, Lt, d_model)
    return norm3(h2 + layer.ffn(h2))  # (B, Lt, d_model)


LAYER_MISTAKES = [
    Mistake("tgt_mask never reached the self-attention, so every position reads the tokens after it (information "
            "leakage; a case without masks cannot show it)",
            lambda layer, y, memory, tgt_mask, memory_mask: _decoder_layer(layer, y, memory, None, memory_mask)),
    Mistake("the memory asked the questions: in cross-attention the queries come from the decoder (h1) and the keys "
            "and values from the memory",
            lambda layer, y, memory, tgt_mask, memory_mask: _decoder_layer(
                layer, y, memory, tgt_mask, memory_mask, cross=lambda h1, y, m: (m, h1))),
    Mistake("the cross-attention's queries are h1, the output of this layer's first sublayer, not the layer's input y",
            lambda layer, y, memory, tgt_mask, memory_mask: _decoder_layer(
                layer, y, memory, tgt_mask, memory_mask, cross=lambda h1, y, m: (y, m))),
    Mistake("memory_mask never reached the cross-attention, so the target reads the source's <pad> keys",
            lambda layer, y, memory, tgt_mask, memory_mask: _decoder_layer(layer, y, memory, tgt_mask, None)),
    Mistake("norm1, norm2 and norm3 belong to the first, second and third sublayer, in that order",
            lambda layer, y, memory, tgt_mask, memory_mask: _decoder_layer(
                layer, y, memory, tgt_mask, memory_mask, norms=(layer.norm2, layer.norm1, layer.norm3))),
]


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
        run_checks("decoder_layer", fn, cases, atol=1e-9, mistakes=LAYER_MISTAKES,
                   hint=("three sublayers, each one's input added to its output and the sum normalised: masked "
                         "self-attention, cross-attention from the decoder to the memory, the FFN"))
