"""Notebook 04's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import torch
from checking import fails_with
from torch import nn

from course_lib import causal_mask, padding_mask
from course_lib.attention import scaled_dot_product_attention
from course_lib.checks import check_causal_mask, check_masked_softmax, check_padding_mask
from course_lib.interop import from_torch_mask


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- causal_mask

def test_causal_mask_checker_passes_the_references(capsys):
    check_causal_mask(causal_mask)
    check_causal_mask(lambda size: torch.ones(size, size, dtype=torch.bool).tril())
    check_causal_mask(lambda size: from_torch_mask(nn.Transformer.generate_square_subsequent_mask(size)))
    assert capsys.readouterr().out.count("✔ causal_mask: all 3 checks passed") == 3


def test_causal_mask_checker_on_the_stub():
    fails_with(check_causal_mask, _stub, "causal_mask: not implemented yet")


def test_causal_mask_checker_rejects_the_inverted_polarity():
    def causal_mask_inverted(size):  # the notebook's bug: True = blocked, torch's convention
        return torch.ones(size, size, dtype=torch.bool).triu(diagonal=1)

    fails_with(check_causal_mask, causal_mask_inverted,
               r"causal_mask failed on size=3 .*expected .*\[True, False, False, "
               r"True, True, False.*got .*\[False, True, True, False")


def test_causal_mask_checker_rejects_torchs_float_mask_unconverted():
    fails_with(check_causal_mask, nn.Transformer.generate_square_subsequent_mask,
               r"causal_mask failed on size=3 .*: expected a bool mask \(True = may "
               r"attend\), got dtype torch.float32: \[0.0, -inf")


def test_causal_mask_checker_rejects_a_mask_without_the_diagonal():
    fails_with(check_causal_mask, lambda size: torch.ones(size, size, dtype=torch.bool).tril(diagonal=-1),
               "causal_mask failed on size=3")


# ---------------------------------------------------------------- padding_mask

def test_padding_mask_checker_passes_the_reference(capsys):
    check_padding_mask(padding_mask)
    assert "✔ padding_mask: all 3 checks passed" in capsys.readouterr().out


def test_padding_mask_checker_on_the_stub():
    fails_with(check_padding_mask, _stub, "padding_mask: not implemented yet")


def test_padding_mask_checker_rejects_the_inverted_polarity():
    fails_with(check_padding_mask, lambda tokens, pad_id: (tokens == pad_id)[:, None, None, :],
               r"padding_mask failed on tokens \[\[5, 6, 7, 0\].*expected .*"
               r"\[True, True, True, False, True, True, False, False\]")


def test_padding_mask_checker_rejects_a_mask_that_does_not_broadcast_over_queries():
    fails_with(check_padding_mask, lambda tokens, pad_id: tokens != pad_id,
               r"expected shape \(2, 1, 1, 4\), got shape \(2, 4\)")


def test_padding_mask_checker_rejects_a_hard_coded_pad_id():
    fails_with(check_padding_mask, lambda tokens, pad_id: (tokens != 0)[:, None, None, :],
               "padding_mask failed on tokens .* with pad_id=9")


def test_padding_mask_checker_rejects_an_int_mask():
    fails_with(check_padding_mask, lambda tokens, pad_id: (tokens != pad_id).long()[:, None, None, :],
               "expected a bool mask .*got dtype torch.int64")


# ---------------------------------------------------------------- masked_softmax

def masked_softmax(scores, mask):
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    return weights.masked_fill(~mask, 0.0)


def test_masked_softmax_checker_passes_the_references(capsys):
    check_masked_softmax(masked_softmax)

    def course_lib_weights(scores, mask):  # q = scores and k = I make q k^T the scores themselves
        eye = torch.eye(scores.size(-1), dtype=scores.dtype)
        return scaled_dot_product_attention(scores, eye, eye, mask=mask, scale=1.0)[1]

    check_masked_softmax(course_lib_weights)
    assert capsys.readouterr().out.count("✔ masked_softmax: all 3 checks passed") == 2


def test_masked_softmax_checker_on_the_stub():
    fails_with(check_masked_softmax, _stub, "masked_softmax: not implemented yet")


def test_masked_softmax_checker_rejects_the_nan_of_a_fully_masked_row():
    def masked_softmax_naive(scores, mask):  # the notebook's bug
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)

    fails_with(check_masked_softmax, masked_softmax_naive,
               r"masked_softmax failed on .*the second query may attend nothing.*"
               r"got NaN: .*\[0.2689, 0.7311, 0.0, nan, nan, nan\]")


def test_masked_softmax_checker_rejects_the_big_negative_fill():
    def masked_softmax_big_negative(scores, mask):  # the notebook's (and the study notes') -1e9
        return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)

    fails_with(check_masked_softmax, masked_softmax_big_negative, r"the second query may attend nothing.*got .*"
                                                                  r"\[0.2689, 0.7311, 0.0, 0.3333, 0.3333, 0.3333\]")


def test_masked_softmax_checker_rejects_the_inverted_polarity():
    fails_with(check_masked_softmax, lambda scores, mask: masked_softmax(scores, ~mask),
               r"masked_softmax failed on scores .* with the mask \[\[T, F, F\]")


def test_masked_softmax_checker_rejects_zeroing_after_softmax_without_renormalising():
    fails_with(check_masked_softmax, lambda scores, mask: torch.softmax(scores, dim=-1) * mask,
               r"masked_softmax failed on scores .* with the mask \[\[T, F, F\]")
