"""Checkers for notebook 12: the length penalty and one step of beam search."""

import torch

from ..decoding import length_penalty, select_beams
from .core import CheckCase, run_checks


def check_length_penalty(fn) -> None:
    """fn(length, alpha) must return GNMT's ((5 + length) / 6) ** alpha for a tensor of lengths."""
    lengths = torch.tensor([1.0, 3.0, 10.0, 25.0])
    cases = [CheckCase(f"lengths {lengths.tolist()} with alpha={alpha}", (lengths, alpha),
                       length_penalty(lengths, alpha)) for alpha in (0.0, 0.6, 1.0)]
    cases.append(CheckCase("length 1 with alpha=0.6 (want exactly 1.0: a one-token sentence is not penalised)",
                           (torch.tensor([1.0]), 0.6), torch.tensor([1.0])))
    run_checks("length_penalty", fn, cases,
               hint='lp = ((5 + length) / 6) ** alpha')


def _beam_case(description: str, scores: torch.Tensor, logp: torch.Tensor) -> CheckCase:
    return CheckCase(description, (scores, logp), select_beams(scores, logp))


def check_select_beams(fn) -> None:
    """fn(scores (B, K), logp (B*K, V)) must return (best scores (B, K), parent rows (B*K,), tokens (B, K))."""
    g = torch.Generator().manual_seed(0)
    one = torch.tensor([[-1.0, -2.0]])  # (1, 2): two prefixes of one sentence
    one_logp = torch.log(torch.tensor([[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]))  # (2, 3)
    first = torch.tensor([[0.0, float("-inf"), float("-inf")]])  # the first step: one live beam of three
    random_scores = -torch.rand(3, 4, generator=g) * 5  # (3, 4)
    random_logp = torch.log_softmax(torch.randn(12, 9, generator=g), dim=-1)  # (12, 9)
    cases = [
        _beam_case("one sentence, two beams, three tokens (the second beam's best extension is not the best)",
                   one, one_logp),
        _beam_case("the first step: only beam 0 is live (the three beams must take three different tokens)",
                   first, torch.log_softmax(torch.randn(3, 5, generator=g), dim=-1)),
        _beam_case("three sentences of four beams over nine tokens (rows count across the batch: b*K + beam)",
                   random_scores, random_logp),
    ]
    run_checks("select_beams", fn, cases, names=("the scores", "the rows", "the tokens"),
               hint=('add scores to every row of logp, view (B, K*V), topk(K), then row = index // V + b*K and '
                     'token = index % V'))
