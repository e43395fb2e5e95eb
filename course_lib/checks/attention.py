"""Checkers for notebook 03: a stable softmax, the attention weights, the softmax's backward pass, and attention
computed one block of keys at a time (the online softmax behind FlashAttention)."""

import math

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .core import CheckCase, CheckFailed, Mistake, compare, run_checks


def _random(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """q k^T (..., Lq, Lk), not yet scaled."""
    return q @ k.transpose(-2, -1)


def _weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """softmax(q k^T / sqrt(d_k)) over the keys (..., Lq, Lk)."""
    return torch.softmax(_scores(q, k) / math.sqrt(q.size(-1)), dim=-1)


# ---------------------------------------------------------------- softmax

def _exp_over_sum(x: torch.Tensor) -> torch.Tensor:
    return x.exp() / x.exp().sum(dim=-1, keepdim=True)


SOFTMAX_MISTAKES = [
    Mistake("exp of a large score overflows to inf (and of a very negative one underflows to 0), so the quotient "
            "becomes inf / inf or 0 / 0 = NaN: shift each row by a constant before exp, one that makes its largest "
            "exponent e^0", _exp_over_sum),
    Mistake("one shift for the whole tensor (its overall maximum) leaves every row far below that maximum to "
            "underflow to 0 / 0: each row needs its own shift", lambda x: _exp_over_sum(x - x.max())),
    Mistake("the normalisation ran over the first dimension: every row of the last dimension must sum to 1",
            lambda x: torch.softmax(x, dim=0)),
]


def check_softmax(fn) -> None:
    """fn(x) must return softmax over the last dimension, finite even for scores like 1000 or -1000."""
    x = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    large = torch.tensor([[1000.0, 0.0, 999.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    small = torch.tensor([-1000.0, -1000.0, -1001.0], dtype=torch.float64)
    batch = _random(2, 3, 5, seed=0) * 4
    cases = [
        CheckCase("x = [1, 2, 3] (want [0.0900, 0.2447, 0.6652])", (x,), torch.softmax(x, -1)),
        CheckCase("x = [[1000, 0, 999], [0, 0, 0]] (want [[0.7311, 0, 0.2689], [0.3333, 0.3333, 0.3333]])",
                  (large,), torch.softmax(large, -1)),
        CheckCase("x = [-1000, -1000, -1001] (want [0.4223, 0.4223, 0.1554])", (small,), torch.softmax(small, -1)),
        CheckCase("random x of shape (2, 3, 5) (want each of the 6 rows of 5 to sum to 1)", (batch,),
                  torch.softmax(batch, -1)),
    ]
    run_checks("softmax", fn, cases, atol=1e-8, mistakes=SOFTMAX_MISTAKES,
               hint=("each row of the last dimension is its own softmax: shift it by its own maximum, exponentiate, "
                     "divide by its own sum (keep the reduced dimension, so a row's maximum and sum line up with "
                     "that row)"))


# ---------------------------------------------------------------- attention_weights

def _implied_scale(q: torch.Tensor, k: torch.Tensor, got) -> float | None:
    """The c for which `got` == softmax(q k^T / c) over the keys, when `got` is such a softmax; else None."""
    scores = _scores(q, k)  # (..., Lq, Lk)
    if not (isinstance(got, torch.Tensor) and got.is_floating_point() and got.shape == scores.shape
            and bool((got > 0).all())):
        return None
    # log softmax(s / c) = s / c - const per row: the centred logs are the centred scores over c
    logs = got.detach().to(torch.float64).log()
    centred_logs = logs - logs.mean(dim=-1, keepdim=True)
    centred_scores = scores - scores.mean(dim=-1, keepdim=True)
    overlap = (centred_scores * centred_logs).sum()
    if overlap <= 0:
        return None
    c = ((centred_scores**2).sum() / overlap).item()
    if not torch.allclose(torch.softmax(scores / c, dim=-1), got.detach().to(torch.float64), atol=1e-6, rtol=0):
        return None
    return c


def _scale_hint(c: float, d_k: int) -> str:
    """What dividing the scores by c instead of sqrt(d_k) says about the learner's code."""
    root = math.sqrt(d_k)
    if math.isclose(c, 1.0, rel_tol=1e-4):
        return f"the scores were not scaled at all: q and k have width d_k = {d_k} here, so they need ÷ √{d_k} = " \
               f"{root:g}"
    if math.isclose(c, d_k, rel_tol=1e-4):
        return f"the scores were divided by d_k = {d_k} itself, not by its square root √{d_k} = {root:g}"
    if math.isclose(c, 1 / root, rel_tol=1e-4):
        return f"the scores were multiplied by √d_k = {root:g} instead of divided by it"
    square = round(c * c)
    named = f"√{square} ≈ {c:.4g}" if math.isclose(c * c, square, rel_tol=1e-4) else f"{c:.4g}"
    return (f"the scores were divided by {named}, but q and k have width d_k = {d_k} here, so the scale is √{d_k} = "
            f"{root:g}: take d_k from the vectors in the dot product (their last dimension), not from d_model or a "
            f"fixed number")


def _diagnose_scale(fn, q: torch.Tensor, k: torch.Tensor):
    """Run fn(q, k); when its weights are a softmax of the scores with the wrong scale, fail and say which."""
    got = fn(q, k)
    c = _implied_scale(q, k, got)
    if c is not None and not math.isclose(c, math.sqrt(q.size(-1)), rel_tol=1e-4):
        raise CheckFailed(compare(got, _weights(q, k), 1e-5), hint=_scale_hint(c, q.size(-1)))
    return got


def _scaled_softmax(dim: int):
    return lambda q, k: torch.softmax(_scores(q, k) / math.sqrt(q.size(-1)), dim=dim)


WEIGHTS_MISTAKES = [
    Mistake("each query's row must sum to 1, but here each column does: the softmax ran over the queries (axis -2) "
            "— the keys are the last axis", _scaled_softmax(-2)),
    Mistake("the softmax ran over a batch or head axis: whatever leading dimensions q and k have, the keys are the "
            "last axis of the scores", _scaled_softmax(0)),
    Mistake("the softmax ran over a batch or head axis: whatever leading dimensions q and k have, the keys are the "
            "last axis of the scores", _scaled_softmax(1)),
    Mistake("rows are queries and columns keys: the scores are q times k transposed, (L_q, L_k), not k times q "
            "transposed", lambda q, k: torch.softmax(_scores(k, q) / math.sqrt(q.size(-1)), dim=-1)),
]


def check_attention_weights(fn) -> None:
    """fn(q (..., Lq, d_k), k (..., Lk, d_k)) must return softmax(q k^T / sqrt(d_k)) over the keys, (..., Lq, Lk)."""
    q = torch.tensor([[2.0, 0.0, 0.0, 0.0], [0.0, 2.0, 2.0, 0.0]], dtype=torch.float64)  # (2, 4)
    k = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)  # (3, 4)
    cases = [
        CheckCase("q = [[2, 0, 0, 0], [0, 2, 2, 0]] and k = [[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 1, 1]] "
                  "(2 queries, 3 keys, d_k = 4)", (q, k), _weights(q, k)),
        CheckCase("q, k of shape (B=2, H=2, L=3, d_k=4)", (_random(2, 2, 3, 4, seed=1), _random(2, 2, 3, 4, seed=2)),
                  _weights(_random(2, 2, 3, 4, seed=1), _random(2, 2, 3, 4, seed=2))),
        CheckCase("cross-attention: q (1, 2, 16), k (1, 5, 16)", (_random(1, 2, 16, seed=3), _random(1, 5, 16, seed=4)),
                  _weights(_random(1, 2, 16, seed=3), _random(1, 5, 16, seed=4))),
    ]
    run_checks("attention_weights", fn, cases, probe=_diagnose_scale, mistakes=WEIGHTS_MISTAKES,
               hint="the weights are a softmax of q·kᵀ / √d_k over the keys: one row per query, summing to 1")


# ---------------------------------------------------------------- softmax_backward

def _softmax_backward(weights: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    """dL/dS from A = softmax(S) and G = dL/dA, through autograd (the reference)."""
    scores = weights.log().detach().requires_grad_(True)  # softmax(log A) = A when each row of A sums to 1
    torch.softmax(scores, dim=-1).backward(grad)
    return scores.grad


OFF_DIAGONAL = ("a score S_j also lowers every other weight (∂A_i/∂S_j = −A_i A_j for i ≠ j), and those "
                "off-diagonal terms of the Jacobian are missing")
BACKWARD_MISTAKES = [
    Mistake(f"only the diagonal term A_j G_j is there: {OFF_DIAGONAL}", lambda a, g: a * g),
    Mistake(f"A_j (1 − A_j) G_j is the diagonal of the Jacobian alone: {OFF_DIAGONAL}", lambda a, g: a * (1 - a) * g),
    Mistake("the factor A_j is missing: a key with weight 0 must get gradient 0 (∂A_i/∂S_j carries A_i)",
            lambda a, g: g - (a * g).sum(dim=-1, keepdim=True)),
    Mistake("the subtracted term is the upstream gradient averaged with the weights, Σ_i A_i G_i, not its plain "
            "sum over the row", lambda a, g: a * (g - g.sum(dim=-1, keepdim=True))),
    Mistake("the subtracted term is the upstream gradient averaged with the weights, Σ_i A_i G_i, not its plain "
            "mean over the row", lambda a, g: a * (g - g.mean(dim=-1, keepdim=True))),
    Mistake("the sign is flipped: raising S_j raises A_j (∂A_j/∂S_j = A_j(1 − A_j) > 0)",
            lambda a, g: a * ((a * g).sum(dim=-1, keepdim=True) - g)),
]


def check_softmax_backward(fn) -> None:
    """fn(weights A (..., n), grad G = dL/dA (..., n)) must return dL/dS (..., n), for A = softmax(S) over the last
    dimension."""
    a = torch.tensor([0.1, 0.2, 0.7], dtype=torch.float64)
    one_hot = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
    batch_a = torch.softmax(_random(2, 3, 5, seed=11) * 2, dim=-1)
    batch_g = _random(2, 3, 5, seed=12)
    cases = [
        CheckCase("A = [0.1, 0.2, 0.7] and G = [1, 0, 0], i.e. L = A_0 (want [0.09, -0.02, -0.07])",
                  (a, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)),
                  _softmax_backward(a, torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))),
        CheckCase("A = [0.1, 0.2, 0.7] and G = [1, 1, 1] (raising every weight's loss alike changes nothing: want "
                  "zeros)", (a, torch.ones(3, dtype=torch.float64)), torch.zeros(3, dtype=torch.float64)),
        CheckCase("A (2, 3, 5): 6 rows of softmax weights, G (2, 3, 5) random", (batch_a, batch_g),
                  _softmax_backward(batch_a, batch_g)),
        CheckCase("a saturated row A = [0, 1, 0] and G = [0.3, -1, 2] (want zeros: a one-hot softmax passes no "
                  "gradient)", (one_hot, torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)),
                  torch.zeros(3, dtype=torch.float64)),
    ]
    run_checks("softmax_backward", fn, cases, atol=1e-8, mistakes=BACKWARD_MISTAKES,
               hint=("(∂L/∂S)_j = Σ_i G_i ∂A_i/∂S_j with ∂A_i/∂S_j = A_i(δ_ij − A_j), for every row of the last "
                     "dimension; no n × n Jacobian is needed"))


# ---------------------------------------------------------------- blockwise_attention

def _online_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int, *,
                      rescale: tuple[str, ...] = ("sum", "output"), running_max: bool = True,
                      last_block: bool = True, scaled: bool = True) -> torch.Tensor:
    """Attention over key blocks with a running max; the flags switch off one step each (the known mistakes)."""
    num_keys = k.size(-2)
    stop = num_keys if last_block else num_keys - num_keys % block_size
    best = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=q.dtype)  # (..., Lq, 1): running max m
    total = torch.zeros(q.shape[:-1] + (1,), dtype=q.dtype)  # (..., Lq, 1): running sum of exp(s - m)
    out = torch.zeros(q.shape[:-1] + (v.size(-1),), dtype=q.dtype)  # (..., Lq, d_v): running sum of exp(s - m) v
    for start in range(0, stop, block_size):
        block = slice(start, start + block_size)
        s = _scores(q, k[..., block, :]) / (math.sqrt(q.size(-1)) if scaled else 1.0)  # (..., Lq, b)
        new_best = torch.maximum(best, s.amax(dim=-1, keepdim=True)) if running_max else torch.zeros_like(best)
        p = (s - new_best).exp()  # (..., Lq, b)
        # what was summed against exp(-m) is rescaled to exp(-m'): multiply by exp(m - m')
        shrink = (best - new_best).exp() if running_max else torch.ones_like(best)
        total = total * (shrink if "sum" in rescale else 1.0) + p.sum(dim=-1, keepdim=True)
        out = out * (shrink if "output" in rescale else 1.0) + p @ v[..., block, :]
        best = new_best
    return out / total  # (..., Lq, d_v)


def _own_block_shift(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int) -> torch.Tensor:
    """Each block shifted by its own maximum and the blocks' sums added as they are (a known mistake)."""
    total, out = 0.0, 0.0
    for i in range(0, k.size(-2), block_size):
        s = _scores(q, k[..., i:i + block_size, :]) / math.sqrt(q.size(-1))  # (..., Lq, b)
        p = (s - s.amax(dim=-1, keepdim=True)).exp()  # (..., Lq, b)
        total, out = total + p.sum(dim=-1, keepdim=True), out + p @ v[..., i:i + block_size, :]
    return out / total


def _per_block_average(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int) -> torch.Tensor:
    """The mean over blocks of each block's own softmax attention (a known mistake)."""
    blocks = range(0, k.size(-2), block_size)
    return sum(_weights(q, k[..., i:i + block_size, :]) @ v[..., i:i + block_size, :] for i in blocks) / len(blocks)


BLOCKWISE_MISTAKES = [
    Mistake("when a block raises a query's running maximum from m to m', the sum and the output gathered so far "
            "were computed with e^(s − m): both must be rescaled by e^(m − m')",
            lambda q, k, v, b: _online_attention(q, k, v, b, rescale=())),
    Mistake("each block was shifted by its own maximum and the sums added as they are: sums taken against different "
            "maxima do not add up — measure every block against one running maximum, rescaling what came before "
            "whenever it rises", _own_block_shift),
    Mistake("the running sum was rescaled when the maximum rose, but the output gathered so far was not: it was "
            "summed with the old maximum too", lambda q, k, v, b: _online_attention(q, k, v, b, rescale=("sum",))),
    Mistake("the output gathered so far was rescaled when the maximum rose, but the running sum was not: it was "
            "summed with the old maximum too", lambda q, k, v, b: _online_attention(q, k, v, b, rescale=("output",))),
    Mistake("exp of scores near 1000 overflows to inf: subtract a running maximum of the scores seen so far",
            lambda q, k, v, b: _online_attention(q, k, v, b, running_max=False)),
    Mistake("each block was normalised on its own and the blocks averaged: all keys must share one softmax, "
            "so carry one running sum across the blocks and divide once, at the end", _per_block_average),
    Mistake("the last block was dropped: when block_size does not divide L_k, the last block is shorter but still "
            "holds keys", lambda q, k, v, b: _online_attention(q, k, v, b, last_block=False)),
    Mistake("the scores were not divided by √d_k", lambda q, k, v, b: _online_attention(q, k, v, b, scaled=False)),
]


class _ShapeLog(TorchFunctionMode):
    """Records the shape of every tensor that torch functions and tensor methods return, and the key lengths given
    to PyTorch's fused attention (which forms its scores out of sight)."""

    def __init__(self):
        super().__init__()
        self.shapes, self.fused_key_lengths = set(), set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        key = kwargs.get("key", args[1] if len(args) > 1 else None)
        if func is F.scaled_dot_product_attention and isinstance(key, torch.Tensor):
            self.fused_key_lengths.add(key.size(-2))
        result = func(*args, **kwargs)
        for item in result if isinstance(result, tuple | list) else (result,):
            if isinstance(item, torch.Tensor):
                self.shapes.add(tuple(item.shape))
        return result


def _in_blocks(fn, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int):
    """Run fn(q, k, v, block_size) and fail if it formed the scores of all L_k keys at once."""
    with _ShapeLog() as log:
        got = fn(q, k, v, block_size)
    num_queries, num_keys = q.size(-2), k.size(-2)
    if block_size < num_keys:
        hint = "hold only one block of scores, (..., L_q, block_size), at a time: that keeps the memory linear in L_k"
        if any(shape[-2:] in ((num_queries, num_keys), (num_keys, num_queries)) for shape in log.shapes):
            raise CheckFailed(f"a tensor of shape (..., {num_queries}, {num_keys}) was formed: the scores of all "
                              f"{num_keys} keys at once", hint=hint)
        if num_keys in log.fused_key_lengths:
            raise CheckFailed(f"F.scaled_dot_product_attention was given all {num_keys} keys at once", hint=hint)
    return got


def check_blockwise_attention(fn) -> None:
    """fn(q (..., Lq, d_k), k (..., Lk, d_k), v (..., Lk, d_v), block_size) must return softmax(q k^T / sqrt(d_k)) v,
    taking the keys block_size at a time and never forming all Lq x Lk scores at once."""
    q, k, v = _random(5, 4, seed=20), _random(7, 4, seed=21), _random(7, 3, seed=22)  # Lq=5, Lk=7, d_k=4, d_v=3
    # scores near 1000 (exp overflows) that rise from block to block: the running maximum rises at every block
    big_q = torch.tensor([[2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 1.5]], dtype=torch.float64)  # (2, 4)
    big_k = (250.0 + torch.arange(6, dtype=torch.float64))[:, None].repeat(1, 4)  # (6, 4): key j is all 250 + j
    big_v = _random(6, 2, seed=23)  # (6, 2)
    heads = [_random(2, 2, 5, 8, seed=s) for s in (24, 25, 26)]  # (B=2, H=2, L=5, 8)

    def case(description: str, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_size: int) -> CheckCase:
        return CheckCase(description, (q, k, v, block_size), _weights(q, k) @ v)

    cases = [
        case("q (5, 4), k (7, 4), v (7, 3) with block_size=2 (blocks of keys 0-1, 2-3, 4-5, 6)", q, k, v, 2),
        case("the same q, k, v with block_size=1 (one key at a time)", q, k, v, 1),
        case("the same q, k, v with block_size=7 (all keys in one block)", q, k, v, 7),
        case("q = [[2, 2, 2, 2], [2, 2, 2, 1.5]], k (6, 4) with every entry of key j equal to 250 + j, v (6, 2), "
             "block_size=2 (scaled scores from about 940 to 1020, rising block by block)", big_q, big_k, big_v, 2),
        case("q, k, v of shape (B=2, H=2, L=5, 8) with block_size=3", *heads, 3),
    ]
    run_checks("blockwise_attention", fn, cases, probe=_in_blocks, mistakes=BLOCKWISE_MISTAKES,
               hint=("keep, per query, the largest score seen so far m, the sum of e^(s − m) and the sum of "
                     "e^(s − m) v; rescale both by e^(m − m') whenever m rises to m'; divide the two sums at the end"))
