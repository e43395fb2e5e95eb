"""KV cache: cached decoding equals the full causal computation; nbytes, reorder, capacity."""

import re

import pytest
import torch
from tolerances import max_abs_diff

from course_lib import (
    BOS_ID,
    PAD_ID,
    CacheGroup,
    CrossAttentionCache,
    Decoder,
    GroupedQueryAttention,
    KVCache,
    MultiHeadAttention,
    MultiHeadLatentAttention,
    Transformer,
    causal_mask,
    mla_sizes,
    padding_mask,
    set_fused,
)

F64 = torch.float64
TOL = 1e-10
B, L, D, HEADS = 2, 6, 8, 2


def _decode_in_chunks(step_fn, length, chunks):
    """Call step_fn(start, end) for consecutive chunks covering 0..length; concatenate along time."""
    assert sum(chunks) == length
    outs, start = [], 0
    for size in chunks:
        outs.append(step_fn(start, start + size))
        start += size
    return torch.cat(outs, dim=1)


# ---------------------------------------------------------------- MultiHeadAttention self-attention

@pytest.mark.parametrize("chunks", [[1] * L, [3, 1, 1, 1], [2, 3, 1], [L]], ids=["steps", "prefill", "chunked", "all"])
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_mha_cached_decoding_equals_full_causal(chunks, fused):
    mha = set_fused(MultiHeadAttention(D, HEADS).double(), fused)
    x = torch.randn(B, L, D, dtype=F64)
    full = mha(x, mask=causal_mask(L))
    cache = mha.new_cache(B, L)
    cached = _decode_in_chunks(lambda s, e: mha(x[:, s:e], cache=cache), L, chunks)
    assert cache.length == L
    assert max_abs_diff(cached, full) <= TOL


def test_mha_cached_decoding_with_padding_mask():
    mha = MultiHeadAttention(D, HEADS).double()
    x = torch.randn(B, L, D, dtype=F64)
    tokens = torch.tensor([[5, 6, 0, 7, 8, 9], [5, 6, 7, 8, 0, 0]])
    pad = padding_mask(tokens, PAD_ID)  # (B, 1, 1, L)
    full = mha(x, mask=pad & causal_mask(L))
    cache = mha.new_cache(B, L)
    cached = _decode_in_chunks(lambda s, e: mha(x[:, s:e], mask=pad[..., :e], cache=cache), L, [2, 1, 3])
    assert max_abs_diff(cached, full) <= TOL


def test_mha_cache_holds_the_projected_keys_and_values():
    mha = MultiHeadAttention(D, HEADS).double()
    x = torch.randn(B, 4, D, dtype=F64)
    cache = mha.new_cache(B, 10)
    mha(x, cache=cache)
    filled = cache.filled()
    expected_k = mha.k_proj(x).view(B, 4, HEADS, D // HEADS).transpose(1, 2)
    expected_v = mha.v_proj(x).view(B, 4, HEADS, D // HEADS).transpose(1, 2)
    assert filled["k"].shape == (B, HEADS, 4, D // HEADS)
    assert max_abs_diff(filled["k"], expected_k) == 0
    assert max_abs_diff(filled["v"], expected_v) == 0
    assert cache.buffers["k"].shape == (B, HEADS, 10, D // HEADS)  # preallocated to max_len


# ---------------------------------------------------------------- nbytes

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mha_nbytes_counts_filled_positions(dtype):
    heads, d_model = 3, 12
    mha = MultiHeadAttention(d_model, heads).to(dtype)
    cache = mha.new_cache(B, 8)
    assert cache.nbytes() == 0
    element = torch.tensor([], dtype=dtype).element_size()
    for t, size in ((3, 3), (4, 1), (6, 2)):
        mha(torch.randn(B, size, d_model, dtype=dtype), cache=cache)
        assert cache.length == t
        assert cache.nbytes() == 2 * heads * (d_model // heads) * B * t * element
        assert cache.nbytes() == mha.kv_cache_elements_per_token() * B * t * element


# ---------------------------------------------------------------- dtype and device

def _attention(kind, dtype):
    """A small self-attention module of each kind, in `dtype`."""
    torch.manual_seed(0)
    if kind == "mha":
        return MultiHeadAttention(D, HEADS).to(dtype)
    if kind == "gqa":
        return GroupedQueryAttention(D, 4, 2).to(dtype)
    return MultiHeadLatentAttention(D, HEADS, **mla_sizes(D, HEADS)).to(dtype)


KINDS = ["mha", "gqa", "mla", "mla_absorbed"]
# (model dtype, cache dtype, tolerance against the model-dtype result): the cache rounds K/V to its dtype
CAST = [(torch.float32, torch.bfloat16, 5e-2), (F64, torch.float32, 1e-5), (torch.float32, torch.float64, 1e-5)]


@pytest.mark.parametrize("model_dtype, cache_dtype, tol", CAST, ids=["fp32_model_bf16_cache", "fp64_model_fp32_cache",
                                                                      "fp32_model_fp64_cache"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_cache_in_another_dtype_stores_in_it_and_computes_in_the_models(kind, model_dtype, cache_dtype, tol, fused):
    module = set_fused(_attention(kind.removesuffix("_absorbed"), model_dtype), fused)
    extra = {"absorb": True} if kind == "mla_absorbed" else {}
    x = torch.randn(B, L, D, dtype=model_dtype)
    full = module(x, mask=causal_mask(L), **extra)
    cache = module.new_cache(B, L, dtype=cache_dtype)
    cached = _decode_in_chunks(lambda s, e: module(x[:, s:e], cache=cache, **extra), L, [3, 1, 1, 1])
    assert cached.dtype == model_dtype  # computed in the model's dtype
    assert all(buf.dtype == cache_dtype for buf in cache.buffers.values())  # stored in the cache's
    element = torch.tensor([], dtype=cache_dtype).element_size()
    assert cache.nbytes() == module.kv_cache_elements_per_token() * B * L * element
    assert max_abs_diff(cached, full) <= tol


def test_bf16_cache_reads_exactly_the_rounded_keys_and_values():
    """A bf16 cache under an fp32 model = the fp32 computation on K/V rounded to bf16, to the last bit."""
    mha = MultiHeadAttention(D, HEADS)
    x = torch.randn(B, L, D)
    bf16_cache = mha.new_cache(B, L, dtype=torch.bfloat16)
    stored = torch.cat([mha(x[:, t : t + 1], cache=bf16_cache) for t in range(L)], dim=1)
    rounding = [proj.register_forward_hook(lambda _m, _i, out: out.bfloat16().float())
                for proj in (mha.k_proj, mha.v_proj)]
    fp32_cache = mha.new_cache(B, L)
    rounded = torch.cat([mha(x[:, t : t + 1], cache=fp32_cache) for t in range(L)], dim=1)
    for hook in rounding:
        hook.remove()
    assert torch.equal(stored, rounded)


def test_cross_attention_cache_in_another_dtype():
    mha = MultiHeadAttention(D, HEADS)
    memory, queries = torch.randn(B, 5, D), torch.randn(B, 3, D)
    full = mha(queries, memory)
    cache = CrossAttentionCache(B, dtype=torch.bfloat16)
    steps = torch.cat([mha(queries[:, t : t + 1], memory, cache=cache) for t in range(3)], dim=1)
    assert cache.buffers["k"].dtype == torch.bfloat16 and steps.dtype == torch.float32
    assert max_abs_diff(steps, full) <= 5e-2


def test_transformer_cache_in_bf16_under_an_fp32_model():
    model = Transformer(13, 11, d_model=D, num_heads=HEADS, num_encoder_layers=1, num_decoder_layers=2,
                        d_ff=16, dropout=0.0, max_len=16).eval()
    src, tgt = _src_tgt()
    full = model(src, tgt)
    memory, src_mask = model.encode(src)
    cache = model.new_cache(B, L, dtype=torch.bfloat16)
    steps = torch.cat([model.decode(tgt[:, t : t + 1], memory, src_mask, cache) for t in range(L)], dim=1)
    assert all(c.buffers["k"].dtype == torch.bfloat16 for layer in cache.caches.values()
               for c in layer.caches.values())
    assert max_abs_diff(steps, full) <= 5e-2


@pytest.mark.parametrize("kind", ["mha", "gqa", "mla"])
def test_cache_device_argument_places_the_buffers(kind):
    """A cache on the meta device for a CPU module: the buffers go where new_cache says, not where K/V were made."""
    module = _attention(kind, torch.float32)
    cache = module.new_cache(B, 4, dtype=torch.float16, device="meta")
    assert cache.device == torch.device("meta")
    x = torch.randn(B, 2, D)
    if kind == "mla":
        new = dict(zip(("c_kv", "k_rope"), module.latents(x, 0), strict=True))
    else:
        new = {"k": module.k_proj(x).view(B, 2, -1, D // HEADS).transpose(1, 2), "v": module.v_proj(x).view(
            B, 2, -1, D // HEADS).transpose(1, 2)}
    cache.append(**new)
    assert {buf.device.type for buf in cache.buffers.values()} == {"meta"}
    assert {buf.dtype for buf in cache.buffers.values()} == {torch.float16}
    assert cache.length == 2


def test_transformer_cache_device_reaches_every_member():
    model = Transformer(13, 11, d_model=D, num_heads=HEADS, num_encoder_layers=1, num_decoder_layers=2, d_ff=16)
    cache = model.new_cache(B, L, dtype=torch.bfloat16, device="meta")
    members = [c for layer in cache.caches.values() for c in layer.caches.values()]
    assert len(members) == 4
    assert all(c.device == torch.device("meta") and c.dtype == torch.bfloat16 for c in members)


# ---------------------------------------------------------------- checks on every append

def test_a_later_append_with_another_batch_size_raises():
    mha = MultiHeadAttention(D, HEADS)
    cache = mha.new_cache(2, 4)
    mha(torch.randn(2, 1, D), cache=cache)
    with pytest.raises(ValueError, match=re.escape("the cache was made for batch_size=2, got query with batch 1")):
        mha(torch.randn(1, 1, D), cache=cache)  # used to broadcast into both rows silently
    assert cache.length == 1


def test_a_cache_of_another_module_kind_is_rejected_by_name():
    mha, mla = _attention("mha", torch.float32), _attention("mla", torch.float32)
    cache = mha.new_cache(B, 4)
    mha(torch.randn(B, 1, D), cache=cache)
    with pytest.raises(ValueError, match=re.escape("the cache holds the tensors ['k', 'v'], got ['c_kv', 'k_rope']")):
        mla(torch.randn(B, 1, D), cache=cache)
    assert cache.length == 1


def test_a_gqa_step_into_an_mha_cache_is_rejected_by_shape():
    cache = MultiHeadAttention(D, 4).new_cache(B, 4)
    cache.append(k=torch.zeros(B, 4, 1, 2), v=torch.zeros(B, 4, 1, 2))
    with pytest.raises(ValueError, match=re.escape("the cache holds k as (2, 4, T, 2) for T positions, "
                                                   "got k of shape (2, 1, 1, 2)")):
        cache.append(k=torch.zeros(B, 1, 1, 2), v=torch.zeros(B, 1, 1, 2))  # 1 head would broadcast to 4


def test_append_needs_tensors_of_one_length():
    cache = KVCache(B, 4)
    with pytest.raises(ValueError, match=re.escape("got 2 and v with 1")):
        cache.append(k=torch.zeros(B, 2, 3), v=torch.zeros(B, 1, 3))
    assert cache.length == 0 and not cache.buffers


# ---------------------------------------------------------------- self-attention is key None or key is query

@pytest.mark.parametrize("kind", ["mha", "gqa"])
@pytest.mark.parametrize("call", ["key", "key_value"])
def test_key_is_query_with_a_cache_is_self_attention(kind, call):
    module = _attention(kind, F64)
    x = torch.randn(B, L, D, dtype=F64)
    full = module(x, mask=causal_mask(L))
    cache = module.new_cache(B, L)
    outs = []
    for t in range(L):
        token = x[:, t : t + 1]
        outs.append(module(token, token, cache=cache) if call == "key" else module(token, token, token, cache=cache))
    assert cache.length == L  # it grew: self-attention, not a cross-attention memory of one position
    assert max_abs_diff(torch.cat(outs, dim=1), full) <= TOL


@pytest.mark.parametrize("self_attention", ["mha", "mla"])
def test_each_decoder_layer_holds_a_cache_of_each_kind(self_attention):
    cache = Decoder(2, D, HEADS, 16, self_attention=self_attention).new_cache(B, L)
    for i in range(2):
        assert type(cache[i]["self_attn"]) is KVCache and cache[i]["self_attn"].max_len == L
        assert type(cache[i]["cross_attn"]) is CrossAttentionCache and cache[i]["cross_attn"].max_len is None


def test_the_cache_kind_not_the_key_object_decides():
    """A CrossAttentionCache given the queries themselves as memory attends to them as a fixed memory."""
    mha = MultiHeadAttention(D, HEADS).double()
    x = torch.randn(B, 3, D, dtype=F64)
    cache = CrossAttentionCache(B)
    assert max_abs_diff(mha(x, x, cache=cache), mha(x)) <= TOL  # no causal mask: x is a memory here
    assert cache.length == 3


def test_decoder_cache_nbytes_counts_self_and_cross():
    layers, src_len = 2, 5
    dec = Decoder(layers, D, HEADS, 16, dropout=0.0).eval()
    memory = torch.randn(B, src_len, D)
    cache = dec.new_cache(B, L)
    assert cache.nbytes() == 0
    dec(torch.randn(B, 3, D), memory, cache=cache)
    per_token = 2 * D * 4  # k and v, every head: 2 * H * d_k float32 numbers
    assert cache.length == 3
    assert cache.nbytes() == layers * per_token * B * (3 + src_len)
    dec(torch.randn(B, 1, D), memory, cache=cache)
    assert cache.nbytes() == layers * per_token * B * (4 + src_len)


# ---------------------------------------------------------------- capacity

def test_appending_past_max_len_raises():
    mha = MultiHeadAttention(D, HEADS)
    cache = mha.new_cache(1, 3)
    mha(torch.randn(1, 2, D), cache=cache)
    with pytest.raises(ValueError, match=r"max_len=3 positions; appending 2 to 2 needs 4"):
        mha(torch.randn(1, 2, D), cache=cache)
    assert cache.length == 2  # the failed append wrote nothing
    mha(torch.randn(1, 1, D), cache=cache)
    with pytest.raises(ValueError, match=r"max_len=3"):
        mha(torch.randn(1, 1, D), cache=cache)


def test_raw_cache_append_past_max_len_raises():
    cache = KVCache(batch_size=2, max_len=2)
    cache.append(k=torch.zeros(2, 1, 4))
    cache.append(k=torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match=r"max_len=2"):
        cache.append(k=torch.zeros(2, 1, 4))


# ---------------------------------------------------------------- reorder

def test_reorder_moves_the_right_rows():
    mha = MultiHeadAttention(D, HEADS).double()
    x = torch.randn(3, 4, D, dtype=F64)
    cache = mha.new_cache(3, 6)
    mha(x, cache=cache)
    before = {name: t.clone() for name, t in cache.filled().items()}
    order = torch.tensor([2, 0, 1])
    cache.reorder(order)
    assert cache.batch_size == 3 and cache.length == 4
    for name, t in cache.filled().items():
        assert torch.equal(t, before[name][order])


@pytest.mark.parametrize("indices", [torch.tensor([1, 0]), torch.tensor([1, 1, 0]),
                                     torch.arange(B).repeat_interleave(3)], ids=["swap", "grow", "beams"])
def test_reorder_then_decode_equals_full_on_reordered_batch(indices):
    mha = MultiHeadAttention(D, HEADS).double()
    prefix = torch.randn(B, 3, D, dtype=F64)
    n = indices.numel()
    tail = torch.randn(n, 2, D, dtype=F64)  # each beam continues differently
    cache = mha.new_cache(B, 5)
    head = mha(prefix, cache=cache)
    cache.reorder(indices)
    assert cache.batch_size == n
    tail_out = torch.cat([mha(tail[:, t : t + 1], cache=cache) for t in range(2)], dim=1)
    full_input = torch.cat([prefix[indices], tail], dim=1)  # (n, 5, D)
    full = mha(full_input, mask=causal_mask(5))
    assert max_abs_diff(head[indices], full[:, :3]) <= TOL
    assert max_abs_diff(tail_out, full[:, 3:]) <= TOL


def test_cache_group_reorders_and_counts_every_member():
    a, b = KVCache(2, 4), CrossAttentionCache(2)
    a.append(k=torch.arange(2.0).view(2, 1, 1).expand(2, 3, 1))
    b.append(v=torch.arange(2.0).view(2, 1, 1).expand(2, 5, 1))
    group = CacheGroup({"self_attn": a, "cross_attn": b})
    assert group.length == 3
    assert group.nbytes() == (2 * 3 + 2 * 5) * 4
    group.reorder(torch.tensor([1, 1, 0]))
    assert a.filled()["k"][:, 0, 0].tolist() == [1.0, 1.0, 0.0]
    assert b.filled()["v"][:, 0, 0].tolist() == [1.0, 1.0, 0.0]
    assert group.nbytes() == (3 * 3 + 3 * 5) * 4


# ---------------------------------------------------------------- cross-attention

def test_cross_attention_projects_the_memory_once():
    mha = MultiHeadAttention(D, HEADS).double()
    memory = torch.randn(B, 5, D, dtype=F64)
    queries = torch.randn(B, 4, D, dtype=F64)
    full = mha(queries, memory)
    calls = {"k": 0, "v": 0}
    hooks = [mha.k_proj.register_forward_hook(lambda *_: calls.__setitem__("k", calls["k"] + 1)),
             mha.v_proj.register_forward_hook(lambda *_: calls.__setitem__("v", calls["v"] + 1))]
    cache = CrossAttentionCache(B)
    outs = []
    for t in range(4):
        outs.append(mha(queries[:, t : t + 1], memory, cache=cache))
        assert cache.length == 5  # always the memory length, never growing
    for hook in hooks:
        hook.remove()
    assert calls == {"k": 1, "v": 1}
    assert max_abs_diff(torch.cat(outs, dim=1), full) <= TOL


# ---------------------------------------------------------------- Decoder stack

@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("chunks", [[1] * L, [3, 2, 1]], ids=["steps", "chunked"])
def test_decoder_stack_cached_equals_full(norm_first, chunks):
    dec = Decoder(2, D, HEADS, 16, dropout=0.0, norm_first=norm_first).double().eval()
    x = torch.randn(B, L, D, dtype=F64)
    memory = torch.randn(B, 5, D, dtype=F64)
    memory_mask = padding_mask(torch.tensor([[4, 5, 6, 0, 0], [4, 5, 6, 7, 8]]), PAD_ID)
    full = dec(x, memory, causal_mask(L), memory_mask)
    cache = dec.new_cache(B, L)
    cached = _decode_in_chunks(lambda s, e: dec(x[:, s:e], memory, None, memory_mask, cache), L, chunks)
    assert cache.length == L
    assert max_abs_diff(cached, full) <= TOL


def test_decoder_cross_attention_projects_memory_once_per_layer():
    dec = Decoder(2, D, HEADS, 16, dropout=0.0).double().eval()
    memory = torch.randn(B, 5, D, dtype=F64)
    counts = {}
    for i, layer in enumerate(dec.layers):
        counts[i] = [0, 0]
        layer.cross_attn.k_proj.register_forward_hook(lambda *_, i=i: counts[i].__setitem__(0, counts[i][0] + 1))
        layer.self_attn.k_proj.register_forward_hook(lambda *_, i=i: counts[i].__setitem__(1, counts[i][1] + 1))
    cache = dec.new_cache(B, 4)
    for _ in range(4):
        dec(torch.randn(B, 1, D, dtype=F64), memory, cache=cache)
    for i in range(2):
        assert counts[i] == [1, 4]  # memory once, each new target position once
        assert cache[i]["cross_attn"].length == 5


# ---------------------------------------------------------------- Transformer.decode

def _tiny_transformer(norm_first=False):
    return Transformer(13, 11, d_model=D, num_heads=HEADS, num_encoder_layers=2, num_decoder_layers=2,
                       d_ff=16, dropout=0.0, max_len=16, norm_first=norm_first).double().eval()


def _src_tgt():
    src = torch.tensor([[5, 6, 7, 8, PAD_ID, PAD_ID], [9, 10, 11, 12, 4, 5]])
    tgt = torch.cat([torch.full((B, 1), BOS_ID), torch.randint(3, 11, (B, L - 1))], dim=1)
    return src, tgt


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
@pytest.mark.parametrize("chunks", [[1] * L, [2, 3, 1]], ids=["steps", "chunked"])
def test_transformer_cached_decode_equals_full_forward(norm_first, fused, chunks):
    model = set_fused(_tiny_transformer(norm_first), fused)
    src, tgt = _src_tgt()
    full = model(src, tgt)
    memory, src_mask = model.encode(src)
    cache = model.new_cache(B, L)
    cached = _decode_in_chunks(lambda s, e: model.decode(tgt[:, s:e], memory, src_mask, cache), L, chunks)
    assert cached.shape == full.shape == (B, L, 11)
    assert max_abs_diff(cached, full) <= TOL


def test_transformer_beam_reorder_then_decode_equals_full():
    model = _tiny_transformer()
    src, tgt = _src_tgt()
    memory, src_mask = model.encode(src)
    cache = model.new_cache(B, L)
    model.decode(tgt[:, :3], memory, src_mask, cache)
    beams = torch.arange(B).repeat_interleave(2)  # 2 hypotheses per sentence
    cache.reorder(beams)
    memory, src_mask = memory[beams], src_mask[beams]
    tail = torch.randint(3, 11, (2 * B, 3))
    steps = torch.cat([model.decode(tail[:, t : t + 1], memory, src_mask, cache) for t in range(3)], dim=1)
    full = model(src[beams], torch.cat([tgt[beams, :3], tail], dim=1))
    assert max_abs_diff(steps, full[:, 3:]) <= TOL


def test_transformer_decode_past_cache_max_len_raises():
    model = _tiny_transformer()
    src, tgt = _src_tgt()
    memory, src_mask = model.encode(src)
    cache = model.new_cache(B, 2)
    model.decode(tgt[:, :2], memory, src_mask, cache)
    with pytest.raises(ValueError, match=r"max_len=2"):
        model.decode(tgt[:, 2:3], memory, src_mask, cache)
