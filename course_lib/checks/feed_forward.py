"""Checkers for notebook 06: the feed-forward network from its weights (spot the bug), the gated SwiGLU variant, and
the FFN as two convolutions, probed for being truly position-wise."""

import torch
import torch.nn.functional as F
from torch import nn

from .core import CheckCase, CheckFailed, Mistake, run_checks


def _t(*rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def _random(*shape: int, generator: torch.Generator, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=generator, dtype=torch.float64) * scale


# ---------------------------------------------------------------- FFN(x) = max(0, x W1 + b1) W2 + b2 (spot the bug)

def _ffn(x, W1, b1, W2, b2) -> torch.Tensor:
    # FFN(x) = max(0, x W1 + b1) W2 + b2
    return F.relu(x @ W1 + b1) @ W2 + b2  # (..., d_model)


def _ffn_case(description: str, shape: tuple[int, ...], d_ff: int, seed: int) -> CheckCase:
    generator = torch.Generator().manual_seed(seed)
    d_model = shape[-1]
    x = _random(*shape, generator=generator)
    W1, b1 = _random(d_model, d_ff, generator=generator, scale=d_model**-0.5), _random(d_ff, generator=generator) / 4
    W2, b2 = _random(d_ff, d_model, generator=generator, scale=d_ff**-0.5), _random(d_model, generator=generator) / 4
    args = (x, W1, b1, W2, b2)
    return CheckCase(description, args, _ffn(*args))


def check_feed_forward(fn) -> None:
    """fn(x (..., d_model), W1 (d_model, d_ff), b1 (d_ff,), W2 (d_ff, d_model), b2 (d_model,)) must return
    max(0, x W1 + b1) W2 + b2 of shape (..., d_model)."""
    x = _t([1.0, -1.0], [2.0, 0.5])  # (L=2, d_model=2)
    W1, b1 = _t([1.0, -1.0, 0.5], [1.0, 1.0, -2.0]), _t(0.0, 0.5, -1.0)  # (2, d_ff=3), (3,)
    W2, b2 = _t([1.0, 0.0], [0.0, 1.0], [1.0, 1.0]), _t(0.1, -0.1)  # (3, 2), (2,)
    cases = [
        CheckCase("a hand-sized case: x = [[1, -1], [2, 0.5]], d_model=2, d_ff=3, x W1 + b1 = [[0, -1.5, 1.5], "
                  "[2.5, -1, -1]], b2 = [0.1, -0.1] (want [[1.6, 1.4], [2.6, -0.1]])", (x, W1, b1, W2, b2),
                  _t([1.6, 1.4], [2.6, -0.1])),
        _ffn_case("a random batch x of shape (2, 3, 4) with d_ff=16", (2, 3, 4), 16, seed=1),
        _ffn_case("a random sentence x of shape (5, 8) with d_ff=32", (5, 8), 32, seed=2),
        _ffn_case("a single token x of shape (1, 1, 6) with d_ff=24", (1, 1, 6), 24, seed=3),
    ]
    mistakes = [
        Mistake("nothing bends between the two maps: without max(0, .) on the hidden layer, two linear maps collapse "
                "into one", lambda x, W1, b1, W2, b2: (x @ W1 + b1) @ W2 + b2),
        Mistake("b1 is missing: it is added to x W1 inside max(0, .), where it decides which hidden units fire",
                lambda x, W1, b1, W2, b2: F.relu(x @ W1) @ W2 + b2),
        Mistake("b2 is missing: the second map adds its own bias to the output, after the product with W2",
                lambda x, W1, b1, W2, b2: F.relu(x @ W1 + b1) @ W2),
        Mistake("b1 was added after the ReLU: it belongs inside max(0, x W1 + b1)",
                lambda x, W1, b1, W2, b2: (F.relu(x @ W1) + b1) @ W2 + b2),
        Mistake("the ReLU is on the output: it belongs between the two maps, on the hidden layer",
                lambda x, W1, b1, W2, b2: F.relu((x @ W1 + b1) @ W2 + b2)),
        Mistake("the output went through max(0, .) as well: only the hidden layer does, the output may be negative",
                lambda x, W1, b1, W2, b2: F.relu(_ffn(x, W1, b1, W2, b2))),
    ]
    run_checks("feed_forward", fn, cases, atol=1e-6, mistakes=mistakes,
               hint='FFN(x) = max(0, x W1 + b1) W2 + b2: widen with W1 and b1, bend, narrow with W2 and b2')


# ---------------------------------------------------------------- exercise 1: SwiGLU

def _swiglu(x, W, V, W2, gate=F.silu) -> torch.Tensor:
    # FFN_SwiGLU(x) = (Swish(x W) * x V) W2, Swish(z) = z sigmoid(z)
    return (gate(x @ W) * (x @ V)) @ W2  # (..., d_model)


def _swiglu_case(description: str, shape: tuple[int, ...], d_ff: int, seed: int) -> CheckCase:
    generator = torch.Generator().manual_seed(seed)
    d_model = shape[-1]
    x = _random(*shape, generator=generator)
    W, V = (_random(d_model, d_ff, generator=generator, scale=d_model**-0.5) for _ in range(2))
    W2 = _random(d_ff, d_model, generator=generator, scale=d_ff**-0.5)
    args = (x, W, V, W2)
    return CheckCase(description, args, _swiglu(*args))


def check_swiglu_ffn(fn) -> None:
    """fn(x (..., d_model), W (d_model, d_ff), V (d_model, d_ff), W2 (d_ff, d_model)) must return
    (Swish(x W) * x V) W2 of shape (..., d_model), with Swish(z) = z * sigmoid(z), element by element."""
    x = _t([1.0, -1.0], [2.0, 0.0])  # (L=2, d_model=2)
    W, V = _t([1.0, 0.0, -1.0], [0.0, 1.0, 1.0]), _t([1.0, 1.0, 0.0], [0.0, 1.0, 2.0])  # (2, d_ff=3) each
    W2 = _t([1.0, 0.0], [0.0, 1.0], [1.0, -1.0])  # (3, 2)
    cases = [
        CheckCase("a hand-sized case: x = [[1, -1], [2, 0]], d_model=2, d_ff=3, x W = [[1, -1, -2], [2, 0, -2]], "
                  "x V = [[1, 0, -2], [2, 2, 0]], Swish(1) = 0.7311, Swish(2) = 1.7616, Swish(-2) = -0.2384",
                  (x, W, V, W2), _swiglu(x, W, V, W2)),
        _swiglu_case("a random batch x of shape (2, 3, 4) with d_ff=6", (2, 3, 4), 6, seed=1),
        _swiglu_case("a random sentence x of shape (5, 8) with d_ff=12", (5, 8), 12, seed=2),
        _swiglu_case("a single token x of shape (1, 1, 6) with d_ff=16", (1, 1, 6), 16, seed=3),
    ]
    mistakes = [
        Mistake("the gate is sigma(x W) alone, the original GLU: Swish multiplies the sigmoid by its own input, "
                "z * sigmoid(z)", lambda x, W, V, W2: _swiglu(x, W, V, W2, gate=torch.sigmoid)),
        Mistake("the gate went through max(0, .), which makes ReGLU: SwiGLU's gate is Swish(z) = z * sigmoid(z)",
                lambda x, W, V, W2: _swiglu(x, W, V, W2, gate=F.relu)),
        Mistake("the gate went through GELU, which makes GEGLU: SwiGLU's gate is Swish(z) = z * sigmoid(z)",
                lambda x, W, V, W2: _swiglu(x, W, V, W2, gate=F.gelu)),
        Mistake("the gate has no activation at all ((x W) * (x V), the 'bilinear' variant): Swish goes on x W",
                lambda x, W, V, W2: _swiglu(x, W, V, W2, gate=lambda z: z)),
        Mistake("Swish went on the wrong branch: it is applied to x W, and x V stays linear",
                lambda x, W, V, W2: _swiglu(x, V, W, W2)),
        Mistake("the two branches were added: the gate multiplies, element by element",
                lambda x, W, V, W2: (F.silu(x @ W) + x @ V) @ W2),
        Mistake("x V is never used: the gate Swish(x W) must multiply it, element by element, before W2",
                lambda x, W, V, W2: F.silu(x @ W) @ W2),
        Mistake("Swish came after the product: it is applied to x W alone, then multiplied by x V",
                lambda x, W, V, W2: F.silu((x @ W) * (x @ V)) @ W2),
    ]
    run_checks("swiglu_ffn", fn, cases, atol=1e-6, mistakes=mistakes,
               hint='(Swish(x W) * x V) W2, with Swish(z) = z * sigmoid(z) and * element by element; no biases')


# ---------------------------------------------------------------- exercise 2: the FFN as two convolutions

def check_make_conv_ffn(fn) -> None:
    """fn(d_model, d_ff) must build a module of two nn.Conv1d with kernel size 1 and an activation between them,
    mapping (B, L, d_model) -> (B, L, d_model): every position alone and alike, 2 d_model d_ff + d_ff + d_model
    parameters, not a linear map."""
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
            raise CheckFailed(f"expected fn(d_model, d_ff) to return an nn.Module, got {type(module).__name__}",
                              hint="return the module itself, e.g. an instance of your nn.Module subclass")
        if what == "parameters":
            return sum(p.numel() for p in module.parameters())
        if what == "kernels":
            return tuple(m.kernel_size[0] for m in module.modules() if isinstance(m, nn.Conv1d))
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

    neighbours = ("a position's output depends on the other positions: a convolution window wider than one position "
                  "mixes each token with its neighbours")
    cases = [
        CheckCase("x of shape (2, 5, 8), d_model=8, d_ff=32: the output shape", ("shape",), (2, 5, 8),
                  hint=("nn.Conv1d reads (batch, channels, positions) and the channels here are the d_model features: "
                        "the positions have to be the last axis going in, and the features again coming out")),
        CheckCase("running each position alone (x[:, i:i+1]) vs the whole sentence at once: the largest difference "
                  "at each of the 5 positions (want zeros)", ("alone",), torch.zeros(5), hint=neighbours),
        CheckCase("changing only the last token: how far the outputs of positions 0-3 move (want zeros)", ("others",),
                  torch.zeros(4), hint=neighbours),
        CheckCase("the first token's vector put again at the last position: the difference between the two outputs "
                  "(want 0: the same weights at every position)", ("alike",), torch.tensor(0.0),
                  hint="the same vector at two positions gave two outputs: something in the module depends on where "
                       "a token sits"),
        CheckCase("the number of parameters (want 2 * 8 * 32 + 32 + 8 = 552)", ("parameters",), 552,
                  hint=("each convolution holds an out x in weight per kernel position and a bias: the FFN's two "
                        "maps with kernel size 1 are 8 * 32 + 32 and 32 * 8 + 8")),
        CheckCase("whether f(x) + f(-x) - 2 f(0) is nonzero somewhere (want True)", ("bends",), True,
                  hint="without an activation between them the two convolutions are one linear map"),
        CheckCase("the kernel sizes of its nn.Conv1d layers (want (1, 1): the paper's two convolutions with kernel "
                  "size 1)", ("kernels",), (1, 1),
                  hint="build it from two nn.Conv1d that each see one position: kernel_size=1"),
    ]
    with torch.random.fork_rng(devices=[]):  # the modules draw random weights: leave the caller's stream alone
        torch.manual_seed(0)
        run_checks("make_conv_ffn", probe, cases,
                   hint='two nn.Conv1d with kernel_size=1 and a ReLU between them, features as the channels')
