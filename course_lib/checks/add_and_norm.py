"""Checkers for notebook 07: LayerNorm and the residual block (spot the bug), RMSNorm, and BatchNorm over a batch of
sentences."""

import torch
import torch.nn.functional as F

from ..add_and_norm import LayerNorm
from .core import CheckCase, Mistake, run_checks


def _t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def _random(*shape: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


def _normalise(x: torch.Tensor, dim, eps: float, unbiased: bool = False, eps_outside: bool = False) -> torch.Tensor:
    """(x - mean) / sqrt(var + eps) over `dim`; the flags make the known mistakes."""
    mean = x.mean(dim=dim, keepdim=True)
    var = x.var(dim=dim, keepdim=True, unbiased=unbiased)
    return (x - mean) / (var.sqrt() + eps if eps_outside else torch.sqrt(var + eps))


# ---------------------------------------------------------------- LayerNorm (spot the bug)

def _layer_norm_case(description: str, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                     eps: float) -> CheckCase:
    expected = F.layer_norm(x, weight.shape, weight, bias, eps)
    return CheckCase(description, (x, weight, bias, eps), expected)


def check_layer_norm(fn) -> None:
    """fn(x (..., d), weight (d,), bias (d,), eps) must return (x - mean) / sqrt(var + eps) * weight + bias over the
    last dimension, with the biased variance (divide by d) and eps inside the square root, as nn.LayerNorm."""
    generator = torch.Generator().manual_seed(0)
    ones, zeros = torch.ones(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    weight8 = 1 + 0.5 * _random(8, generator=generator)
    bias8 = 0.5 * _random(8, generator=generator)
    cases = [
        _layer_norm_case("x = [[1, 2, 3, 6]], weight 1, bias 0, eps=0: mean 3, (x - mean)^2 = [4, 1, 0, 9]",
                         _t([1.0, 2.0, 3.0, 6.0]), ones, zeros, 0.0),
        _layer_norm_case("x = [[0, 0.1, 0, 0.1]], eps=0.01: mean 0.05, variance 0.0025, smaller than eps",
                         _t([0.0, 0.1, 0.0, 0.1]), ones, zeros, 0.01),
        _layer_norm_case("a batch x of shape (2, 3, 8) with a random weight and bias, eps=1e-5",
                         3 * _random(2, 3, 8, generator=generator) + 1, weight8, bias8, 1e-5),
        _layer_norm_case("a constant token x = [[5, 5, 5, 5]], weight 2, bias [0.1, 0.2, 0.3, 0.4], eps=1e-5 (variance "
                         "0: want the bias)", _t([5.0, 5.0, 5.0, 5.0]), 2 * ones, _t(0.1, 0.2, 0.3, 0.4), 1e-5),
    ]
    mistakes = [
        Mistake("the variance was divided by d - 1 (torch's default unbiased std/var): LayerNorm divides by d, "
                "unbiased=False", lambda x, w, b, eps: _normalise(x, -1, eps, unbiased=True) * w + b),
        Mistake("eps was added to the standard deviation: it belongs inside the square root, sqrt(var + eps)",
                lambda x, w, b, eps: _normalise(x, -1, eps, eps_outside=True) * w + b),
        Mistake("the statistics were taken over the wrong axis (the tokens): each token is normalised over its own "
                "features, the last dimension", lambda x, w, b, eps: _normalise(x, -2, eps) * w + b),
        Mistake("one mean and variance for the whole tensor: each token gets its own, over its last dimension",
                lambda x, w, b, eps: _normalise(x, tuple(range(x.dim())), eps) * w + b),
        Mistake("eps is missing: add it to the variance inside the square root, sqrt(var + eps)",
                lambda x, w, b, eps: _normalise(x, -1, 0.0) * w + b),
        Mistake("x - mean was divided by the variance: divide by its square root, the standard deviation",
                lambda x, w, b, eps: (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False) + eps)
                * w + b),
        Mistake("weight and bias are not applied: scale the normalised x by weight, then add bias",
                lambda x, w, b, eps: _normalise(x, -1, eps)),
        Mistake("weight and bias swapped places: the normalised x is multiplied by weight, then bias is added",
                lambda x, w, b, eps: _normalise(x, -1, eps) * b + w),
    ]
    run_checks("layer_norm", fn, cases, atol=1e-6, mistakes=mistakes,
               hint=('over the last dimension: subtract the mean, divide by sqrt(biased variance + eps), then '
                     '* weight + bias'))


# ---------------------------------------------------------------- the residual block (spot the bug)

def _residual_parts(d_model: int, seed: int):
    """A fixed affine sublayer and a LayerNorm with a random weight and bias, both float64."""
    generator = torch.Generator().manual_seed(seed)
    A = _random(d_model, d_model, generator=generator) / d_model**0.5
    c = _random(d_model, generator=generator)
    norm = LayerNorm(d_model).double()
    with torch.no_grad():
        norm.weight.copy_(1 + 0.5 * _random(d_model, generator=generator))
        norm.bias.copy_(0.5 * _random(d_model, generator=generator))
    x = 2 * _random(2, 5, d_model, generator=generator) + 1  # (B=2, L=5, d_model)
    return x, (lambda y: y @ A + c), norm


def _residual(x, sublayer, norm, norm_first):
    return x + sublayer(norm(x)) if norm_first else norm(x + sublayer(x))  # (B, L, d_model)


def _residual_case(description: str, d_model: int, norm_first: bool, seed: int) -> CheckCase:
    x, sublayer, norm = _residual_parts(d_model, seed)
    with torch.no_grad():
        expected = _residual(x, sublayer, norm, norm_first)
    return CheckCase(description, (x, sublayer, norm, norm_first), expected)


def _normalised_skip(x, sublayer, norm, norm_first):
    if norm_first:
        x = norm(x)
        return x + sublayer(x)
    return norm(x + sublayer(x))


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
    mistakes = [
        Mistake("the skip path carries norm(x) instead of x: in pre-norm only the sublayer's input is normalised, "
                "and x itself is added back untouched", _normalised_skip),
        Mistake("post-norm and pre-norm are swapped: norm_first=True normalises the sublayer's input, "
                "norm_first=False the sum", lambda x, s, n, first: _residual(x, s, n, not first)),
        Mistake("x is never added back: the residual connection is the '+ x'",
                lambda x, s, n, first: s(n(x)) if first else n(s(x))),
        Mistake("the norm is missing: post-norm normalises the sum x + sublayer(x)",
                lambda x, s, n, first: x + s(n(x)) if first else x + s(x)),
    ]
    with torch.no_grad():
        run_checks("residual_block", fn, cases, mistakes=mistakes,
                   hint='post-norm: norm(x + sublayer(x)); pre-norm: x + sublayer(norm(x))')


# ---------------------------------------------------------------- exercise 1: RMSNorm

def _rms_norm(x, weight, eps, dim=-1, centre=False, eps_outside=False, root=True, mean=True):
    """x / sqrt(mean(x^2) + eps) * weight over `dim`; the flags make the known mistakes."""
    x = x - x.mean(dim=dim, keepdim=True) if centre else x
    square = x.pow(2).mean(dim=dim, keepdim=True) if mean else x.pow(2).sum(dim=dim, keepdim=True)
    if not root:
        return x / (square + eps) * weight
    return x / (square.sqrt() + eps if eps_outside else torch.sqrt(square + eps)) * weight


def check_rms_norm(fn) -> None:
    """fn(x (..., d), weight (d,), eps) must return x / sqrt(mean(x^2) + eps) * weight over the last dimension."""
    generator = torch.Generator().manual_seed(1)
    ones = torch.ones(4, dtype=torch.float64)
    weight8 = 1 + 0.5 * _random(8, generator=generator)
    x8 = 3 * _random(2, 3, 8, generator=generator) + 1  # (B=2, L=3, d=8), away from zero on average
    cases = [
        CheckCase("x = [[1, 2, 3, 6]], weight 1, eps=0: mean of the squares (1 + 4 + 9 + 36) / 4 = 12.5",
                  (_t([1.0, 2.0, 3.0, 6.0]), ones, 0.0), _rms_norm(_t([1.0, 2.0, 3.0, 6.0]), ones, 0.0)),
        CheckCase("x = [[0, 0.1, 0, 0.1]], weight 1, eps=0.01: mean of the squares 0.005, smaller than eps",
                  (_t([0.0, 0.1, 0.0, 0.1]), ones, 0.01), _rms_norm(_t([0.0, 0.1, 0.0, 0.1]), ones, 0.01)),
        CheckCase("a batch x of shape (2, 3, 8) with a random weight, eps=1e-6",
                  (x8, weight8, 1e-6), _rms_norm(x8, weight8, 1e-6)),
        CheckCase("x = [[0, 0, 0, 0]], weight 1, eps=1e-6 (want zeros: eps keeps it from 0 / 0)",
                  (_t([0.0, 0.0, 0.0, 0.0]), ones, 1e-6), _t([0.0, 0.0, 0.0, 0.0])),
    ]
    mistakes = [
        Mistake("the mean was subtracted: that is LayerNorm; RMSNorm divides x itself by its root mean square and "
                "never centres it", lambda x, w, eps: _rms_norm(x, w, eps, centre=True)),
        Mistake("eps was added after the square root: it belongs inside, sqrt(mean(x^2) + eps)",
                lambda x, w, eps: _rms_norm(x, w, eps, eps_outside=True)),
        Mistake("eps is missing: add it to the mean of the squares inside the square root, sqrt(mean(x^2) + eps)",
                lambda x, w, eps: _rms_norm(x, w, 0.0)),
        Mistake("x was divided by the mean of the squares itself: take its square root, the root mean square",
                lambda x, w, eps: _rms_norm(x, w, eps, root=False)),
        Mistake("the squares were summed, not averaged: that divides by the vector's length, sqrt(d) times the "
                "root mean square", lambda x, w, eps: _rms_norm(x, w, eps, mean=False)),
        Mistake("the statistics were taken over the wrong axis (the tokens): each token is scaled by its own root "
                "mean square, over the last dimension", lambda x, w, eps: _rms_norm(x, w, eps, dim=-2)),
        Mistake("weight is not applied: multiply the normalised x by weight", lambda x, w, eps: _rms_norm(x, 1.0, eps)),
        Mistake("x was divided by its standard deviation, which subtracts the mean inside: RMSNorm uses the mean of "
                "x^2 itself", lambda x, w, eps: x / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps) * w),
    ]
    run_checks("rms_norm", fn, cases, atol=1e-6, mistakes=mistakes,
               hint='over the last dimension: x / sqrt(mean of x^2 + eps), then * weight; no mean subtracted, no bias')


# ---------------------------------------------------------------- exercise 2: BatchNorm over a batch of sentences

def _batch_norm(x, eps):
    """Training-mode BatchNorm of (B, L, d) (F.batch_norm on (B, d, L)): each feature over all B * L tokens, biased
    variance, no weight or bias."""
    return _normalise(x, (0, 1), eps)  # (B, L, d)


def check_batch_norm(fn) -> None:
    """fn(x (B, L, d), eps) must normalise each feature over every token of the batch (all B * L of them) with the
    biased variance and eps inside the square root: BatchNorm in training mode, without weight and bias."""
    generator = torch.Generator().manual_seed(2)
    x_hand = _t([[1.0, 10.0], [3.0, 10.0]], [[5.0, 20.0], [7.0, 40.0]])  # (B=2, L=2, d=2)
    x_one = 2 * _random(1, 6, 4, generator=generator) + 3  # (B=1, L=6, d=4)
    x_many = _random(3, 4, 5, generator=generator) * torch.tensor([1.0, 2.0, 0.5, 4.0, 1.0], dtype=torch.float64)
    x_small = _t([[0.0, 1.0], [0.1, 1.0]], [[0.0, 1.0], [0.1, 1.0]])  # (2, 2, 2)
    cases = [
        CheckCase("x = [[[1, 10], [3, 10]], [[5, 20], [7, 40]]] (B=2 sentences, L=2 tokens, d=2 features), eps=1e-5: "
                  "feature 0 takes 1, 3, 5, 7 (mean 4, variance 5), feature 1 takes 10, 10, 20, 40 (mean 20, variance "
                  "150)", (x_hand, 1e-5), _batch_norm(x_hand, 1e-5)),
        CheckCase("one sentence x of shape (1, 6, 4), eps=1e-5", (x_one, 1e-5), _batch_norm(x_one, 1e-5)),
        CheckCase("a batch x of shape (3, 4, 5) with features of different scales, eps=1e-5", (x_many, 1e-5),
                  _batch_norm(x_many, 1e-5)),
        CheckCase("x of shape (2, 2, 2) whose feature 0 takes 0, 0.1, 0, 0.1 (variance 0.0025) and feature 1 is "
                  "always 1, eps=0.01", (x_small, 0.01), _batch_norm(x_small, 0.01)),
    ]
    mistakes = [
        Mistake("each token was normalised over its own features: that is LayerNorm. BatchNorm normalises each "
                "feature over all the tokens of the batch", lambda x, eps: _normalise(x, -1, eps)),
        Mistake("the statistics were taken over the sentences only, separately at every position: BatchNorm pools "
                "every token of every sentence, batch and positions together, for each feature",
                lambda x, eps: _normalise(x, 0, eps)),
        Mistake("the statistics were taken over the positions of each sentence only: BatchNorm pools the whole batch, "
                "every sentence's tokens together, for each feature", lambda x, eps: _normalise(x, 1, eps)),
        Mistake("the variance was divided by n - 1: BatchNorm normalises with the biased variance (divide by the "
                "number of tokens, B * L); the unbiased one only feeds its running average",
                lambda x, eps: _normalise(x, (0, 1), eps, unbiased=True)),
        Mistake("eps was added to the standard deviation: it belongs inside the square root, sqrt(var + eps)",
                lambda x, eps: _normalise(x, (0, 1), eps, eps_outside=True)),
        Mistake("one mean and variance for the whole tensor: BatchNorm keeps one per feature (the last dimension)",
                lambda x, eps: _normalise(x, (0, 1, 2), eps)),
    ]
    run_checks("batch_norm", fn, cases, atol=1e-4, mistakes=mistakes,
               hint=('for each feature (the last dimension): subtract its mean over all B * L tokens, divide by '
                     'sqrt(its biased variance over them + eps)'))
