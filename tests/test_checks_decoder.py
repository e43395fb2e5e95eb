"""Notebook 09's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import math

import torch
from checking import fails_with

from course_lib.checks import check_cross_attention, check_decoder_layer


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- cross_attention

def _attend(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def cross_attention(y, memory, memory_mask, w_q, w_k, w_v):
    return _attend(y @ w_q, memory @ w_k, memory @ w_v, memory_mask)


def test_cross_attention_checker_passes_the_reference(capsys):
    check_cross_attention(cross_attention)
    assert "✔ cross_attention: all 3 checks passed" in capsys.readouterr().out


def test_cross_attention_checker_accepts_torch_sdpa(capsys):
    def with_sdpa(y, memory, memory_mask, w_q, w_k, w_v):
        q, k, v = y @ w_q, memory @ w_k, memory @ w_v
        mask = None if memory_mask is None else memory_mask.expand(-1, y.size(1), -1)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return out, _attend(q, k, v, memory_mask)[1]

    check_cross_attention(with_sdpa)
    assert "all 3 checks passed" in capsys.readouterr().out


def test_cross_attention_checker_on_the_stub():
    fails_with(check_cross_attention, _stub, "cross_attention: not implemented yet")


def test_cross_attention_checker_rejects_memory_as_the_query():
    def memory_as_query(y, memory, memory_mask, w_q, w_k, w_v):  # the notebook's first bug: query and key swapped
        return _attend(memory @ w_q, y @ w_k, y @ w_v, memory_mask)

    fails_with(check_cross_attention, memory_as_query,
               r"cross_attention failed on 2 decoder positions y \(1, 2, 4\) over 3 "
               r"source positions .*the output: expected shape \(1, 2, 4\), got shape "
               r"\(1, 3, 4\)")


def test_cross_attention_checker_rejects_an_ignored_mask_and_the_wrong_scale():
    def no_mask(y, memory, memory_mask, w_q, w_k, w_v):
        return cross_attention(y, memory, None, w_q, w_k, w_v)

    def scaled_by_d_model(y, memory, memory_mask, w_q, w_k, w_v):
        q = y @ w_q * math.sqrt(w_q.size(1) / y.size(-1))  # softmax(q k / sqrt(d_model)) instead of sqrt(d_k)
        return _attend(q, memory @ w_k, memory @ w_v, memory_mask)

    fails_with(check_cross_attention, no_mask, r"failed on y \(2, 3, 4\), memory \(2, 4, 4\), source 1 padded")
    fails_with(check_cross_attention, scaled_by_d_model, "failed on as long as the source, .* d_k=3")


def test_cross_attention_checker_reports_a_crash():
    def mask_on_the_wrong_axis(y, memory, memory_mask, w_q, w_k, w_v):
        mask = None if memory_mask is None else memory_mask.transpose(1, 2)  # (B, Ls, 1): masks queries
        return _attend(y @ w_q, memory @ w_k, memory @ w_v, mask)

    fails_with(check_cross_attention, mask_on_the_wrong_axis,
               r"cross_attention failed on y \(2, 3, 4\), memory \(2, 4, 4\), .*it raised RuntimeError")


# ---------------------------------------------------------------- decoder_layer

def decoder_layer(layer, y, memory, tgt_mask, memory_mask):
    h1 = layer.norm1(y + layer.self_attn(y, mask=tgt_mask))
    h2 = layer.norm2(h1 + layer.cross_attn(h1, memory, mask=memory_mask))
    return layer.norm3(h2 + layer.ffn(h2))


def test_decoder_layer_checker_passes_the_reference(capsys):
    check_decoder_layer(decoder_layer)
    assert "✔ decoder_layer: all 4 checks passed" in capsys.readouterr().out


def test_decoder_layer_checker_accepts_the_layer_itself(capsys):
    check_decoder_layer(lambda layer, y, memory, tgt_mask, memory_mask: layer(y, memory, tgt_mask, memory_mask))
    assert "all 4 checks passed" in capsys.readouterr().out


def test_decoder_layer_checker_on_the_stub():
    fails_with(check_decoder_layer, _stub, "decoder_layer: not implemented yet")


def test_decoder_layer_checker_rejects_a_missing_causal_mask():
    def no_causal_mask(layer, y, memory, tgt_mask, memory_mask):  # the notebook's second bug
        h1 = layer.norm1(y + layer.self_attn(y))
        h2 = layer.norm2(h1 + layer.cross_attn(h1, memory, mask=memory_mask))
        return layer.norm3(h2 + layer.ffn(h2))

    fails_with(check_decoder_layer, no_causal_mask,
               r"decoder_layer failed on y \(2, 4, 8\), memory \(2, 5, 8\), tgt_mask = "
               r"the causal mask \(4, 4\)")


def test_decoder_layer_checker_rejects_memory_as_the_query():
    def memory_as_query(layer, y, memory, tgt_mask, memory_mask):  # the notebook's first bug, inside the layer
        h1 = layer.norm1(y + layer.self_attn(y, mask=tgt_mask))
        h2 = layer.norm2(h1 + layer.cross_attn(memory, h1, mask=memory_mask))
        return layer.norm3(h2 + layer.ffn(h2))

    fails_with(check_decoder_layer, memory_as_query,
               r"decoder_layer failed on y \(2, 3, 8\) and memory \(2, 3, 8\), 2 heads, "
               r"no masks")


def test_decoder_layer_checker_rejects_the_layer_input_as_the_cross_query():
    def layer_input_as_query(layer, y, memory, tgt_mask, memory_mask):
        h1 = layer.norm1(y + layer.self_attn(y, mask=tgt_mask))
        h2 = layer.norm2(h1 + layer.cross_attn(y, memory, mask=memory_mask))  # y, not h1
        return layer.norm3(h2 + layer.ffn(h2))

    fails_with(check_decoder_layer, layer_input_as_query, "decoder_layer failed on y")


def test_decoder_layer_checker_rejects_swapped_norms_and_a_missing_memory_mask():
    def swapped_norms(layer, y, memory, tgt_mask, memory_mask):
        h1 = layer.norm2(y + layer.self_attn(y, mask=tgt_mask))
        h2 = layer.norm1(h1 + layer.cross_attn(h1, memory, mask=memory_mask))
        return layer.norm3(h2 + layer.ffn(h2))

    def no_memory_mask(layer, y, memory, tgt_mask, memory_mask):
        return decoder_layer(layer, y, memory, tgt_mask, None)

    fails_with(check_decoder_layer, swapped_norms, r"failed on y \(2, 3, 8\) and memory \(2, 3, 8\)")
    fails_with(check_decoder_layer, no_memory_mask, r"failed on y \(2, 4, 8\), memory \(2, 5, 8\), target 2 padded")


def test_decoder_layer_checker_reports_a_crash_with_the_input_shapes():
    def memory_as_query(layer, y, memory, tgt_mask, memory_mask):
        if y.size(1) == memory.size(1):  # right on the first case, to reach the second
            return decoder_layer(layer, y, memory, tgt_mask, memory_mask)
        h1 = layer.norm1(y + layer.self_attn(y, mask=tgt_mask))
        return layer.norm2(h1 + layer.cross_attn(memory, h1))  # (B, Ls, d) + (B, Lt, d): Ls != Lt raises

    fails_with(check_decoder_layer, memory_as_query,
               r"decoder_layer failed on y \(2, 4, 8\), memory \(2, 5, 8\), .*it raised RuntimeError")


def test_decoder_layer_checker_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_decoder_layer(decoder_layer)
    assert torch.equal(torch.rand(3), expected)
