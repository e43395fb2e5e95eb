"""Notebook 02's checkers: they pass the reference, flag the stub, and reject the notebook's spot-the-bug versions."""

import math

import pytest
import torch
from checking import fails_with

from course_lib import sinusoidal_positional_encoding
from course_lib.checks import check_positional_encoding, check_shift_matrix


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
    assert "✔ positional_encoding: all 4 checks passed" in capsys.readouterr().out


def test_positional_encoding_checker_passes_the_fixed_loop(capsys):
    check_positional_encoding(lambda max_len, d_model: _loop_table(
        max_len, d_model, lambda dim, d: 10000 ** (2 * (dim // 2) / d)))
    assert "all 4 checks passed" in capsys.readouterr().out


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
