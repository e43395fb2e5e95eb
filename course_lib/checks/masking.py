"""Checkers for notebook 04: the causal mask, the padding mask, and a softmax that respects a mask (no NaN)."""

import torch

from .core import CheckCase, CheckFailed, run_checks


def _bool_mask(fn):
    """Wrap fn so that a mask of any dtype but bool fails with a clear message (True = may attend)."""

    def probe(*args):
        got = fn(*args)
        if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
            raise CheckFailed(f"expected a bool mask (True = may attend), got dtype {got.dtype}: "
                              f"{got.flatten()[:8].tolist()}", hint="compare with == or != (or build with "
                              "dtype=torch.bool): a comparison gives a bool tensor")
        return got

    return probe


def check_causal_mask(fn) -> None:
    """fn(size) must return the (size, size) bool mask where query i may attend keys 0..i (True = may attend)."""
    cases = [
        CheckCase("size=3 (want [[T, F, F], [T, T, F], [T, T, T]]: the diagonal and below may attend)", (3,),
                  torch.ones(3, 3, dtype=torch.bool).tril()),
        CheckCase("size=1 (a query always sees itself: want [[True]])", (1,), torch.ones(1, 1, dtype=torch.bool)),
        CheckCase("size=5", (5,), torch.ones(5, 5, dtype=torch.bool).tril()),
    ]
    run_checks("causal_mask", _bool_mask(fn), cases,
               hint='query i may attend keys 0..i: torch.ones(size, size, dtype=torch.bool).tril()')


def check_padding_mask(fn) -> None:
    """fn(tokens (B, L), pad_id) must return the (B, 1, 1, L) bool mask, True at the real (non-pad) keys."""
    tokens = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])  # (B=2, L=4), pad_id 0
    left = torch.tensor([[0, 0, 4, 5, 6]])  # (B=1, L=5): left padding
    other_pad = torch.tensor([[4, 0, 9, 9], [9, 9, 9, 9]])  # (B=2, L=4) with pad_id 9: a 0 is a real token here
    cases = [
        CheckCase("tokens [[5, 6, 7, 0], [8, 9, 0, 0]] with pad_id=0 (want shape (2, 1, 1, 4), "
                  "[[T, T, T, F]] and [[T, T, F, F]])", (tokens, 0), (tokens != 0)[:, None, None, :]),
        CheckCase("left-padded tokens [[0, 0, 4, 5, 6]] with pad_id=0", (left, 0), (left != 0)[:, None, None, :]),
        CheckCase("tokens [[4, 0, 9, 9], [9, 9, 9, 9]] with pad_id=9 (use the pad_id argument)", (other_pad, 9),
                  (other_pad != 9)[:, None, None, :]),
    ]
    run_checks("padding_mask", _bool_mask(fn), cases,
               hint='True where tokens != pad_id, reshaped to (B, 1, 1, L) so it broadcasts over heads and queries')


def _reference_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # softmax over the allowed keys only; a query with no allowed key gets all-zero weights
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (..., Lq, Lk)
    return weights.masked_fill(~mask, 0.0)


def check_masked_softmax(fn) -> None:
    """fn(scores (..., Lq, Lk), mask bool broadcastable to scores) must return the softmax over the keys where
    mask is True, exact zeros where it is False, and all-zero rows (not NaN) where a query may attend nothing."""
    scores = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 4.0]], dtype=torch.float64)  # (Lq=2, Lk=3)
    causal = torch.ones(2, 3, dtype=torch.bool).tril()  # (2, 3)
    padded = torch.tensor([[True, True, False], [False, False, False]])  # (2, 3): query 1 may attend nothing
    generator = torch.Generator().manual_seed(0)
    batch_scores = torch.randn(2, 2, 4, 4, generator=generator, dtype=torch.float64)  # (B=2, H=2, Lq=4, Lk=4)
    batch_mask = torch.tensor([True, True, True, False])[None, None, None, :] & torch.ones(4, 4, dtype=torch.bool)
    batch_mask = torch.cat([batch_mask, torch.zeros_like(batch_mask)])  # (2, 1, 4, 4): sentence 2 is all padding
    cases = [
        CheckCase("scores [[1, 2, 3], [0.5, 0.5, 4]] with the mask [[T, F, F], [T, T, F]] "
                  "(want [[1, 0, 0], [0.5, 0.5, 0]])", (scores, causal), _reference_softmax(scores, causal)),
        CheckCase("scores [[1, 2, 3], [0.5, 0.5, 4]] with the mask [[T, T, F], [F, F, F]]: the second query may "
                  "attend nothing (want [[0.2689, 0.7311, 0], [0, 0, 0]], no NaN)", (scores, padded),
                  _reference_softmax(scores, padded)),
        CheckCase("random scores (2, 2, 4, 4) with a (2, 1, 4, 4) mask: key 3 is padding in sentence 1 and "
                  "sentence 2 is all padding", (batch_scores, batch_mask),
                  _reference_softmax(batch_scores, batch_mask)),
    ]
    run_checks("masked_softmax", fn, cases, atol=1e-6,
               hint=('fill the masked scores with -inf, take the softmax, then set the masked weights to 0 (a '
                     'fully masked row stays 0, not NaN)'))
