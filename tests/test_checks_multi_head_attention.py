"""Notebook 05's checkers: they pass the references, flag the stubs, and reject the notebook's spot-the-bug versions."""

import math

import torch
from checking import fails_with

from course_lib.checks import check_merge_heads, check_multi_head_attention, check_split_heads
from course_lib.multi_head_attention import merge_heads, split_heads


def _stub(*args):
    raise NotImplementedError


def split_heads_view_only(x, num_heads):  # the notebook's bug: a view to (B, H, L, d_k) without the transpose
    batch, length, d_model = x.shape
    return x.view(batch, num_heads, length, d_model // num_heads)


def merge_heads_view_only(x):  # the same bug on the way back
    batch, heads, length, d_k = x.shape
    return x.reshape(batch, length, heads * d_k)


def merge_heads_with_view(x):  # right order, but .view cannot follow a transpose without .contiguous()
    batch, heads, length, d_k = x.shape
    return x.transpose(1, 2).view(batch, length, heads * d_k)


def _multi_head(x, w_q, w_k, w_v, w_o, num_heads, split=split_heads, scale_width=None):
    q, k, v = (split(x @ w, num_heads) for w in (w_q, w_k, w_v))  # (B, H, L, d_k)
    width = q.size(-1) if scale_width is None else scale_width(x)
    weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(width), dim=-1)  # (B, H, L, L)
    return merge_heads(weights @ v) @ w_o  # (B, L, d_model)


def test_split_heads_checker_passes_the_reference(capsys):
    check_split_heads(split_heads)
    assert "✔ split_heads: all 3 checks passed" in capsys.readouterr().out


def test_split_heads_checker_on_the_stub():
    fails_with(check_split_heads, _stub, "split_heads: not implemented yet")


def test_split_heads_checker_rejects_a_view_without_transpose():
    fails_with(check_split_heads, split_heads_view_only,
               r"split_heads failed on x = arange\(24\)\.view\(1, 3, 8\), num_heads=2 "
               r".*expected .*\[0\.0, 1\.0, 2\.0, 3\.0, 8\.0, 9\.0.*got .*\[0\.0, 1\.0, 2\.0, 3\.0, 4\.0, 5\.0")


def test_merge_heads_checker(capsys):
    check_merge_heads(merge_heads)
    assert "✔ merge_heads: all 3 checks passed" in capsys.readouterr().out
    fails_with(check_merge_heads, _stub, "merge_heads: not implemented yet")
    fails_with(check_merge_heads, merge_heads_view_only, r"merge_heads failed on x = arange\(24\)\.view\(1, 2, 3, 4\)")


def test_merge_heads_checker_reports_a_crash_on_the_input_that_caused_it():
    fails_with(check_merge_heads, merge_heads_with_view,
               r"merge_heads failed on x = arange\(24\)\.view\(1, 2, 3, 4\) .*: it raised RuntimeError: view size "
               r"is not compatible")


def test_multi_head_attention_checker_passes_the_reference(capsys):
    check_multi_head_attention(_multi_head)
    assert "✔ multi_head_attention: all 4 checks passed" in capsys.readouterr().out


def test_multi_head_attention_checker_on_the_stub():
    fails_with(check_multi_head_attention, _stub, "multi_head_attention: not implemented yet")


def test_multi_head_attention_checker_rejects_the_scale_by_d_model():
    def over_sqrt_d_model(x, w_q, w_k, w_v, w_o, num_heads):  # the notebook's bug
        return _multi_head(x, w_q, w_k, w_v, w_o, num_heads, scale_width=lambda x: x.size(-1))

    fails_with(check_multi_head_attention, over_sqrt_d_model,
               r"multi_head_attention failed on x \(1, 4, 8\), 2 heads of d_k = 4: expected .* \(max difference")


def test_multi_head_attention_checker_rejects_the_view_without_transpose():
    def view_only(x, w_q, w_k, w_v, w_o, num_heads):
        return _multi_head(x, w_q, w_k, w_v, w_o, num_heads, split=split_heads_view_only)

    fails_with(check_multi_head_attention, view_only, r"multi_head_attention failed on x \(1, 4, 8\), 2 heads")


def test_one_head_is_single_head_attention():
    """The checker's 1-head case is plain attention: split and merge do nothing to one head."""
    x = torch.randn(1, 3, 16, dtype=torch.float64)
    torch.testing.assert_close(merge_heads(split_heads(x, 1)), x)
    torch.testing.assert_close(split_heads(x, 1)[:, 0], x)
