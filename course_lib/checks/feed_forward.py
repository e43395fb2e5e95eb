"""Checkers for notebook 06: the feed-forward network from its weights, and a module that is truly position-wise."""

import torch
import torch.nn.functional as F
from torch import nn

from .core import CheckCase, CheckFailed, run_checks


def _reference(x, W1, b1, W2, b2) -> torch.Tensor:
    # FFN(x) = max(0, x W1 + b1) W2 + b2
    return F.relu(x @ W1 + b1) @ W2 + b2  # (..., d_model)


def _random_case(description: str, shape: tuple[int, ...], d_ff: int, seed: int) -> CheckCase:
    generator = torch.Generator().manual_seed(seed)
    d_model = shape[-1]
    x = torch.randn(*shape, generator=generator, dtype=torch.float64)
    W1 = torch.randn(d_model, d_ff, generator=generator, dtype=torch.float64) / d_model**0.5
    b1 = torch.randn(d_ff, generator=generator, dtype=torch.float64) / 4
    W2 = torch.randn(d_ff, d_model, generator=generator, dtype=torch.float64) / d_ff**0.5
    b2 = torch.randn(d_model, generator=generator, dtype=torch.float64) / 4
    args = (x, W1, b1, W2, b2)
    return CheckCase(description, args, _reference(*args))


def check_feed_forward(fn) -> None:
    """fn(x (..., d_model), W1 (d_model, d_ff), b1 (d_ff,), W2 (d_ff, d_model), b2 (d_model,)) must return
    max(0, x W1 + b1) W2 + b2 of shape (..., d_model)."""
    x = torch.tensor([[1.0, -1.0], [2.0, 0.5]], dtype=torch.float64)  # (L=2, d_model=2)
    W1 = torch.tensor([[1.0, -1.0, 0.5], [1.0, 1.0, -2.0]], dtype=torch.float64)  # (2, d_ff=3)
    b1 = torch.tensor([0.0, 0.5, -1.0], dtype=torch.float64)
    W2 = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=torch.float64)  # (3, 2)
    b2 = torch.tensor([0.1, -0.1], dtype=torch.float64)
    cases = [
        CheckCase("a hand-sized case: x = [[1, -1], [2, 0.5]], d_model=2, d_ff=3, where x W1 + b1 = "
                  "[[0, -1.5, 1.5], [2.5, -1, -1]] has negatives that max(0, .) must zero "
                  "(want [[1.6, 1.4], [2.6, -0.1]])", (x, W1, b1, W2, b2), torch.tensor([[1.6, 1.4], [2.6, -0.1]],
                                                                                 dtype=torch.float64)),
        _random_case("a random batch x of shape (2, 3, 4) with d_ff=16", (2, 3, 4), 16, seed=1),
        _random_case("a random sentence x of shape (5, 8) with d_ff=32", (5, 8), 32, seed=2),
        _random_case("a single token x of shape (1, 1, 6) with d_ff=24", (1, 1, 6), 24, seed=3),
    ]
    run_checks("feed_forward", fn, cases, atol=1e-6,
               hint='FFN(x) = max(0, x W1 + b1) W2 + b2: both biases, the ReLU between the two products')


def check_position_wise(fn) -> None:
    """fn(d_model, d_ff) must build a module mapping (B, L, d_model) -> (B, L, d_model) that treats every position
    alone and alike, has 2 d_model d_ff + d_ff + d_model parameters, and is not a linear map."""
    d_model, d_ff = 8, 32
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, d_model, generator=generator)  # (B=2, L=5, d_model)
    changed = x.clone()
    changed[:, -1] = torch.randn(2, d_model, generator=generator)  # only the last token differs
    repeated = x.clone()
    repeated[:, -1] = x[:, 0]  # the first token's vector again, at the last position

    def probe(what: str):
        module = fn(d_model, d_ff)
        if not isinstance(module, nn.Module):
            raise CheckFailed(f"expected fn(d_model, d_ff) to return an nn.Module, "
                                 f"got {type(module).__name__}")
        if what == "parameters":
            return sum(p.numel() for p in module.parameters())
        module.eval()
        with torch.no_grad():
            out = module(x)  # (2, 5, d_model)
            if what == "shape":
                return tuple(out.shape)
            if what == "alone":
                one_by_one = torch.cat([module(x[:, i:i + 1]) for i in range(x.size(1))], dim=1)  # (2, 5, d_model)
                return (one_by_one - out).abs().amax(dim=(0, 2))  # (5,)
            if what == "others":
                return (module(changed) - out)[:, :-1].abs().amax(dim=(0, 2))  # (4,)
            if what == "alike":
                again = module(repeated)  # (2, 5, d_model)
                return (again[:, -1] - again[:, 0]).abs().max()
            # an affine map f has f(x) + f(-x) - 2 f(0) = 0 everywhere
            bend = module(x) + module(-x) - 2 * module(torch.zeros_like(x))  # (2, 5, d_model)
            return bool(bend.abs().max() > 1e-3)

    cases = [
        CheckCase("x of shape (2, 5, 8), d_model=8, d_ff=32: the output shape", ("shape",), (2, 5, 8)),
        CheckCase("running each position alone (x[:, i:i+1]) vs the whole sentence at once: the largest "
                  "difference at each of the 5 positions (want zeros)", ("alone",), torch.zeros(5)),
        CheckCase("changing only the last token: how far the outputs of positions 0-3 move (want zeros)",
                  ("others",), torch.zeros(4)),
        CheckCase("the first token's vector put again at the last position: the difference between the two "
                  "outputs (want 0: the same weights at every position)", ("alike",), torch.tensor(0.0)),
        CheckCase("the number of parameters (want 2 * 8 * 32 + 32 + 8 = 552)", ("parameters",), 552),
        CheckCase("whether f(x) + f(-x) - 2 f(0) is nonzero somewhere (want True: an activation between the two "
                  "linear maps, or they collapse into one linear map)", ("bends",), True),
    ]
    with torch.random.fork_rng(devices=[]):  # the modules draw random weights: leave the caller's stream alone
        torch.manual_seed(0)
        run_checks("position_wise", probe, cases,
                   hint='two nn.Linear layers with an activation between them, applied to the last dimension only')
