"""Notebook 12's checkers pass the reference, flag a stub, and reject the mistakes the notebook shows."""

import pytest
import torch
from checking import fails_with

from course_lib.checks import check_length_penalty, check_select_beams
from course_lib.decoding import length_penalty, select_beams


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
