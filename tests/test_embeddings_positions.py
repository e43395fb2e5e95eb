"""TokenEmbedding and the sinusoidal positional encoding against their formulas."""

import math

import pytest
import torch
from tolerances import max_abs_diff
from torch import nn

from course_lib import PAD_ID, PositionalEncoding, TokenEmbedding, sinusoidal_positional_encoding


def _paper_pe(max_len: int, d_model: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)), by a direct loop."""
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    for pos in range(max_len):
        for j in range(d_model):
            two_i = j - j % 2
            angle = pos / 10000 ** (two_i / d_model)
            pe[pos, j] = math.sin(angle) if j % 2 == 0 else math.cos(angle)
    return pe


def test_token_embedding_scales_by_sqrt_d_model():
    emb = TokenEmbedding(11, 6)
    tokens = torch.tensor([[1, 4, 10], [0, 3, 3]])
    out = emb(tokens)
    assert out.shape == (2, 3, 6)
    assert max_abs_diff(out, emb.lookup.weight[tokens] * math.sqrt(6)) <= 1e-6


def test_token_embedding_equals_nn_embedding_times_sqrt_d():
    ref = nn.Embedding(13, 8, padding_idx=PAD_ID).double()
    emb = TokenEmbedding(13, 8, padding_idx=PAD_ID).double()
    emb.lookup.load_state_dict(ref.state_dict())
    tokens = torch.randint(13, (3, 5))
    assert max_abs_diff(emb(tokens), ref(tokens) * math.sqrt(8)) <= 1e-12


def test_padding_idx_row_is_zero():
    emb = TokenEmbedding(7, 4, padding_idx=PAD_ID)
    assert torch.all(emb(torch.tensor([[PAD_ID]])) == 0)


def test_token_embedding_accepts_int32_ids():
    emb = TokenEmbedding(7, 4)
    ids = torch.tensor([[1, 2]])
    assert torch.equal(emb(ids.int()), emb(ids))


@pytest.mark.parametrize("max_len, d_model", [(6, 4), (5, 7), (4, 1), (3, 2), (9, 10), (4, 5)])
def test_sinusoidal_table_equals_the_paper_formula(max_len, d_model):
    pe = sinusoidal_positional_encoding(max_len, d_model, dtype=torch.float64)
    assert pe.shape == (max_len, d_model) and pe.dtype == torch.float64
    assert max_abs_diff(pe, _paper_pe(max_len, d_model)) <= 1e-10


def test_sinusoidal_table_interleaves_sin_and_cos():
    pe = sinusoidal_positional_encoding(5, 6, dtype=torch.float64)
    assert torch.all(pe[0, 0::2] == 0) and torch.all(pe[0, 1::2] == 1)  # sin(0) = 0, cos(0) = 1
    assert max_abs_diff(pe[:, 0], torch.sin(torch.arange(5.0, dtype=torch.float64))) <= 1e-12
    assert max_abs_diff(pe[:, 1], torch.cos(torch.arange(5.0, dtype=torch.float64))) <= 1e-12


def test_sinusoidal_default_dtype_is_float32():
    pe = sinusoidal_positional_encoding(4, 6)
    assert pe.dtype == torch.float32
    assert max_abs_diff(pe, _paper_pe(4, 6)) <= 1e-6


@pytest.mark.parametrize("d_model", [6, 7])
def test_positional_encoding_adds_rows_from_offset(d_model):
    module = PositionalEncoding(d_model, max_len=10)
    x = torch.randn(2, 3, d_model, dtype=torch.float64)
    table = _paper_pe(10, d_model)
    assert max_abs_diff(module(x), x + table[:3]) <= 1e-6
    assert max_abs_diff(module(x, offset=4), x + table[4:7]) <= 1e-6
    assert module(x).dtype == torch.float64


def test_positional_encoding_reaches_max_len_exactly():
    module = PositionalEncoding(4, max_len=5)
    assert module(torch.zeros(1, 5, 4)).shape == (1, 5, 4)
    assert module(torch.zeros(1, 1, 4), offset=4).shape == (1, 1, 4)


def test_positional_encoding_is_a_buffer_not_a_parameter():
    module = PositionalEncoding(4, max_len=5)
    assert list(module.parameters()) == []
    assert "pe" not in module.state_dict()  # rebuilt, never saved


def test_positional_encoding_dropout_only_in_training():
    module = PositionalEncoding(4, max_len=5, dropout=0.5)
    x = torch.randn(2, 5, 4)
    module.eval()
    assert torch.equal(module(x), x + module.pe[:5])
    module.train()
    assert (module(x) == 0).any()


def test_positional_encoding_checks_the_width():
    with pytest.raises(ValueError, match=r"x must be \(batch, length, d_model=8\), got shape \(2, 3, 6\)"):
        PositionalEncoding(8, max_len=10)(torch.zeros(2, 3, 6))


def test_a_fresh_table_gives_unit_variance_vectors_on_the_scale_of_the_positions():
    torch.manual_seed(0)
    emb = TokenEmbedding(500, 64, padding_idx=0)
    out = emb(torch.arange(1, 500))  # (499, 64)
    assert abs(out.var().item() - 1.0) < 0.05  # E ~ N(0, 1/d_model), times sqrt(d_model)
    assert abs(emb.lookup.weight[1:].std().item() - 64**-0.5) < 0.005
    assert torch.equal(emb(torch.tensor([0])), torch.zeros(1, 64))
    positions = sinusoidal_positional_encoding(499, 64)  # (499, 64): every row has norm sqrt(d_model / 2)
    ratio = out.norm(dim=-1).mean() / positions.norm(dim=-1).mean()
    assert 1.3 < ratio < 1.5  # about sqrt(2), whatever d_model


def test_reset_parameters_redraws_the_table_and_keeps_pad_zero():
    emb = TokenEmbedding(50, 16, padding_idx=3)
    with torch.no_grad():
        emb.lookup.weight.fill_(5.0)
    emb.reset_parameters()
    assert torch.equal(emb.lookup.weight[3], torch.zeros(16)) and emb.lookup.weight.abs().max() < 2
