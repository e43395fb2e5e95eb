"""Every bad input raises ValueError/TypeError with a message naming the argument, expected and actual value."""

import re

import pytest
import torch
from tolerances import max_abs_diff
from torch import nn

from course_lib import (
    CrossAttentionCache,
    Decoder,
    Encoder,
    EncoderLayer,
    GroupedQueryAttention,
    KVCache,
    LayerNorm,
    MultiHeadAttention,
    MultiHeadLatentAttention,
    PositionalEncoding,
    PositionwiseFeedForward,
    RMSNorm,
    TokenEmbedding,
    Transformer,
    apply_rope,
    apply_rope_interleaved,
    causal_mask,
    expand_kv_heads,
    fused_attention,
    mla_sizes,
    padding_mask,
    rotate_half,
    scaled_dot_product_attention,
    set_fused,
    sinusoidal_positional_encoding,
)
from course_lib.interop import from_torch, from_torch_mask


def _raises(exc, message):
    """pytest.raises matching `message` literally."""
    return pytest.raises(exc, match=re.escape(message))


def _tiny_transformer(**kwargs):
    sizes = dict(d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=16, max_len=8)
    return Transformer(10, 10, **{**sizes, **kwargs})


# ---------------------------------------------------------------- sizes

def test_d_model_not_divisible_by_num_heads():
    with _raises(ValueError, "d_model=10 is not divisible by num_heads=3"):
        MultiHeadAttention(10, 3)
    with _raises(ValueError, "d_model=10 is not divisible by num_heads=3"):
        EncoderLayer(10, 3, 16)
    with _raises(ValueError, "d_model=10 is not divisible by num_heads=3"):
        _tiny_transformer(d_model=10, num_heads=3)


@pytest.mark.parametrize("build, message", [
    (lambda: MultiHeadAttention(8, 0), "num_heads must be a positive int, got num_heads=0"),
    (lambda: MultiHeadAttention(-8, 2), "d_model must be a positive int, got d_model=-8"),
    (lambda: LayerNorm(0), "d_model must be a positive int, got d_model=0"),
    (lambda: PositionwiseFeedForward(8, 0), "d_ff must be a positive int, got d_ff=0"),
    (lambda: TokenEmbedding(0, 8), "vocab_size must be a positive int, got vocab_size=0"),
    (lambda: Encoder(0, 8, 2, 16), "num_layers must be a positive int, got num_layers=0"),
    (lambda: Decoder(0, 8, 2, 16), "num_layers must be a positive int, got num_layers=0"),
    (lambda: sinusoidal_positional_encoding(0, 8), "max_len must be a positive int, got max_len=0"),
    (lambda: sinusoidal_positional_encoding(8, 0), "d_model must be a positive int, got d_model=0"),
    (lambda: causal_mask(0), "size must be a positive int, got size=0"),
    (lambda: causal_mask(3, offset=-1), "offset must be >= 0, got offset=-1"),
])
def test_sizes_must_be_positive(build, message):
    with _raises(ValueError, message):
        build()


@pytest.mark.parametrize("build, message", [
    (lambda: MultiHeadAttention(8.0, 2), "d_model must be an int, got float 8.0"),
    (lambda: MultiHeadAttention(8, True), "num_heads must be an int, got bool True"),
    (lambda: causal_mask(2.5), "size must be an int, got float 2.5"),
])
def test_sizes_must_be_ints(build, message):
    with _raises(TypeError, message):
        build()


# ---------------------------------------------------------------- attention inputs

def test_query_key_batch_mismatch():
    mha = MultiHeadAttention(8, 2)
    with _raises(ValueError, "query and key must have the same batch size, got 2 and 3"):
        mha(torch.randn(2, 4, 8), torch.randn(3, 5, 8))


@pytest.mark.parametrize("name, query, key, shape", [
    ("query", (2, 4, 6), (2, 4, 8), (2, 4, 6)),
    ("key", (2, 4, 8), (2, 4, 6), (2, 4, 6)),
    ("query", (4, 8), None, (4, 8)),
])
def test_attention_inputs_must_be_batch_length_d_model(name, query, key, shape):
    mha = MultiHeadAttention(8, 2)
    with _raises(ValueError, f"{name} must be (batch, length, d_model=8), got shape {shape}"):
        mha(torch.randn(*query), None if key is None else torch.randn(*key))


def test_q_and_k_must_share_d_k():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 6), torch.randn(2, 5, 6)
    message = "q and k must share the last dim d_k, got q (2, 3, 4) and k (2, 5, 6)"
    for fn in (scaled_dot_product_attention, fused_attention):
        with _raises(ValueError, message):
            fn(q, k, v)


def test_k_and_v_must_have_the_same_length():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 5, 4), torch.randn(2, 6, 4)
    message = "k and v must have the same length Lk, got k (2, 5, 4) and v (2, 6, 4)"
    for fn in (scaled_dot_product_attention, fused_attention):
        with _raises(ValueError, message):
            fn(q, k, v)


# ---------------------------------------------------------------- masks

def test_mask_that_cannot_broadcast_names_both_shapes():
    q, k, v = torch.randn(2, 1, 4, 8), torch.randn(2, 1, 5, 8), torch.randn(2, 1, 5, 8)
    bad = torch.ones(3, 4, dtype=torch.bool)
    message = "mask of shape (3, 4) cannot broadcast to the attention scores of shape (2, 1, 4, 5)"
    for fn in (scaled_dot_product_attention, fused_attention):
        with _raises(ValueError, message):
            fn(q, k, v, bad)


def test_mask_that_would_grow_the_scores_is_rejected():
    q = k = v = torch.randn(2, 1, 4, 8)
    bad = torch.ones(3, 2, 1, 4, 4, dtype=torch.bool)  # broadcasts, but to a bigger shape than the scores
    with _raises(ValueError, "mask of shape (3, 2, 1, 4, 4) cannot broadcast to the attention scores of shape"):
        scaled_dot_product_attention(q, k, v, bad)


def test_multi_head_attention_reports_a_bad_mask():
    mha = MultiHeadAttention(8, 2)
    with _raises(ValueError, "mask of shape (2, 1, 1, 3) cannot broadcast to the attention scores "
                             "of shape (2, 2, 4, 4)"):
        mha(torch.randn(2, 4, 8), mask=torch.ones(2, 1, 1, 3, dtype=torch.bool))


@pytest.mark.parametrize("dtype", [torch.float32, torch.long, torch.uint8])
def test_non_bool_mask(dtype):
    q = k = v = torch.randn(1, 1, 3, 4)
    mask = torch.ones(3, 3, dtype=dtype)
    message = f"mask must be a bool tensor (True = may attend), got dtype {dtype}"
    for fn in (scaled_dot_product_attention, fused_attention):
        with _raises(TypeError, message):
            fn(q, k, v, mask)
    with _raises(TypeError, message):
        MultiHeadAttention(4, 2)(torch.randn(1, 3, 4), mask=mask)


def test_padding_mask_needs_batch_and_length():
    with _raises(ValueError, "tokens must be (batch, length), got shape (4,)"):
        padding_mask(torch.tensor([1, 2, 0, 0]), 0)


def test_float_torch_mask_with_other_values():
    with _raises(ValueError, "a float mask must hold only 0 (attend) and -inf (blocked)"):
        from_torch_mask(torch.tensor([[0.0, -1.0]]))


# ---------------------------------------------------------------- positions

def test_positional_encoding_past_max_len():
    pe = PositionalEncoding(8, max_len=5)
    with _raises(ValueError, "positions 0..5 run past max_len=5"):
        pe(torch.zeros(1, 6, 8))
    with _raises(ValueError, "positions 3..5 run past max_len=5"):
        pe(torch.zeros(1, 3, 8), offset=3)
    with _raises(ValueError, "offset must be >= 0, got offset=-1"):
        pe(torch.zeros(1, 3, 8), offset=-1)


@pytest.mark.parametrize("offset, name", [(1.0, "float 1.0"), (True, "bool True"), (torch.tensor(1), "Tensor")])
def test_positional_encoding_offset_must_be_an_int(offset, name):
    with _raises(TypeError, f"offset must be an int, got {name}"):
        PositionalEncoding(8, max_len=5)(torch.zeros(1, 2, 8), offset=offset)


def test_transformer_target_longer_than_max_len():
    model = _tiny_transformer().eval()
    with _raises(ValueError, "run past max_len=8"):
        model(torch.tensor([[4, 5]]), torch.ones(1, 9, dtype=torch.long))


# ---------------------------------------------------------------- LayerNorm eps and Transformer pad_id

def test_layer_norm_eps_must_be_a_number_at_least_zero():
    with _raises(ValueError, "eps must be >= 0, got eps=-1"):
        LayerNorm(8, eps=-1)
    with _raises(ValueError, "eps must be >= 0, got eps=nan"):
        LayerNorm(8, eps=float("nan"))
    with _raises(TypeError, "eps must be a number, got str '1e-5'"):
        LayerNorm(8, eps="1e-5")
    assert LayerNorm(8, eps=0).eps == 0  # allowed: nn.LayerNorm's formula with nothing added


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(pad_id=10), ValueError, "pad_id must be a token id of both vocabularies, in [0, 10) for "
                                  "src_vocab_size=12 and tgt_vocab_size=10, got pad_id=10"),
    (dict(pad_id=-1), ValueError, "pad_id must be >= 0, got pad_id=-1"),
    (dict(pad_id=0.0), TypeError, "pad_id must be an int, got float 0.0"),
])
def test_transformer_pad_id_must_be_in_both_vocabularies(kwargs, exc, message):
    sizes = dict(d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=16, max_len=8)
    with _raises(exc, message):
        Transformer(12, 10, **sizes, **kwargs)
    assert Transformer(12, 10, **sizes, pad_id=9).pad_id == 9


@pytest.mark.parametrize("src, tgt, message", [
    (0, 10, "src_vocab_size must be a positive int, got src_vocab_size=0"),
    (10, -2, "tgt_vocab_size must be a positive int, got tgt_vocab_size=-2"),
])
def test_transformer_vocab_sizes_are_named(src, tgt, message):
    with _raises(ValueError, message):
        Transformer(src, tgt, d_model=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=16)


# ---------------------------------------------------------------- token ids

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bool])
def test_non_integer_token_ids(dtype):
    emb = TokenEmbedding(10, 8)
    with _raises(TypeError, f"tokens must hold integer token ids (torch.long), got dtype {dtype}"):
        emb(torch.ones(1, 3, dtype=dtype))


def test_token_ids_must_be_a_tensor():
    with _raises(TypeError, "tokens must be a tensor of token ids, got list"):
        TokenEmbedding(10, 8)([[1, 2]])


@pytest.mark.parametrize("bad", [10, 11, -1])
def test_token_id_outside_the_vocabulary(bad):
    emb = TokenEmbedding(10, 8)
    message = f"tokens holds token id {bad}, outside the vocabulary: ids must be in [0, 10) for vocab_size=10"
    with _raises(ValueError, message):
        emb(torch.tensor([[1, bad, 2]]))


def test_transformer_checks_source_and_target_ids():
    model = _tiny_transformer().eval()
    ok = torch.tensor([[1, 4, 5]])
    with _raises(ValueError, "vocab_size=10"):
        model(torch.tensor([[4, 10]]), ok)
    with _raises(ValueError, "vocab_size=10"):
        model(ok, torch.tensor([[1, -3]]))
    with _raises(TypeError, "got dtype torch.float32"):
        model(ok.float(), ok)


# ---------------------------------------------------------------- activation and dropout

@pytest.mark.parametrize("build", [
    lambda: PositionwiseFeedForward(8, 16, activation="tanh"),
    lambda: EncoderLayer(8, 2, 16, activation="tanh"),
    lambda: Decoder(1, 8, 2, 16, activation="tanh"),
    lambda: _tiny_transformer(activation="tanh"),
])
def test_bad_activation(build):
    with _raises(ValueError, "activation must be one of ['gelu', 'relu'], got activation='tanh'"):
        build()


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5])
@pytest.mark.parametrize("build", [
    lambda p: MultiHeadAttention(8, 2, dropout=p),
    lambda p: PositionwiseFeedForward(8, 16, dropout=p),
    lambda p: PositionalEncoding(8, dropout=p),
    lambda p: Encoder(1, 8, 2, 16, dropout=p),
    lambda p: _tiny_transformer(dropout=p),
], ids=["mha", "ffn", "positions", "encoder", "transformer"])
def test_dropout_out_of_range(build, rate):
    with _raises(ValueError, f"dropout must be in [0, 1), got dropout={rate}"):
        build(rate)


# ---------------------------------------------------------------- KV cache

def test_cache_batch_size_mismatch():
    cache = KVCache(batch_size=2, max_len=4)
    with _raises(ValueError, "the cache was made for batch_size=2, got k with batch 3"):
        cache.append(k=torch.zeros(3, 1, 4))


@pytest.mark.parametrize("build, exc, message", [
    (lambda: KVCache(0, -3), ValueError, "batch_size must be a positive int, got batch_size=0"),
    (lambda: KVCache(2, -3), ValueError, "max_len must be a positive int, got max_len=-3"),
    (lambda: KVCache(2, 4.0), TypeError, "max_len must be an int, got float 4.0"),
    (lambda: KVCache(2, 4, dtype="bfloat16"), TypeError, "dtype must be a torch.dtype or None, got str 'bfloat16'"),
    (lambda: MultiHeadAttention(8, 2).new_cache(0, 4), ValueError,
     "batch_size must be a positive int, got batch_size=0"),
    (lambda: MultiHeadAttention(8, 2).new_cache(1, 0), ValueError, "max_len must be a positive int, got max_len=0"),
    (lambda: _tiny_transformer().new_cache(2, -1), ValueError, "max_len must be a positive int, got max_len=-1"),
], ids=["batch", "max_len", "float_max_len", "dtype", "new_cache_batch", "new_cache_max_len", "transformer"])
def test_cache_sizes(build, exc, message):
    with _raises(exc, message):
        build()
    assert CrossAttentionCache(2).max_len is None  # sized by the first append, the memory


def test_cache_checks_every_append():
    cache = KVCache(batch_size=2, max_len=4)
    cache.append(k=torch.zeros(2, 1, 4), v=torch.zeros(2, 1, 4))
    with _raises(ValueError, "the cache was made for batch_size=2, got v with batch 1"):
        cache.append(k=torch.zeros(2, 1, 4), v=torch.zeros(1, 1, 4))
    with _raises(ValueError, "the cache holds the tensors ['k', 'v'], got ['k']"):
        cache.append(k=torch.zeros(2, 1, 4))
    with _raises(ValueError, "the cache holds k as (2, T, 4) for T positions, got k of shape (2, 1, 1)"):
        cache.append(k=torch.zeros(2, 1, 1), v=torch.zeros(2, 1, 4))
    with _raises(ValueError, "every tensor appended must hold the same number of positions (dim -2), "
                             "got 1 and v with 2"):
        cache.append(k=torch.zeros(2, 1, 4), v=torch.zeros(2, 2, 4))
    with _raises(ValueError, "k must be (batch, ..., time, dim), got shape (2,)"):
        cache.append(k=torch.zeros(2), v=torch.zeros(2, 1, 4))
    with _raises(ValueError, "append needs at least one named tensor, e.g. cache.append(k=k, v=v), got none"):
        cache.append()
    assert cache.length == 1  # no rejected append wrote anything


def test_cache_overflow():
    cache = KVCache(batch_size=1, max_len=3)
    cache.append(k=torch.zeros(1, 2, 4))
    with _raises(ValueError, "the cache holds max_len=3 positions; appending 2 to 2 needs 4"):
        cache.append(k=torch.zeros(1, 2, 4))


# ---------------------------------------------------------------- from_torch

@pytest.mark.parametrize("module, name", [
    (nn.MultiheadAttention(8, 2), "nn.MultiheadAttention"),
    (nn.TransformerEncoderLayer(8, 2, 16), "TransformerEncoderLayer"),
    (nn.TransformerDecoderLayer(8, 2, 16), "TransformerDecoderLayer"),
    (nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16), 2, enable_nested_tensor=False),
     "TransformerEncoder"),
    (nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16), 2), "TransformerDecoder"),
], ids=["mha", "encoder_layer", "decoder_layer", "encoder", "decoder"])
def test_from_torch_needs_batch_first(module, name):
    with _raises(ValueError, f"{name} must be built with batch_first=True to convert (the course is batch first)"):
        from_torch(module)


@pytest.mark.parametrize("module, name", [
    (nn.Linear(8, 8), "Linear"),
    (nn.Transformer(8, 2, 1, 1, 16, batch_first=True), "Transformer"),
    (nn.LayerNorm(8), "LayerNorm"),
])
def test_from_torch_unsupported_module(module, name):
    with _raises(TypeError, f"from_torch converts nn.MultiheadAttention and nn.Transformer{{Encoder,Decoder}}"
                            f"[Layer], got {name}"):
        from_torch(module)


def test_from_torch_attention_with_other_key_dims():
    with _raises(ValueError, "only nn.MultiheadAttention with kdim == vdim == embed_dim converts"):
        from_torch(nn.MultiheadAttention(8, 2, kdim=4, vdim=4, batch_first=True))


def test_from_torch_unsupported_activation():
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=torch.tanh, batch_first=True)
    with _raises(ValueError, "only relu and gelu activations convert, got"):
        from_torch(layer)


@pytest.mark.parametrize("kwargs", [dict(add_bias_kv=True), dict(add_zero_attn=True)])
def test_from_torch_attention_with_extra_key_positions(kwargs):
    """These add a key/value position the course attention lacks: refuse rather than convert silently wrong."""
    with _raises(ValueError, "with add_bias_kv=True or add_zero_attn=True does not convert"):
        from_torch(nn.MultiheadAttention(8, 2, batch_first=True, **kwargs))


def test_from_torch_approximate_gelu():
    layer = nn.TransformerEncoderLayer(8, 2, 16, activation=nn.GELU(approximate="tanh"), batch_first=True)
    with _raises(ValueError, "only the exact gelu converts, got GELU(approximate='tanh')"):
        from_torch(layer)


@pytest.mark.parametrize("module, name", [
    (nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, bias=False), "TransformerEncoderLayer"),
    (nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, batch_first=True, bias=False), 1),
     "TransformerDecoder"),
], ids=["layer", "stack"])
def test_from_torch_layers_without_bias(module, name):
    with _raises(ValueError, f"{name} must be built with bias=True to convert (course layers always have biases)"):
        from_torch(module)


def test_from_torch_stack_final_norm_without_bias():
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    stack = nn.TransformerEncoder(layer, 1, norm=nn.LayerNorm(8, bias=False), enable_nested_tensor=False)
    with _raises(ValueError, "convert TransformerEncoder whose final norm is an nn.LayerNorm with a bias"):
        from_torch(stack)


def test_cached_self_attention_checks_the_mask_first():
    mha = MultiHeadAttention(8, 2)
    with _raises(TypeError, "mask must be a bool tensor (True = may attend), got dtype torch.float32"):
        mha(torch.randn(1, 2, 8), mask=torch.ones(1, 1, 1, 2), cache=mha.new_cache(1, 4))
    cache = mha.new_cache(1, 4)
    mha(torch.randn(1, 1, 8), cache=cache)
    # one cached position + two new ones: the mask must cover 3 keys
    with _raises(ValueError, "mask of shape (1, 1, 1, 2) cannot broadcast to the attention scores "
                             "of shape (1, 2, 2, 3)"):
        mha(torch.randn(1, 2, 8), mask=torch.ones(1, 1, 1, 2, dtype=torch.bool), cache=cache)
    assert cache.length == 1  # nothing was appended by the rejected call


# ================================================================ issue 16: the API's bad inputs
# Each of these gave a silently wrong answer or a raw torch error (IndexError, AttributeError, a dtype
# RuntimeError) before; each now raises one ValueError/TypeError naming the argument.

# ---------------------------------------------------------------- the cache's kind

def _steps_with_a_separate_key(module, x, cache):
    """The issue's example: equal but distinct key and value tensors at every step (x[:, t:t+1] makes a new view)."""
    for t in range(x.size(1)):
        module(x[:, t : t + 1], x[:, t : t + 1], x[:, t : t + 1], cache=cache)


@pytest.mark.parametrize("kind", ["mha", "gqa"])
def test_a_self_attention_cache_refuses_a_separate_key(kind):
    module = MultiHeadAttention(8, 2) if kind == "mha" else GroupedQueryAttention(8, 4, 2)
    cache = module.new_cache(2, 4)
    message = ("a KVCache caches self-attention, whose keys and values come from the query: key must be None or "
               "the query itself, got another Tensor (attention on a memory takes a CrossAttentionCache)")
    with _raises(ValueError, message):  # used to be read as cross-attention on a one-position memory
        _steps_with_a_separate_key(module, torch.randn(2, 4, 8), cache)
    x = torch.randn(2, 1, 8)
    with _raises(ValueError, "value must be None or the query itself, got another Tensor"):
        module(x, x, x.clone(), cache=cache)
    assert cache.length == 0  # nothing was appended by the refused calls


@pytest.mark.parametrize("kind", ["mha", "gqa"])
def test_a_cross_attention_cache_needs_the_memory_as_key(kind):
    module = MultiHeadAttention(8, 2) if kind == "mha" else GroupedQueryAttention(8, 4, 2)
    with _raises(ValueError, "a CrossAttentionCache holds the keys and values of a memory, so key must be the memory "
                             "(attn(x, memory, cache=cache)), got key=None"):
        module(torch.randn(2, 1, 8), cache=CrossAttentionCache(2))


def test_latent_attention_refuses_a_cross_attention_cache():
    mla = MultiHeadLatentAttention(8, 2, **mla_sizes(8, 2))
    with _raises(ValueError, "so key must be the memory (attn(x, memory, cache=cache)), got key=None"):
        mla(torch.randn(2, 1, 8), cache=CrossAttentionCache(2))


def test_a_filled_cross_attention_cache_refuses_another_memory():
    mha, cache = MultiHeadAttention(8, 2), CrossAttentionCache(2)
    mha(torch.randn(2, 1, 8), torch.randn(2, 5, 8), cache=cache)
    with _raises(ValueError, "this CrossAttentionCache holds a memory of 5 positions, got key of shape (2, 7, 8): "
                             "a new memory needs a new CrossAttentionCache"):
        mha(torch.randn(2, 1, 8), torch.randn(2, 7, 8), cache=cache)  # used to attend to the old memory silently
    with _raises(ValueError, "the cache was made for batch_size=2, got key with batch 1"):
        mha(torch.randn(1, 1, 8), torch.randn(1, 5, 8), cache=cache)  # used to broadcast the old memory's batch


def test_a_self_attention_cache_needs_max_len():
    with _raises(TypeError, "max_len must be an int, the positions this self-attention cache can hold, got None "
                            "(a cross-attention cache, sized by its memory, is CrossAttentionCache(batch_size))"):
        MultiHeadAttention(8, 2).new_cache(2, None)


def test_a_decoder_needs_its_cache_group():
    dec, x, memory = Decoder(2, 8, 2, 16).eval(), torch.randn(2, 1, 8), torch.randn(2, 5, 8)
    with _raises(TypeError, "cache must be the CacheGroup of Decoder.new_cache(batch_size, max_len), got KVCache"):
        dec(x, memory, cache=KVCache(2, 4))
    with _raises(ValueError, "cache must be the CacheGroup of Decoder.new_cache(batch_size, max_len), holding [0, 1], "
                             "got a CacheGroup holding ['self_attn', 'cross_attn']"):
        dec(x, memory, cache=dec.layers[0].new_cache(2, 4))
    with _raises(TypeError, "cache must be the CacheGroup of DecoderLayer.new_cache(batch_size, max_len), got KVCache"):
        dec.layers[0](x, memory, cache=KVCache(2, 4))
    with _raises(TypeError, "cache must be one attention module's cache, a KVCache (self-attention) or a "
                            "CrossAttentionCache, got CacheGroup"):
        dec.layers[0].self_attn(x, cache=dec.layers[0].new_cache(2, 4))


# ---------------------------------------------------------------- reorder

@pytest.mark.parametrize("make", [lambda: KVCache(2, 4), lambda: _tiny_transformer().new_cache(2, 4)],
                         ids=["cache", "group"])
@pytest.mark.parametrize("indices, exc, message", [
    (torch.tensor([0, 2]), ValueError,
     "indices holds row 2, outside the batch: rows must be in [0, 2) for batch_size=2"),
    (torch.tensor([-1, 0]), ValueError,
     "indices holds row -1, outside the batch: rows must be in [0, 2) for batch_size=2"),
    (torch.tensor([0.0, 1.0]), TypeError, "indices must hold integer rows (torch.long), got dtype torch.float32"),
    ([0, 1], TypeError, "indices must be a tensor of rows, got list"),
    (torch.tensor([], dtype=torch.long), ValueError,
     "indices must be a non-empty 1-D tensor, the rows of the new batch, got shape (0,)"),
    (torch.tensor([[0, 1]]), ValueError, "indices must be a non-empty 1-D tensor, the rows of the new batch, "
                                         "got shape (1, 2)"),
], ids=["past_the_end", "negative", "float", "list", "empty", "2d"])
def test_reorder_checks_its_indices(make, indices, exc, message):
    cache = make()
    with _raises(exc, message):
        cache.reorder(indices)
    assert cache.batch_size == 2


# ---------------------------------------------------------------- attention inputs

def test_value_batch_must_match_the_query():
    x = torch.randn(2, 3, 8)
    with _raises(ValueError, "query and value must have the same batch size, got 2 and 1"):
        MultiHeadAttention(8, 2)(x, x, x[:1])  # used to broadcast the one value row to both queries


@pytest.mark.parametrize("value, message", [
    ((2, 3, 5), "value must be (batch, length, d_model=8), got shape (2, 3, 5)"),
    ((2, 4, 8), "value must have the key's length 3, got value of shape (2, 4, 8) and key of shape (2, 3, 8)"),
], ids=["width", "length"])
def test_value_must_fit_the_key(value, message):
    x = torch.randn(2, 3, 8)
    with _raises(ValueError, message):
        MultiHeadAttention(8, 2)(x, x, torch.randn(*value))


@pytest.mark.parametrize("query, key, message", [
    (torch.ones(2, 3, 8, dtype=torch.long), None, "query must be a floating-point tensor, got dtype torch.int64"),
    (torch.randn(2, 3, 8, dtype=torch.float64), None,
     "query has dtype torch.float64, the module's weights torch.float32: give them one dtype (.to()), "
     "or run under torch.autocast"),
    (torch.randn(2, 3, 8), torch.randn(2, 3, 8, dtype=torch.float64),
     "key has dtype torch.float64, the module's weights torch.float32"),
], ids=["integer_query", "float64_query", "float64_key"])
def test_attention_dtypes(query, key, message):
    with _raises(TypeError, message):
        MultiHeadAttention(8, 2)(query, key)


def test_latent_attention_dtypes():
    mla = MultiHeadLatentAttention(8, 2, **mla_sizes(8, 2))
    with _raises(TypeError, "query has dtype torch.float64, the module's weights torch.float32"):
        mla(torch.randn(2, 3, 8, dtype=torch.float64))


@pytest.mark.parametrize("q, k, exc, message", [
    (torch.randn(1, 2, 4), torch.randn(1, 2, 4, dtype=torch.float64), TypeError,
     "k has dtype torch.float64, q torch.float32"),
    (torch.ones(1, 2, 4, dtype=torch.long), torch.ones(1, 2, 4, dtype=torch.long), TypeError,
     "q must be a floating-point tensor, got dtype torch.int64"),
    (torch.randn(1, 2, 4), torch.randn(4), ValueError, "k must be (..., length, dim), got shape (4,)"),
], ids=["mixed", "integer", "one_dim"])
def test_attention_function_dtypes_and_dims(q, k, exc, message):
    for fn in (scaled_dot_product_attention, fused_attention):
        with _raises(exc, message):
            fn(q, k, k)


@pytest.mark.parametrize("kwargs, message", [
    (dict(dropout_p=-0.1), "dropout_p must be in [0, 1), got dropout_p=-0.1"),
    (dict(dropout_p=1.0), "dropout_p must be in [0, 1), got dropout_p=1.0"),
    (dict(scale=float("nan")), "scale must be a finite number > 0, got scale=nan"),
    (dict(scale=float("inf")), "scale must be a finite number > 0, got scale=inf"),
    (dict(scale=0.0), "scale must be a finite number > 0, got scale=0.0"),
    (dict(scale=-0.5), "scale must be a finite number > 0, got scale=-0.5"),
], ids=["negative_dropout", "dropout_one", "nan_scale", "inf_scale", "zero_scale", "negative_scale"])
def test_attention_function_dropout_and_scale(kwargs, message):
    q = torch.randn(1, 2, 4)
    for fn in (scaled_dot_product_attention, fused_attention):
        with _raises(ValueError, message):  # a negative rate and a NaN scale used to run (NaN out)
            fn(q, q, q, **kwargs)


def test_mixed_dtypes_under_autocast_are_allowed():
    """Under torch.autocast a bf16 query meets fp32 weights by design: no dtype error there."""
    mha = MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = mha(x.bfloat16(), x)
    assert out.dtype == torch.bfloat16 and out.shape == (2, 3, 8)


@pytest.mark.parametrize("mask", [torch.tensor([True, True, False]), torch.tensor(True)], ids=["1d", "0d"])
def test_fused_attention_takes_every_mask_check_mask_accepts(mask):
    q, k, v = torch.randn(2, 1, 4, 8), torch.randn(2, 1, 3, 8), torch.randn(2, 1, 3, 8)
    expected, _ = scaled_dot_product_attention(q, k, v, mask)
    assert max_abs_diff(fused_attention(q, k, v, mask), expected) <= 1e-6  # used to raise IndexError
    mha, x = MultiHeadAttention(8, 2).eval(), torch.randn(2, 3, 8)
    explicit = mha(x, mask=mask)
    assert max_abs_diff(set_fused(mha)(x, mask=mask), explicit) <= 1e-6


@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_grouped_query_attention_on_an_empty_batch(fused):
    gqa = set_fused(GroupedQueryAttention(8, 4, 2), fused)
    out = gqa(torch.randn(0, 3, 8))  # used to fail in a reshape, as MultiHeadAttention does not
    assert out.shape == (0, 3, 8)


@pytest.mark.parametrize("x, num_heads, message", [
    (torch.randn(1, 2, 3, 4), 3, "num_heads=3 is not divisible by x.size(1)=2"),
    (torch.randn(2, 3, 4), 4, "x must be (batch, num_kv_heads >= 1, length, d_k), got shape (2, 3, 4)"),
], ids=["not_divisible", "three_dims"])
def test_expand_kv_heads_checks_the_head_count(x, num_heads, message):
    with _raises(ValueError, message):
        expand_kv_heads(x, num_heads)


# ---------------------------------------------------------------- LayerNorm

@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
@pytest.mark.parametrize("x, exc, message", [
    (torch.randn(2, 1), ValueError, "x must be (..., d_model=8), got shape (2, 1)"),
    (torch.randn(2, 5), ValueError, "x must be (..., d_model=8), got shape (2, 5)"),
    (torch.ones(2, 8, dtype=torch.long), TypeError, "x must be a floating-point tensor, got dtype torch.int64"),
], ids=["last_dim_1", "width_5", "integer"])
def test_layer_norm_input(fused, x, exc, message):
    with _raises(exc, message):  # a last dim of 1 used to return the bias broadcast to 8
        set_fused(LayerNorm(8), fused)(x)


def test_rms_norm_input_width():
    with _raises(ValueError, "x must be (..., dim=8), got shape (2, 1)"):
        RMSNorm(8)(torch.randn(2, 1))


# ---------------------------------------------------------------- positions and RoPE

def test_positional_encoding_needs_floating_point_input():
    with _raises(TypeError, "x must be a floating-point tensor, got dtype torch.int64"):
        PositionalEncoding(8)(torch.ones(1, 3, 8, dtype=torch.long))  # used to truncate the encoding to ints


@pytest.mark.parametrize("fn", [apply_rope, apply_rope_interleaved])
def test_rope_input(fn):
    with _raises(TypeError, "x must be a floating-point tensor, got dtype torch.int64"):
        fn(torch.ones(1, 3, 4, dtype=torch.long))  # used to return zeros
    with _raises(ValueError, "x must be (..., length, dim), time on dim -2, got shape (4,)"):
        fn(torch.randn(4))


def test_rotate_half_needs_pairs():
    with _raises(ValueError, "RoPE rotates pairs of dimensions, so the last dim must be even, got x.size(-1)=3"):
        rotate_half(torch.randn(2, 3))


@pytest.mark.parametrize("base", [0, -1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("fn", [apply_rope, apply_rope_interleaved])
def test_rope_base_must_be_positive(fn, base):
    with _raises(ValueError, f"base must be a finite number > 0, got base={base}"):  # used to give NaN
        fn(torch.randn(1, 3, 4), base=base)


def test_latent_attention_rope_base_must_be_positive():
    with _raises(ValueError, "rope_base must be a finite number > 0, got rope_base=0"):
        MultiHeadLatentAttention(8, 2, **mla_sizes(8, 2), rope_base=0)


@pytest.mark.parametrize("call", [
    lambda: causal_mask(3, offset=1.5),
    lambda: apply_rope(torch.randn(1, 3, 4), offset=1.5),
    lambda: apply_rope_interleaved(torch.randn(1, 3, 4), offset=1.5),
], ids=["causal_mask", "apply_rope", "apply_rope_interleaved"])
def test_offsets_must_be_ints(call):
    with _raises(TypeError, "offset must be an int, got float 1.5"):  # used to shift by a fraction
        call()


# ---------------------------------------------------------------- token ids, pad_id, dropout, lengths

@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16])
def test_token_ids_of_a_small_integer_dtype(dtype):
    with _raises(TypeError, f"tokens must hold integer token ids (torch.long), got dtype {dtype}"):
        TokenEmbedding(10, 8)(torch.ones(1, 3, dtype=dtype))


@pytest.mark.parametrize("padding_idx, exc, message", [
    (10, ValueError, "padding_idx must be in [0, 10) for vocab_size=10, got padding_idx=10"),
    (-1, ValueError, "padding_idx must be in [0, 10) for vocab_size=10, got padding_idx=-1"),
    (0.0, TypeError, "padding_idx must be an int, got float 0.0"),
])
def test_token_embedding_padding_idx(padding_idx, exc, message):
    with _raises(exc, message):
        TokenEmbedding(10, 8, padding_idx=padding_idx)
    assert TokenEmbedding(10, 8, padding_idx=9).lookup.padding_idx == 9


def test_padding_mask_needs_a_pad_id():
    with _raises(TypeError, "pad_id must be an int, got NoneType None"):
        padding_mask(torch.tensor([[4, 5, 0]]), None)


@pytest.mark.parametrize("build", [
    lambda p: MultiHeadAttention(8, 2, dropout=p),
    lambda p: PositionwiseFeedForward(8, 16, dropout=p),
    lambda p: PositionalEncoding(8, dropout=p),
    lambda p: _tiny_transformer(dropout=p),
], ids=["mha", "ffn", "positions", "transformer"])
def test_dropout_must_be_a_number(build):
    with _raises(TypeError, "dropout must be a number, got str '0.1'"):
        build("0.1")


@pytest.mark.parametrize("call, message", [
    (lambda m, memory, mask: m.decode(torch.ones(2, 0, dtype=torch.long), memory, mask),
     "tgt must hold at least one position, got shape (2, 0)"),
    (lambda m, memory, mask: m.decode(torch.ones(2, 0, dtype=torch.long), memory, mask, m.new_cache(2, 4)),
     "tgt must hold at least one position, got shape (2, 0)"),
    (lambda m, memory, mask: m.encode(torch.ones(2, 0, dtype=torch.long)),
     "src must hold at least one position, got shape (2, 0)"),
    (lambda m, memory, mask: m.encode(torch.tensor([4, 5])), "src must be (batch, length), got shape (2,)"),
], ids=["decode", "decode_cached", "encode", "encode_1d"])
def test_transformer_names_its_empty_sequences(call, message):
    model = _tiny_transformer().eval()
    memory, src_mask = model.encode(torch.tensor([[4, 5, 6], [7, 8, 0]]))
    with _raises(ValueError, message):  # used to say "size must be a positive int", about causal_mask
        call(model, memory, src_mask)


# ---------------------------------------------------------------- lists where tensors belong

@pytest.mark.parametrize("call, message", [
    (lambda: MultiHeadAttention(8, 2)([[0.0] * 8]), "query must be a floating-point tensor, got list"),
    (lambda: MultiHeadAttention(8, 2)(torch.randn(1, 2, 8), mask=[[True, True]]),
     "mask must be a bool tensor (True = may attend), got list"),
    (lambda: scaled_dot_product_attention([[0.0]], [[0.0]], [[0.0]]), "q must be a floating-point tensor, got list"),
    (lambda: fused_attention([[0.0]], [[0.0]], [[0.0]]), "q must be a floating-point tensor, got list"),
    (lambda: LayerNorm(8)([0.0] * 8), "x must be a floating-point tensor, got list"),
    (lambda: PositionalEncoding(8)([[[0.0] * 8]]), "x must be a floating-point tensor, got list"),
    (lambda: apply_rope([[0.0] * 4]), "x must be a floating-point tensor, got list"),
    (lambda: rotate_half([0.0] * 4), "x must be a tensor, got list"),
    (lambda: expand_kv_heads([[0.0]], 2), "x must be a tensor, got list"),
    (lambda: padding_mask([[4, 5, 0]], 0), "tokens must be a tensor, got list"),
], ids=["mha", "mask", "attention", "fused_attention", "layer_norm", "positions", "apply_rope", "rotate_half",
        "expand_kv_heads", "padding_mask"])
def test_lists_where_tensors_belong(call, message):
    with _raises(TypeError, message):  # each used to fail with an AttributeError ('list' object has no ...)
        call()
