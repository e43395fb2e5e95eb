"""Notebook 05's checkers: they pass the references, say "not implemented yet" on a stub, and give each known
mistake its own hint (the notebook's spot-the-bug versions and the slips learners make)."""

import math

import torch
from checking import fails_with, says

from course_lib.checks import (
    check_interleave_columns,
    check_multi_head_attention,
    check_split_heads,
    check_split_heads_interleaved,
)
from course_lib.multi_head_attention import merge_heads, split_heads


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- split_heads (spot the bug 1)

def split_heads_view_only(x, num_heads):  # the notebook's bug: a view to (B, H, L, d_k) without the transpose
    batch, length, d_model = x.shape
    return x.view(batch, num_heads, length, d_model // num_heads)


def test_split_heads_checker_passes_course_lib():
    assert says(check_split_heads, split_heads) == "split_heads: all 3 checks passed"
    fails_with(check_split_heads, _stub, "split_heads: not implemented yet")


def test_split_heads_checker_explains_the_view_without_transpose():
    fails_with(check_split_heads, split_heads_view_only,
               r"split_heads failed on x = arange\(24\)\.view\(1, 3, 8\), num_heads=2 .*expected .*"
               r"\[0\.0, 1\.0, 2\.0, 3\.0, 8\.0, 9\.0.*got .*\[0\.0, 1\.0, 2\.0, 3\.0, 4\.0, 5\.0.*"
               r"Hint: a view \(or reshape\) keeps the memory order")


def test_split_heads_checker_explains_a_missing_transpose():
    def tokens_first(x, num_heads):
        batch, length, d_model = x.shape
        return x.view(batch, length, num_heads, d_model // num_heads)

    fails_with(check_split_heads, tokens_first, r"expected shape \(1, 2, 3, 4\), got shape \(1, 3, 2, 4\)\. "
                                                r"Hint: the head axis is still behind the tokens")


# ---------------------------------------------------------------- split_heads_interleaved (exercise 1)

def split_heads_interleaved(x, num_heads):
    return torch.stack([x[..., h::num_heads] for h in range(num_heads)], dim=1)  # (B, H, L, d_k)


def test_split_heads_interleaved_checker_passes_the_reference():
    assert says(check_split_heads_interleaved, split_heads_interleaved) == (
        "split_heads_interleaved: all 4 checks passed")
    fails_with(check_split_heads_interleaved, _stub, "split_heads_interleaved: not implemented yet")


def test_split_heads_interleaved_checker_names_the_contiguous_split():
    fails_with(check_split_heads_interleaved, split_heads,
               r"failed on x = arange\(24\)\.view\(1, 3, 8\), num_heads=2 \(head 1 holds the even columns.*"
               r"expected .*\[0\.0, 2\.0, 4\.0, 6\.0.*Hint: that is section 2's contiguous split")


def test_split_heads_interleaved_checker_names_swapped_features_and_tokens():
    def swapped(x, num_heads):
        batch, length, d_model = x.shape
        return x.view(batch, length, d_model // num_heads, num_heads).transpose(1, 3)  # (B, H, d_k, L)

    fails_with(check_split_heads_interleaved, swapped, r"got shape \(1, 2, 4, 3\)\. Hint: each head came out as "
                                                       r"\(d_k, L\)")


def test_split_heads_interleaved_checker_names_a_view_that_cannot_move_the_heads():
    def view_only(x, num_heads):
        batch, length, d_model = x.shape
        return x.view(batch, length, d_model // num_heads, num_heads).reshape(batch, num_heads, length, -1)

    fails_with(check_split_heads_interleaved, view_only, "Hint: the right columns, but a view or reshape keeps the "
                                                         "memory order")


def test_split_heads_interleaved_checker_names_the_heads_behind_the_tokens():
    def tokens_first(x, num_heads):
        return split_heads_interleaved(x, num_heads).transpose(1, 2)  # (B, L, H, d_k)

    fails_with(check_split_heads_interleaved, tokens_first, "Hint: the head axis is still behind the tokens")


def test_split_heads_interleaved_checker_falls_back_to_its_general_hint():
    fails_with(check_split_heads_interleaved, lambda x, num_heads: x,
               r"expected shape \(1, 2, 3, 4\), got shape \(1, 3, 8\)\. Hint: head h \(counted from 0\) must hold "
               r"columns h, h \+ H")


# ---------------------------------------------------------------- interleave_columns (exercise 2)

def interleave_columns(w, num_heads):
    d_in, width = w.shape
    order = torch.arange(width).view(num_heads, width // num_heads).T.reshape(-1)  # column i*H + h <- h*d_k + i
    return w[:, order]


def test_interleave_columns_checker_passes_the_reference():
    assert says(check_interleave_columns, interleave_columns) == "interleave_columns: all 4 checks passed"
    fails_with(check_interleave_columns, _stub, "interleave_columns: not implemented yet")


def test_interleave_columns_makes_the_two_splits_agree():
    """What the exercise claims: the interleaved split of x @ w' is the contiguous split of x @ w, for any x."""
    x, w = torch.randn(2, 5, 6, dtype=torch.float64), torch.randn(6, 12, dtype=torch.float64)
    torch.testing.assert_close(split_heads_interleaved(x @ interleave_columns(w, 3), 3), split_heads(x @ w, 3))


def test_interleave_columns_checker_names_the_opposite_reordering():
    def deinterleave(w, num_heads):
        d_in, width = w.shape
        return w.view(d_in, width // num_heads, num_heads).transpose(1, 2).reshape(d_in, width)

    fails_with(check_interleave_columns, deinterleave,
               r"failed on w = arange\(64\)\.view\(8, 8\), num_heads=2 .*expected .*\[0\.0, 4\.0, 1\.0, 5\.0.*"
               r"got .*\[0\.0, 2\.0, 4\.0, 6\.0.*Hint: the columns moved the opposite way")


def test_interleave_columns_checker_names_reordered_rows():
    fails_with(check_interleave_columns, lambda w, num_heads: interleave_columns(w.T, num_heads).T,
               "Hint: you reordered w's rows, its input features")


def test_interleave_columns_checker_names_an_unchanged_w():
    fails_with(check_interleave_columns, lambda w, num_heads: w, "Hint: w came back unchanged")


def test_interleave_columns_checker_falls_back_to_its_general_hint():
    fails_with(check_interleave_columns, lambda w, num_heads: w.flip(1),
               r"Hint: head h's i-th feature \(both counted from 0\) sits in column h\*d_k \+ i")


# ---------------------------------------------------------------- multi_head_attention (exercise 3)

def _multi_head(x, w_q, w_k, w_v, w_o, num_heads, *, split=split_heads, merge=merge_heads, scale_by=None, dim=-1,
                project=True):
    q, k, v = (split(x @ w, num_heads) for w in (w_q, w_k, w_v))  # (B, H, L, d_k), (.., d_k), (.., d_v)
    divisor = math.sqrt(q.size(-1) if scale_by is None else scale_by(x, num_heads))
    weights = torch.softmax(q @ k.transpose(-2, -1) / divisor, dim=dim)  # (B, H, L, L)
    concat = merge(weights @ v)  # (B, L, H * d_v)
    return concat @ w_o if project else concat


def test_multi_head_attention_checker_passes_the_reference():
    assert says(check_multi_head_attention, _multi_head) == "multi_head_attention: all 5 checks passed"
    fails_with(check_multi_head_attention, _stub, "multi_head_attention: not implemented yet")


def test_multi_head_attention_checker_names_the_missing_w_o():
    fails_with(check_multi_head_attention, lambda *args: _multi_head(*args, project=False),
               r"failed on x \(1, 4, 8\), 2 heads with d_k = d_v = 4 .*expected .*got .*Hint: the heads are "
               r"concatenated but never mixed: .*W\^O \(w_o\)")


def test_multi_head_attention_checker_names_the_scale_by_d_model():
    fails_with(check_multi_head_attention, lambda *args: _multi_head(*args, scale_by=lambda x, h: x.size(-1)),
               r"failed on x \(1, 4, 8\), 2 heads .*Hint: each head's scores are sums of d_k products, so they are "
               r"scaled by sqrt\(d_k\)")


def test_multi_head_attention_checker_names_d_model_over_heads_as_the_head_width():
    fails_with(check_multi_head_attention, lambda *args: _multi_head(*args, scale_by=lambda x, h: x.size(-1) / h),
               r"failed on x \(1, 3, 8\), 2 heads with d_k = 3 and d_v = 5 .*Hint: d_k is not d_model / num_heads "
               r"here")


def test_multi_head_attention_checker_names_a_missing_scale():
    fails_with(check_multi_head_attention, lambda *args: _multi_head(*args, scale_by=lambda x, h: 1),
               "Hint: the scores are not scaled")


def test_multi_head_attention_checker_names_the_softmax_over_the_queries():
    fails_with(check_multi_head_attention, lambda *args: _multi_head(*args, dim=-2),
               "Hint: the softmax ran over the queries")


def test_multi_head_attention_checker_names_the_view_without_transpose():
    fails_with(check_multi_head_attention, lambda *args: _multi_head(*args, split=split_heads_view_only),
               "Hint: the split cut across tokens")


def test_multi_head_attention_checker_names_a_merge_without_transpose():
    def merge_view_only(x):
        batch, heads, length, d_v = x.shape
        return x.reshape(batch, length, heads * d_v)

    fails_with(check_multi_head_attention, lambda *args: _multi_head(*args, merge=merge_view_only),
               "Hint: the merge put the numbers back in the wrong order")


def test_multi_head_attention_checker_names_transposed_weights():
    fails_with(check_multi_head_attention,
               lambda x, w_q, w_k, w_v, w_o, h: _multi_head(x, w_q.T, w_k.T, w_v.T, w_o.T, h),
               r"Hint: the weights are applied as x @ w here")


def test_multi_head_attention_checker_reports_a_crash_with_the_widths_hint():
    def d_model_wide_heads(x, w_q, w_k, w_v, w_o, num_heads):  # assumes d_k = d_model / H: a crash when it is not
        batch, length, d_model = x.shape
        q, k, v = (t.view(batch, length, num_heads, d_model // num_heads).transpose(1, 2) for t in
                   (x @ w_q, x @ w_k, x @ w_v))
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)
        return merge_heads(weights @ v) @ w_o

    fails_with(check_multi_head_attention, d_model_wide_heads,
               r"failed on x \(1, 3, 8\), 2 heads with d_k = 3 and d_v = 5 .*: it raised RuntimeError: .*"
               r"Hint: here the heads are not d_model / num_heads wide")


def test_one_head_is_single_head_attention():
    """The checker's 1-head case is plain attention: split and merge do nothing to one head."""
    x = torch.randn(1, 3, 16, dtype=torch.float64)
    torch.testing.assert_close(merge_heads(split_heads(x, 1)), x)
    torch.testing.assert_close(split_heads(x, 1)[:, 0], x)
