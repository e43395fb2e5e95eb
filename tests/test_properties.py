"""Properties that hold for every input (hypothesis): attention weights, causality, padding,
permutation equivariance, and the geometry of the sinusoidal positional encoding."""

import copy
import functools
import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tolerances import max_abs_diff

from course_lib import (
    BOS_ID,
    PAD_ID,
    Encoder,
    MultiHeadAttention,
    Transformer,
    fused_attention,
    padding_mask,
    scaled_dot_product_attention,
    set_fused,
    sinusoidal_positional_encoding,
)

PROPERTY = settings(deadline=None, derandomize=True, max_examples=25)
F64 = torch.float64
SRC_VOCAB, TGT_VOCAB, D = 12, 10, 8
seeds = st.integers(0, 2**31 - 1)


def _randn(seed: int, *shape) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@functools.lru_cache(maxsize=2)
def _model(fused: bool = False) -> Transformer:
    torch.manual_seed(0)
    model = Transformer(SRC_VOCAB, TGT_VOCAB, d_model=D, num_heads=2, num_encoder_layers=2, num_decoder_layers=2,
                        d_ff=16, dropout=0.0, max_len=32)
    return set_fused(model.double().eval(), fused)


# ---------------------------------------------------------------- attention weights

@st.composite
def attention_inputs(draw):
    lq, lk, d = draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 8))
    mask = torch.tensor(draw(st.lists(st.booleans(), min_size=lq * lk, max_size=lq * lk))).view(lq, lk)
    seed = draw(seeds)
    return _randn(seed, 2, lq, d), _randn(seed + 1, 2, lk, d), _randn(seed + 2, 2, lk, d), mask


@PROPERTY
@given(attention_inputs())
def test_attention_rows_sum_to_one_and_masked_weights_are_zero(inputs):
    q, k, v, mask = inputs
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    live = mask.any(-1)  # (Lq,): queries that may attend somewhere
    assert torch.all(weights[:, ~mask] == 0)  # exactly zero, not merely small
    assert max_abs_diff(weights.sum(-1)[:, live], torch.ones(2, int(live.sum()), dtype=F64)) <= 1e-12
    assert torch.all(weights[:, ~live] == 0) and torch.all(out[:, ~live] == 0)
    assert max_abs_diff(fused_attention(q, k, v, mask), out) <= 1e-10


# ---------------------------------------------------------------- causality

@st.composite
def target_change(draw):
    length = draw(st.integers(2, 8))
    t = draw(st.integers(0, length - 2))
    tokens = draw(st.lists(st.integers(3, TGT_VOCAB - 1), min_size=length - 1, max_size=length - 1))
    new_tail = draw(st.lists(st.integers(0, TGT_VOCAB - 1), min_size=length - 1 - t, max_size=length - 1 - t))
    return torch.tensor([[BOS_ID, *tokens]]), t, torch.tensor(new_tail), draw(st.booleans())


@PROPERTY
@given(target_change())
def test_changing_later_target_tokens_leaves_earlier_logits_unchanged(change):
    tgt, t, new_tail, fused = change
    model = _model(fused)
    src = torch.tensor([[4, 5, 6, 7, PAD_ID]])
    changed = tgt.clone()
    changed[0, t + 1 :] = new_tail
    before, after = model(src, tgt), model(src, changed)
    assert max_abs_diff(before[:, : t + 1], after[:, : t + 1]) <= 1e-10


# ---------------------------------------------------------------- source padding

@st.composite
def padded_source(draw):
    """A source batch of one sentence with <pad> at some positions (at least one real token)."""
    tokens = draw(st.lists(st.integers(4, SRC_VOCAB - 1), min_size=1, max_size=7))
    is_pad = draw(st.lists(st.booleans(), min_size=len(tokens), max_size=len(tokens)))
    if all(is_pad):
        is_pad[0] = False
    src = torch.tensor([[PAD_ID if p else tok for tok, p in zip(tokens, is_pad, strict=True)]])
    return src, draw(st.integers(1, 4)), draw(seeds)


def _tgt():
    return torch.tensor([[BOS_ID, 5, 6, 7]])


@PROPERTY
@given(padded_source())
def test_adding_padding_to_the_source_leaves_logits_unchanged(case):
    src, extra, _ = case
    model = _model()
    longer = torch.cat([src, torch.full((1, extra), PAD_ID)], dim=1)
    assert max_abs_diff(model(longer, _tgt()), model(src, _tgt())) <= 1e-10


@PROPERTY
@given(padded_source())
def test_changing_what_sits_under_padding_leaves_logits_unchanged(case):
    src, _, seed = case
    model = _model()
    other = copy.deepcopy(model)
    with torch.no_grad():  # a different vector under every <pad> position of the source
        other.src_embed.lookup.weight[PAD_ID] = _randn(seed, D)
    assert max_abs_diff(other(src, _tgt()), model(src, _tgt())) <= 1e-10


@PROPERTY
@given(padded_source())
def test_encoder_real_positions_ignore_padded_inputs(case):
    src, _, seed = case
    torch.manual_seed(0)
    encoder = Encoder(2, D, 2, 16, dropout=0.0).double().eval()
    mask = padding_mask(src, PAD_ID)  # (1, 1, 1, L)
    real = src[0] != PAD_ID
    x = _randn(seed, 1, src.size(1), D)
    y = x.clone()
    y[0, ~real] = _randn(seed + 1, int((~real).sum()), D)  # anything at all under the padding
    assert max_abs_diff(encoder(x, mask)[0, real], encoder(y, mask)[0, real]) <= 1e-10


@PROPERTY
@given(padded_source())
def test_decoder_ignores_memory_under_padding(case):
    src, _, seed = case
    model = _model()
    memory, src_mask = model.encode(src)
    pad = src[0] == PAD_ID
    changed = memory.clone()
    changed[0, pad] = _randn(seed, int(pad.sum()), D)
    tgt = _tgt()
    assert max_abs_diff(model.decode(tgt, changed, src_mask), model.decode(tgt, memory, src_mask)) <= 1e-10


# ---------------------------------------------------------------- permutation equivariance

@PROPERTY
@given(st.integers(1, 7), st.sampled_from([(4, 1), (8, 2), (12, 3)]), seeds, st.randoms(use_true_random=False),
       st.booleans())
def test_self_attention_is_permutation_equivariant(length, sizes, seed, rng, with_mask):
    d_model, heads = sizes
    torch.manual_seed(seed)
    mha = MultiHeadAttention(d_model, heads).double()
    x = _randn(seed, 2, length, d_model)
    perm = torch.tensor(rng.sample(range(length), length))
    mask = torch.rand(2, 1, 1, length) > 0.3 if with_mask else None
    if mask is not None:
        mask[..., 0] = True
    out = mha(x, mask=mask)
    permuted = mha(x[:, perm], mask=None if mask is None else mask[..., perm])
    assert max_abs_diff(permuted, out[:, perm]) <= 1e-10


# ---------------------------------------------------------------- positional encoding geometry

@PROPERTY
@given(st.integers(2, 300), st.integers(2, 24))
def test_positional_encoding_rows_are_distinct(max_len, d_model):
    pe = sinusoidal_positional_encoding(max_len, d_model, dtype=F64)
    dist = torch.cdist(pe, pe)  # (max_len, max_len)
    dist.fill_diagonal_(float("inf"))
    assert dist.min() > 1e-3


def _rotation(k: int, d_model: int) -> torch.Tensor:
    """R_k from the paper's frequencies w_i = 1 / 10000^(2i / d_model): a 2x2 rotation by k w_i per (sin, cos) pair.

    Built from the formula alone, never from course_lib's table, so that PE(pos + k) = R_k PE(pos) tests the table.
    """
    m = torch.zeros(d_model, d_model, dtype=F64)
    for i in range(d_model // 2):
        angle = k / 10000 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        # sin(a + b) = sin a cos b + cos a sin b;  cos(a + b) = cos a cos b - sin a sin b
        m[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=F64)
    return m


def _shift_error(pe: torch.Tensor, k: int, positions: list[int]) -> float:
    """max over `positions` of |PE(pos + k) - R_k PE(pos)| on the table's paired dimensions."""
    paired = pe.size(1) // 2 * 2
    rows = torch.tensor(positions)
    shifted = pe[rows + k, :paired]  # (n, paired)
    rotated = pe[rows, :paired] @ _rotation(k, pe.size(1))[:paired, :paired].T  # (n, paired): R_k PE(pos), row-wise
    return max_abs_diff(shifted, rotated)


@PROPERTY
@given(st.integers(1, 12), st.integers(0, 100), st.lists(st.integers(0, 400), min_size=3, max_size=6))
def test_shifting_by_k_is_the_rotation_built_from_the_frequencies(half, k, positions):
    d_model = 2 * half
    pe = sinusoidal_positional_encoding(512, d_model, dtype=F64)
    # one R_k, the same whatever the starting position
    assert _shift_error(pe, k, positions) <= 1e-10
    # and every (sin, cos) pair has norm 1: sin^2 + cos^2
    pairs = pe[positions].view(len(positions), half, 2)
    assert max_abs_diff(pairs.pow(2).sum(-1), torch.ones(len(positions), half, dtype=F64)) <= 1e-12


@PROPERTY
@given(st.integers(2, 12), st.integers(1, 100), st.lists(st.integers(0, 400), min_size=2, max_size=4))
def test_odd_d_model_pairs_still_rotate(half, k, positions):
    pe = sinusoidal_positional_encoding(512, 2 * half + 1, dtype=F64)  # the last dimension is a lone sin
    assert _shift_error(pe, k, positions) <= 1e-10


def _wrong_tables(max_len: int, d_model: int) -> dict[str, torch.Tensor]:
    """Plausible bugs in a sinusoidal table, each of which breaks PE(pos + k) = R_k PE(pos)."""
    position = torch.arange(max_len, dtype=F64)[:, None]  # (max_len, 1)
    two_i = torch.arange(0, d_model, 2, dtype=F64)  # (d_model / 2,)

    def interleaved(angles: torch.Tensor, first=torch.sin, second=torch.cos) -> torch.Tensor:
        return torch.stack([first(angles), second(angles)], dim=-1).reshape(max_len, d_model)  # (max_len, d_model)

    angles = position / 10000 ** (two_i / d_model)  # (max_len, d_model / 2), the right ones
    return {
        "cos on even, sin on odd": interleaved(angles, torch.cos, torch.sin),
        "sin and cos in halves, not interleaved": torch.cat([torch.sin(angles), torch.cos(angles)], dim=1),
        "exponent i / d instead of 2i / d": interleaved(position / 10000 ** (two_i / 2 / d_model)),
        "base 1000": interleaved(position / 1000 ** (two_i / d_model)),
    }


def test_the_shift_property_catches_a_wrong_table():
    """The property above is not vacuous: each of these wrong tables fails it, course_lib's passes."""
    positions = [0, 3, 17, 90]
    assert _shift_error(sinusoidal_positional_encoding(128, 8, dtype=F64), 5, positions) <= 1e-10
    for name, table in _wrong_tables(128, 8).items():
        assert _shift_error(table, 5, positions) > 1e-2, name


def _solve_shift_map(pe: torch.Tensor, positions: torch.Tensor, k: int) -> torch.Tensor:
    """Least-squares M with PE(p + k) = M PE(p) for every p in `positions`."""
    x, y = pe[positions], pe[positions + k]  # (n, d), rows are positions
    return torch.linalg.lstsq(x, y).solution.T  # x M^T = y


@PROPERTY
@given(st.integers(1, 4), st.integers(1, 60), st.integers(0, 300), st.integers(0, 300))
def test_solved_shift_map_is_the_same_rotation_from_any_positions(half, k, start_a, start_b):
    d_model = 2 * half
    pe = sinusoidal_positional_encoding(4096, d_model, dtype=F64)
    n = 3 * d_model
    map_a = _solve_shift_map(pe, start_a + 97 * torch.arange(n), k)
    map_b = _solve_shift_map(pe, start_b + 89 * torch.arange(n) + 7, k)
    expected = _rotation(k, d_model)
    assert max_abs_diff(map_a, expected) <= 1e-8
    assert max_abs_diff(map_b, map_a) <= 1e-8  # independent of where we look
    assert max_abs_diff(map_a @ map_a.T, torch.eye(d_model, dtype=F64)) <= 1e-8  # orthogonal
    # the solved map predicts positions it was not fitted on
    assert max_abs_diff(pe[1000 + k], map_a @ pe[1000]) <= 1e-8
