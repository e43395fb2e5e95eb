"""Checkers for notebook 12: the length penalty, one step of beam search, and BLEU's clipped n-gram matches."""

from collections import Counter

import torch

from ..decoding import length_penalty, select_beams
from ..translator.metrics import clipped_matches, ngram_counts
from .core import CheckCase, Mistake, run_checks


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


def _unclipped(hypothesis, references, n):
    """A known mistake: every hypothesis n-gram found in some reference counts, however often it repeats."""
    counts = ngram_counts(hypothesis, n)
    found = set().union(*(ngram_counts(r, n) for r in references))
    return sum(count for gram, count in counts.items() if gram in found), sum(counts.values())


def _clipped_by_sum(hypothesis, references, n):
    """A known mistake: the clip is the n-gram's count summed over all the references."""
    counts = ngram_counts(hypothesis, n)
    total = sum((ngram_counts(r, n) for r in references), Counter())
    return sum(min(c, total[g]) for g, c in counts.items()), sum(counts.values())


def _case(description: str, hypothesis: str, references: list[str], n: int, split=str.split,
          hint: str | None = None) -> CheckCase:
    hyp, refs = split(hypothesis), [split(r) for r in references]
    return CheckCase(description, (hyp, refs, n), clipped_matches(hyp, refs, n), hint=hint)


def check_clipped_matches(fn) -> None:
    """fn(hypothesis tokens, list of reference token lists, n) must return (clipped n-gram matches, n-grams)."""
    cases = [
        _case("'the the the the the the the' against 'the cat is on the mat' and 'there is a cat on the mat', "
              "n=1 (want 2 of 7: 'the' occurs at most twice in one reference)",
              "the the the the the the the", ["the cat is on the mat", "there is a cat on the mat"], 1),
        _case("the characters of 我昨天吃了两个苹果。 against 我昨天吃了三个苹果。, n=2",
              "我昨天吃了两个苹果。", ["我昨天吃了三个苹果。"], 2, split=list),
        _case("'he is he is' against 'he is here' and 'is he ill', n=2 (each reference holds 'he is' or "
              "'is he' once)", "he is he is", ["he is here", "is he ill"], 2),
        _case("'hello' against 'hello world', n=2 (a one-word hypothesis has no 2-grams: want (0, 0))",
              "hello", ["hello world"], 2, hint="a sentence of L tokens has max(L - n + 1, 0) n-grams"),
    ]
    mistakes = [
        Mistake("every repeat of an n-gram was counted: clip each n-gram's count at the most times it occurs in "
                "one reference (Counter, then min)", _unclipped),
        Mistake("the clip was the n-gram's count summed over the references: take its largest count in any one "
                "reference", _clipped_by_sum),
        Mistake("the total counted tokens: a sentence of L tokens has L - n + 1 n-grams (none when L < n)",
                lambda hypothesis, references, n: (clipped_matches(hypothesis, references, n)[0], len(hypothesis))),
    ]
    run_checks("clipped_matches", fn, cases, mistakes=mistakes, names=("the matches", "the n-grams"),
               hint="count the hypothesis's n-grams, clip each count by its largest count in one reference, sum "
                    "the clipped counts; the n-grams are all len(hypothesis) - n + 1 of them")
