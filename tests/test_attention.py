"""Scaled dot-product attention, explicit and fused, against torch.nn.functional.scaled_dot_product_attention."""

import math

import pytest
import torch
import torch.nn.functional as F
from tolerances import TOL, max_abs_diff

from course_lib import causal_mask, fused_attention, padding_mask, scaled_dot_product_attention

B, H, LQ, LK, D = 2, 3, 4, 5, 8


def _qkv(dtype, lq=LQ, lk=LK):
    q = torch.randn(B, H, lq, D, dtype=dtype)
    k = torch.randn(B, H, lk, D, dtype=dtype)
    v = torch.randn(B, H, lk, D, dtype=dtype)
    return q, k, v


def _random_mask(lq=LQ, lk=LK):
    """A random (B, H, Lq, Lk) mask where every query keeps at least one key."""
    mask = torch.rand(B, H, lq, lk) > 0.5
    mask[..., torch.randint(lk, (1,)).item()] = True
    return mask


def _masks():
    tokens = torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]])
    return {
        "none": (None, LK),
        "random": (_random_mask(), LK),
        "causal": (causal_mask(LQ), LQ),
        "causal_offset": (causal_mask(LQ, offset=LK - LQ), LK),
        "padding": (padding_mask(tokens, 0), LK),
    }


MASK_NAMES = ["none", "random", "causal", "causal_offset", "padding"]


@pytest.mark.parametrize("mask_name", MASK_NAMES)
def test_explicit_attention_equals_torch(dtype, mask_name):
    mask, lk = _masks()[mask_name]
    q, k, v = _qkv(dtype, lk=lk)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert out.shape == (B, H, LQ, D) and weights.shape == (B, H, LQ, lk)
    assert out.dtype == dtype and weights.dtype == dtype
    assert max_abs_diff(out, expected) <= TOL[dtype]


@pytest.mark.parametrize("mask_name", MASK_NAMES)
def test_fused_attention_equals_torch(dtype, mask_name):
    mask, lk = _masks()[mask_name]
    q, k, v = _qkv(dtype, lk=lk)
    out = fused_attention(q, k, v, mask)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert max_abs_diff(out, expected) <= TOL[dtype]


def test_fused_is_causal_flag_equals_explicit_causal_mask(dtype):
    q, k, v = _qkv(dtype, lk=LQ)
    out = fused_attention(q, k, v, is_causal=True)
    explicit, _ = scaled_dot_product_attention(q, k, v, causal_mask(LQ))
    assert max_abs_diff(out, explicit) <= TOL[dtype]


def test_weights_are_the_softmax_of_scaled_scores():
    q, k, v = _qkv(torch.float64)
    out, weights = scaled_dot_product_attention(q, k, v)
    scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(D)
    assert max_abs_diff(weights, torch.softmax(scores, dim=-1)) <= 1e-12
    assert max_abs_diff(out, torch.einsum("bhqk,bhkd->bhqd", weights, v)) <= 1e-12


def test_weights_rows_sum_to_one_and_masked_weights_are_zero():
    q, k, v = _qkv(torch.float64)
    mask = _random_mask()
    _, weights = scaled_dot_product_attention(q, k, v, mask)
    assert max_abs_diff(weights.sum(-1), torch.ones(B, H, LQ, dtype=torch.float64)) <= 1e-12
    assert torch.all(weights[~mask] == 0)
    assert torch.all(weights[mask] > 0)


def test_value_dim_may_differ_from_key_dim():
    q, k = torch.randn(2, 3, 4), torch.randn(2, 5, 4)
    v = torch.randn(2, 5, 7)
    out, weights = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 7) and weights.shape == (2, 3, 5)
    assert max_abs_diff(fused_attention(q, k, v), out) <= 1e-5


def _mask_with_fully_masked_row():
    mask = _random_mask()
    mask[0, 1, 2, :] = False  # batch 0, head 1, query 2 sees nothing
    mask[1, :, 0, :] = False  # batch 1, query 0 sees nothing in any head
    return mask


def test_fully_masked_row_gives_zeros_not_nan_on_both_paths(dtype):
    q, k, v = _qkv(dtype)
    mask = _mask_with_fully_masked_row()
    dead = ~mask.any(-1)  # (B, H, Lq)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    fused = fused_attention(q, k, v, mask)
    for result in (out, weights, fused):
        assert not torch.isnan(result).any()
    assert torch.all(weights[dead] == 0)
    assert torch.all(out[dead] == 0)
    assert torch.all(fused[dead] == 0)
    # the other rows are untouched: still torch's numbers
    live_mask = mask.clone()
    live_mask[dead] = True
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=live_mask)
    assert max_abs_diff(out[~dead], expected[~dead]) <= TOL[dtype]
    assert max_abs_diff(fused[~dead], expected[~dead]) <= TOL[dtype]


def test_fully_masked_row_with_broadcast_padding_mask():
    q, k, v = _qkv(torch.float64)
    mask = torch.zeros(B, 1, 1, LK, dtype=torch.bool)
    mask[0] = True  # batch 1 is all padding
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    fused = fused_attention(q, k, v, mask)
    assert torch.all(out[1] == 0) and torch.all(weights[1] == 0) and torch.all(fused[1] == 0)
    assert max_abs_diff(out[0], F.scaled_dot_product_attention(q[0], k[0], v[0])) <= 1e-10


def test_gradcheck_with_a_fully_masked_row():
    q, k, v = (t.requires_grad_() for t in _qkv(torch.float64, lq=3, lk=4))
    mask = torch.rand(B, H, 3, 4) > 0.4
    mask[..., 0] = True
    mask[0, 0, 1, :] = False  # one fully masked row
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask)[0], (q, k, v))
    out, _ = scaled_dot_product_attention(q, k, v, mask)
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert torch.all(q.grad[0, 0, 1] == 0)  # nothing flows through the dead query


def test_gradcheck_without_mask():
    q, k, v = (t.requires_grad_() for t in _qkv(torch.float64, lq=2, lk=3))
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c)[0], (q, k, v))


def test_dropout_only_when_asked():
    q, k, v = _qkv(torch.float64)
    plain, weights = scaled_dot_product_attention(q, k, v)
    again, _ = scaled_dot_product_attention(q, k, v, dropout_p=0.0)
    assert torch.equal(plain, again)
    _, dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    kept = dropped != 0
    assert (~kept).any()
    # inverted dropout: surviving weights are scaled by 1 / (1 - p)
    assert max_abs_diff(dropped[kept], 2 * weights[kept]) <= 1e-12
