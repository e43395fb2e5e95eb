"""course_lib.toy_tasks: the copy and reverse batches, the teacher-forcing shift, sequence accuracy."""

import pytest
import torch

from course_lib import BOS_ID, EOS_ID, PAD_ID, sequence_accuracy, teacher_forcing_pair
from course_lib import toy_tasks as tt

D = tt.FIRST_DIGIT_ID  # token id of the digit 0


def _digits(row: torch.Tensor) -> list[int]:
    """The digits of one framed row (ids of digits only)."""
    return [i - D for i in row.tolist() if i >= D]


def test_vocabulary_is_the_specials_then_ten_digits():
    assert tt.VOCAB_SIZE == 14 and D == 4
    assert tt.TOKEN_NAMES[:4] == ("<pad>", "<bos>", "<eos>", "<unk>") and tt.TOKEN_NAMES[D + 7] == "7"


@pytest.mark.parametrize("task", tt.TASKS)
def test_make_batch_frames_source_and_target(task):
    batch = tt.make_batch(task, 64, 2, 6, generator=torch.Generator().manual_seed(0))
    width = int(batch.lengths.max())
    assert batch.src.shape == (64, width + 1) and batch.tgt.shape == (64, width + 2)
    assert batch.lengths.min() >= 2 and batch.lengths.max() <= 6
    for src, tgt, length in zip(batch.src, batch.tgt, batch.lengths.tolist(), strict=True):
        assert src[length] == EOS_ID and (src[length + 1:] == PAD_ID).all() and (src[:length] >= D).all()
        assert tgt[0] == BOS_ID and tgt[length + 1] == EOS_ID and (tgt[length + 2:] == PAD_ID).all()
        digits = _digits(src)
        assert _digits(tgt) == (digits if task == "copy" else digits[::-1])


def test_make_batch_is_reproducible_with_a_generator():
    a = tt.make_batch("reverse", 8, generator=torch.Generator().manual_seed(5))
    b = tt.make_batch("reverse", 8, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.src, b.src) and torch.equal(a.tgt, b.tgt) and torch.equal(a.lengths, b.lengths)


def test_make_batch_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"task must be one of \['copy', 'reverse'\], got task='sort'"):
        tt.make_batch("sort", 4)
    with pytest.raises(ValueError, match="batch_size must be a positive int, got batch_size=0"):
        tt.make_batch("copy", 0)
    with pytest.raises(ValueError, match="max_len must be >= min_len=5, got max_len=3"):
        tt.make_batch("copy", 4, min_len=5, max_len=3)


def test_answer_positions_copy_and_reverse():
    lengths = torch.tensor([3, 1])
    assert tt.answer_positions("copy", lengths, 3).tolist() == [[0, 1, 2], [0, 1, 2]]
    assert tt.answer_positions("reverse", lengths, 3).tolist() == [[2, 1, 0], [0, 0, 0]]


def test_frame_adds_eos_and_optionally_bos():
    digits = torch.tensor([[D + 3, D + 1], [D + 9, PAD_ID]])
    lengths = torch.tensor([2, 1])
    assert tt.frame(digits, lengths, bos=False).tolist() == [[D + 3, D + 1, EOS_ID], [D + 9, EOS_ID, PAD_ID]]
    assert tt.frame(digits, lengths, bos=True)[:, 0].tolist() == [BOS_ID, BOS_ID]


def test_teacher_forcing_pair_shifts_by_one():
    tgt = torch.tensor([[BOS_ID, D + 3, D + 1, EOS_ID], [BOS_ID, D + 9, EOS_ID, PAD_ID]])
    decoder_input, labels = teacher_forcing_pair(tgt)
    assert decoder_input.tolist() == [[BOS_ID, D + 3, D + 1], [BOS_ID, D + 9, EOS_ID]]
    assert labels.tolist() == [[D + 3, D + 1, EOS_ID], [D + 9, EOS_ID, PAD_ID]]
    with pytest.raises(ValueError, match=r"tgt must be \(batch, length >= 2\), got shape \(1, 1\)"):
        teacher_forcing_pair(torch.tensor([[BOS_ID]]))


def test_sequence_accuracy_counts_whole_rows_and_pads_the_narrower():
    target = torch.tensor([[BOS_ID, D + 1, EOS_ID, PAD_ID], [BOS_ID, D + 2, D + 3, EOS_ID]])
    assert sequence_accuracy(target, target) == 1.0
    assert sequence_accuracy(target[:, :3], target) == 0.5  # row 0 ends with <pad> anyway; row 1 lost its <eos>
    wrong = target.clone()
    wrong[1, 2] = D + 4
    assert sequence_accuracy(wrong, target) == 0.5
    with pytest.raises(ValueError, match="predicted and target must be"):
        sequence_accuracy(target[0], target)


def test_to_text_leaves_out_padding():
    assert tt.to_text(torch.tensor([BOS_ID, D + 3, D + 1, EOS_ID, PAD_ID])) == "<bos> 3 1 <eos>"
