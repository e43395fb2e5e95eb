"""MultiHeadLatentAttention: absorbed == naive, cached == full, the cache it keeps, why RoPE is decoupled,
the reduction to MHA, relative positions, the softmax scale, V padding, the Transformer switch, errors."""

import math
import re
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from tolerances import TOL, max_abs_diff, randomize_

from course_lib import (
    BOS_ID,
    PAD_ID,
    GroupedQueryAttention,
    MultiHeadAttention,
    MultiHeadLatentAttention,
    RMSNorm,
    Transformer,
    apply_rope,
    beam_search,
    causal_mask,
    greedy_decode,
    mla_sizes,
    padding_mask,
    scaled_dot_product_attention,
    set_fused,
)
from course_lib.multi_head_attention import split_heads

F64 = torch.float64
B, L, D, H = 2, 7, 16, 4
SIZES = dict(kv_lora_rank=12, qk_nope_head_dim=6, qk_rope_head_dim=4, v_head_dim=5)
VARIANTS = {
    "q_lora": dict(SIZES, q_lora_rank=10),
    "no_q_lora": SIZES,
    "no_rope": dict(SIZES, qk_rope_head_dim=0),
    "no_norm": dict(SIZES, q_lora_rank=10, latent_norm=False),
}
PADDED = torch.tensor([[5, 6, 7, 8, 9, 0, 0], [5, 6, 7, 8, 9, 10, 11]])


def _mla(dtype=F64, fused=False, **sizes):
    return set_fused(randomize_(MultiHeadLatentAttention(D, H, **(sizes or VARIANTS["q_lora"]))).to(dtype), fused)


def _in_chunks(module, x, chunks, absorb, cache, mask=None):
    """Run `module` on consecutive chunks of x through `cache`; concatenate the outputs along time."""
    outs, start = [], 0
    for size in chunks:
        chunk_mask = None if mask is None else mask[..., : start + size]
        outs.append(module(x[:, start : start + size], mask=chunk_mask, cache=cache, absorb=absorb))
        start += size
    return torch.cat(outs, dim=1)


# ---------------------------------------------------------------- absorbed == naive

@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mask_kind", ["none", "causal", "padding"])
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_absorbed_equals_naive(dtype, variant, mask_kind, fused):
    mla = _mla(dtype, fused, **VARIANTS[variant])
    x = torch.randn(B, L, D, dtype=dtype)
    mask = {"none": None, "causal": causal_mask(L), "padding": padding_mask(PADDED, PAD_ID) & causal_mask(L)}[mask_kind]
    naive, absorbed = mla(x, mask=mask), mla(x, mask=mask, absorb=True)
    assert naive.shape == (B, L, D) and naive.dtype == dtype
    assert max_abs_diff(absorbed, naive) <= TOL[dtype]


def test_absorbed_and_naive_attention_weights_agree():
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    mla(x, mask=causal_mask(L))
    naive = mla.attn_weights
    mla(x, mask=causal_mask(L), absorb=True)
    assert naive.shape == mla.attn_weights.shape == (B, H, L, L)
    assert max_abs_diff(mla.attn_weights, naive) <= TOL[F64]
    assert max_abs_diff(naive.sum(-1), torch.ones(B, H, L, dtype=F64)) <= TOL[F64]


def test_naive_path_equals_pytorch_sdpa_with_unequal_head_dims():
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    q_nope, q_rope = mla.queries(x, 0)
    c_kv, k_rope = mla.latents(x, 0)
    q = torch.cat([q_nope, q_rope], dim=-1)  # (B, H, L, 10)
    k = torch.cat([split_heads(mla.w_uk(c_kv), H), k_rope[:, None].expand(B, H, L, 4)], dim=-1)  # (B, H, L, 10)
    v = split_heads(mla.w_uv(c_kv), H)  # (B, H, L, 5): d_v != d_qk
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # scale 1/sqrt(10) by default
    expected = mla.w_o(out.transpose(1, 2).reshape(B, L, H * 5))
    assert max_abs_diff(mla(x, mask=causal_mask(L)), expected) <= TOL[F64]
    assert max_abs_diff(mla(x, mask=causal_mask(L), absorb=True), expected) <= TOL[F64]


# ---------------------------------------------------------------- cache: cached == full, both paths

@pytest.mark.parametrize("chunks", [[1] * L, [3, 1, 1, 1, 1], [2, 3, 2], [L]],
                         ids=["steps", "prefill_then_steps", "chunked", "all"])
@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_cached_decoding_equals_full_causal(dtype, chunks, absorb, fused):
    mla = _mla(dtype, fused)
    x = torch.randn(B, L, D, dtype=dtype)
    full = mla(x, mask=causal_mask(L))
    cache = mla.new_cache(B, L)
    cached = _in_chunks(mla, x, chunks, absorb, cache)
    assert cache.length == L
    assert max_abs_diff(cached, full) <= TOL[dtype]


@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
def test_chunked_prefill_at_an_offset_equals_full(absorb):
    mla = _mla()
    x = torch.randn(B, 10, D, dtype=F64)
    full = mla(x, mask=causal_mask(10))
    cache = mla.new_cache(B, 10)
    mla(x[:, :4], cache=cache, absorb=absorb)  # a prompt already in the cache
    chunk = mla(x[:, 4:7], cache=cache, absorb=absorb)  # a 3-token chunk at positions 4, 5, 6
    steps = torch.cat([mla(x[:, t : t + 1], cache=cache, absorb=absorb) for t in range(7, 10)], dim=1)
    assert max_abs_diff(chunk, full[:, 4:7]) <= TOL[F64]
    assert max_abs_diff(steps, full[:, 7:]) <= TOL[F64]


def test_the_paths_can_share_one_cache():
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    full = mla(x, mask=causal_mask(L))
    cache = mla.new_cache(B, L)
    prefill = mla(x[:, :4], cache=cache)  # naive prefill (cheaper for many queries)
    steps = torch.cat([mla(x[:, t : t + 1], cache=cache, absorb=True) for t in range(4, L)], dim=1)  # absorbed decode
    assert max_abs_diff(torch.cat([prefill, steps], dim=1), full) <= TOL[F64]


@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
def test_cached_decoding_with_padding_mask(absorb):
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    pad = padding_mask(PADDED, PAD_ID)
    full = mla(x, mask=pad & causal_mask(L))
    cached = _in_chunks(mla, x, [3, 1, 2, 1], absorb, mla.new_cache(B, L), mask=pad)
    assert max_abs_diff(cached, full) <= TOL[F64]


@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
def test_causality_changing_a_token_leaves_earlier_outputs(absorb):
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    changed = x.clone()
    changed[:, 4] += 1.0
    before, after = mla(x, mask=causal_mask(L), absorb=absorb), mla(changed, mask=causal_mask(L), absorb=absorb)
    assert max_abs_diff(before[:, :4], after[:, :4]) == 0
    assert max_abs_diff(before[:, 4:], after[:, 4:]) > 1e-3


@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
def test_fully_masked_row_gives_zeros_not_nan(absorb):
    mla = _mla()
    mask = torch.ones(1, 1, 3, 3, dtype=torch.bool)
    mask[..., 1, :] = False
    out = mla(torch.randn(1, 3, D, dtype=F64), mask=mask, absorb=absorb)
    assert not torch.isnan(out).any()
    assert max_abs_diff(out[:, 1], torch.zeros(1, D, dtype=F64)) == 0  # no bias in W^O


# ---------------------------------------------------------------- what the cache holds

@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
@pytest.mark.parametrize("variant", ["q_lora", "no_rope"])
def test_cache_bytes_are_b_t_times_latent_plus_rope_width(dtype, absorb, variant):
    mla = _mla(dtype, **VARIANTS[variant])
    d_c, d_r = mla.kv_lora_rank, mla.qk_rope_head_dim
    element = torch.tensor([], dtype=dtype).element_size()
    cache = mla.new_cache(B, 9)
    assert cache.nbytes() == 0
    for t, size in ((4, 4), (5, 1), (8, 3)):
        mla(torch.randn(B, size, D, dtype=dtype), cache=cache, absorb=absorb)
        assert cache.length == t
        assert cache.nbytes() == B * t * (d_c + d_r) * element
        assert cache.nbytes() == mla.kv_cache_elements_per_token() * B * t * element


def test_cache_holds_the_latent_and_the_rotated_shared_key_only():
    mla = _mla()
    x = torch.randn(B, 5, D, dtype=F64)
    cache = mla.new_cache(B, 8)
    mla(x[:, :3], cache=cache)
    mla(x[:, 3:], cache=cache, absorb=True)
    filled = cache.filled()
    assert set(filled) == {"c_kv", "k_rope"}
    assert filled["c_kv"].shape == (B, 5, 12) and filled["k_rope"].shape == (B, 5, 4)
    assert max_abs_diff(filled["c_kv"], mla.kv_norm(mla.w_dkv(x))) <= TOL[F64]
    assert max_abs_diff(filled["k_rope"], apply_rope(mla.w_kr(x))) <= TOL[F64]  # rotated at its own position
    assert cache.buffers["c_kv"].shape == (B, 8, 12)  # preallocated to max_len


def test_beam_reorder_then_decode_equals_full():
    mla = _mla()
    prefix, tail = torch.randn(B, 3, D, dtype=F64), torch.randn(3, 2, D, dtype=F64)
    order = torch.tensor([1, 0, 1])
    cache = mla.new_cache(B, 5)
    mla(prefix, cache=cache)
    cache.reorder(order)
    steps = torch.cat([mla(tail[:, t : t + 1], cache=cache, absorb=True) for t in range(2)], dim=1)
    full = mla(torch.cat([prefix[order], tail], dim=1), mask=causal_mask(5))
    assert max_abs_diff(steps, full[:, 3:]) <= TOL[F64]


def test_deepseek_v2_cache_table_measured_on_the_meta_device():
    """Table 1 of the paper, from cache tensors of modules built at DeepSeek-V2's sizes, with no memory spent."""
    n_h, d_h = 128, 128

    def measured(module, d_model, tokens=3):
        cache = module.new_cache(1, tokens, device="meta")
        module(torch.zeros(1, tokens, d_model, device="meta"), cache=cache)
        return sum(t.numel() for t in cache.filled().values()) // tokens

    with torch.device("meta"):
        mha = MultiHeadAttention(n_h * d_h, n_h)  # d_model = n_h * d_h gives the course's MHA d_h = 128
        gqa = GroupedQueryAttention(n_h * d_h, n_h, 8)
        mqa = GroupedQueryAttention(n_h * d_h, n_h, 1)
        mla = MultiHeadLatentAttention(5120, n_h, kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64,
                                       v_head_dim=128, q_lora_rank=1536)
    table = {"mha": measured(mha, n_h * d_h), "gqa8": measured(gqa, n_h * d_h), "mqa": measured(mqa, n_h * d_h),
             "mla": measured(mla, 5120)}
    assert table == {"mha": 2 * n_h * d_h, "gqa8": 2 * 8 * d_h, "mqa": 2 * d_h, "mla": 512 + 64}
    assert table == {"mha": 32768, "gqa8": 2048, "mqa": 256, "mla": 576}
    assert table["mla"] / (2 * d_h) == 2.25  # "GQA with 2.25 groups"
    assert [m.kv_cache_elements_per_token() for m in (mha, gqa, mqa, mla)] == list(table.values())
    assert mla.scale == 1 / math.sqrt(192)


# ---------------------------------------------------------------- why RoPE is decoupled

def test_rope_on_the_compressed_keys_breaks_absorption():
    """Rotating k^C = W^UK c puts a position-dependent matrix between q and W^UK: no fixed matrix absorbs it."""
    mla = _mla(**VARIANTS["no_q_lora"])
    x = torch.randn(1, L, D, dtype=F64)
    q_nope, _ = mla.queries(x, 0)  # (1, H, L, 6)
    c_kv, _ = mla.latents(x, 0)  # (1, L, 12)
    w_uk = mla.w_uk.weight.view(H, 6, 12)  # (H, d_h, d_c)
    k_nope = split_heads(mla.w_uk(c_kv), H)  # (1, H, L, 6)

    def absorbed(q):
        return torch.einsum("bhld,hdc->bhlc", q, w_uk) @ c_kv[:, None].transpose(-2, -1)  # (1, H, L, L)

    # without a rotation on the content part, absorbing W^UK into the query is exact
    assert max_abs_diff(absorbed(q_nope), q_nope @ k_nope.transpose(-2, -1)) <= TOL[F64]
    # RoPE on q^C and k^C: the scores need R_m^T R_n between q and W^UK, which depends on the key position n
    rotated_scores = apply_rope(q_nope) @ apply_rope(k_nope).transpose(-2, -1)
    assert max_abs_diff(absorbed(apply_rope(q_nope)), rotated_scores) > 0.1
    # the decoupled design keeps RoPE on a separate key, so absorption stays exact (see test_absorbed_equals_naive)


# ---------------------------------------------------------------- reduction to MHA

@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
def test_identity_like_projections_reduce_mla_to_mha(dtype, absorb):
    mha = randomize_(MultiHeadAttention(D, H, bias=False)).to(dtype)
    mla = MultiHeadLatentAttention(D, H, kv_lora_rank=D, qk_nope_head_dim=D // H, qk_rope_head_dim=0,
                                   v_head_dim=D // H, latent_norm=False).to(dtype)
    with torch.no_grad():
        mla.w_dkv.weight.copy_(torch.eye(D))  # c^KV = h: no compression
        mla.w_uq.weight.copy_(mha.q_proj.weight)
        mla.w_uk.weight.copy_(mha.k_proj.weight)
        mla.w_uv.weight.copy_(mha.v_proj.weight)
        mla.w_o.weight.copy_(mha.out_proj.weight)
    x = torch.randn(B, L, D, dtype=dtype)
    mask = padding_mask(PADDED, PAD_ID) & causal_mask(L)
    assert max_abs_diff(mla(x, mask=mask, absorb=absorb), mha(x, mask=mask)) <= TOL[dtype]
    cache = mla.new_cache(B, L)
    cached = _in_chunks(mla, x, [3, 1, 1, 2], absorb, cache)
    assert max_abs_diff(cached, mha(x, mask=causal_mask(L))) <= TOL[dtype]
    assert cache.nbytes() == B * L * D * x.element_size()  # the latent is h itself: half of MHA's 2 * D


# ---------------------------------------------------------------- positions

@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
@pytest.mark.parametrize("shift", [1, 5])
def test_shifting_every_position_changes_nothing(absorb, shift):
    """Tokens at positions shift..shift+L-1 (the earlier cached positions hidden by the mask) == positions 0..L-1."""
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    at_zero = mla(x, mask=causal_mask(L), absorb=absorb)
    cache = mla.new_cache(B, shift + L)
    mla(torch.randn(B, shift, D, dtype=F64), cache=cache)  # any tokens: they only move the positions on
    hide_prefix = torch.arange(shift + L) >= shift  # (shift + L,): True for the real tokens
    shifted = mla(x, mask=hide_prefix, cache=cache, absorb=absorb)  # positions shift .. shift + L - 1
    assert max_abs_diff(shifted, at_zero) <= TOL[F64]


def test_shifted_queries_and_keys_give_the_same_scores():
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    scores = []
    for offset in (0, 3, 100):
        (_, q_rope), (_, k_rope) = mla.queries(x, offset), mla.latents(x, offset)
        scores.append(q_rope @ k_rope[:, None].transpose(-2, -1))  # (B, H, L, L) rotary scores
    assert max_abs_diff(scores[1], scores[0]) <= TOL[F64]
    assert max_abs_diff(scores[2], scores[0]) <= 1e-9  # angles near 100 rad: a few ulps more


# ---------------------------------------------------------------- the softmax scale

@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
def test_softmax_scale_is_one_over_sqrt_of_nope_plus_rope_on_both_paths(absorb):
    mla = _mla()
    x = torch.randn(1, L, D, dtype=F64)
    q_nope, q_rope = mla.queries(x, 0)
    c_kv, k_rope = mla.latents(x, 0)
    raw = (q_nope @ split_heads(mla.w_uk(c_kv), H).transpose(-2, -1)
           + q_rope @ k_rope[:, None].transpose(-2, -1))  # (1, H, L, L) unscaled dot products
    mla(x, absorb=absorb)
    assert mla.scale == 1 / math.sqrt(6 + 4)
    assert max_abs_diff(mla.attn_weights, torch.softmax(raw / math.sqrt(6 + 4), dim=-1)) <= TOL[F64]
    latent_width = torch.softmax(raw / math.sqrt(12 + 4), dim=-1)  # the bug: scaling by the latent's width
    assert max_abs_diff(mla.attn_weights, latent_width) > 1e-3


# ---------------------------------------------------------------- V padding (FlashAttention's equal head dims)

@pytest.mark.parametrize("attention", ["course", "torch"])
def test_padding_v_to_the_qk_head_dim_then_slicing_equals_unpadded(dtype, attention):
    q, k = torch.randn(B, H, L, 10, dtype=dtype), torch.randn(B, H, L, 10, dtype=dtype)  # d_qk = 6 + 4
    v = torch.randn(B, H, L, 5, dtype=dtype)  # d_v = 5
    mask = causal_mask(L)

    def run(values):
        if attention == "torch":
            return F.scaled_dot_product_attention(q, k, values, attn_mask=mask)
        return scaled_dot_product_attention(q, k, values, mask)[0]

    padded = F.pad(v, (0, 10 - 5))  # zeros in the 5 extra columns: (B, H, L, 10)
    out_padded = run(padded)
    assert out_padded.shape == (B, H, L, 10)
    assert max_abs_diff(out_padded[..., 5:], torch.zeros(B, H, L, 5, dtype=dtype)) == 0  # the pad stays zero
    assert max_abs_diff(out_padded[..., :5], run(v)) <= TOL[dtype]


# ---------------------------------------------------------------- RMSNorm, sizes

def test_rms_norm_equals_torch():
    ours, theirs = randomize_(RMSNorm(12)).double(), torch.nn.RMSNorm(12, eps=1e-6).double()
    with torch.no_grad():
        theirs.weight.copy_(ours.weight)
    x = torch.randn(3, 5, 12, dtype=F64)
    assert max_abs_diff(ours(x), theirs(x)) <= TOL[F64]


def test_mla_sizes_keep_deepseek_v2_proportions():
    assert mla_sizes(512, 8) == dict(kv_lora_rank=256, qk_nope_head_dim=64, qk_rope_head_dim=32, v_head_dim=64)
    assert mla_sizes(16384, 128) == dict(kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)
    assert mla_sizes(8, 2)["qk_rope_head_dim"] == 2  # never below one rotary pair
    mla = MultiHeadLatentAttention(512, 8, **mla_sizes(512, 8))
    assert mla.kv_cache_elements_per_token() / (2 * 64) == 2.25  # GQA with 2.25 groups at any width


# ---------------------------------------------------------------- the Transformer switch

def _tiny(self_attention, norm_first=False):
    return Transformer(13, 11, d_model=8, num_heads=2, num_encoder_layers=2, num_decoder_layers=2, d_ff=16,
                       dropout=0.0, max_len=16, norm_first=norm_first, self_attention=self_attention).double().eval()


def _src_tgt():
    src = torch.tensor([[5, 6, 7, 8, PAD_ID, PAD_ID], [9, 10, 11, 12, 4, 5]])
    tgt = torch.cat([torch.full((2, 1), BOS_ID), torch.randint(3, 11, (2, 5))], dim=1)
    return src, tgt


def test_transformer_mla_swaps_only_the_decoder_self_attention():
    model = _tiny("mla")
    for layer in model.decoder.layers:
        assert isinstance(layer.self_attn, MultiHeadLatentAttention)
        assert isinstance(layer.cross_attn, MultiHeadAttention)
    assert all(isinstance(layer.self_attn, MultiHeadAttention) for layer in model.encoder.layers)
    assert all(isinstance(layer.self_attn, MultiHeadAttention) for layer in _tiny("mha").decoder.layers)
    assert model.decoder.layers[0].self_attn.kv_cache_elements_per_token() == 4 * 4 + 2


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
@pytest.mark.parametrize("chunks", [[1] * 6, [2, 3, 1]], ids=["steps", "chunked"])
def test_transformer_mla_cached_decode_equals_full_forward(norm_first, fused, chunks):
    model = set_fused(_tiny("mla", norm_first), fused)
    src, tgt = _src_tgt()
    full = model(src, tgt)
    memory, src_mask = model.encode(src)
    cache = model.new_cache(2, 6)
    outs, start = [], 0
    for size in chunks:
        outs.append(model.decode(tgt[:, start : start + size], memory, src_mask, cache))
        start += size
    assert max_abs_diff(torch.cat(outs, dim=1), full) <= TOL[F64]
    # per layer: MLA self-attention (d_c + d_h^R per target token) and MHA cross-attention (2 d_model per source)
    assert cache.nbytes() == 2 * (2 * 6 * 18 + 2 * 6 * 2 * 8) * 8


def test_transformer_mla_greedy_decode_with_and_without_cache_agree():
    model = _tiny("mla")
    src, _ = _src_tgt()
    assert torch.equal(greedy_decode(model, src, 6), greedy_decode(model, src, 6, use_cache=False))


# ---------------------------------------------------------------- which path runs: absorbed for decoding steps

@pytest.fixture
def paths(monkeypatch) -> list[str]:
    """The path ("naive" or "absorbed") every MultiHeadLatentAttention call takes, in order."""
    taken = []
    for path in ("naive", "absorbed"):
        original = getattr(MultiHeadLatentAttention, f"attend_{path}")

        def spy(self, *args, _original=original, _path=path):
            taken.append(_path)
            return _original(self, *args)

        monkeypatch.setattr(MultiHeadLatentAttention, f"attend_{path}", spy)
    return taken


def test_by_default_only_a_decoding_step_takes_the_absorbed_path(paths):
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    cache = mla.new_cache(B, L)
    mla(x, mask=causal_mask(L))  # training or a full forward: many queries
    mla(x[:, :1])  # one token, but no cache: nothing to decode from
    mla(x[:, :4], cache=cache)  # prefill: many new queries
    mla(x[:, 4:5], cache=cache)  # a decoding step: one new token over the cache
    mla(x[:, 5:6], cache=cache, absorb=False)  # an explicit choice wins
    mla.absorb_when_decoding = False  # the switch a benchmark uses to time the naive decode
    mla(x[:, 6:7], cache=cache)
    assert paths == ["naive", "naive", "naive", "absorbed", "naive", "naive"]


def test_absorb_must_be_a_bool_or_none():
    with pytest.raises(TypeError, match=re.escape("absorb must be True, False or None, got str 'yes'")):
        _mla()(torch.randn(B, L, D, dtype=F64), absorb="yes")


@pytest.mark.parametrize("search", ["greedy", "beam"])
def test_transformer_mla_decodes_absorbed_with_the_tokens_of_the_uncached_naive_path(paths, search):
    """`--attention mla` decoding: every cached step is absorbed, and the tokens equal those of recomputing the
    prefix on the naive path, in float32 as the translator decodes (the logits agree to float32 rounding)."""
    model = Transformer(40, 40, d_model=32, num_heads=4, num_encoder_layers=2, num_decoder_layers=2, d_ff=64,
                        dropout=0.0, max_len=32, self_attention="mla").eval()
    src = torch.randint(4, 40, (5, 9))  # (5, 9) source sentences
    src[1, 6:] = PAD_ID
    # greedy: an <eos> id no logit has, so every sentence decodes all 16 steps; beam: the real <eos>
    decode = (partial(greedy_decode, eos_id=-1) if search == "greedy" else partial(beam_search, beam_size=3))
    cached, cached_logits = decode(model, src, 16, return_logits=True)
    steps = len(paths) // 2  # 2 decoder layers, one call each per step
    assert paths == ["absorbed"] * (2 * steps) and steps >= 6
    paths.clear()
    recomputed, recomputed_logits = decode(model, src, 16, use_cache=False, return_logits=True)
    assert paths == ["naive"] * (2 * steps)
    assert torch.equal(cached, recomputed)
    assert max_abs_diff(cached_logits, recomputed_logits) <= TOL[torch.float32]


def test_transformer_mla_trains():
    model = _tiny("mla").float().train()
    src, tgt = _src_tgt()
    loss = F.cross_entropy(model(src, tgt).flatten(0, 1), tgt.roll(-1, dims=1).flatten())
    loss.backward()
    mla = model.decoder.layers[0].self_attn
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in mla.parameters())


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("change, exc, message", [
    (dict(qk_rope_head_dim=3), ValueError, "qk_rope_head_dim must be an even int >= 0 (RoPE rotates pairs of "
                                           "dimensions), got qk_rope_head_dim=3"),
    (dict(qk_rope_head_dim=-2), ValueError, "got qk_rope_head_dim=-2"),
    (dict(qk_rope_head_dim=4.0), TypeError, "qk_rope_head_dim must be an int, got float 4.0"),
    (dict(kv_lora_rank=0), ValueError, "kv_lora_rank must be a positive int, got kv_lora_rank=0"),
    (dict(qk_nope_head_dim=0), ValueError, "qk_nope_head_dim must be a positive int, got qk_nope_head_dim=0"),
    (dict(v_head_dim=-1), ValueError, "v_head_dim must be a positive int, got v_head_dim=-1"),
    (dict(q_lora_rank=0), ValueError, "q_lora_rank must be a positive int, got q_lora_rank=0"),
    (dict(num_heads=0), ValueError, "num_heads must be a positive int, got num_heads=0"),
    (dict(dropout=1.5), ValueError, "dropout must be in [0, 1), got dropout=1.5"),
])
def test_bad_sizes_raise(change, exc, message):
    args = dict(d_model=D, num_heads=H, **SIZES)
    with pytest.raises(exc, match=re.escape(message)):
        MultiHeadLatentAttention(**{**args, **change})


def test_bad_inputs_raise():
    mla = MultiHeadLatentAttention(D, H, **SIZES)
    with pytest.raises(ValueError, match=re.escape("query must be (batch, length, d_model=16), got shape (2, 3, 8)")):
        mla(torch.zeros(2, 3, 8))
    with pytest.raises(ValueError, match=re.escape("mask of shape (3, 3) cannot broadcast to the attention scores "
                                                   "of shape (2, 4, 2, 2)")):
        mla(torch.zeros(2, 2, D), mask=torch.ones(3, 3, dtype=torch.bool), absorb=True)
    with pytest.raises(TypeError, match="mask must be a bool tensor"):
        mla(torch.zeros(2, 2, D), mask=torch.ones(2, 2))
    cache = mla.new_cache(2, 3)
    mla(torch.zeros(2, 2, D), cache=cache)
    with pytest.raises(ValueError, match=re.escape("max_len=3 positions; appending 2 to 2 needs 4")):
        mla(torch.zeros(2, 2, D), cache=cache, absorb=True)


# ---------------------------------------------------------------- the shared call signature

@pytest.mark.parametrize("absorb", [False, True], ids=["naive", "absorbed"])
def test_shared_signature_key_and_value_may_be_the_query(absorb):
    mla = _mla()
    x = torch.randn(B, L, D, dtype=F64)
    expected = mla(x, mask=causal_mask(L), absorb=absorb)
    assert torch.equal(mla(x, x, mask=causal_mask(L), absorb=absorb), expected)
    assert torch.equal(mla(x, x, x, causal_mask(L), absorb=absorb), expected)  # forward(query, key, value, mask)
    assert torch.equal(mla(query=x, mask=causal_mask(L), absorb=absorb), expected)
    cache = mla.new_cache(B, L)
    tokens = [x[:, t : t + 1] for t in range(L)]
    steps = torch.cat([mla(token, token, cache=cache, absorb=absorb) for token in tokens], dim=1)
    assert max_abs_diff(steps, expected) <= TOL[F64]


@pytest.mark.parametrize("key, value, name", [("other", None, "key"), (None, "other", "value"),
                                              ("mask", None, "key")], ids=["key", "value", "positional_mask"])
def test_a_key_or_value_other_than_the_query_raises(key, value, name):
    mla = _mla()
    x = torch.randn(B, 3, D, dtype=F64)
    given = {"other": torch.randn(B, 3, D, dtype=F64), "mask": causal_mask(3), None: None}
    message = f"MultiHeadLatentAttention is self-attention only: {name} must be None or the query itself"
    with pytest.raises(ValueError, match=re.escape(message)):
        mla(x, given[key], given[value])


def test_bad_switches_raise():
    with pytest.raises(ValueError, match=re.escape("self_attention must be one of ['mha', 'mla'], got "
                                                   "self_attention='gqa'")):
        _tiny("gqa")
    with pytest.raises(ValueError, match=re.escape("d_model=10 is not divisible by num_heads=3")):
        mla_sizes(10, 3)
