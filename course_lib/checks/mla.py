"""Checkers for notebook 11: RoPE's rotate_half, GQA's key/value head expansion, MLA's absorbed scores."""

import math

import torch

from .core import CheckCase, run_checks


def _random(*shape, seed: int) -> torch.Tensor:
    """A float64 tensor drawn from its own generator, so the cases never depend on the notebook's state."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _rotate_half_reference(x: torch.Tensor) -> torch.Tensor:
    half = x.size(-1) // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def check_rotate_half(fn) -> None:
    """fn(x) must map the halves (x1, x2) of the last dim to (-x2, x1)."""
    wide = _random(2, 3, 8, seed=1)
    cases = [
        CheckCase("x = [1, 2, 3, 4]", (torch.tensor([1.0, 2.0, 3.0, 4.0]),), torch.tensor([-3.0, -4.0, 1.0, 2.0])),
        CheckCase("one pair x = [a, b] = [0.5, 2]", (torch.tensor([0.5, 2.0]),), torch.tensor([-2.0, 0.5])),
        CheckCase("a random (2, 3, 8) tensor", (wide,), _rotate_half_reference(wide)),
    ]
    run_checks("rotate_half", fn, cases,
               hint='split the last dimension into halves x1, x2 and return torch.cat([-x2, x1], dim=-1)')


def _expand_reference(kv: torch.Tensor, num_heads: int) -> torch.Tensor:
    return kv.repeat_interleave(num_heads // kv.size(1), dim=1)


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
    run_checks("expand_kv_heads", fn, cases,
               hint='repeat each key/value head num_heads // G times next to itself: repeat_interleave on dim 1')


def _absorbed_reference(q_nope, q_rope, w_uk, c_kv, k_rope) -> torch.Tensor:
    """The naive route: up-project the keys, then [q^C; q^R] . [k^C; k^R] / sqrt(d_h + d_h^R)."""
    batch, heads, _, nope = q_nope.shape
    k_nope = (c_kv @ w_uk.T).view(batch, -1, heads, nope).transpose(1, 2)  # (B, H, T, d_h)
    raw = q_nope @ k_nope.transpose(-2, -1) + q_rope @ k_rope[:, None].transpose(-2, -1)  # (B, H, L, T)
    return raw / math.sqrt(nope + q_rope.size(-1))


def _absorbed_case(description: str, batch, heads, length, context, nope, rope, latent, seed) -> CheckCase:
    args = (_random(batch, heads, length, nope, seed=seed), _random(batch, heads, length, rope, seed=seed + 1),
            _random(heads * nope, latent, seed=seed + 2), _random(batch, context, latent, seed=seed + 3),
            _random(batch, context, rope, seed=seed + 4))
    return CheckCase(description, args, _absorbed_reference(*args))


def check_absorbed_scores(fn) -> None:
    """fn(q_nope, q_rope, w_uk, c_kv, k_rope) must give MLA's scaled scores (B, H, L, T) from the cached latents."""
    cases = [
        _absorbed_case("1 head, d_h=2, d_h^R=2, d_c=3, one query over 4 latents", 1, 1, 1, 4, 2, 2, 3, seed=10),
        _absorbed_case("2 heads, d_h=3, d_h^R=2, d_c=5, 2 queries over 3 latents, batch 2", 2, 2, 2, 3, 3, 2, 5,
                       seed=20),
        _absorbed_case("4 heads, d_h=4, d_h^R=4, d_c=16 (latent wider than a head)", 1, 4, 3, 6, 4, 4, 16, seed=30),
    ]
    run_checks("absorbed_scores", fn, cases, atol=1e-10,
               hint=("fold w_uk into the query (q_nope times the head's block of w_uk), dot with c_kv, add q_rope "
                     '. k_rope, divide by sqrt(d_h + d_h^R)'))
