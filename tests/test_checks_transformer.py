"""Notebook 10's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import pytest
import torch
from checking import fails_with

from course_lib import PAD_ID, causal_mask, padding_mask, sequence_accuracy, teacher_forcing_pair
from course_lib.checks import (
    check_decoder_only_mask,
    check_decoder_only_pair,
    check_sequence_accuracy,
    check_teacher_forcing_pair,
    check_transformer_masks,
)
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
               r"got .*\[1, 7, 5, 8\]. Hint: the labels are the decoder input itself, so position t is asked for the "
               r"token it reads")


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
    assert "✔ sequence_accuracy: all 6 checks passed" in capsys.readouterr().out


def test_sequence_accuracy_checker_on_the_stub():
    fails_with(check_sequence_accuracy, _stub, "sequence_accuracy: not implemented yet")


def test_sequence_accuracy_checker_rejects_token_accuracy():
    def token_accuracy(predicted, target):  # the notebook's trap: the share of matching tokens, not rows
        return (predicted == target).float().mean().item()

    fails_with(check_sequence_accuracy, token_accuracy, r"\(one wrong digit in row 0\): expected 0.75, got 0.958333. "
                                                        r"Hint: that is the share of matching tokens")


def test_sequence_accuracy_checker_rejects_comparing_only_the_common_columns():
    def truncated(predicted, target):  # an output cut short by the step limit looks right
        width = min(predicted.size(1), target.size(1))
        return (predicted[:, :width] == target[:, :width]).all(dim=1).float().mean().item()

    fails_with(check_sequence_accuracy, truncated,
               r"predicted = \[<bos> 3 1\] \(out of steps\), target = \[<bos> 3 1 4 <eos>\]: expected 0.0, got 1.0. "
               r"Hint: comparing only the columns both have lets an output that was cut short pass")


def test_sequence_accuracy_checker_rejects_any_instead_of_all():
    def any_match(predicted, target):
        return (predicted == target).any(dim=1).float().mean().item()

    fails_with(check_sequence_accuracy, any_match, r"\(one wrong digit in row 0\): expected 0.75, got 1.0. "
                                                   r"Hint: a row counts when all of its tokens match, not any")


# ---------------------------------------------------------------- decoder_only_pair (beyond the text)

def decoder_only_pair(src, tgt):
    return torch.cat([src, tgt[:, :-1]], dim=1), torch.cat([torch.full_like(src, PAD_ID), tgt[:, 1:]], dim=1)


def test_decoder_only_pair_checker_passes_the_reference(capsys):
    check_decoder_only_pair(decoder_only_pair)
    assert "✔ decoder_only_pair: all 3 checks passed" in capsys.readouterr().out


def test_decoder_only_pair_checker_on_the_stub():
    fails_with(check_decoder_only_pair, _stub, "decoder_only_pair: not implemented yet")


def test_decoder_only_pair_checker_rejects_labels_on_the_source():
    def language_model_pair(src, tgt):  # every next token, the source's random digits too
        sequence = torch.cat([src, tgt], dim=1)
        return sequence[:, :-1], sequence[:, 1:]

    fails_with(check_decoder_only_pair, language_model_pair,
               r"failed on src = \[3 1 4 <eos>\], tgt = \[<bos> 3 1 4 <eos>\]: the labels: expected .*"
               r"\[0, 0, 0, 0, 7, 5, 8, 2\], got .*\[5, 8, 2, 1, 7, 5, 8, 2\]. Hint: those labels ask for the "
               r"source's next digits too")


def test_decoder_only_pair_checker_rejects_a_predicted_bos():
    def bos_predicted(src, tgt):  # the language-model shift with the source's labels hidden, all but the last
        return torch.cat([src, tgt[:, :-1]], dim=1), torch.cat([torch.full_like(src[:, 1:], PAD_ID), tgt], dim=1)

    fails_with(check_decoder_only_pair, bos_predicted, r"got .*\[0, 0, 0, 1, 7, 5, 8, 2\]. Hint: the last source "
                                                       r"position is asked for <bos>, which is always given")


def test_decoder_only_pair_checker_rejects_unshifted_labels():
    def unshifted(src, tgt):
        return torch.cat([src, tgt[:, :-1]], dim=1), torch.cat([torch.full_like(src, PAD_ID), tgt[:, :-1]], dim=1)

    fails_with(check_decoder_only_pair, unshifted, r"Hint: each answer position is asked for the token it reads")


def test_decoder_only_pair_checker_rejects_a_source_without_its_padding():
    def packed_tight(src, tgt):  # drops the source's <pad>s: the rows no longer line up
        rows = [decoder_only_pair(s[s != PAD_ID][None], t[None]) for s, t in zip(src, tgt, strict=True)]
        width = max(inputs.size(1) for inputs, _ in rows)
        padded = [[torch.nn.functional.pad(part, (0, width - part.size(1))) for part in row] for row in rows]
        return torch.cat([inputs for inputs, _ in padded]), torch.cat([labels for _, labels in padded])

    fails_with(check_decoder_only_pair, packed_tight,
               r"failed on src = \[3 1 4 <eos> \| 9 <eos> <pad> <pad>\].*the inputs: expected .*"
               r"Hint: the inputs are the whole source, <pad>s included")


# ---------------------------------------------------------------- decoder_only_mask (beyond the text)

def decoder_only_mask(ids, prefix_len, pad_id):
    position = torch.arange(ids.size(1))
    visible = (position[None, :] <= position[:, None]) | (position[None, :] < prefix_len)
    return (ids != pad_id)[:, None, None, :] & visible


def test_decoder_only_mask_checker_passes_the_reference(capsys):
    check_decoder_only_mask(decoder_only_mask)
    assert "✔ decoder_only_mask: all 5 checks passed" in capsys.readouterr().out


def test_decoder_only_mask_checker_on_the_stub():
    fails_with(check_decoder_only_mask, _stub, "decoder_only_mask: not implemented yet")


def test_decoder_only_mask_checker_rejects_the_plain_decoder_mask():
    fails_with(check_decoder_only_mask, lambda ids, n, pad_id: padding_mask(ids, pad_id) & causal_mask(ids.size(1)),
               r"failed on ids = \[3 1 4 <eos> <bos> 3 1 4\], prefix_len=4, pad_id=0: expected .*got .*"
               r"Hint: the prompt is read both ways")


def test_decoder_only_mask_checker_rejects_the_prefix_on_the_query_axis():
    def by_query(ids, prefix_len, pad_id):
        position = torch.arange(ids.size(1))
        visible = (position[None, :] <= position[:, None]) | (position[:, None] < prefix_len)
        return (ids != pad_id)[:, None, None, :] & visible

    fails_with(check_decoder_only_mask, by_query, r"Hint: that lets a prompt query see the answer")


def test_decoder_only_mask_checker_rejects_an_off_by_one_prefix():
    def one_too_far(ids, prefix_len, pad_id):
        return decoder_only_mask(ids, prefix_len + 1, pad_id)

    fails_with(check_decoder_only_mask, one_too_far, r"Hint: positions 0 … prefix_len − 1 are the prompt")


def test_decoder_only_mask_checker_rejects_visible_padding():
    def no_padding(ids, prefix_len, pad_id):  # the prefix and the triangle, but every key real
        position = torch.arange(ids.size(1))
        visible = (position[None, :] <= position[:, None]) | (position[None, :] < prefix_len)
        return visible.expand(ids.size(0), 1, -1, -1)

    fails_with(check_decoder_only_mask, no_padding,
               r"failed on ids = \[3 1 4 <eos> <bos> 4 1 3 \| 9 <eos> <pad> <pad>.*"
               r"Hint: the <pad> keys must stay hidden")


def test_decoder_only_mask_checker_rejects_a_hard_coded_pad_id():
    fails_with(check_decoder_only_mask, lambda ids, n, pad_id: decoder_only_mask(ids, n, 0),
               r"failed on ids = \[\[5, 6, 9, 7, 8, 9\], .*pad_id=9 .*Hint: compare the ids with the pad_id argument")


def test_decoder_only_mask_checker_rejects_a_float_mask():
    fails_with(check_decoder_only_mask, lambda ids, n, pad_id: decoder_only_mask(ids, n, pad_id).float(),
               r"expected a bool mask \(True = may attend\), got dtype torch.float32. Hint: comparisons give bool")
