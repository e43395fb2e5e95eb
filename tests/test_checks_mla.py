"""Notebook 11's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import math

import torch
from checking import fails_with

from course_lib import expand_kv_heads, rotate_half
from course_lib.checks import check_absorbed_scores, check_expand_kv_heads, check_rotate_half


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- rotate_half

def test_rotate_half_checker_passes_the_reference(capsys):
    check_rotate_half(rotate_half)
    assert "✔ rotate_half: all 3 checks passed" in capsys.readouterr().out


def test_rotate_half_checker_on_the_stub():
    fails_with(check_rotate_half, _stub, "rotate_half: not implemented yet")


def test_rotate_half_checker_rejects_the_turn_the_wrong_way():
    def rotate_half_backwards(x):  # (x2, -x1): a turn by -90 degrees, so RoPE rotates the wrong way
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat([x2, -x1], dim=-1)

    fails_with(check_rotate_half, rotate_half_backwards,
               r"failed on x = \[1, 2, 3, 4\]: expected .*\[-3.0, -4.0, 1.0, 2.0\]")


def test_rotate_half_checker_rejects_the_interleaved_layout():
    def rotate_neighbours(x):  # pairs (2i, 2i+1): DeepSeek's layout, not the rotate-half one the course uses
        return torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)

    fails_with(check_rotate_half, rotate_neighbours, r"rotate_half failed on x = \[1, 2, 3, 4\]")


# ---------------------------------------------------------------- expand_kv_heads

def test_expand_checker_passes_the_reference(capsys):
    check_expand_kv_heads(expand_kv_heads)
    assert "✔ expand_kv_heads: all 4 checks passed" in capsys.readouterr().out


def test_expand_checker_on_the_stub():
    fails_with(check_expand_kv_heads, _stub, "expand_kv_heads: not implemented yet")


def test_expand_checker_rejects_tiling_instead_of_repeating():
    def expand_by_tiling(kv, num_heads):  # repeat tiles the groups: head h reads group h % G, not h // (H / G)
        return kv.repeat(1, num_heads // kv.size(1), 1, 1)

    fails_with(check_expand_kv_heads, expand_by_tiling, r"want heads 0, 0, 1, 1\): expected .*\[0.0, 0.0, 1.0, 1.0\], "
                                                        r"got .*\[0.0, 1.0, 0.0, 1.0\]")


def test_expand_checker_rejects_a_wrong_shape():
    fails_with(check_expand_kv_heads, lambda kv, num_heads: kv,
               r"expected shape \(1, 4, 1, 1\), got shape \(1, 2, 1, 1\)")


# ---------------------------------------------------------------- absorbed_scores

def absorbed_scores(q_nope, q_rope, w_uk, c_kv, k_rope):
    """The notebook's solution: queries into the latent space, then one product with the shared latents."""
    heads, nope = q_nope.size(1), q_nope.size(-1)
    w = w_uk.view(heads, nope, -1)  # (H, d_h, d_c)
    q_latent = torch.einsum("bhld,hdc->bhlc", q_nope, w)  # (B, H, L, d_c)
    raw = q_latent @ c_kv[:, None].transpose(-2, -1) + q_rope @ k_rope[:, None].transpose(-2, -1)
    return raw / math.sqrt(nope + q_rope.size(-1))


def test_absorbed_checker_passes_the_reference(capsys):
    check_absorbed_scores(absorbed_scores)
    assert "✔ absorbed_scores: all 3 checks passed" in capsys.readouterr().out


def test_absorbed_checker_on_the_stub():
    fails_with(check_absorbed_scores, _stub, "absorbed_scores: not implemented yet")


def test_absorbed_checker_rejects_the_latent_width_scale():
    def scaled_by_latent_width(q_nope, q_rope, w_uk, c_kv, k_rope):  # the queries are d_c wide now... but no
        raw = absorbed_scores(q_nope, q_rope, w_uk, c_kv, k_rope) * math.sqrt(q_nope.size(-1) + q_rope.size(-1))
        return raw / math.sqrt(c_kv.size(-1) + k_rope.size(-1))

    fails_with(check_absorbed_scores, scaled_by_latent_width,
               r"absorbed_scores failed on 1 head, d_h=2.*max difference")


def test_absorbed_checker_rejects_a_wrongly_reshaped_up_projection():
    def wrong_view(q_nope, q_rope, w_uk, c_kv, k_rope):  # (H, d_c, d_h) then transposed: right shape, wrong numbers
        heads, nope = q_nope.size(1), q_nope.size(-1)
        w = w_uk.reshape(heads, -1, nope).transpose(1, 2)  # (H, d_h, d_c)
        raw = torch.einsum("bhld,hdc->bhlc", q_nope, w) @ c_kv[:, None].transpose(-2, -1)
        raw = raw + q_rope @ k_rope[:, None].transpose(-2, -1)
        return raw / math.sqrt(nope + q_rope.size(-1))

    fails_with(check_absorbed_scores, wrong_view, r"absorbed_scores failed on")


def test_absorbed_checker_rejects_a_missing_rotary_term():
    def no_rope(q_nope, q_rope, w_uk, c_kv, k_rope):
        return absorbed_scores(q_nope, q_rope * 0, w_uk, c_kv, k_rope)

    fails_with(check_absorbed_scores, no_rope, r"absorbed_scores failed on 1 head")
