"""Checkers for notebook 09's KV cache: one decoding step of self-attention on a cache, written by hand, and the
causal mask of several new queries after a cached prefix."""

import math

import torch

from ..kv_cache import KVCache
from ..masking import causal_mask
from ..multi_head_attention import MultiHeadAttention, merge_heads, split_heads
from .core import CheckCase, Mistake, run_checks

# ---------------------------------------------------------------- exercise: one cached step by hand


def _step(x_new, past_k, past_v, w_q, w_k, w_v, w_o, *, new_first=False, attend_past_only=False, scale=None,
          first_key_only=False, mix_heads=True):
    """One step of cached self-attention; the keywords make the known mistakes."""
    heads = past_k.size(1)
    q = split_heads(x_new @ w_q, heads)  # (B, H, 1, d_k)
    k_new, v_new = split_heads(x_new @ w_k, heads), split_heads(x_new @ w_v, heads)  # (B, H, 1, d_k) each
    order = (lambda past, new: (new, past)) if new_first else (lambda past, new: (past, new))
    k = torch.cat(order(past_k, k_new), dim=2)  # (B, H, T + 1, d_k)
    v = torch.cat(order(past_v, v_new), dim=2)  # (B, H, T + 1, d_k)
    keys, values = (past_k, past_v) if attend_past_only else (k, v)
    scores = q @ keys.transpose(-2, -1) / math.sqrt(scale or q.size(-1))  # (B, H, 1, T + 1)
    if first_key_only:  # row 0 of a square causal mask: only position 0 visible
        scores[..., 1:] = float("-inf")
    out = merge_heads(torch.softmax(scores, dim=-1) @ values)  # (B, 1, d_model)
    return (out @ w_o if mix_heads else out), k, v


STEP_MISTAKES = [
    Mistake("the new position attends to itself too: put its key and value into the cache before attending",
            lambda *args: _step(*args, attend_past_only=True)),
    Mistake("the cache keeps time order: the cached positions first, the new one after them (time is dim 2)",
            lambda *args: _step(*args, new_first=True)),
    Mistake("scale the scores by the square root of one head's width d_k = past_k.size(-1), not of d_model",
            lambda x_new, *rest: _step(x_new, *rest, scale=x_new.size(-1))),
    Mistake("one new query is the newest position: it may see every cached position and itself, so it needs no "
            "causal mask (row 0 of a square causal mask sees position 0 only)",
            lambda *args: _step(*args, first_key_only=True)),
    Mistake("after merging the heads, mix them with the output projection w_o",
            lambda *args: _step(*args, mix_heads=False)),
    Mistake("return the grown cache: past_k and past_v with the new position's key and value appended (T + 1 "
            "positions)", lambda *args: (_step(*args)[0], args[1], args[2])),
]


@torch.no_grad()
def _step_case(description: str, batch: int, cached: int, d_model: int, num_heads: int, seed: int) -> CheckCase:
    """x_new after `cached` positions, the weights of a bias-free MultiHeadAttention, and what its KVCache gives."""
    generator = torch.Generator().manual_seed(seed)
    attn = MultiHeadAttention(d_model, num_heads, bias=False).double()
    for projection in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj):
        projection.weight.copy_(torch.randn(d_model, d_model, generator=generator, dtype=torch.float64) / d_model**0.5)
    x = torch.randn(batch, cached + 1, d_model, generator=generator, dtype=torch.float64)  # (B, T + 1, d_model)
    cache = KVCache(batch, cached + 1)
    if cached:
        attn(x[:, :cached], cache=cache)  # fills positions 0 .. T - 1
    shape = (batch, num_heads, cached, d_model // num_heads)
    past = {name: t.clone() for name, t in cache.filled().items()} if cached else {
        "k": torch.zeros(shape, dtype=torch.float64), "v": torch.zeros(shape, dtype=torch.float64)}
    out = attn(x[:, cached:], cache=cache)  # (B, 1, d_model): the step, as course_lib takes it
    grown = cache.filled()  # (B, H, T + 1, d_k) each
    weights = [p.weight.T.clone() for p in (attn.q_proj, attn.k_proj, attn.v_proj, attn.out_proj)]  # x @ w = p(x)
    return CheckCase(description, (x[:, cached:], past["k"], past["v"], *weights), (out, grown["k"], grown["v"]))


def check_cached_attention_step(fn) -> None:
    """fn(x_new (B, 1, d_model), past_k, past_v (B, H, T, d_k), w_q, w_k, w_v, w_o (d_model, d_model)) must return
    (the attention output (B, 1, d_model), the grown keys and values (B, H, T + 1, d_k)): one decoding step on a
    cache."""
    with torch.random.fork_rng(devices=[]):  # building the modules draws from the global generator
        cases = [
            _step_case("x_new (1, 1, 8) after 3 cached positions: past_k, past_v (1, 2, 3, 4), 2 heads of d_k = 4",
                       1, 3, 8, 2, seed=1),
            _step_case("the first step, on an empty cache: x_new (2, 1, 8), past_k, past_v (2, 2, 0, 4)", 2, 0, 8, 2,
                       seed=2),
            _step_case("x_new (2, 1, 12) after 5 cached positions in 3 heads of d_k = 4: past_k, past_v "
                       "(2, 3, 5, 4)", 2, 5, 12, 3, seed=3),
        ]
    run_checks("cached_attention_step", fn, cases, atol=1e-9, mistakes=STEP_MISTAKES,
               names=("the output", "the keys", "the values"),
               hint=("project x_new to its query, key and value and split them into the cache's heads, append the "
                     "key and value after the cached ones (time is dim 2), then attend with the one query over every "
                     "position, merge the heads and apply w_o"))


# ---------------------------------------------------------------- exercise: new queries after a cached prefix

def _lower(rows: int, columns: int, diagonal: int) -> torch.Tensor:
    """(rows, columns) bool: True on and below the diagonal shifted right by `diagonal`."""
    return torch.ones(rows, columns, dtype=torch.bool).tril(diagonal=diagonal)


MASK_MISTAKES = [
    Mistake("the new queries see the cached keys too: the mask needs a column for every key, cached_len + new_len",
            lambda new_len, cached_len: _lower(new_len, new_len, 0)),
    Mistake("new query i sits at position cached_len + i: its causal row ends there, so the diagonal moves right by "
            "cached_len", lambda new_len, cached_len: _lower(new_len, cached_len + new_len, 0)),
    Mistake("a new query must not see the new tokens after it: only the cached positions and the new ones up to "
            "itself", lambda new_len, cached_len: _lower(new_len, cached_len + new_len, cached_len + new_len)),
    Mistake("True = may attend (the polarity of SDPA and of this course): the mask is inverted",
            lambda new_len, cached_len: ~_lower(new_len, cached_len + new_len, cached_len)),
    Mistake("each query may attend to its own position: the diagonal itself is True",
            lambda new_len, cached_len: _lower(new_len, cached_len + new_len, cached_len - 1)),
    Mistake("every cached position is in the past of every new query: the first cached_len columns are all True",
            lambda new_len, cached_len: torch.cat([torch.zeros(new_len, cached_len, dtype=torch.bool),
                                                   _lower(new_len, new_len, 0)], dim=1)),
]


def check_prefix_causal_mask(fn) -> None:
    """fn(new_len, cached_len) must return the bool mask (new_len, cached_len + new_len), True = may attend, of
    new_len queries that follow cached_len cached positions."""
    sizes = [
        ("new_len=1 after cached_len=3 (one decoding step)", (1, 3)),
        ("new_len=3 after cached_len=2", (3, 2)),
        ("new_len=4 after cached_len=0 (nothing cached: the whole prefix at once)", (4, 0)),
        ("new_len=2 after cached_len=5", (2, 5)),
    ]
    cases = [CheckCase(description, args, causal_mask(args[0], offset=args[1])) for description, args in sizes]
    run_checks("prefix_causal_mask", fn, cases, mistakes=MASK_MISTAKES,
               hint=("query i of the new ones is at position cached_len + i and may see keys 0 .. cached_len + i: "
                     "a lower triangle shifted right by cached_len, True = may attend"))
