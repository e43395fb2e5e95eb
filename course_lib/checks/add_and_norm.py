"""Checkers for notebook 07: LayerNorm from scratch, and a sublayer wrapped in a residual connection and a norm."""

import torch
import torch.nn.functional as F

from ..add_and_norm import LayerNorm
from .core import CheckCase, run_checks


def _t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def _layer_norm_case(description: str, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                     eps: float) -> CheckCase:
    expected = F.layer_norm(x, weight.shape, weight, bias, eps)
    return CheckCase(description, (x, weight, bias, eps), expected)


def check_layer_norm(fn) -> None:
    """fn(x (..., d), weight (d,), bias (d,), eps) must return (x - mean) / sqrt(var + eps) * weight + bias over the
    last dimension, with the biased variance (divide by d) and eps inside the square root, as nn.LayerNorm."""
    generator = torch.Generator().manual_seed(0)
    ones, zeros = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    weight8 = 1 + 0.5 * torch.randn(8, generator=generator, dtype=torch.float64)
    bias8 = 0.5 * torch.randn(8, generator=generator, dtype=torch.float64)
    cases = [
        _layer_norm_case("x = [[1, 2, 3, 6]], weight 1, bias 0, eps=0: mean 3, variance (4 + 1 + 0 + 9) / 4 = 3.5 "
                         "(divide by d = 4, not d - 1 = 3)", _t([1.0, 2.0, 3.0, 6.0]), ones, zeros, 0.0),
        _layer_norm_case("x = [[0, 0.1, 0, 0.1]], eps=0.01: variance 0.0025, want (x - 0.05) / sqrt(0.0025 + 0.01) "
                         "= [-0.4472, 0.4472, ...] (eps inside the square root)", _t([0.0, 0.1, 0.0, 0.1]), ones, zeros,
                         0.01),
        _layer_norm_case("a batch x of shape (2, 3, 8) with a random weight and bias, eps=1e-5",
                         3 * torch.randn(2, 3, 8, generator=generator, dtype=torch.float64) + 1, weight8, bias8, 1e-5),
        _layer_norm_case("a constant token x = [[5, 5, 5, 5]] (variance 0: want the bias [0.1, 0.2, 0.3, 0.4])",
                         _t([5.0, 5.0, 5.0, 5.0]), 2 * ones, _t(0.1, 0.2, 0.3, 0.4), 1e-5),
    ]
    run_checks("layer_norm", fn, cases, atol=1e-6,
               hint=('mean and biased variance over the last dimension (unbiased=False), eps inside the square '
                     'root, then * weight + bias'))


def _residual_parts(d_model: int, seed: int):
    """A fixed affine sublayer and a LayerNorm with a random weight and bias, both float64."""
    generator = torch.Generator().manual_seed(seed)
    A = torch.randn(d_model, d_model, generator=generator, dtype=torch.float64) / d_model**0.5
    c = torch.randn(d_model, generator=generator, dtype=torch.float64)
    norm = LayerNorm(d_model).double()
    with torch.no_grad():
        norm.weight.copy_(1 + 0.5 * torch.randn(d_model, generator=generator, dtype=torch.float64))
        norm.bias.copy_(0.5 * torch.randn(d_model, generator=generator, dtype=torch.float64))
    x = 2 * torch.randn(2, 5, d_model, generator=generator, dtype=torch.float64) + 1  # (B=2, L=5, d_model)
    return x, (lambda y: y @ A + c), norm


def _residual_case(description: str, d_model: int, norm_first: bool, seed: int) -> CheckCase:
    x, sublayer, norm = _residual_parts(d_model, seed)
    with torch.no_grad():
        expected = x + sublayer(norm(x)) if norm_first else norm(x + sublayer(x))  # (B, L, d_model)
    return CheckCase(description, (x, sublayer, norm, norm_first), expected)


def check_residual_block(fn) -> None:
    """fn(x, sublayer, norm, norm_first) must return norm(x + sublayer(x)) (post-norm) when norm_first is False and
    x + sublayer(norm(x)) (pre-norm) when it is True."""
    cases = [
        _residual_case("post-norm (norm_first=False), x of shape (2, 5, 4), an affine sublayer and a LayerNorm with a "
                       "random weight and bias (want norm(x + sublayer(x)))", 4, False, seed=1),
        _residual_case("pre-norm (norm_first=True), x of shape (2, 5, 4), an affine sublayer and a LayerNorm with a "
                       "random weight and bias (want x + sublayer(norm(x)))", 4, True, seed=1),
        _residual_case("post-norm (norm_first=False), x of shape (2, 5, 16) (want norm(x + sublayer(x)))", 16, False,
                       seed=2),
        _residual_case("pre-norm (norm_first=True), x of shape (2, 5, 16) (want x + sublayer(norm(x)))", 16, True,
                       seed=2),
    ]
    with torch.no_grad():
        run_checks("residual_block", fn, cases,
                   hint='post-norm: norm(x + sublayer(x)); pre-norm: x + sublayer(norm(x))')
