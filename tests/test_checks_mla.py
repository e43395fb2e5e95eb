"""Notebook 11's checkers: pass the reference, say "not implemented yet" on a stub, and meet each known mistake
(the notebook's spot-the-bug versions and the wrong answers learners write) with the hint that names its cause."""

import math

import pytest
import torch
from checking import fails_with

from course_lib import MultiHeadLatentAttention, apply_rope, expand_kv_heads, rotate_half
from course_lib.checks import (
    check_absorbed_scores,
    check_expand_kv_heads,
    check_fold_value_into_output,
    check_rotate_half,
)
from course_lib.multi_head_attention import merge_heads


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- expand_kv_heads

def test_expand_checker_passes_the_reference(capsys):
    check_expand_kv_heads(expand_kv_heads)
    assert "✔ expand_kv_heads: all 4 checks passed" in capsys.readouterr().out


def test_expand_checker_on_the_stub():
    fails_with(check_expand_kv_heads, _stub, "expand_kv_heads: not implemented yet")


def test_expand_checker_meets_tiling_with_the_grouping_hint():
    def expand_by_tiling(kv, num_heads):  # the notebook's spot-the-bug: head h reads group h % G, not h // (H / G)
        return kv.repeat(1, num_heads // kv.size(1), 1, 1)

    line = fails_with(check_expand_kv_heads, expand_by_tiling,
                      r"want heads 0, 0, 1, 1\): expected .*\[0.0, 0.0, 1.0, 1.0\], got .*\[0.0, 1.0, 0.0, 1.0\]")
    assert "Hint: query head h must read key/value head h // (num_heads // G)" in line
    assert "tiling" in line and "repeat_interleave" not in line  # the cause, not the code


def test_expand_checker_meets_copies_along_the_positions():
    line = fails_with(check_expand_kv_heads, lambda kv, num_heads: kv.repeat_interleave(num_heads // kv.size(1), 2),
                      r"expected shape \(1, 4, 1, 1\), got shape \(1, 2, 2, 1\)")
    assert "Hint: the copies went along the positions (dim 2)" in line


def test_expand_checker_falls_back_to_the_general_hint():
    line = fails_with(check_expand_kv_heads, lambda kv, num_heads: kv,
                      r"expected shape \(1, 4, 1, 1\), got shape \(1, 2, 1, 1\)")
    assert "Hint: the result is (B, num_heads, T, d)" in line


# ---------------------------------------------------------------- rotate_half

def test_rotate_half_checker_passes_the_reference(capsys):
    check_rotate_half(rotate_half)
    assert "✔ rotate_half: all 3 checks passed" in capsys.readouterr().out


def test_rotate_half_checker_on_the_stub():
    fails_with(check_rotate_half, _stub, "rotate_half: not implemented yet")


def test_rotate_half_checker_meets_the_turn_the_wrong_way():
    def rotate_half_backwards(x):  # (x2, -x1): a turn by -90 degrees, so RoPE rotates the wrong way
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x2, -x1], dim=-1)

    line = fails_with(check_rotate_half, rotate_half_backwards,
                      r"failed on x = \[1, 2, 3, 4\]: expected .*\[-3.0, -4.0, 1.0, 2.0\], got .*\[3.0, 4.0, -1.0")
    assert "Hint: that turns every pair by -90 degrees, the wrong way" in line


def test_rotate_half_checker_meets_a_swap_without_a_sign():
    line = fails_with(check_rotate_half, lambda x: torch.cat([x.chunk(2, -1)[1], x.chunk(2, -1)[0]], -1),
                      r"failed on x = \[1, 2, 3, 4\]")
    assert "Hint: swapping the halves without a sign is a reflection, not a rotation" in line


def test_rotate_half_checker_meets_the_interleaved_layout():
    def rotate_neighbours(x):  # pairs (2i, 2i+1): DeepSeek's layout, not the rotate-half one the course uses
        return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)

    line = fails_with(check_rotate_half, rotate_neighbours, r"rotate_half failed on x = \[1, 2, 3, 4\]")
    assert "Hint: that pairs neighbours (2i, 2i + 1)" in line


def test_rotate_half_checker_falls_back_to_the_general_hint():
    line = fails_with(check_rotate_half, lambda x: -x, r"failed on x = \[1, 2, 3, 4\]")
    assert "Hint: every pair (x1[i], x2[i]) of the two halves must turn by +90 degrees" in line


# ---------------------------------------------------------------- absorbed_scores

def absorbed_scores(q_nope, q_rope, w_uk, c_kv, k_rope):
    """The notebook's solution: queries into the latent space, then one product with the shared latents."""
    heads, nope = q_nope.size(1), q_nope.size(-1)
    q_latent = torch.einsum("bhld,hdc->bhlc", q_nope, w_uk.view(heads, nope, -1))  # (B, H, L, d_c)
    raw = q_latent @ c_kv[:, None].transpose(-2, -1) + q_rope @ k_rope[:, None].transpose(-2, -1)
    return raw / math.sqrt(nope + q_rope.size(-1))


def _content_only(q_nope, q_rope, w_uk, c_kv, k_rope):
    return absorbed_scores(q_nope, torch.zeros_like(q_rope), w_uk, c_kv, torch.zeros_like(k_rope))


def _rope_on_content(q_nope, q_rope, w_uk, c_kv, k_rope):  # position in the content part as well
    content = absorbed_scores(apply_rope(q_nope), q_rope * 0, w_uk, apply_rope(c_kv), k_rope * 0)
    return content + absorbed_scores(q_nope * 0, q_rope, w_uk, c_kv * 0, k_rope)


def _rope_on_latents(q_nope, q_rope, w_uk, c_kv, k_rope):  # the latent queries and the latents rotated
    heads, nope = q_nope.size(1), q_nope.size(-1)
    q_latent = apply_rope(torch.einsum("bhld,hdc->bhlc", q_nope, w_uk.view(heads, nope, -1)))
    raw = q_latent @ apply_rope(c_kv)[:, None].transpose(-2, -1) + q_rope @ k_rope[:, None].transpose(-2, -1)
    return raw / math.sqrt(nope + q_rope.size(-1))


def _rescaled(width):
    """The right scores, divided by sqrt(width(q_nope, q_rope, c_kv)) instead of sqrt(d_h + d_h^R)."""
    def scores(q_nope, q_rope, w_uk, c_kv, k_rope):
        right = absorbed_scores(q_nope, q_rope, w_uk, c_kv, k_rope) * math.sqrt(q_nope.size(-1) + q_rope.size(-1))
        return right / math.sqrt(width(q_nope, q_rope, c_kv))
    return scores


def _rows_of_other_heads(q_nope, q_rope, w_uk, c_kv, k_rope):  # (H, d_c, d_h) then transposed: wrong numbers
    heads, nope = q_nope.size(1), q_nope.size(-1)
    w = w_uk.reshape(heads, -1, nope).transpose(1, 2)  # (H, d_h, d_c)
    raw = torch.einsum("bhld,hdc->bhlc", q_nope, w) @ c_kv[:, None].transpose(-2, -1)
    return (raw + q_rope @ k_rope[:, None].transpose(-2, -1)) / math.sqrt(nope + q_rope.size(-1))


def test_absorbed_checker_passes_the_reference(capsys):
    check_absorbed_scores(absorbed_scores)
    assert "✔ absorbed_scores: all 3 checks passed" in capsys.readouterr().out


def test_absorbed_checker_on_the_stub():
    fails_with(check_absorbed_scores, _stub, "absorbed_scores: not implemented yet")


@pytest.mark.parametrize("wrong, hint", [
    (_content_only, "the rotary term is missing"),
    (_rope_on_content, "the content part must stay unrotated: q_rope and k_rope arrive already rotated"),
    (_rope_on_latents, "a rotation on the latent queries or on c_kv is the one absorption cannot fold"),
    (_rescaled(lambda q_nope, q_rope, c_kv: c_kv.size(-1) + q_rope.size(-1)),
     "the scale is the width of the dot product the naive path takes, d_h + d_h^R, not the latent's width"),
    (_rescaled(lambda q_nope, q_rope, c_kv: q_nope.size(-1)), "divide by the square root of that, not of d_h alone"),
    (_rescaled(lambda q_nope, q_rope, c_kv: 1), "the scores are not scaled"),
    (_rows_of_other_heads, "its rows come in H blocks of d_h, one block per head"),
], ids=["no_rotary_term", "rope_on_content", "rope_on_latents", "latent_width_scale", "head_width_scale", "unscaled",
        "head_blocks_misread"])
def test_absorbed_checker_meets_each_mistake_with_its_hint(wrong, hint):
    first_case = r"1 head, d_h=2, d_h\^R=2, d_c=4, 2 queries over 4 latents"
    line = fails_with(check_absorbed_scores, wrong, rf"failed on {first_case}: expected tensor of shape \(1, 1, 2, 4\)")
    assert hint in line.split("Hint: ", 1)[1]


def test_absorbed_checker_falls_back_to_the_general_hint():
    line = fails_with(check_absorbed_scores, lambda *args: absorbed_scores(*args) + 1.0, r"failed on 1 head")
    assert "Hint: the result must equal the naive scores" in line


def test_the_absorbed_cases_equal_the_modules_naive_scores():
    # the checker's reference is MultiHeadLatentAttention's own naive path, scaled as the module scales
    mla = MultiHeadLatentAttention(8, 2, kv_lora_rank=4, qk_nope_head_dim=2, qk_rope_head_dim=2, v_head_dim=2).double()
    x = torch.randn(1, 3, 8, dtype=torch.float64)
    (q_nope, q_rope), (c_kv, k_rope) = mla.queries(x, 0), mla.latents(x, 0)
    mla(x)  # naive, no mask: the module keeps its softmax weights
    expected = torch.softmax(absorbed_scores(q_nope, q_rope, mla.w_uk.weight, c_kv, k_rope), dim=-1)
    torch.testing.assert_close(mla.attn_weights, expected)


# ---------------------------------------------------------------- fold_value_into_output

def fold_value_into_output(w_uv, w_o, num_heads):
    """The notebook's solution: W^O_h W^UV_h for every head, side by side."""
    d_model, d_v = w_o.size(0), w_uv.size(0) // num_heads
    blocks = torch.einsum("mhv,hvc->mhc", w_o.view(d_model, num_heads, d_v), w_uv.view(num_heads, d_v, -1))
    return blocks.reshape(d_model, -1)


def test_fold_checker_passes_the_reference(capsys):
    check_fold_value_into_output(fold_value_into_output)
    assert "✔ fold_value_into_output: all 3 checks passed" in capsys.readouterr().out


def test_fold_checker_on_the_stub():
    fails_with(check_fold_value_into_output, _stub, "fold_value_into_output: not implemented yet")


def test_the_folded_matrix_replaces_w_uv_then_w_o_in_the_module():
    mla = MultiHeadLatentAttention(6, 2, kv_lora_rank=4, qk_nope_head_dim=2, qk_rope_head_dim=2, v_head_dim=3).double()
    context = torch.randn(2, 2, 5, 4, dtype=torch.float64)  # (B, H, L, d_c): each head's weighted sum of latents
    heads_out = torch.einsum("bhlc,hvc->bhlv", context, mla.w_uv.weight.view(2, 3, 4))  # (B, H, L, d_v)
    folded = fold_value_into_output(mla.w_uv.weight, mla.w_o.weight, 2)  # (d_model, H d_c)
    torch.testing.assert_close(merge_heads(context) @ folded.T, mla.w_o(merge_heads(heads_out)))


TWO_HEADS = "2 heads, d_v=2, d_c=3, d_model=4"
ONE_HEAD = r"1 head, d_v=2, d_c=3, d_model=2 \(one head: W\^O W\^UV\)"


@pytest.mark.parametrize("wrong, failing, hint", [
    (lambda w_uv, w_o, h: w_o @ w_uv, rf"{TWO_HEADS}: expected shape \(4, 6\), got shape \(4, 3\)",
     "each head has its own W^UV_h, so the folded matrix has one (d_model, d_c) block per head"),
    (lambda w_uv, w_o, h: torch.einsum("hmv,hvc->mhc", w_o.reshape(h, w_o.size(0), -1),
                                       w_uv.view(h, -1, w_uv.size(1))).reshape(w_o.size(0), -1),
     rf"{TWO_HEADS}: expected tensor of shape \(4, 6\)", "W^O's heads are its columns"),
    (lambda w_uv, w_o, h: torch.einsum("mhv,hcv->mhc", w_o.view(w_o.size(0), h, -1),
                                       w_uv.reshape(h, w_uv.size(1), -1)).reshape(w_o.size(0), -1),
     rf"{ONE_HEAD}: expected tensor of shape \(2, 3\)", "head h's W^UV_h is (d_v, d_c)"),
    (lambda w_uv, w_o, h: fold_value_into_output(w_uv, w_o, h).view(w_o.size(0), h, -1).transpose(1, 2)
     .reshape(w_o.size(0), -1), rf"{TWO_HEADS}: expected tensor of shape \(4, 6\)",
     "the columns must follow merge_heads' order"),
    (lambda w_uv, w_o, h: fold_value_into_output(w_uv, w_o, h).T,
     rf"{ONE_HEAD}: expected shape \(2, 3\), got shape \(3, 2\)",
     "return it as the weight of an nn.Linear(H*d_c, d_model)"),
], ids=["all_heads_at_once", "w_o_cut_by_rows", "w_uv_viewed_transposed", "heads_interleaved", "transposed"])
def test_fold_checker_meets_each_mistake_with_its_hint(wrong, failing, hint):
    line = fails_with(check_fold_value_into_output, wrong, f"failed on {failing}")
    assert hint in line.split("Hint: ", 1)[1]


def test_fold_checker_falls_back_to_the_general_hint():
    line = fails_with(check_fold_value_into_output, lambda w_uv, w_o, h: 2 * fold_value_into_output(w_uv, w_o, h),
                      r"failed on 1 head")
    assert "Hint: the output is the sum over heads of W^O_h (W^UV_h context_h)" in line
