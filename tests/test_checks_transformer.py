"""Notebook 10's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import pytest
import torch
from checking import fails_with

from course_lib import causal_mask, padding_mask, sequence_accuracy, teacher_forcing_pair
from course_lib.checks import check_sequence_accuracy, check_teacher_forcing_pair, check_transformer_masks
from course_lib.checks.transformer import WRONG_DEVICE


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- teacher_forcing_pair

def test_teacher_forcing_pair_checker_passes_the_reference(capsys):
    check_teacher_forcing_pair(teacher_forcing_pair)
    assert "✔ teacher_forcing_pair: all 3 checks passed" in capsys.readouterr().out


def test_teacher_forcing_pair_checker_on_the_stub():
    fails_with(check_teacher_forcing_pair, _stub, "teacher_forcing_pair: not implemented yet")


def test_teacher_forcing_pair_checker_rejects_the_unshifted_labels():
    def pair_without_shift(tgt):  # the notebook's bug: the labels are the decoder input itself
        return tgt[:, :-1], tgt[:, :-1]

    fails_with(check_teacher_forcing_pair, pair_without_shift,
               r"teacher_forcing_pair failed on tgt = \[<bos> 3 1 4 <eos>\]: the labels: expected .*\[7, 5, 8, 2\], "
               r"got .*\[1, 7, 5, 8\]")


def test_teacher_forcing_pair_checker_rejects_a_full_length_input():
    fails_with(check_teacher_forcing_pair, lambda tgt: (tgt, tgt[:, 1:]),
               r"the decoder input: expected shape \(1, 4\), got shape \(1, 5\)")


# ---------------------------------------------------------------- transformer_masks

def transformer_masks(src, tgt_in, pad_id):
    return padding_mask(src, pad_id), padding_mask(tgt_in, pad_id) & causal_mask(tgt_in.size(1), tgt_in.device)


def test_transformer_masks_checker_passes_the_reference(capsys):
    check_transformer_masks(transformer_masks)
    assert "✔ transformer_masks: all 4 checks passed" in capsys.readouterr().out


def test_transformer_masks_checker_on_the_stub():
    fails_with(check_transformer_masks, _stub, "transformer_masks: not implemented yet")


def test_transformer_masks_checker_rejects_a_hard_coded_cuda():
    def masks_on_cuda(src, tgt_in, pad_id):  # the notebook's bug: the study notes' `.cuda()`
        causal = torch.tril(torch.ones(tgt_in.size(1), tgt_in.size(1), dtype=torch.bool)).cuda()
        return padding_mask(src, pad_id), padding_mask(tgt_in, pad_id) & causal

    # a CPU-only torch raises on .cuda(); a CUDA build puts the mask on the wrong device: both fail
    line = fails_with(check_transformer_masks, masks_on_cuda, "devices and dtypes")
    assert WRONG_DEVICE in line and ".cuda()" in WRONG_DEVICE and "Hint: create every tensor with device=" in line


@pytest.mark.parametrize("error", [
    AssertionError("Torch not compiled with CUDA enabled"),  # a CPU-only build (the notebook's stored output)
    RuntimeError("Found no NVIDIA driver on your system."),  # a CUDA build on a machine without a GPU
    RuntimeError("Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"),
])
def test_transformer_masks_checker_says_the_same_on_every_machine(error):
    def masks_on_cuda(src, tgt_in, pad_id):  # what `.cuda()` raises, machine by machine
        raise error

    assert WRONG_DEVICE in fails_with(check_transformer_masks, masks_on_cuda, "devices and dtypes")


def test_transformer_masks_checker_passes_other_crashes_through_with_the_input():
    def crashes(src, tgt_in, pad_id):
        raise RuntimeError("shape mismatch")

    fails_with(check_transformer_masks, crashes, "transformer_masks failed on the masks' devices.*shape mismatch")


def test_transformer_masks_checker_rejects_a_missing_causal_mask():
    def without_causal(src, tgt_in, pad_id):
        return padding_mask(src, pad_id), padding_mask(tgt_in, pad_id).expand(-1, -1, tgt_in.size(1), -1)

    fails_with(check_transformer_masks, without_causal, r"transformer_masks failed on src = .*tgt_mask: expected")


def test_transformer_masks_checker_rejects_a_hard_coded_pad_id():
    fails_with(check_transformer_masks, lambda src, tgt_in, pad_id: transformer_masks(src, tgt_in, 0),
               "with pad_id=9 .*src_mask: expected")


def test_transformer_masks_checker_rejects_float_masks():
    def float_masks(src, tgt_in, pad_id):
        return tuple(m.float() for m in transformer_masks(src, tgt_in, pad_id))

    fails_with(check_transformer_masks, float_masks,
               r"devices and dtypes .*the third of the 4 returned values: expected torch.bool, got torch.float32")


# ---------------------------------------------------------------- sequence_accuracy

def test_sequence_accuracy_checker_passes_the_reference(capsys):
    check_sequence_accuracy(sequence_accuracy)
    assert "✔ sequence_accuracy: all 5 checks passed" in capsys.readouterr().out


def test_sequence_accuracy_checker_on_the_stub():
    fails_with(check_sequence_accuracy, _stub, "sequence_accuracy: not implemented yet")


def test_sequence_accuracy_checker_rejects_token_accuracy():
    def token_accuracy(predicted, target):  # the notebook's trap: the share of matching tokens, not rows
        return (predicted == target).float().mean().item()

    fails_with(check_sequence_accuracy, token_accuracy, r"\(one wrong digit in row 0\): expected 0.75, got 0.958333")
