"""Notebook 12's checkers pass the reference, flag a stub, and reject the mistakes the notebook shows."""

from collections import Counter

import pytest
import torch
from checking import fails_with

from course_lib.checks import check_clipped_matches, check_length_penalty, check_select_beams
from course_lib.decoding import length_penalty, select_beams
from course_lib.translator.metrics import clipped_matches


def stub(*args):
    raise NotImplementedError


def test_references_pass(capsys):
    check_length_penalty(length_penalty)
    check_select_beams(select_beams)
    assert capsys.readouterr().out.count("✔") == 2


@pytest.mark.parametrize("checker", [check_length_penalty, check_select_beams])
def test_stub_is_not_implemented_yet(checker):
    fails_with(checker, stub, "not implemented yet")


def test_length_penalty_rejects_plain_power():
    fails_with(check_length_penalty, lambda length, alpha: length ** alpha, "length_penalty failed")


def test_select_beams_rejects_ignoring_the_prefix_scores():
    def bug(scores, logp):
        batch, k = scores.shape
        best, flat = logp.reshape(batch, -1).topk(k, dim=-1)  # ranks the next tokens alone
        vocab = logp.size(-1)
        rows = (flat // vocab + torch.arange(batch)[:, None] * k).view(-1)
        return best, rows, flat % vocab

    fails_with(check_select_beams, bug, "select_beams failed")


def test_select_beams_rejects_rows_without_the_batch_offset():
    def bug(scores, logp):
        best, rows, tokens = select_beams(scores, logp)
        return best, rows % scores.size(1), tokens  # the beam index inside its sentence, not the row

    fails_with(check_select_beams, bug, "select_beams failed on three sentences")


def test_clipped_matches_checker_passes_the_reference_and_flags_a_stub(capsys):
    check_clipped_matches(clipped_matches)
    assert capsys.readouterr().out.startswith("✔ clipped_matches: all 4 checks passed")
    fails_with(check_clipped_matches, stub, "not implemented yet")


def test_clipped_matches_names_the_unclipped_count():
    def bug(hypothesis, references, n):
        grams = [tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1)]
        return sum(any(g == tuple(r[i:i + n]) for r in references for i in range(len(r))) for g in grams), len(grams)

    fails_with(check_clipped_matches, bug, "failed on 'the the the the.*the matches: expected 2, got 7.*"
               "Hint: every repeat of an n-gram was counted")


def test_clipped_matches_names_the_sum_over_references():
    def bug(hypothesis, references, n):
        counts = Counter(tuple(hypothesis[i:i + n]) for i in range(len(hypothesis) - n + 1))
        pooled = Counter(tuple(r[i:i + n]) for r in references for i in range(len(r) - n + 1))
        return sum(min(c, pooled[g]) for g, c in counts.items()), sum(counts.values())

    fails_with(check_clipped_matches, bug, "expected 2, got 3.*Hint: the clip was the n-gram's count "
               "summed over the references")


def test_clipped_matches_counts_the_ngrams_of_a_short_hypothesis():
    def bug(hypothesis, references, n):
        matches, _ = clipped_matches(hypothesis, references, n)
        return matches, len(hypothesis)  # tokens, not n-grams

    fails_with(check_clipped_matches, bug, r"the n-grams: expected 9, got 10.*Hint: the total counted "
               r"tokens: a sentence of L tokens has L - n \+ 1 n-grams")
