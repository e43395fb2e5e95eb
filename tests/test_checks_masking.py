"""Notebook 04's checkers: pass the references, say "not implemented yet" on a stub, and answer each known bug with
its own hint."""

import pytest
import torch
from checking import fails_with
from torch import nn

from course_lib import causal_mask
from course_lib.attention import scaled_dot_product_attention
from course_lib.checks import (
    check_causal_mask,
    check_masked_softmax,
    check_padding_mask_from_lengths,
    check_prefix_lm_mask,
    check_sliding_window_mask,
)
from course_lib.checks.masking import Grid
from course_lib.interop import from_torch_mask

INVERTED = "the polarity is inverted"


def _stub(*args):
    raise NotImplementedError


def test_a_grid_is_equal_only_to_the_same_mask_and_shows_every_entry():
    mask = torch.tensor([[True, False], [True, True]])
    assert Grid(mask) == Grid(mask.clone()) and Grid(mask) != Grid(mask[None]) and Grid(mask) != mask
    assert repr(Grid(mask)) == "[[T, F], [T, T]] of shape (2, 2)"
    assert repr(Grid(torch.ones(2, 1, 1, 3, dtype=torch.bool))) == "[[T, T, T], [T, T, T]] of shape (2, 1, 1, 3)"


# ---------------------------------------------------------------- causal_mask

def test_causal_mask_checker_passes_the_references(capsys):
    check_causal_mask(causal_mask)
    check_causal_mask(lambda size: torch.ones(size, size, dtype=torch.bool).tril())
    check_causal_mask(lambda size: from_torch_mask(nn.Transformer.generate_square_subsequent_mask(size)))
    assert capsys.readouterr().out.count("✔ causal_mask: all 3 checks passed") == 3


def test_causal_mask_checker_on_the_stub():
    fails_with(check_causal_mask, _stub, "causal_mask: not implemented yet")


def test_causal_mask_checker_explains_the_inverted_polarity():
    def causal_mask_inverted(size):  # the notebook's bug: True = blocked, torch's convention
        return torch.ones(size, size, dtype=torch.bool).triu(diagonal=1)

    fails_with(check_causal_mask, causal_mask_inverted,
               r"causal_mask failed on size=3: expected \[\[T, F, F\], \[T, T, F\], \[T, T, T\]\] of shape \(3, 3\), "
               rf"got \[\[F, T, T\], \[F, F, T\], \[F, F, F\]\] of shape \(3, 3\)\. Hint: .*{INVERTED}")


def test_causal_mask_checker_rejects_torchs_float_mask_unconverted():
    fails_with(check_causal_mask, nn.Transformer.generate_square_subsequent_mask,
               r"causal_mask failed on size=3: expected a bool mask \(True = may attend\), got dtype torch.float32: "
               r"\[0.0, -inf.*Hint: .*PyTorch's other convention")


def test_causal_mask_checker_explains_a_mask_without_the_diagonal():
    fails_with(check_causal_mask, lambda size: torch.ones(size, size, dtype=torch.bool).tril(diagonal=-1),
               "Hint: the diagonal is missing: a query may attend its own position")


def test_causal_mask_checker_explains_the_upper_triangle():
    fails_with(check_causal_mask, lambda size: torch.ones(size, size, dtype=torch.bool).triu(),
               "Hint: rows are queries and columns keys: .*on and below the diagonal, not above it")


# ---------------------------------------------------------------- padding_mask_from_lengths

def from_lengths(lengths, max_len, padding_side="right"):
    positions = torch.arange(max_len)
    if padding_side == "left":
        positions = positions.flip(0)  # counted from the end: the real tokens are the last n
    return (positions[None, :] < lengths[:, None])[:, None, None, :]


def test_padding_mask_from_lengths_checker_passes_the_reference_and_the_token_route(capsys):
    check_padding_mask_from_lengths(from_lengths)

    def through_tokens(lengths, max_len, padding_side):  # build the padded ids, then compare with <pad>
        from course_lib.viz.masking import batch_tokens

        return (batch_tokens(lengths.tolist(), max_len, padding_side) != 0)[:, None, None, :]

    check_padding_mask_from_lengths(through_tokens)
    assert capsys.readouterr().out.count("✔ padding_mask_from_lengths: all 4 checks passed") == 2


def test_padding_mask_from_lengths_checker_on_the_stub():
    fails_with(check_padding_mask_from_lengths, _stub, "padding_mask_from_lengths: not implemented yet")


@pytest.mark.parametrize("buggy, case, hint", [
    (lambda n, L, side: (torch.arange(L)[None, :] <= n[:, None])[:, None, None, :], "right",
     "off by one: a sentence of n tokens has exactly n real positions"),
    (lambda n, L, side: (torch.arange(L)[None, :] < n[:, None])[:, None, None, :], "left",
     "with left padding the <pad> tokens come first"),
    (lambda n, L, side: from_lengths(n, L, side) if side == "right" else
     (torch.arange(L)[None, :] > L - n[:, None])[:, None, None, :], "left", "off by one"),
    (lambda n, L, side: ~from_lengths(n, L, side), "right", INVERTED),
    (lambda n, L, side: from_lengths(n, L, side)[:, 0, 0, :], "right",
     r"a \(B, L\) mask against scores \(B, H, L_q, L_k\) would line the batch axis up with the queries"),
    (lambda n, L, side: from_lengths(n, L, side)[:, 0, 0, :, None][:, None], "right",
     r"this \(B, 1, L, 1\) mask blocks padded queries"),
], ids=["<= n", "left ignored", "left off by one", "inverted", "(B, L)", "queries"])
def test_padding_mask_from_lengths_checker_names_each_known_mistake(buggy, case, hint):
    fails_with(check_padding_mask_from_lengths, buggy,
               rf"failed on lengths=\[3, 1, 4\], max_len=4, padding_side='{case}': .*Hint: .*{hint}")


def test_padding_mask_from_lengths_checker_shows_a_wrong_shape_and_an_int_mask():
    fails_with(check_padding_mask_from_lengths, lambda n, L, side: from_lengths(n, L, side)[:, 0, 0, :],
               r"expected \[\[T, T, T, F\], \[T, F, F, F\], \[T, T, T, T\]\] of shape \(3, 1, 1, 4\), got .* of shape "
               r"\(3, 4\)")
    fails_with(check_padding_mask_from_lengths, lambda n, L, side: from_lengths(n, L, side).long(),
               "expected a bool mask .*got dtype torch.int64")


# ---------------------------------------------------------------- sliding_window_mask

def window_mask(size, window):
    back = torch.arange(size)[:, None] - torch.arange(size)[None, :]  # (size, size): i - j
    return (back >= 0) & (back < window)


def test_sliding_window_mask_checker_passes_the_reference_and_a_band_of_triangles(capsys):
    check_sliding_window_mask(window_mask)
    check_sliding_window_mask(lambda size, window: torch.ones(size, size, dtype=torch.bool).tril()
                              & torch.ones(size, size, dtype=torch.bool).triu(diagonal=1 - window))
    assert capsys.readouterr().out.count("✔ sliding_window_mask: all 4 checks passed") == 2


def test_sliding_window_mask_checker_on_the_stub():
    fails_with(check_sliding_window_mask, _stub, "sliding_window_mask: not implemented yet")


def _back(size):
    return torch.arange(size)[:, None] - torch.arange(size)[None, :]


@pytest.mark.parametrize("buggy, hint", [
    (lambda size, window: ~window_mask(size, window), INVERTED),
    (lambda size, window: _back(size).abs() < window, "a causal window looks back only"),
    (lambda size, window: window_mask(size, window).T, "rows are queries and columns keys: the window lies on and "
                                                       "below the diagonal"),
    (lambda size, window: (_back(size) >= 0) & (_back(size) <= window), "the window counts the query itself: .*not "
                                                                        "window \\+ 1"),
    (lambda size, window: (_back(size) >= 0) & (_back(size) < window - 1), "the window counts the query itself: .*its "
                                                                           "own position included"),
    (lambda size, window: (_back(size) > 0) & (_back(size) < window), "the diagonal is missing"),
    (lambda size, window: causal_mask(size), "every query sees its whole past"),
], ids=["inverted", "both sides", "transposed", "window + 1", "window - 1", "without itself", "causal"])
def test_sliding_window_mask_checker_names_each_known_mistake(buggy, hint):
    fails_with(check_sliding_window_mask, buggy, rf"failed on size=5, window=2: expected \[\[T, F, F, F, F\], .*"
                                                 rf"Hint: .*{hint}")


# ---------------------------------------------------------------- prefix_lm_mask

def prefix_lm(size, prefix_len):
    i, j = torch.arange(size)[:, None], torch.arange(size)[None, :]
    return (j <= i) | (j < prefix_len)


def test_prefix_lm_mask_checker_passes_the_reference(capsys):
    check_prefix_lm_mask(prefix_lm)

    def by_blocks(size, prefix_len):  # the causal mask with the prompt's square opened up
        mask = causal_mask(size)
        mask[:prefix_len, :prefix_len] = True
        return mask

    check_prefix_lm_mask(by_blocks)
    assert capsys.readouterr().out.count("✔ prefix_lm_mask: all 4 checks passed") == 2


def test_prefix_lm_mask_checker_on_the_stub():
    fails_with(check_prefix_lm_mask, _stub, "prefix_lm_mask: not implemented yet")


@pytest.mark.parametrize("buggy, hint", [
    (lambda size, p: ~prefix_lm(size, p), INVERTED),
    (lambda size, p: causal_mask(size) | (torch.arange(size)[:, None] < p),
     "the prompt's queries see the whole prompt, but not what follows it"),
    (lambda size, p: causal_mask(size) | (torch.arange(size)[None, :] <= p), "prefix_len counts tokens"),
    (lambda size, p: causal_mask(size), "the prompt is known in full before generation starts"),
    (lambda size, p: causal_mask(size) & (torch.arange(size)[None, :] < p), "both in the past and in the prompt"),
], ids=["inverted", "prompt rows see all", "<= prefix_len", "causal", "and"])
def test_prefix_lm_mask_checker_names_each_known_mistake(buggy, hint):
    fails_with(check_prefix_lm_mask, buggy, rf"failed on size=5, prefix_len=2: expected .*Hint: .*{hint}")


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


def test_masked_softmax_checker_explains_the_nan_of_a_fully_masked_row():
    def masked_softmax_naive(scores, mask):  # the notebook's bug
        return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)

    fails_with(check_masked_softmax, masked_softmax_naive,
               r"masked_softmax failed on .*the second query may attend nothing.*got NaN: .*"
               r"\[0.2689, 0.7311, 0.0, nan, nan, nan\]\. Hint: a query whose keys are all masked has every score -inf")


def test_masked_softmax_checker_explains_the_big_negative_fill():
    def masked_softmax_big_negative(scores, mask):  # the notebook's (and the study notes') -1e9
        return torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)

    fails_with(check_masked_softmax, masked_softmax_big_negative,
               r"the second query may attend nothing.*got .*\[0.2689, 0.7311, 0.0, 0.3333, 0.3333, 0.3333\].*Hint: a "
               r"large negative fill avoids the NaN, but turns a fully masked row into a uniform average")


def test_masked_softmax_checker_explains_the_inverted_polarity():
    fails_with(check_masked_softmax, lambda scores, mask: masked_softmax(scores, ~mask),
               rf"masked_softmax failed on scores .* with the mask \[\[T, F, F\].*Hint: .*{INVERTED}")


def test_masked_softmax_checker_explains_zeroing_after_the_softmax():
    fails_with(check_masked_softmax, lambda scores, mask: torch.softmax(scores, dim=-1) * mask,
               r"with the mask \[\[T, F, F\].*Hint: zeroing the weights after the softmax leaves each row summing to "
               r"less than 1")


@pytest.mark.parametrize("check, wrong, hint", [
    (check_causal_mask, lambda size: torch.ones(size, size, dtype=torch.bool), "query i may attend keys 0..i"),
    (check_padding_mask_from_lengths, lambda n, L, side: torch.ones(len(n), 1, 1, L, dtype=torch.bool),
     "compare every position 0..max_len-1 with each sentence's length"),
    (check_sliding_window_mask, lambda size, window: torch.ones(size, size, dtype=torch.bool),
     "query i may attend key j when j is not after i and fewer than `window` positions before it"),
    (check_prefix_lm_mask, lambda size, p: torch.eye(size, dtype=torch.bool), "key j is visible to query i when"),
    (check_masked_softmax, lambda scores, mask: mask.to(scores.dtype).expand_as(scores),
     "the weights of each query are a softmax over its allowed keys only"),
], ids=["causal_mask", "padding_mask_from_lengths", "sliding_window_mask", "prefix_lm_mask", "masked_softmax"])
def test_an_unknown_mistake_gets_the_general_hint(check, wrong, hint):
    fails_with(check, wrong, rf"Hint: {hint}")
