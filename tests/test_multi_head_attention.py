"""MultiHeadAttention: per-head reference, explicit vs fused, masks, cross-attention, attn_weights."""

import math

import pytest
import torch
from tolerances import TOL, max_abs_diff
from torch import nn

from course_lib import (
    GroupedQueryAttention,
    MultiHeadAttention,
    MultiHeadLatentAttention,
    causal_mask,
    mla_sizes,
    padding_mask,
    set_fused,
)


def _reference_mha(mha: MultiHeadAttention, query, key, mask=None):
    """Head by head, with plain loops: head_i = softmax(Q_i K_i^T / sqrt(d_k)) V_i, then concat and W^O."""
    q, k, v = mha.q_proj(query), mha.k_proj(key), mha.v_proj(key)
    heads = []
    for i in range(mha.num_heads):
        cols = slice(i * mha.d_k, (i + 1) * mha.d_k)
        scores = q[..., cols] @ k[..., cols].transpose(-2, -1) / math.sqrt(mha.d_k)  # (B, Lq, Lk)
        if mask is not None:
            head_mask = mask[:, 0] if mask.dim() == 4 else mask  # all tests here use one mask for every head
            scores = scores.masked_fill(~head_mask, float("-inf"))
        heads.append(torch.softmax(scores, -1) @ v[..., cols])
    return mha.out_proj(torch.cat(heads, dim=-1))


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_self_attention_equals_per_head_reference(dtype, fused):
    mha = set_fused(MultiHeadAttention(12, 3).to(dtype), fused)
    x = torch.randn(2, 5, 12, dtype=dtype)
    out = mha(x)
    assert out.shape == (2, 5, 12) and out.dtype == dtype
    assert max_abs_diff(out, _reference_mha(mha, x, x)) <= TOL[dtype]


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_cross_attention_with_padding_mask(dtype, fused):
    mha = set_fused(MultiHeadAttention(8, 2).to(dtype), fused)
    query, memory = torch.randn(2, 3, 8, dtype=dtype), torch.randn(2, 6, 8, dtype=dtype)
    mask = padding_mask(torch.tensor([[4, 5, 6, 7, 0, 0], [4, 5, 6, 7, 8, 9]]), 0)
    out = mha(query, memory, mask=mask)
    assert out.shape == (2, 3, 8)
    assert max_abs_diff(out, _reference_mha(mha, query, memory, mask)) <= TOL[dtype]


def test_causal_self_attention_explicit_equals_fused(dtype):
    mha = MultiHeadAttention(8, 4).to(dtype)
    x = torch.randn(3, 6, 8, dtype=dtype)
    explicit = mha(x, mask=causal_mask(6))
    fused = set_fused(mha)(x, mask=causal_mask(6))
    assert max_abs_diff(explicit, fused) <= TOL[dtype]
    assert max_abs_diff(explicit, _reference_mha(mha, x, x, causal_mask(6))) <= TOL[dtype]


def test_value_defaults_to_key_and_key_to_query():
    mha = MultiHeadAttention(8, 2).double()
    x, memory = torch.randn(2, 4, 8, dtype=torch.float64), torch.randn(2, 3, 8, dtype=torch.float64)
    assert torch.equal(mha(x), mha(x, x, x))
    assert torch.equal(mha(x, memory), mha(x, memory, memory))


def test_distinct_value_input_is_used():
    mha = MultiHeadAttention(8, 2).double()
    x, key, value = (torch.randn(2, 4, 8, dtype=torch.float64) for _ in range(3))
    assert not torch.allclose(mha(x, key, value), mha(x, key))


def test_explicit_path_keeps_attention_weights():
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 4, 8)
    mha(x, mask=causal_mask(4))
    weights = mha.attn_weights
    assert weights.shape == (2, 2, 4, 4) and not weights.requires_grad
    assert max_abs_diff(weights.sum(-1), torch.ones(2, 2, 4)) <= 1e-6
    assert torch.all(weights[..., ~causal_mask(4)] == 0)


def test_head_sizes_and_cache_elements_per_token():
    mha = MultiHeadAttention(12, 4)
    assert (mha.d_model, mha.num_heads, mha.d_k) == (12, 4, 3)
    assert mha.kv_cache_elements_per_token() == 2 * 12


def test_bias_false_has_no_biases():
    mha = MultiHeadAttention(8, 2, bias=False)
    assert all(p.dim() == 2 for p in mha.parameters())
    assert mha(torch.randn(1, 3, 8)).shape == (1, 3, 8)


def test_attention_dropout_in_training_only():
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(2, 5, 8)
    mha.eval()
    assert torch.equal(mha(x), mha(x))
    mha.train()
    assert not torch.equal(mha(x), mha(x))


def test_gradients_flow_to_every_parameter():
    mha = MultiHeadAttention(8, 2).double()
    x = torch.randn(2, 4, 8, dtype=torch.float64)
    mha(x, mask=causal_mask(4)).pow(2).sum().backward()
    for name, param in mha.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_all_padding_sentence_gives_finite_output(fused):
    """A sentence whose keys are all padding: zero attention, so the output is just W^O's bias; never NaN."""
    mha = set_fused(MultiHeadAttention(8, 2).double(), fused)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    mask = padding_mask(torch.tensor([[0, 0, 0], [4, 5, 0]]), 0)
    out = mha(x, mask=mask)
    assert torch.isfinite(out).all()
    assert max_abs_diff(out[0], mha.out_proj.bias.expand(3, 8)) <= 1e-12
    if not fused:
        assert torch.all(mha.attn_weights[0] == 0)


def _attention_modules():
    """One module of each attention kind, with the call that runs it."""
    mla = MultiHeadLatentAttention(8, 2, **mla_sizes(8, 2))
    return {"mha": (MultiHeadAttention(8, 2), {}), "gqa": (GroupedQueryAttention(8, 2, 1), {}),
            "mla": (mla, {}), "mla_absorbed": (mla, {"absorb": True})}


@pytest.mark.parametrize("kind", ["mha", "gqa", "mla", "mla_absorbed"])
def test_fused_path_clears_the_weights_of_an_earlier_explicit_call(kind):
    module, extra = _attention_modules()[kind]
    x = torch.randn(1, 3, 8)
    module(x, mask=causal_mask(3), **extra)
    assert module.attn_weights.shape == (1, 2, 3, 3)
    set_fused(module)(x, mask=causal_mask(3), **extra)
    assert module.attn_weights is None  # not the stale weights of the explicit call
    set_fused(module, False)(x, **extra)
    assert module.attn_weights.shape == (1, 2, 3, 3)


def test_initial_weights_are_drawn_in_the_same_order():
    """q_proj, k_proj, v_proj, out_proj from one random stream, as always: seeded models (and stored outputs) stay."""
    torch.manual_seed(3)
    mha = MultiHeadAttention(8, 2)
    torch.manual_seed(3)
    expected = [nn.Linear(8, 8) for _ in range(4)]
    assert [name for name, _ in mha.named_children()] == ["q_proj", "k_proj", "v_proj", "out_proj"]
    for ours, theirs in zip(mha.children(), expected, strict=True):
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
