"""RoPE: a rotation per position, relative in the dot product, offsets for caching, and the interleaved layout."""

import math
import re

import pytest
import torch
from tolerances import TOL, max_abs_diff

from course_lib import apply_rope, apply_rope_interleaved, interleaved_to_half_permutation, rotate_half
from course_lib.rope import rope_angles, rope_inverse_frequencies


def _scores(q, k):
    return q @ k.transpose(-2, -1)  # (..., Lq, Lk)


def test_rotate_half_turns_each_pair_by_90_degrees():
    x = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert rotate_half(x).tolist() == [-3.0, -4.0, 1.0, 2.0]
    assert torch.equal(rotate_half(rotate_half(x)), -x)  # two quarter turns: a half turn


def test_two_dims_rotate_by_the_position_times_theta():
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64).expand(5, 2)  # the same vector at positions 0..4
    rotated = apply_rope(x)  # d = 2: one pair, theta_0 = 1
    m = torch.arange(5, dtype=torch.float64)
    assert max_abs_diff(rotated, torch.stack([m.cos(), m.sin()], dim=-1)) <= 1e-15


def test_frequencies_follow_base_to_the_minus_2i_over_d():
    expected = torch.tensor([1.0, 0.1, 0.01, 0.001], dtype=torch.float64)  # 10000^(-i/8) for i = 0, 2, 4, 6
    assert max_abs_diff(rope_inverse_frequencies(8), expected) <= 1e-15
    assert rope_angles(3, 4, offset=5)[:, 0].tolist() == [5.0, 6.0, 7.0]


def test_position_zero_is_the_identity_and_norms_are_kept(dtype):
    x = torch.randn(2, 3, 7, 8, dtype=dtype)
    rotated = apply_rope(x)
    assert rotated.dtype == dtype and rotated.shape == x.shape
    assert max_abs_diff(rotated[..., 0, :], x[..., 0, :]) <= TOL[dtype]
    assert max_abs_diff(rotated.norm(dim=-1), x.norm(dim=-1)) <= 10 * TOL[dtype]


def test_matches_the_complex_number_form():
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    half = x.size(-1) // 2
    z = torch.complex(x[..., :half], x[..., half:])  # pair i is the complex number x_i + i x_{i + d/2}
    angles = rope_angles(6, 8, offset=3)
    expected = z * torch.polar(torch.ones_like(angles), angles)  # multiply by e^(i m theta)
    assert max_abs_diff(apply_rope(x, offset=3), torch.cat([expected.real, expected.imag], dim=-1)) <= 1e-14


def test_offset_continues_the_positions():
    x = torch.randn(2, 9, 6, dtype=torch.float64)
    full = apply_rope(x)
    pieces = torch.cat([apply_rope(x[:, :4]), apply_rope(x[:, 4:5], offset=4), apply_rope(x[:, 5:], offset=5)], 1)
    assert max_abs_diff(pieces, full) == 0


@pytest.mark.parametrize("shift", [1, 7, 1000])
def test_scores_depend_on_relative_position_only(dtype, shift):
    q, k = torch.randn(2, 5, 16, dtype=dtype), torch.randn(2, 5, 16, dtype=dtype)
    at_zero = _scores(apply_rope(q), apply_rope(k))
    shifted = _scores(apply_rope(q, offset=shift), apply_rope(k, offset=shift))
    assert max_abs_diff(shifted, at_zero) <= 100 * TOL[dtype]  # angles near 1000 rad cost a few ulps
    moved = _scores(apply_rope(q, offset=shift), apply_rope(k))  # only the queries move: scores change
    assert max_abs_diff(moved, at_zero) > 0.1


def test_same_vectors_at_distance_m_score_the_same_wherever_they_are():
    q, k = torch.randn(1, 16, dtype=torch.float64), torch.randn(1, 16, dtype=torch.float64)
    scores = [(apply_rope(q, offset=m + 3) @ apply_rope(k, offset=m).T).item() for m in range(6)]
    assert max(scores) - min(scores) <= 1e-12


def test_interleaved_layout_is_the_same_rotation_on_permuted_dimensions():
    x = torch.randn(2, 3, 6, 8, dtype=torch.float64)
    perm = interleaved_to_half_permutation(8)
    assert perm.tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert max_abs_diff(apply_rope_interleaved(x, offset=2)[..., perm], apply_rope(x[..., perm], offset=2)) <= 1e-15


def test_interleaved_scores_equal_rotate_half_scores_after_a_fixed_permutation(dtype):
    q, k = torch.randn(2, 4, 5, 16, dtype=dtype), torch.randn(2, 4, 7, 16, dtype=dtype)
    perm = interleaved_to_half_permutation(16)
    deepseek = _scores(apply_rope_interleaved(q, offset=3), apply_rope_interleaved(k))
    ours = _scores(apply_rope(q[..., perm], offset=3), apply_rope(k[..., perm]))
    assert max_abs_diff(ours, deepseek) <= 10 * TOL[dtype]
    unpermuted = _scores(apply_rope(q, offset=3), apply_rope(k))  # same weights, wrong layout: other scores
    assert max_abs_diff(unpermuted, deepseek) > 0.1


def test_permuting_projection_rows_converts_an_interleaved_checkpoint():
    w = torch.randn(8, 12, dtype=torch.float64)  # a W^QR trained with interleaved RoPE
    h = torch.randn(3, 12, dtype=torch.float64)
    perm = interleaved_to_half_permutation(8)
    q_interleaved = apply_rope_interleaved(h @ w.T)
    q_half = apply_rope(h @ w[perm].T)  # reorder the rows of W once, at load time
    assert max_abs_diff(q_half, q_interleaved[..., perm]) <= 1e-14
    assert math.isclose(q_half.norm().item(), q_interleaved.norm().item(), rel_tol=1e-12)


@pytest.mark.parametrize("call", [
    lambda: apply_rope(torch.zeros(2, 3, 5)),
    lambda: apply_rope_interleaved(torch.zeros(2, 3, 7)),
    lambda: interleaved_to_half_permutation(3),
])
def test_odd_width_raises(call):
    with pytest.raises(ValueError, match=r"last dim must be even, got x.size\(-1\)=\d"):
        call()


def test_negative_offset_raises():
    with pytest.raises(ValueError, match=re.escape("offset must be >= 0, got offset=-1")):
        apply_rope(torch.zeros(1, 2, 4), offset=-1)
