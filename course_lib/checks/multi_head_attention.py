"""Checkers for notebook 05: splitting a projection into heads, merging the heads back, and multi-head attention."""

import torch

from ..attention import scaled_dot_product_attention
from ..multi_head_attention import merge_heads, split_heads
from .core import CheckCase, run_checks


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _counting(*shape: int) -> torch.Tensor:
    """0, 1, 2, ... in the given shape: every entry says where it came from."""
    n = 1
    for size in shape:
        n *= size
    return torch.arange(n, dtype=torch.float64).view(*shape)


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
    run_checks("split_heads", fn, cases, atol=0.0,
               hint=('view (B, L, H, d_k), then transpose to (B, H, L, d_k): head h holds columns h*d_k .. '
                     '(h+1)*d_k - 1'))


def check_merge_heads(fn) -> None:
    """fn(x (B, H, L, d_k)) must return (B, L, H * d_k), undoing split_heads: token i's heads side by side."""
    cases = [
        CheckCase("x = arange(24).view(1, 2, 3, 4) (2 heads, 3 tokens, d_k = 4)", (_counting(1, 2, 3, 4),),
                  merge_heads(_counting(1, 2, 3, 4))),
        CheckCase("random x of shape (2, 3, 5, 4)", (_random(2, 3, 5, 4, seed=1),),
                  merge_heads(_random(2, 3, 5, 4, seed=1))),
        CheckCase("x = arange(24).view(1, 4, 2, 3).transpose(2, 3), of shape (1, 4, 3, 2) and not contiguous in memory",
                  (_counting(1, 4, 2, 3).transpose(2, 3),), merge_heads(_counting(1, 4, 2, 3).transpose(2, 3))),
    ]
    run_checks("merge_heads", fn, cases, atol=0.0,
               hint='transpose back to (B, L, H, d_k), make it contiguous, then view (B, L, H * d_k)')


def _multi_head_reference(x, w_q, w_k, w_v, w_o, num_heads: int) -> torch.Tensor:
    """Concat(head_1..head_h) W^O with head_i = Attention(x W_i^Q, x W_i^K, x W_i^V), from course_lib's pieces."""
    q, k, v = (split_heads(x @ w, num_heads) for w in (w_q, w_k, w_v))  # (B, H, L, d_k) each
    out, _ = scaled_dot_product_attention(q, k, v)  # (B, H, L, d_k)
    return merge_heads(out) @ w_o  # (B, L, d_model)


def _multi_head_case(description: str, batch: int, length: int, d_model: int, num_heads: int, seed: int) -> CheckCase:
    x = _random(batch, length, d_model, seed=seed)  # (B, L, d_model)
    weights = [_random(d_model, d_model, seed=seed + i + 1) / d_model**0.5 for i in range(4)]  # 4 x (d_model, d_model)
    args = (x, *weights, num_heads)
    return CheckCase(description, args, _multi_head_reference(*args))


def check_multi_head_attention(fn) -> None:
    """fn(x, w_q, w_k, w_v, w_o, num_heads) must return multi-head self-attention (B, L, d_model), using x @ w."""
    cases = [
        _multi_head_case("x (1, 4, 8), 2 heads of d_k = 4", 1, 4, 8, 2, seed=10),
        _multi_head_case("x (2, 5, 12), 3 heads of d_k = 4", 2, 5, 12, 3, seed=20),
        _multi_head_case("x (1, 3, 16), 1 head of d_k = 16 (single-head attention)", 1, 3, 16, 1, seed=30),
        _multi_head_case("x (2, 6, 64), 8 heads of d_k = 8", 2, 6, 64, 8, seed=40),
    ]
    run_checks("multi_head_attention", fn, cases, atol=1e-8,
               hint=('project with x @ w_q (and w_k, w_v), split into heads, attend per head, merge, then multiply'
                     ' by w_o'))
