"""Checkers for notebook 03: a numerically stable softmax, the attention weights, and scaled dot-product attention."""

import math

import torch

from .core import CheckCase, run_checks


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_k)) over the keys (..., Lq, Lk)."""
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1)


def check_softmax(fn) -> None:
    """fn(x) must return softmax over the last dimension, finite even for scores like 1000 or -1000."""
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    large = torch.tensor([[1000.0, 0.0, 999.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    small = torch.tensor([-1000.0, -1000.0, -1001.0], dtype=torch.float64)
    batch = _random(2, 3, 5, seed=0) * 4
    cases = [
        CheckCase("x = [1, 2, 3] (want [0.0900, 0.2447, 0.6652])", (x,), torch.softmax(x, -1)),
        CheckCase("x = [[1000, 0, 999], [0, 0, 0]] (exp(1000) overflows: subtract each row's max first)",
                  (large,), torch.softmax(large, -1)),
        CheckCase("x = [-1000, -1000, -1001] (exp(-1000) underflows to 0, and 0 / 0 is NaN)", (small,),
                  torch.softmax(small, -1)),
        CheckCase("random x of shape (2, 3, 5): each row of the last dimension sums to 1", (batch,),
                  torch.softmax(batch, -1)),
    ]
    run_checks("softmax", fn, cases, atol=1e-8,
               hint="subtract each row's maximum before exp, then divide by the sum over the last dimension")


def _weights_case(description: str, q: torch.Tensor, k: torch.Tensor) -> CheckCase:
    return CheckCase(description, (q, k), _weights(q, k))


def check_attention_weights(fn) -> None:
    """fn(q (..., Lq, d_k), k (..., Lk, d_k)) must return softmax(q k^T / sqrt(d_k)) over the keys, (..., Lq, Lk)."""
    q = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 2.0, 0.0]], dtype=torch.float64)  # (2, 4)
    k = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)  # (3, 4)
    cases = [
        _weights_case("2 queries, 3 keys, d_k=4 (want scores / 2, a softmax over the 3 keys of each row)", q, k),
        _weights_case("q, k of shape (B=2, H=2, L=3, d_k=4)", _random(2, 2, 3, 4, seed=1), _random(2, 2, 3, 4, seed=2)),
        _weights_case("cross-attention: q (1, 2, 16), k (1, 5, 16)", _random(1, 2, 16, seed=3),
                      _random(1, 5, 16, seed=4)),
    ]
    run_checks("attention_weights", fn, cases,
               hint='scores = q @ k.transpose(-2, -1) / sqrt(d_k), then a softmax over the keys (the last dimension)')


def _attention_case(description: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> CheckCase:
    weights = _weights(q, k)  # (..., Lq, Lk)
    return CheckCase(description, (q, k, v), (weights @ v, weights))


def check_scaled_dot_product_attention(fn) -> None:
    """fn(q, k, v) must return (softmax(q k^T / sqrt(d_k)) v (..., Lq, d_v), the weights (..., Lq, Lk))."""
    q = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 2.0, 0.0]], dtype=torch.float64)  # (2, 4)
    k = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)  # (3, 4)
    v = torch.tensor([[1.0, 0.0], [0.0, 1.0], [10.0, 10.0]], dtype=torch.float64)  # (3, 2)
    cases = [
        _attention_case("2 queries, 3 keys, d_k=4, values [[1, 0], [0, 1], [10, 10]]", q, k, v),
        _attention_case("q, k (B=2, H=2, L=3, d_k=4) and v with d_v=5", _random(2, 2, 3, 4, seed=5),
                        _random(2, 2, 3, 4, seed=6), _random(2, 2, 3, 5, seed=7)),
        _attention_case("cross-attention: q (1, 2, 16), k and v (1, 5, 16)", _random(1, 2, 16, seed=8),
                        _random(1, 5, 16, seed=9), _random(1, 5, 16, seed=10)),
    ]
    run_checks("scaled_dot_product_attention", fn, cases, names=("the output", "the weights"),
               hint='weights = softmax(q k^T / sqrt(d_k)) over the keys; return (weights @ v, weights)')
