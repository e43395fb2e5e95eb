"""Checkers for notebook 11: GQA's key/value head expansion, RoPE's rotate_half, MLA's absorbed scores, and W^UV
folded into W^O."""

import math
from collections.abc import Callable

import torch

from ..rope import apply_rope
from .core import CheckCase, Mistake, run_checks


def _random(*shape, seed: int) -> torch.Tensor:
    """A float64 tensor drawn from its own generator, so the cases never depend on the notebook's state."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------- expand_kv_heads

def _expand_reference(kv: torch.Tensor, num_heads: int) -> torch.Tensor:
    return kv.repeat_interleave(num_heads // kv.size(1), dim=1)


EXPAND_MISTAKES = (
    Mistake("query head h must read key/value head h // (num_heads // G), so the copies of one group sit next to "
            "each other (g0, g0, g1, g1); tiling the whole group axis gives g0, g1, g0, g1",
            lambda kv, num_heads: kv.repeat(1, num_heads // kv.size(1), 1, 1)),
    Mistake("the copies went along the positions (dim 2); the heads are dim 1 of (B, G, T, d)",
            lambda kv, num_heads: kv.repeat_interleave(num_heads // kv.size(1), dim=2)),
)


def check_expand_kv_heads(fn) -> None:
    """fn(kv (B, G, T, d), num_heads) must give (B, H, T, d) where query head h reads group h // (H / G)."""
    labelled = torch.arange(2.0).view(1, 2, 1, 1)  # group g holds the number g
    grouped, single = _random(2, 2, 3, 4, seed=2), _random(1, 1, 5, 2, seed=3)
    cases = [
        CheckCase("2 groups labelled 0 and 1, 4 query heads (want heads 0, 0, 1, 1)", (labelled, 4),
                  torch.tensor([0.0, 0.0, 1.0, 1.0]).view(1, 4, 1, 1)),
        CheckCase("a random (2, 2, 3, 4) cache, 6 query heads", (grouped, 6), _expand_reference(grouped, 6)),
        CheckCase("MQA: one key/value head for 3 query heads", (single, 3), _expand_reference(single, 3)),
        CheckCase("MHA: as many key/value heads as query heads", (grouped, 2), grouped),
    ]
    run_checks("expand_kv_heads", fn, cases, mistakes=EXPAND_MISTAKES,
               hint="the result is (B, num_heads, T, d), and query head h holds key/value head h // (num_heads // G)")


# ---------------------------------------------------------------- rotate_half

def _rotate_half_reference(x: torch.Tensor) -> torch.Tensor:
    half = x.size(-1) // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def _halves(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    half = x.size(-1) // 2
    return x[..., :half], x[..., half:]


ROTATE_MISTAKES = (
    Mistake("that turns every pair by -90 degrees, the wrong way: RoPE's turn takes a pair (a, b) to (-b, a), so the "
            "minus sign belongs on the second half, moved to the front",
            lambda x: torch.cat([_halves(x)[1], -_halves(x)[0]], dim=-1)),
    Mistake("swapping the halves without a sign is a reflection, not a rotation: one half must change sign",
            lambda x: torch.cat([_halves(x)[1], _halves(x)[0]], dim=-1)),
    Mistake("that pairs neighbours (2i, 2i + 1), the layout of DeepSeek's and Meta's code; here dimension i pairs "
            "with i + d/2, the two halves of the last dimension",
            lambda x: torch.stack([-x[..., 1::2], x[..., 0::2]], dim=-1).flatten(-2)),
)


def check_rotate_half(fn) -> None:
    """fn(x) must map the halves (x1, x2) of the last dim to (-x2, x1)."""
    wide = _random(2, 3, 8, seed=1)
    cases = [
        CheckCase("x = [1, 2, 3, 4]", (torch.tensor([1.0, 2.0, 3.0, 4.0]),), torch.tensor([-3.0, -4.0, 1.0, 2.0])),
        CheckCase("one pair x = [a, b] = [0.5, 2]", (torch.tensor([0.5, 2.0]),), torch.tensor([-2.0, 0.5])),
        CheckCase("a random (2, 3, 8) tensor", (wide,), _rotate_half_reference(wide)),
    ]
    run_checks("rotate_half", fn, cases, mistakes=ROTATE_MISTAKES,
               hint="every pair (x1[i], x2[i]) of the two halves must turn by +90 degrees; the shape stays the same")


# ---------------------------------------------------------------- absorbed_scores

def _content(q_nope, w_uk, c_kv) -> torch.Tensor:
    """q^C . (W^UK_h c) for every head, query and cached position (B, H, L, T), the long way round."""
    batch, heads, _, nope = q_nope.shape
    k_nope = (c_kv @ w_uk.T).view(batch, -1, heads, nope).transpose(1, 2)  # (B, H, T, d_h)
    return q_nope @ k_nope.transpose(-2, -1)


def _rotary(q_rope, k_rope) -> torch.Tensor:
    """q^R . k^R, the one rotary key shared by every head (B, H, L, T)."""
    return q_rope @ k_rope[:, None].transpose(-2, -1)


def _absorbed_reference(q_nope, q_rope, w_uk, c_kv, k_rope) -> torch.Tensor:
    """The naive route: up-project the keys, then [q^C; q^R] . [k^C; k^R] / sqrt(d_h + d_h^R)."""
    width = q_nope.size(-1) + q_rope.size(-1)
    return (_content(q_nope, w_uk, c_kv) + _rotary(q_rope, k_rope)) / math.sqrt(width)


def _rotated_content(q_nope, q_rope, w_uk, c_kv, k_rope) -> torch.Tensor:
    """The mistake of rotating the content parts too: RoPE on q^C and on the cached latents."""
    width = q_nope.size(-1) + q_rope.size(-1)
    return (_content(apply_rope(q_nope), w_uk, apply_rope(c_kv)) + _rotary(q_rope, k_rope)) / math.sqrt(width)


def _rotated_latents(q_nope, q_rope, w_uk, c_kv, k_rope) -> torch.Tensor:
    """The same mistake after folding: RoPE on the latent queries and on the cached latents."""
    heads, nope = q_nope.size(1), q_nope.size(-1)
    q_latent = torch.einsum("bhld,hdc->bhlc", q_nope, w_uk.view(heads, nope, -1))  # (B, H, L, d_c)
    content = apply_rope(q_latent) @ apply_rope(c_kv)[:, None].transpose(-2, -1)  # (B, H, L, T)
    return (content + _rotary(q_rope, k_rope)) / math.sqrt(nope + q_rope.size(-1))


def _scaled(divisor: Callable) -> Callable:
    """The right dot products divided by `divisor(q_nope, q_rope, c_kv)` instead of sqrt(d_h + d_h^R)."""
    def scores(q_nope, q_rope, w_uk, c_kv, k_rope):
        return (_content(q_nope, w_uk, c_kv) + _rotary(q_rope, k_rope)) / divisor(q_nope, q_rope, c_kv)
    return scores


def _head_blocks_misread(q_nope, q_rope, w_uk, c_kv, k_rope) -> torch.Tensor:
    """The mistake of viewing w_uk as (H, d_c, d_h) and transposing: right shape, rows of the wrong heads."""
    heads, nope = q_nope.size(1), q_nope.size(-1)
    w = w_uk.reshape(heads, -1, nope).transpose(1, 2)  # (H, d_h, d_c), but not head h's rows
    q_latent = torch.einsum("bhld,hdc->bhlc", q_nope, w)  # (B, H, L, d_c)
    content = q_latent @ c_kv[:, None].transpose(-2, -1)
    return (content + _rotary(q_rope, k_rope)) / math.sqrt(nope + q_rope.size(-1))


ABSORBED_MISTAKES = (
    Mistake("the rotary term is missing: besides the content part, every head adds q_rope . k_rope (the one "
            "rotary key shared by all heads), before the scaling",
            lambda q_nope, q_rope, w_uk, c_kv, k_rope: _content(q_nope, w_uk, c_kv)
            / math.sqrt(q_nope.size(-1) + q_rope.size(-1))),
    Mistake("the content part must stay unrotated: q_rope and k_rope arrive already rotated and carry all of the "
            "position; a rotation on q_nope or c_kv is the one absorption cannot fold into the query",
            _rotated_content),
    Mistake("the content part must stay unrotated: q_rope and k_rope arrive already rotated and carry all of the "
            "position; a rotation on the latent queries or on c_kv is the one absorption cannot fold into the query",
            _rotated_latents),
    Mistake("the scale is the width of the dot product the naive path takes, d_h + d_h^R, not the latent's width "
            "d_c + d_h^R: folding W^UK into the query changes which vectors are multiplied, not the scores",
            _scaled(lambda q_nope, q_rope, c_kv: math.sqrt(c_kv.size(-1) + q_rope.size(-1)))),
    Mistake("the dot product is d_h + d_h^R wide (content and rotary parts together): divide by the square root of "
            "that, not of d_h alone",
            _scaled(lambda q_nope, q_rope, c_kv: math.sqrt(q_nope.size(-1)))),
    Mistake("the scores are not scaled: divide by sqrt(d_h + d_h^R), as the naive path does",
            _scaled(lambda q_nope, q_rope, c_kv: 1.0)),
    Mistake("w_uk is the weight of nn.Linear(d_c, H*d_h), shape (H*d_h, d_c): its rows come in H blocks of d_h, one "
            "block per head, so head h's W^UK_h is (d_h, d_c)",
            _head_blocks_misread),
)


def _absorbed_case(description: str, batch, heads, length, context, nope, rope, latent, seed) -> CheckCase:
    args = (_random(batch, heads, length, nope, seed=seed), _random(batch, heads, length, rope, seed=seed + 1),
            _random(heads * nope, latent, seed=seed + 2), _random(batch, context, latent, seed=seed + 3),
            _random(batch, context, rope, seed=seed + 4))
    return CheckCase(description, args, _absorbed_reference(*args))


def check_absorbed_scores(fn) -> None:
    """fn(q_nope, q_rope, w_uk, c_kv, k_rope) must give MLA's scaled scores (B, H, L, T) from the cached latents."""
    cases = [
        _absorbed_case("1 head, d_h=2, d_h^R=2, d_c=4, 2 queries over 4 latents", 1, 1, 2, 4, 2, 2, 4, seed=10),
        _absorbed_case("2 heads, d_h=4, d_h^R=2, d_c=6, 3 queries over 5 latents, batch 2", 2, 2, 3, 5, 4, 2, 6,
                       seed=20),
        _absorbed_case("4 heads, d_h=4, d_h^R=4, d_c=16 (latent wider than a head)", 1, 4, 3, 6, 4, 4, 16, seed=30),
    ]
    run_checks("absorbed_scores", fn, cases, atol=1e-10, mistakes=ABSORBED_MISTAKES,
               hint=("the result must equal the naive scores [q_nope; q_rope] . [W^UK_h c; k_rope] / sqrt(d_h + "
                     "d_h^R) of every head h, query and cached position: compare your content term with q_nope . "
                     "(W^UK_h c) on one head"))


# ---------------------------------------------------------------- fold_value_into_output

def _fold_reference(w_uv: torch.Tensor, w_o: torch.Tensor, num_heads: int) -> torch.Tensor:
    """W^O_h W^UV_h for every head, side by side: (d_model, H d_c)."""
    d_model, d_v = w_o.size(0), w_uv.size(0) // num_heads
    per_head = torch.einsum("mhv,hvc->mhc", w_o.view(d_model, num_heads, d_v), w_uv.view(num_heads, d_v, -1))
    return per_head.reshape(d_model, -1)  # (d_model, H d_c): head 0's d_c columns, then head 1's, ...


FOLD_MISTAKES = (
    Mistake("each head has its own W^UV_h, so the folded matrix has one (d_model, d_c) block per head, H*d_c "
            "columns in all; w_o @ w_uv adds the heads' contexts together before any head's W^UV_h could act",
            lambda w_uv, w_o, num_heads: w_o @ w_uv),
    Mistake("W^O's heads are its columns (its inputs come in H blocks of d_v, as merge_heads lays them out); "
            "reshaping w_o to (H, d_model, d_v) cuts it along its rows instead",
            lambda w_uv, w_o, num_heads: torch.einsum(
                "hmv,hvc->mhc", w_o.reshape(num_heads, w_o.size(0), -1),
                w_uv.view(num_heads, -1, w_uv.size(1))).reshape(w_o.size(0), -1)),
    Mistake("w_uv is the weight of nn.Linear(d_c, H*d_v), shape (H*d_v, d_c): its rows come in H blocks of d_v, so "
            "head h's W^UV_h is (d_v, d_c), not a (d_c, d_v) view of the same numbers",
            lambda w_uv, w_o, num_heads: torch.einsum(
                "mhv,hcv->mhc", w_o.view(w_o.size(0), num_heads, -1),
                w_uv.reshape(num_heads, w_uv.size(1), -1)).reshape(w_o.size(0), -1)),
    Mistake("the columns must follow merge_heads' order: all d_c columns of head 0, then those of head 1, ...; "
            "yours interleave the heads",
            lambda w_uv, w_o, num_heads: _fold_reference(w_uv, w_o, num_heads).view(w_o.size(0), num_heads, -1)
            .transpose(1, 2).reshape(w_o.size(0), -1)),
    Mistake("return it as the weight of an nn.Linear(H*d_c, d_model): shape (d_model, H*d_c), not its transpose",
            lambda w_uv, w_o, num_heads: _fold_reference(w_uv, w_o, num_heads).T),
)


def _fold_case(description: str, heads: int, d_v: int, d_c: int, d_model: int, seed: int) -> CheckCase:
    args = (_random(heads * d_v, d_c, seed=seed), _random(d_model, heads * d_v, seed=seed + 1), heads)
    return CheckCase(description, args, _fold_reference(*args))


def check_fold_value_into_output(fn) -> None:
    """fn(w_uv (H d_v, d_c), w_o (d_model, H d_v), num_heads) must give the (d_model, H d_c) matrix W with
    w_o(merge_heads(W^UV_h context_h)) == merge_heads(context) @ W.T."""
    cases = [
        _fold_case("1 head, d_v=2, d_c=3, d_model=2 (one head: W^O W^UV)", 1, 2, 3, 2, seed=40),
        _fold_case("2 heads, d_v=2, d_c=3, d_model=4", 2, 2, 3, 4, seed=50),
        _fold_case("4 heads, d_v=3, d_c=5, d_model=6", 4, 3, 5, 6, seed=60),
    ]
    run_checks("fold_value_into_output", fn, cases, atol=1e-10, mistakes=FOLD_MISTAKES,
               hint=("the output is the sum over heads of W^O_h (W^UV_h context_h), with W^O_h the h-th block of d_v "
                     "columns of w_o and W^UV_h the h-th block of d_v rows of w_uv: place the H products side by "
                     "side"))
