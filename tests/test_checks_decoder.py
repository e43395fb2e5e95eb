"""Notebook 09's decoder-layer checker: passes the reference, says "not implemented yet" on a stub, and names the cause
of each known mistake (the notebook's spot-the-bug cells call it)."""

import torch
from checking import fails_with

from course_lib.checks import check_decoder_layer


def _stub(*args):
    raise NotImplementedError


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
               r"the causal mask \(4, 4\).*Hint: tgt_mask never reached the self-attention")


def test_decoder_layer_checker_rejects_memory_as_the_query():
    def memory_as_query(layer, y, memory, tgt_mask, memory_mask):  # the notebook's first bug, inside the layer
        h1 = layer.norm1(y + layer.self_attn(y, mask=tgt_mask))
        h2 = layer.norm2(h1 + layer.cross_attn(memory, h1, mask=memory_mask))
        return layer.norm3(h2 + layer.ffn(h2))

    fails_with(check_decoder_layer, memory_as_query,
               r"decoder_layer failed on y \(2, 3, 8\) and memory \(2, 3, 8\), 2 heads, "
               r"no masks.*Hint: the memory asked the questions")


def test_decoder_layer_checker_rejects_the_layer_input_as_the_cross_query():
    def layer_input_as_query(layer, y, memory, tgt_mask, memory_mask):
        h1 = layer.norm1(y + layer.self_attn(y, mask=tgt_mask))
        h2 = layer.norm2(h1 + layer.cross_attn(y, memory, mask=memory_mask))  # y, not h1
        return layer.norm3(h2 + layer.ffn(h2))

    fails_with(check_decoder_layer, layer_input_as_query, "decoder_layer failed on y.*Hint: the cross-attention's "
                                                          "queries are h1")


def test_decoder_layer_checker_rejects_swapped_norms_and_a_missing_memory_mask():
    def swapped_norms(layer, y, memory, tgt_mask, memory_mask):
        h1 = layer.norm2(y + layer.self_attn(y, mask=tgt_mask))
        h2 = layer.norm1(h1 + layer.cross_attn(h1, memory, mask=memory_mask))
        return layer.norm3(h2 + layer.ffn(h2))

    def no_memory_mask(layer, y, memory, tgt_mask, memory_mask):
        return decoder_layer(layer, y, memory, tgt_mask, None)

    fails_with(check_decoder_layer, swapped_norms, r"failed on y \(2, 3, 8\) and memory \(2, 3, 8\).*Hint: norm1, "
                                                   r"norm2 and norm3 belong to")
    fails_with(check_decoder_layer, no_memory_mask, r"failed on y \(2, 4, 8\), memory \(2, 5, 8\), target 2 padded"
                                                    r".*Hint: memory_mask never reached the cross-attention")


def test_decoder_layer_checker_reports_a_crash_with_the_input_shapes():
    def memory_as_query(layer, y, memory, tgt_mask, memory_mask):
        if y.size(1) == memory.size(1):  # right on the first case, to reach the second
            return decoder_layer(layer, y, memory, tgt_mask, memory_mask)
        h1 = layer.norm1(y + layer.self_attn(y, mask=tgt_mask))
        return layer.norm2(h1 + layer.cross_attn(memory, h1))  # (B, Ls, d) + (B, Lt, d): Ls != Lt raises

    fails_with(check_decoder_layer, memory_as_query,
               r"decoder_layer failed on y \(2, 4, 8\), memory \(2, 5, 8\), .*it raised RuntimeError.*Hint: three "
               r"sublayers")


def test_decoder_layer_checker_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_decoder_layer(decoder_layer)
    assert torch.equal(torch.rand(3), expected)
