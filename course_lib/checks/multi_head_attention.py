"""Checkers for notebook 05: the contiguous head split (spot the bug), the interleaved split and the column reordering
that makes the two layouts agree, and multi-head attention with heads of their own width."""

import math

import torch

from ..attention import scaled_dot_product_attention
from ..multi_head_attention import merge_heads, split_heads
from .core import CheckCase, Mistake, run_checks


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _counting(*shape: int) -> torch.Tensor:
    """0, 1, 2, ... in the given shape: every entry says where it came from."""
    return torch.arange(math.prod(shape), dtype=torch.float64).view(*shape)


# ---------------------------------------------------------------- the contiguous split (section 2, spot the bug)

HEADS_BEHIND_TOKENS = "the head axis is still behind the tokens, (B, L, H, d_k): attention wants (B, H, L, d_k)"

def _split_view_only(x, num_heads):
    batch, length, width = x.shape
    return x.view(batch, num_heads, length, width // num_heads)  # memory order kept: heads cut across tokens


def _split_tokens_last(x, num_heads):
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads)  # (B, L, H, d_k): the head axis never moved


def check_split_heads(fn) -> None:
    """fn(x (B, L, d_model), num_heads) must return (B, H, L, d_k): head h holds columns h*d_k .. (h+1)*d_k - 1."""
    cases = [
        CheckCase("x = arange(24).view(1, 3, 8), num_heads=2 (head 1 holds columns 0-3 of every token)",
                  (_counting(1, 3, 8), 2), split_heads(_counting(1, 3, 8), 2)),
        CheckCase("random x of shape (2, 5, 12), num_heads=3", (_random(2, 5, 12, seed=0), 3),
                  split_heads(_random(2, 5, 12, seed=0), 3)),
        CheckCase("x = arange(32).view(2, 2, 8), num_heads=8 (d_k = 1)", (_counting(2, 2, 8), 8),
                  split_heads(_counting(2, 2, 8), 8)),
    ]
    mistakes = [
        Mistake("a view (or reshape) keeps the memory order, where one token's numbers come first: 'head 1' gets "
                "whole tokens and pieces of the next. Cut each token's row into heads first, then move the head axis "
                "in front of the tokens", _split_view_only),
        Mistake(HEADS_BEHIND_TOKENS, _split_tokens_last),
    ]
    run_checks("split_heads", fn, cases, atol=0.0, mistakes=mistakes,
               hint=('head h must hold columns h*d_k .. (h+1)*d_k - 1 of every token, as a (L, d_k) matrix: cut each '
                     'token into (H, d_k), then put the head axis before the tokens'))


# ---------------------------------------------------------------- exercise 1: the interleaved split

def _interleaved(x, num_heads):
    """(B, L, d_model) -> (B, H, L, d_k) with head h holding columns h, h + H, h + 2H, ..."""
    batch, length, width = x.shape
    return x.view(batch, length, width // num_heads, num_heads).permute(0, 3, 1, 2)  # (B, H, L, d_k)


def _interleaved_features_and_tokens_swapped(x, num_heads):
    batch, length, width = x.shape
    return x.view(batch, length, width // num_heads, num_heads).transpose(1, 3)  # (B, H, d_k, L)


def _interleaved_view_only(x, num_heads):
    batch, length, width = x.shape
    return x.view(batch, length, width // num_heads, num_heads).reshape(batch, num_heads, length, width // num_heads)


def _interleaved_tokens_first(x, num_heads):
    batch, length, width = x.shape
    return x.view(batch, length, width // num_heads, num_heads).transpose(2, 3)  # (B, L, H, d_k)


def check_split_heads_interleaved(fn) -> None:
    """fn(x (B, L, d_model), num_heads) must return (B, H, L, d_k) with head h holding columns h, h + H, h + 2H, ..."""
    cases = [
        CheckCase("x = arange(24).view(1, 3, 8), num_heads=2 (head 1 holds the even columns 0, 2, 4, 6 of every "
                  "token, head 2 the odd ones)", (_counting(1, 3, 8), 2), _interleaved(_counting(1, 3, 8), 2)),
        CheckCase("x = arange(60).view(1, 5, 12), num_heads=3 (head 1 holds columns 0, 3, 6, 9)",
                  (_counting(1, 5, 12), 3), _interleaved(_counting(1, 5, 12), 3)),
        CheckCase("random x of shape (2, 4, 12), num_heads=4", (_random(2, 4, 12, seed=1), 4),
                  _interleaved(_random(2, 4, 12, seed=1), 4)),
        CheckCase("x = arange(12).view(1, 2, 6), num_heads=1 (one head holds every column)", (_counting(1, 2, 6), 1),
                  _interleaved(_counting(1, 2, 6), 1)),
    ]
    mistakes = [
        Mistake("that is section 2's contiguous split (head 1 gets columns 0 .. d_k - 1). Interleaved, the first "
                "head gets columns 0, H, 2H, ..., the second 1, H + 1, ...: read each token's row as d_k groups of H",
                split_heads),
        Mistake("each head came out as (d_k, L): its features and its tokens are swapped. A head is an (L, d_k) "
                "matrix, tokens first", _interleaved_features_and_tokens_swapped),
        Mistake("the right columns, but a view or reshape keeps the memory order and cannot move the head axis in "
                "front of the tokens: that takes a transpose or permute", _interleaved_view_only),
        Mistake(HEADS_BEHIND_TOKENS, _interleaved_tokens_first),
    ]
    run_checks("split_heads_interleaved", fn, cases, atol=0.0, mistakes=mistakes,
               hint=('head h (counted from 0) must hold columns h, h + H, h + 2H, ... of every token, as an (L, d_k) '
                     'matrix, with the heads before the tokens: (B, H, L, d_k)'))


# ---------------------------------------------------------------- exercise 2: W's columns for the interleaved split

def _interleave_columns(w, num_heads):
    """w (d_in, H*d_k) -> w' with column i*H + h = column h*d_k + i of w: head h's i-th output."""
    d_in, width = w.shape
    return w.view(d_in, num_heads, width // num_heads).transpose(1, 2).reshape(d_in, width)


def _deinterleave_columns(w, num_heads):
    d_in, width = w.shape
    return w.view(d_in, width // num_heads, num_heads).transpose(1, 2).reshape(d_in, width)


def _interleave_rows(w, num_heads):
    d_in, width = w.shape
    return w.view(num_heads, d_in // num_heads, width).transpose(0, 1).reshape(d_in, width)


def check_interleave_columns(fn) -> None:
    """fn(w (d_in, H*d_k), num_heads) must reorder w's columns so that the interleaved split of x @ fn(w) equals the
    contiguous split of x @ w: column i*H + h of the result is column h*d_k + i of w."""
    cases = [
        CheckCase("w = arange(64).view(8, 8), num_heads=2 (d_k = 4: want the columns in the order 0, 4, 1, 5, 2, 6, 3, "
                  "7)", (_counting(8, 8), 2), _interleave_columns(_counting(8, 8), 2)),
        CheckCase("w = arange(60).view(5, 12), num_heads=3 (d_k = 4: want the order 0, 4, 8, 1, 5, 9, ...)",
                  (_counting(5, 12), 3), _interleave_columns(_counting(5, 12), 3)),
        CheckCase("random w of shape (6, 12), num_heads=4 (d_k = 3)", (_random(6, 12, seed=2), 4),
                  _interleave_columns(_random(6, 12, seed=2), 4)),
        CheckCase("w = arange(18).view(3, 6), num_heads=6 (d_k = 1: both layouts agree, w comes back unchanged)",
                  (_counting(3, 6), 6), _counting(3, 6)),
    ]
    mistakes = [
        Mistake("the columns moved the opposite way: that turns an interleaved layout back into a contiguous one. "
                "Column i*H + h of the result must hold head h's i-th column of w, which is column h*d_k + i",
                _deinterleave_columns),
        Mistake("you reordered w's rows, its input features; the heads own w's columns (x @ w: column j makes "
                "output feature j)", _interleave_rows),
        Mistake("w came back unchanged: the interleaved split of x @ w would give the first head columns 0, H, "
                "2H, ... instead of 0 .. d_k - 1", lambda w, num_heads: w),
    ]
    run_checks("interleave_columns", fn, cases, atol=0.0, mistakes=mistakes,
               hint=('head h\'s i-th feature (both counted from 0) sits in column h*d_k + i of w (contiguous) and '
                     'must land in column i*H + h (interleaved)'))


# ---------------------------------------------------------------- exercise 3: heads of their own width

def _multi_head(x, w_q, w_k, w_v, w_o, num_heads, *, split=split_heads, merge=merge_heads, scale=None,
                softmax_dim=-1, project=True):
    """Concat(head_1..head_h) W^O with head_i = softmax(x W_i^Q (x W_i^K)^T / sqrt(d_k)) x W_i^V; the keyword
    arguments make the known mistakes."""
    q, k, v = (split(x @ w, num_heads) for w in (w_q, w_k, w_v))  # (B, H, L, d_k), (B, H, L, d_k), (B, H, L, d_v)
    if scale is None and softmax_dim == -1:
        out, _ = scaled_dot_product_attention(q, k, v)  # (B, H, L, d_v)
    else:
        divisor = math.sqrt(q.size(-1)) if scale is None else scale(x, w_q, num_heads)
        out = torch.softmax(q @ k.transpose(-2, -1) / divisor, dim=softmax_dim) @ v  # (B, H, L, d_v)
    concat = merge(out)  # (B, L, H * d_v)
    return concat @ w_o if project else concat  # (B, L, d_model)


def _merge_view_only(x):
    batch, heads, length, d_v = x.shape
    return x.reshape(batch, length, heads * d_v)  # no transpose back: tokens and heads mixed


def _case(description: str, batch: int, length: int, d_model: int, num_heads: int, d_k: int, d_v: int, seed: int,
          hint: str | None = None) -> CheckCase:
    x = _random(batch, length, d_model, seed=seed)  # (B, L, d_model)
    w_q, w_k = (_random(d_model, num_heads * d_k, seed=seed + i) / d_model**0.5 for i in (1, 2))  # (d_model, H d_k)
    w_v = _random(d_model, num_heads * d_v, seed=seed + 3) / d_model**0.5  # (d_model, H d_v)
    w_o = _random(num_heads * d_v, d_model, seed=seed + 4) / (num_heads * d_v) ** 0.5  # (H d_v, d_model)
    args = (x, w_q, w_k, w_v, w_o, num_heads)
    return CheckCase(description, args, _multi_head(*args), hint=hint)


WIDTHS_HINT = ("here the heads are not d_model / num_heads wide: a query/key head has w_q.size(1) // num_heads "
               "numbers, a value head w_v.size(1) // num_heads")


def check_multi_head_attention(fn) -> None:
    """fn(x (B, L, d_model), w_q, w_k (d_model, H*d_k), w_v (d_model, H*d_v), w_o (H*d_v, d_model), num_heads) must
    return Concat(head_1..head_h) W^O (B, L, d_model), with head_i = softmax(Q_i K_i^T / sqrt(d_k)) V_i and x @ w."""
    cases = [
        _case("x (1, 4, 8), 2 heads with d_k = d_v = 4 (= d_model / num_heads, the paper's choice)", 1, 4, 8, 2, 4, 4,
              seed=10),
        _case("x (1, 3, 8), 2 heads with d_k = 3 and d_v = 5 (w_q is 8 x 6, w_v 8 x 10, w_o 10 x 8)", 1, 3, 8, 2, 3, 5,
              seed=20, hint=WIDTHS_HINT),
        _case("x (2, 5, 12), 4 heads with d_k = 2 and d_v = 6", 2, 5, 12, 4, 2, 6, seed=30, hint=WIDTHS_HINT),
        _case("x (1, 3, 16), 1 head with d_k = d_v = 16 (single-head attention)", 1, 3, 16, 1, 16, 16, seed=40),
        _case("x (2, 6, 64), 8 heads with d_k = d_v = 8", 2, 6, 64, 8, 8, 8, seed=50),
    ]
    mistakes = [
        Mistake("the heads are concatenated but never mixed: Concat(head_1..head_h) still has to be multiplied by "
                "W^O (w_o), which also brings the H * d_v columns back to d_model",
                lambda *args: _multi_head(*args, project=False)),
        Mistake("each head's scores are sums of d_k products, so they are scaled by sqrt(d_k), the head's own width, "
                "not sqrt(d_model)", lambda *args: _multi_head(*args, scale=lambda x, w_q, h: math.sqrt(x.size(-1)))),
        Mistake("d_k is not d_model / num_heads here: a head's width is w_q's number of columns over num_heads",
                lambda *args: _multi_head(*args, scale=lambda x, w_q, h: math.sqrt(x.size(-1) / h))),
        Mistake("the scores are not scaled: divide them by sqrt(d_k) before the softmax",
                lambda *args: _multi_head(*args, scale=lambda x, w_q, h: 1.0)),
        Mistake("the softmax ran over the queries: each query's weights over the keys (the last axis) must sum to 1",
                lambda *args: _multi_head(*args, softmax_dim=-2)),
        Mistake("the split cut across tokens: a view straight to (B, H, L, d) keeps the memory order (spot the bug "
                "1); each head must hold its own columns of every token", lambda *args: _multi_head(
                    *args, split=_split_view_only)),
        Mistake("the merge put the numbers back in the wrong order: bring the tokens in front of the heads before "
                "joining each token's heads side by side", lambda *args: _multi_head(*args, merge=_merge_view_only)),
        Mistake("the weights are applied as x @ w here (w is (d_model, H * d_k)); x @ w.T is how nn.Linear's stored "
                "weight is used", lambda x, w_q, w_k, w_v, w_o, h: _multi_head(x, w_q.T, w_k.T, w_v.T, w_o.T, h)),
    ]
    run_checks("multi_head_attention", fn, cases, atol=1e-8, mistakes=mistakes,
               hint=('project with x @ w, split each projection into num_heads heads of its own width, attend in every '
                     'head with 1/sqrt(d_k), merge the heads, then multiply by w_o'))
