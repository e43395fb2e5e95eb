"""GroupedQueryAttention: MHA and MQA as its ends, head grouping, the cache it shrinks, errors."""

import re

import pytest
import torch
import torch.nn.functional as F
from tolerances import TOL, max_abs_diff, randomize_
from torch import nn

from course_lib import (
    CrossAttentionCache,
    GroupedQueryAttention,
    MultiHeadAttention,
    causal_mask,
    expand_kv_heads,
    padding_mask,
    scaled_dot_product_attention,
    set_fused,
)
from course_lib.multi_head_attention import merge_heads, split_heads

F64 = torch.float64
B, L, D, H = 2, 6, 16, 4


def _gqa(groups, fused=False, dtype=F64):
    return set_fused(randomize_(GroupedQueryAttention(D, H, groups).to(dtype)), fused)


@torch.no_grad()
def _mha_with_repeated_kv(gqa: GroupedQueryAttention) -> MultiHeadAttention:
    """An MHA whose head h has the K/V weights of GQA group h // (H / G): the same function, bigger cache."""
    mha = MultiHeadAttention(gqa.d_model, gqa.num_heads).to(gqa.q_proj.weight.dtype)
    repeats = gqa.num_heads // gqa.num_kv_heads
    for ours, theirs in ((mha.q_proj, gqa.q_proj), (mha.out_proj, gqa.out_proj)):
        ours.load_state_dict(theirs.state_dict())
    for ours, theirs in ((mha.k_proj, gqa.k_proj), (mha.v_proj, gqa.v_proj)):
        weight = theirs.weight.view(gqa.num_kv_heads, gqa.d_k, gqa.d_model).repeat_interleave(repeats, dim=0)
        ours.weight.copy_(weight.reshape(gqa.d_model, gqa.d_model))
        ours.bias.copy_(theirs.bias.view(gqa.num_kv_heads, gqa.d_k).repeat_interleave(repeats, dim=0).flatten())
    return mha


def test_expand_kv_heads_gives_each_group_to_consecutive_query_heads():
    kv = torch.arange(2.0).view(1, 2, 1, 1).expand(1, 2, 3, 2)  # group g holds the number g
    expanded = expand_kv_heads(kv, 6)
    assert expanded.shape == (1, 6, 3, 2)
    assert expanded[0, :, 0, 0].tolist() == [0, 0, 0, 1, 1, 1]  # head h reads group h // 3
    x = torch.randn(2, 3, 5, 4)
    assert torch.equal(expand_kv_heads(x, 6), x.repeat_interleave(2, dim=1))
    assert torch.equal(expand_kv_heads(x, 3), x)


def test_folding_query_heads_into_rows_equals_attention_on_expanded_kv_heads():
    gqa = _gqa(2)
    q, k, v = torch.randn(B, H, 3, 4, dtype=F64), torch.randn(B, 2, 5, 4, dtype=F64), torch.randn(B, 2, 5, 4, dtype=F64)
    mask = torch.rand(B, H, 3, 5) > 0.3
    expected, weights = scaled_dot_product_attention(q, expand_kv_heads(k, H), expand_kv_heads(v, H), mask)
    assert max_abs_diff(gqa.attend_heads(q, k, v, mask), expected) <= TOL[F64]
    assert max_abs_diff(gqa.attn_weights, weights) <= TOL[F64]


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_as_many_kv_heads_as_query_heads_is_mha(dtype, fused):
    gqa = _gqa(H, fused, dtype)
    mha = set_fused(MultiHeadAttention(D, H).to(dtype), fused)
    mha.load_state_dict(gqa.state_dict())  # the same parameter names and shapes
    x = torch.randn(B, L, D, dtype=dtype)
    assert max_abs_diff(gqa(x, mask=causal_mask(L)), mha(x, mask=causal_mask(L))) <= TOL[dtype]


@pytest.mark.parametrize("groups", [1, 2, 4], ids=["mqa", "gqa", "mha"])
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_equals_mha_with_each_groups_kv_weights_repeated(dtype, groups, fused):
    gqa = _gqa(groups, fused, dtype)
    mha = set_fused(_mha_with_repeated_kv(gqa), fused)
    x = torch.randn(B, L, D, dtype=dtype)
    mask = padding_mask(torch.tensor([[5, 6, 7, 8, 0, 0], [5, 6, 7, 8, 9, 10]]), 0) & causal_mask(L)
    assert max_abs_diff(gqa(x, mask=mask), mha(x, mask=mask)) <= TOL[dtype]


@pytest.mark.parametrize("groups", [1, 2])
def test_equals_pytorch_sdpa_on_expanded_heads(groups):
    gqa = _gqa(groups)
    x = torch.randn(B, L, D, dtype=F64)
    q = split_heads(gqa.q_proj(x), H)
    k = split_heads(gqa.k_proj(x), groups).repeat_interleave(H // groups, dim=1)
    v = split_heads(gqa.v_proj(x), groups).repeat_interleave(H // groups, dim=1)
    expected = gqa.out_proj(merge_heads(F.scaled_dot_product_attention(q, k, v, is_causal=True)))
    assert max_abs_diff(gqa(x, mask=causal_mask(L)), expected) <= TOL[F64]
    assert gqa.attn_weights.shape == (B, H, L, L)


def test_mqa_heads_differ_only_through_their_queries():
    mqa = _gqa(1)
    x = torch.randn(1, 3, D, dtype=F64)
    mqa(x)
    with torch.no_grad():
        mqa.q_proj.weight.view(H, D // H, D)[:] = mqa.q_proj.weight.view(H, D // H, D)[0]
        mqa.q_proj.bias.view(H, D // H)[:] = mqa.q_proj.bias.view(H, D // H)[0]
    mqa(x)
    weights = mqa.attn_weights[0]  # (H, 3, 3): identical queries and one shared key head
    assert all(max_abs_diff(weights[h], weights[0]) == 0 for h in range(H))


@pytest.mark.parametrize("groups", [1, 2, 4], ids=["mqa", "gqa", "mha"])
@pytest.mark.parametrize("chunks", [[1] * L, [3, 1, 2], [2, 4]], ids=["steps", "prefill", "chunked"])
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_cached_decoding_equals_full_causal(groups, chunks, fused):
    gqa = _gqa(groups, fused)
    x = torch.randn(B, L, D, dtype=F64)
    full = gqa(x, mask=causal_mask(L))
    cache = gqa.new_cache(B, L)
    outs, start = [], 0
    for size in chunks:
        outs.append(gqa(x[:, start : start + size], cache=cache))
        start += size
    assert cache.length == L
    assert max_abs_diff(torch.cat(outs, dim=1), full) <= TOL[F64]


def test_cached_decoding_with_padding_mask():
    gqa = _gqa(2)
    x = torch.randn(B, L, D, dtype=F64)
    pad = padding_mask(torch.tensor([[5, 6, 0, 7, 8, 9], [5, 6, 7, 8, 0, 0]]), 0)
    full = gqa(x, mask=pad & causal_mask(L))
    cache = gqa.new_cache(B, L)
    outs = [gqa(x[:, :2], mask=pad[..., :2], cache=cache)]
    outs += [gqa(x[:, t : t + 1], mask=pad[..., : t + 1], cache=cache) for t in range(2, L)]
    assert max_abs_diff(torch.cat(outs, dim=1), full) <= TOL[F64]


@pytest.mark.parametrize("groups", [1, 2, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cache_holds_only_the_shared_heads(groups, dtype):
    gqa = _gqa(groups, dtype=dtype)
    x = torch.randn(B, 5, D, dtype=dtype)
    cache = gqa.new_cache(B, 8)
    gqa(x, cache=cache)
    filled = cache.filled()
    assert set(filled) == {"k", "v"}
    assert filled["k"].shape == filled["v"].shape == (B, groups, 5, D // H)
    assert max_abs_diff(filled["k"], split_heads(gqa.k_proj(x), groups)) == 0
    element = torch.tensor([], dtype=dtype).element_size()
    assert gqa.kv_cache_elements_per_token() == 2 * groups * (D // H)
    assert cache.nbytes() == gqa.kv_cache_elements_per_token() * B * 5 * element


def test_cross_attention_projects_the_memory_once():
    gqa = _gqa(2)
    memory, queries = torch.randn(B, 5, D, dtype=F64), torch.randn(B, 3, D, dtype=F64)
    full = gqa(queries, memory)
    calls = []
    gqa.k_proj.register_forward_hook(lambda *_: calls.append(1))
    cache = CrossAttentionCache(B)
    steps = torch.cat([gqa(queries[:, t : t + 1], memory, cache=cache) for t in range(3)], dim=1)
    assert len(calls) == 1 and cache.length == 5
    assert max_abs_diff(steps, full) <= TOL[F64]


def test_beam_reorder_then_decode_equals_full():
    gqa = _gqa(2)
    prefix, tail = torch.randn(B, 3, D, dtype=F64), torch.randn(3, 2, D, dtype=F64)
    order = torch.tensor([1, 1, 0])
    cache = gqa.new_cache(B, 5)
    gqa(prefix, cache=cache)
    cache.reorder(order)
    steps = torch.cat([gqa(tail[:, t : t + 1], cache=cache) for t in range(2)], dim=1)
    full = gqa(torch.cat([prefix[order], tail], dim=1), mask=causal_mask(5))
    assert max_abs_diff(steps, full[:, 3:]) <= TOL[F64]


@pytest.mark.parametrize("build, exc, message", [
    (lambda: GroupedQueryAttention(16, 4, 3), ValueError, "num_heads=4 is not divisible by num_kv_heads=3"),
    (lambda: GroupedQueryAttention(16, 2, 4), ValueError, "num_heads=2 is not divisible by num_kv_heads=4"),
    (lambda: GroupedQueryAttention(16, 4, 0), ValueError, "num_kv_heads must be a positive int, got num_kv_heads=0"),
    (lambda: GroupedQueryAttention(16, 4, 2.0), TypeError, "num_kv_heads must be an int, got float 2.0"),
    (lambda: GroupedQueryAttention(10, 4, 2), ValueError, "d_model=10 is not divisible by num_heads=4"),
    (lambda: GroupedQueryAttention(16, 4, 2, dropout=1.0), ValueError, "dropout must be in [0, 1), got dropout=1.0"),
])
def test_bad_sizes_raise(build, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        build()


def test_bad_inputs_raise():
    gqa = GroupedQueryAttention(D, H, 2)
    with pytest.raises(ValueError, match=re.escape("query must be (batch, length, d_model=16), got shape (2, 3, 8)")):
        gqa(torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match=r"mask of shape \(3, 3\) cannot broadcast"):
        gqa(torch.zeros(2, 2, D), mask=torch.ones(3, 3, dtype=torch.bool), cache=gqa.new_cache(2, 4))
    with pytest.raises(ValueError, match=re.escape("cannot broadcast to the attention scores of shape (2, 4, 2, 2)")):
        gqa(torch.zeros(2, 2, D), mask=torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        gqa(torch.zeros(2, 2, D), mask=torch.ones(2, 2))


# ---------------------------------------------------------------- one implementation with MultiHeadAttention

def test_gqa_runs_multi_head_attentions_forward_and_cache():
    """MHA is GQA with num_kv_heads == num_heads: one forward and one cache serve both; only step 3 differs."""
    assert GroupedQueryAttention.forward is MultiHeadAttention.forward
    assert GroupedQueryAttention.new_cache is MultiHeadAttention.new_cache
    assert GroupedQueryAttention.attend_heads is not MultiHeadAttention.attend_heads
    assert MultiHeadAttention(D, H).num_kv_heads == H


@pytest.mark.parametrize("groups", [1, 2])
def test_parameter_names_shapes_and_initial_weights(groups):
    torch.manual_seed(5)
    gqa = GroupedQueryAttention(D, H, groups)
    torch.manual_seed(5)
    expected = [nn.Linear(D, D), nn.Linear(D, groups * D // H), nn.Linear(D, groups * D // H), nn.Linear(D, D)]
    assert [name for name, _ in gqa.named_children()] == ["q_proj", "k_proj", "v_proj", "out_proj"]
    for ours, theirs in zip(gqa.children(), expected, strict=True):  # drawn in the same order as always
        assert torch.equal(ours.weight, theirs.weight) and torch.equal(ours.bias, theirs.bias)
    assert gqa.attn_weights is None


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_with_mhas_weights_and_all_heads_it_gives_mhas_bits(fused):
    mha = set_fused(randomize_(MultiHeadAttention(D, H)).double(), fused)
    gqa = set_fused(GroupedQueryAttention(D, H, H).double(), fused)
    gqa.load_state_dict(mha.state_dict())
    x, memory = torch.randn(B, L, D, dtype=F64), torch.randn(B, 3, D, dtype=F64)
    assert torch.equal(gqa(x, mask=causal_mask(L)), mha(x, mask=causal_mask(L)))
    assert torch.equal(gqa(x, memory), mha(x, memory))
    if not fused:
        assert torch.equal(gqa.attn_weights, mha.attn_weights)
