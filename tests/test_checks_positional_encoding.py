"""Notebook 02's checkers: they pass the reference, flag the stub, and reject the notebook's spot-the-bug versions."""

import math

import pytest
import torch
from checking import fails_with, leaves_the_random_stream_alone, says
from torch import nn

from course_lib import sinusoidal_positional_encoding
from course_lib.checks import check_make_learned_positions, check_positional_encoding, check_shift_matrix


def _stub(*args):
    raise NotImplementedError


def _loop_table(max_len, d_model, exponent):
    """The study notes' double loop, with the exponent of the pair starting at dimension i given by `exponent`."""
    pe = torch.zeros(max_len, d_model)
    for pos in range(max_len):
        for i in range(0, d_model, 2):
            pe[pos, i] = math.sin(pos / exponent(i, d_model))
            pe[pos, i + 1] = math.cos(pos / exponent(i + 1, d_model))
    return pe


def reference_shift(k, d_model):
    """Block-diagonal rotation: pair i turns by k / 10000^(2i / d_model)."""
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(0, d_model, 2):
        angle = k / 10000 ** (i / d_model)
        m[i : i + 2, i : i + 2] = torch.tensor([[math.cos(angle), math.sin(angle)],
                                                [-math.sin(angle), math.cos(angle)]])
    return m


# ---------------------------------------------------------------- positional_encoding

def test_positional_encoding_checker_passes_course_lib(capsys):
    check_positional_encoding(sinusoidal_positional_encoding)
    assert "✔ positional_encoding: all 7 checks passed" in capsys.readouterr().out


def test_positional_encoding_checker_passes_the_fixed_loop(capsys):
    check_positional_encoding(lambda max_len, d_model: _loop_table(
        max_len, d_model, lambda dim, d: 10000 ** (2 * (dim // 2) / d)))
    assert "failed on max_len=4, d_model=5 (odd" in capsys.readouterr().out  # the even-only loop of section 6


def test_positional_encoding_checker_on_the_stub():
    fails_with(check_positional_encoding, _stub, "positional_encoding: not implemented yet")


def test_the_notes_xor_line_does_not_even_run():
    with pytest.raises(TypeError, match=r"unsupported operand type\(s\) for \^"):
        _loop_table(3, 4, lambda dim, d: 10000 ^ (dim // 2 * 2 / d))


def test_positional_encoding_checker_rejects_xor_made_to_run():
    def xor_with_int(max_len, d_model):  # the notebook's bug: int() silences the TypeError, ^ is still XOR
        return _loop_table(max_len, d_model, lambda dim, d: 10000 ^ int(dim // 2 * 2 / d))

    fails_with(check_positional_encoding, xor_with_int,
               r"positional_encoding failed on max_len=3, d_model=4 .*expected .*"
               r"\[0.0, 1.0, 0.0, 1.0, 0.8415, 0.5403, 0.01, 1.0\].*got .*"
               r"\[0.0, 1.0, 0.0, 1.0, 0.0001, 1.0, 0.0001, 1.0\]")


def test_positional_encoding_checker_rejects_the_notes_per_dimension_exponent():
    def own_exponent(max_len, d_model):  # the notes' worked example: cos(pos / 10000^(1/4)) in dimension 1
        return _loop_table(max_len, d_model, lambda dim, d: 10000 ** (dim / d))

    fails_with(check_positional_encoding, own_exponent, r"failed on max_len=3, d_model=4 .*got .*\[0.0, 1.0, 0.0, 1.0, "
                                                        r"0.8415, 0.995, 0.01, 1.0\]")


def test_positional_encoding_checker_rejects_sin_and_cos_swapped():
    def swapped(max_len, d_model):
        return sinusoidal_positional_encoding(max_len, d_model)[:, [1, 0] * (d_model // 2)]

    fails_with(check_positional_encoding, swapped, "positional_encoding failed on max_len=3, d_model=4")


def test_positional_encoding_checker_rejects_the_wrong_shape():
    def batched(max_len, d_model):
        return sinusoidal_positional_encoding(max_len, d_model)[None]

    fails_with(check_positional_encoding, batched, r"expected shape \(3, 4\), got shape \(1, 3, 4\)")


# ---------------------------------------------------------------- shift_matrix

def test_reference_shift_moves_the_table():
    table = sinusoidal_positional_encoding(30, 8, dtype=torch.float64)
    torch.testing.assert_close(table[:20] @ reference_shift(7, 8).T, table[7:27])


def test_shift_matrix_checker_passes_the_reference(capsys):
    check_shift_matrix(reference_shift)
    assert "✔ shift_matrix: all 5 checks passed" in capsys.readouterr().out


def test_shift_matrix_checker_on_the_stub():
    fails_with(check_shift_matrix, _stub, "shift_matrix: not implemented yet")


def test_shift_matrix_checker_rejects_the_transposed_blocks():
    fails_with(check_shift_matrix, lambda k, d_model: reference_shift(k, d_model).T,
               r"shift_matrix failed on k=1, d_model=4: expected .*\[0.5403, 0.8415, 0.0, 0.0, -0.8415, .*got .*"
               r"\[0.5403, -0.8415,")


def test_shift_matrix_checker_rejects_one_angle_for_every_pair():
    def same_angle(k, d_model):  # every pair turned by k radians, as if all had the first pair's frequency
        return torch.block_diag(*[reference_shift(k, 2)] * (d_model // 2))

    fails_with(check_shift_matrix, same_angle, "shift_matrix failed on k=1, d_model=4")


def test_shift_matrix_checker_explains_a_wrong_shape():
    fails_with(check_shift_matrix, lambda k, d_model: reference_shift(k, 2),
               r"failed on k=1, d_model=4: expected shape \(4, 4\), got shape \(2, 2\)")


def vectorised(max_len, d_model):
    """The exercise's answer: any d_model, odd included."""
    angles = torch.arange(max_len, dtype=torch.float64)[:, None] * 10000.0 ** (
        -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (max_len, ceil(d_model / 2))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe


def test_positional_encoding_checker_passes_the_vectorised_answer():
    assert says(check_positional_encoding, vectorised) == "positional_encoding: all 7 checks passed"


def test_positional_encoding_hints_name_each_mistake():
    fails_with(check_positional_encoding, lambda max_len, d_model: _loop_table(
        max_len, d_model, lambda dim, d: 10000 ** (dim / d)), "Hint: a sine and its cosine share one angle")
    fails_with(check_positional_encoding, lambda max_len, d_model: _loop_table(
        max_len, d_model, lambda dim, d: 10000 ^ int(dim // 2 * 2 / d)), r"Hint: in Python \^ is bitwise XOR")
    fails_with(check_positional_encoding,
               lambda max_len, d_model: vectorised(max_len, d_model).view(max_len, -1, 2).flip(-1).flatten(1),
               "Hint: even dimensions .* hold the sine and odd ones the cosine")
    fails_with(check_positional_encoding, lambda max_len, d_model: torch.cat(
        [vectorised(max_len, d_model)[:, 0::2], vectorised(max_len, d_model)[:, 1::2]], dim=-1),
        "Hint: the paper interleaves")
    fails_with(check_positional_encoding, lambda max_len, d_model: vectorised(max_len + 1, d_model)[1:],
               r"Hint: positions count from 0: the first row is \[0, 1, 0, 1, ...\]")


def test_positional_encoding_checker_explains_an_odd_width():
    def cos_of_every_angle(max_len, d_model):  # section 2's build: breaks on an odd width
        angles = torch.arange(max_len, dtype=torch.float64)[:, None] * 10000.0 ** (
            -torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
        pe = torch.zeros(max_len, d_model, dtype=torch.float64)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(angles), torch.cos(angles)
        return pe

    fails_with(check_positional_encoding, cos_of_every_angle,
               r"failed on max_len=4, d_model=5 .*it raised RuntimeError.*Hint: for an odd d_model the sines fill one "
               r"column more")

    def last_sine_dropped(max_len, d_model):
        pe = vectorised(max_len, d_model)
        pe[:, 2 * (d_model // 2):] = 0.0
        return pe

    fails_with(check_positional_encoding, last_sine_dropped, r"d_model=5 .*Hint: the last column is empty")


def test_shift_matrix_hints_name_each_mistake():
    fails_with(check_shift_matrix, lambda k, d_model: reference_shift(k, d_model).T,
               "Hint: this matrix turns every pair backwards")
    fails_with(check_shift_matrix, lambda k, d_model: torch.block_diag(*[reference_shift(k, 2)] * (d_model // 2)),
               "Hint: every pair turns by its own angle")


# ---------------------------------------------------------------- make_learned_positions

class LearnedPositions(nn.Module):
    def __init__(self, max_len, d_model, first=0, strict=False):
        super().__init__()
        self.max_len, self.first, self.strict = max_len, first, strict
        self.table = nn.Parameter(torch.randn(max_len, d_model) / math.sqrt(2))

    def forward(self, x):
        length = x.size(1)
        if length > self.max_len or (self.strict and length == self.max_len):
            raise ValueError(f"x has {length} positions, more than max_len={self.max_len}")
        return x + self.table[self.first : self.first + length]


def test_learned_positions_checker_passes_the_reference_and_leaves_the_random_stream_alone():
    assert says(check_make_learned_positions, LearnedPositions) == "make_learned_positions: all 6 checks passed"
    assert leaves_the_random_stream_alone(check_make_learned_positions, LearnedPositions)


def test_learned_positions_checker_on_the_stub():
    fails_with(check_make_learned_positions, _stub, "make_learned_positions: not implemented yet")


def test_learned_positions_checker_wants_a_value_error_past_max_len():
    class WithEmbedding(nn.Module):  # nn.Embedding raises IndexError for position 10
        def __init__(self, max_len, d_model):
            super().__init__()
            self.positions = nn.Embedding(max_len, d_model)

        def forward(self, x):
            return x + self.positions(torch.arange(x.size(1)))

    fails_with(check_make_learned_positions, WithEmbedding,
               r"failed on x of shape \(2, 11, 8\).*expected 'ValueError', got 'IndexError'\. Hint: there is no "
               r"learned row")


def test_learned_positions_checker_names_a_buffer():
    class Buffered(nn.Module):
        def __init__(self, max_len, d_model):
            super().__init__()
            self.register_buffer("table", torch.randn(max_len, d_model))

        def forward(self, x):
            return x + self.table[: x.size(1)]

    fails_with(check_make_learned_positions, Buffered,
               r"found 0 \(and a buffer, 'table', which is never trained\)\. Hint: learned positions are a parameter")


def test_learned_positions_checker_names_counting_from_one():
    fails_with(check_make_learned_positions, lambda max_len, d_model: LearnedPositions(max_len, d_model, first=1),
               r"the row of the table added .*expected .*\[0, 1, 2, 0, 1, 2\], got .*\[1, 2, 3, 1, 2, 3\]\. Hint: "
               r"positions count from 0")


def test_learned_positions_checker_names_a_too_strict_length_check():
    fails_with(check_make_learned_positions, lambda max_len, d_model: LearnedPositions(max_len, d_model, strict=True),
               r"failed on x of shape \(2, 10, 8\).*Hint: max_len tokens fit")


def test_learned_positions_checker_names_a_detached_table():
    class Detached(LearnedPositions):
        def forward(self, x):
            return x + self.table[: x.size(1)].detach()

    fails_with(check_make_learned_positions, Detached,
               r"which rows of the table get a gradient .*Hint: the rows used must stay in the autograd graph")


def test_learned_positions_checker_wants_a_module():
    fails_with(check_make_learned_positions, lambda max_len, d_model: torch.zeros(max_len, d_model),
               "expected an nn.Module, got Tensor")
