"""course_lib.interop.from_torch: every conversion computes what the torch module computes (eval mode)."""

import pytest
import torch
from tolerances import TOL, max_abs_diff, randomize_
from torch import nn

from course_lib import Decoder, DecoderLayer, Encoder, EncoderLayer, LayerNorm, MultiHeadAttention, set_fused
from course_lib.interop import from_torch, key_padding_to_course

D, HEADS, FF, B, LS, LT = 8, 2, 16, 2, 5, 4

# torch convention: True = padding. Batch 0 has two padded source positions.
SRC_KEY_PADDING = torch.tensor([[False, False, False, True, True], [False] * LS])
TGT_KEY_PADDING = torch.tensor([[False, False, False, True], [False] * LT])

NORM_FIRST = pytest.mark.parametrize("norm_first", [False, True], ids=["post_norm", "pre_norm"])
ACTIVATION = pytest.mark.parametrize("activation", ["relu", "gelu"])


def _torch_causal(length):
    return nn.Transformer.generate_square_subsequent_mask(length, dtype=torch.float64) != 0  # True = blocked


def _encoder_layer(norm_first, activation, dtype):
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first, layer_norm_eps=1e-6)
    return randomize_(layer).to(dtype).eval()


def _decoder_layer(norm_first, activation, dtype):
    layer = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first, layer_norm_eps=1e-6)
    return randomize_(layer).to(dtype).eval()


# ---------------------------------------------------------------- nn.MultiheadAttention

@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("fused", [False, True], ids=["explicit", "fused"])
def test_multihead_attention_self_and_cross(dtype, bias, fused):
    theirs = randomize_(nn.MultiheadAttention(D, HEADS, bias=bias, batch_first=True)).to(dtype).eval()
    ours = set_fused(from_torch(theirs), fused)
    assert isinstance(ours, MultiHeadAttention) and not ours.training
    assert next(ours.parameters()).dtype == dtype
    x, memory = torch.randn(B, LT, D, dtype=dtype), torch.randn(B, LS, D, dtype=dtype)
    with torch.no_grad():
        expected_self, _ = theirs(x, x, x)
        expected_cross, _ = theirs(x, memory, memory, key_padding_mask=SRC_KEY_PADDING)
        expected_causal, _ = theirs(x, x, x, attn_mask=_torch_causal(LT))
        assert max_abs_diff(ours(x), expected_self) <= TOL[dtype]
        assert max_abs_diff(ours(x, memory, mask=key_padding_to_course(SRC_KEY_PADDING)),
                            expected_cross) <= TOL[dtype]
        assert max_abs_diff(ours(x, mask=~_torch_causal(LT)), expected_causal) <= TOL[dtype]


def test_multihead_attention_weights_match_torch():
    theirs = randomize_(nn.MultiheadAttention(D, HEADS, batch_first=True)).double().eval()
    ours = from_torch(theirs)
    x, memory = torch.randn(B, LT, D, dtype=torch.float64), torch.randn(B, LS, D, dtype=torch.float64)
    with torch.no_grad():
        _, expected = theirs(x, memory, memory, key_padding_mask=SRC_KEY_PADDING, average_attn_weights=False)
        ours(x, memory, mask=key_padding_to_course(SRC_KEY_PADDING))
    assert max_abs_diff(ours.attn_weights, expected) <= 1e-10


def test_multihead_attention_with_gradients_enabled_matches_too():
    """With grad on, torch takes its slow path: the conversion holds there as well."""
    theirs = randomize_(nn.MultiheadAttention(D, HEADS, batch_first=True)).double().eval()
    ours = from_torch(theirs)
    x = torch.randn(B, LT, D, dtype=torch.float64)
    assert max_abs_diff(ours(x), theirs(x, x, x)[0]) <= 1e-10


# ---------------------------------------------------------------- single layers

@NORM_FIRST
@ACTIVATION
def test_encoder_layer(dtype, norm_first, activation):
    theirs = _encoder_layer(norm_first, activation, dtype)
    ours = from_torch(theirs)
    assert isinstance(ours, EncoderLayer) and ours.norm_first is norm_first and not ours.training
    assert ours.norm1.eps == 1e-6
    x = torch.randn(B, LS, D, dtype=dtype)
    with torch.no_grad():
        expected = theirs(x, src_key_padding_mask=SRC_KEY_PADDING)
        got = ours(x, key_padding_to_course(SRC_KEY_PADDING))
        assert max_abs_diff(got, expected) <= TOL[dtype]
        assert max_abs_diff(ours(x), theirs(x)) <= TOL[dtype]


@NORM_FIRST
@ACTIVATION
def test_decoder_layer(dtype, norm_first, activation):
    theirs = _decoder_layer(norm_first, activation, dtype)
    ours = from_torch(theirs)
    assert isinstance(ours, DecoderLayer) and ours.norm_first is norm_first
    x, memory = torch.randn(B, LT, D, dtype=dtype), torch.randn(B, LS, D, dtype=dtype)
    tgt_mask = ~_torch_causal(LT) & key_padding_to_course(TGT_KEY_PADDING)  # (B, 1, LT, LT)
    with torch.no_grad():
        expected = theirs(x, memory, tgt_mask=_torch_causal(LT), tgt_key_padding_mask=TGT_KEY_PADDING,
                          memory_key_padding_mask=SRC_KEY_PADDING)
        got = ours(x, memory, tgt_mask, key_padding_to_course(SRC_KEY_PADDING))
    assert max_abs_diff(got, expected) <= TOL[dtype]


# ---------------------------------------------------------------- stacks with their final norm

@NORM_FIRST
@ACTIVATION
@pytest.mark.parametrize("final_norm", [True, False], ids=["final_norm", "no_final_norm"])
def test_encoder_stack(dtype, norm_first, activation, final_norm):
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first)
    norm = nn.LayerNorm(D) if final_norm else None
    theirs = randomize_(nn.TransformerEncoder(layer, 2, norm=norm, enable_nested_tensor=False)).to(dtype).eval()
    ours = from_torch(theirs)
    assert isinstance(ours, Encoder) and len(ours.layers) == 2
    assert isinstance(ours.norm, LayerNorm) if final_norm else ours.norm is None
    x = torch.randn(B, LS, D, dtype=dtype)
    with torch.no_grad():
        expected = theirs(x, src_key_padding_mask=SRC_KEY_PADDING)
        got = ours(x, key_padding_to_course(SRC_KEY_PADDING))
    assert max_abs_diff(got, expected) <= TOL[dtype]


@NORM_FIRST
@ACTIVATION
@pytest.mark.parametrize("final_norm", [True, False], ids=["final_norm", "no_final_norm"])
def test_decoder_stack(dtype, norm_first, activation, final_norm):
    layer = nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first)
    norm = nn.LayerNorm(D) if final_norm else None
    theirs = randomize_(nn.TransformerDecoder(layer, 2, norm=norm)).to(dtype).eval()
    ours = from_torch(theirs)
    assert isinstance(ours, Decoder) and len(ours.layers) == 2
    assert isinstance(ours.norm, LayerNorm) if final_norm else ours.norm is None
    x, memory = torch.randn(B, LT, D, dtype=dtype), torch.randn(B, LS, D, dtype=dtype)
    tgt_mask = ~_torch_causal(LT) & key_padding_to_course(TGT_KEY_PADDING)
    with torch.no_grad():
        expected = theirs(x, memory, tgt_mask=_torch_causal(LT), tgt_key_padding_mask=TGT_KEY_PADDING,
                          memory_key_padding_mask=SRC_KEY_PADDING)
        got = ours(x, memory, tgt_mask, key_padding_to_course(SRC_KEY_PADDING))
    assert max_abs_diff(got, expected) <= TOL[dtype]


def test_converted_stacks_are_fused_consistent():
    layer = nn.TransformerDecoderLayer(D, HEADS, FF, batch_first=True, norm_first=True)
    theirs = randomize_(nn.TransformerDecoder(layer, 2, norm=nn.LayerNorm(D))).double().eval()
    ours = from_torch(theirs)
    x, memory = torch.randn(B, LT, D, dtype=torch.float64), torch.randn(B, LS, D, dtype=torch.float64)
    tgt_mask = ~_torch_causal(LT)
    explicit = ours(x, memory, tgt_mask)
    fused = set_fused(ours)(x, memory, tgt_mask)
    assert max_abs_diff(explicit, fused) <= 1e-10


def test_converted_layers_are_copies_not_shared():
    theirs = randomize_(nn.TransformerEncoder(
        nn.TransformerEncoderLayer(D, HEADS, FF, batch_first=True), 2, enable_nested_tensor=False))
    ours = from_torch(theirs)
    with torch.no_grad():
        theirs.layers[0].linear1.weight.zero_()
    assert ours.layers[0].ffn.linear1.weight.abs().sum() > 0


def test_training_mode_and_dropout_carry_over():
    theirs = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.25, batch_first=True).train()
    ours = from_torch(theirs)
    assert ours.training
    assert ours.self_attn.dropout == 0.25 and ours.ffn.dropout.p == 0.25 and ours.dropout1.p == 0.25
