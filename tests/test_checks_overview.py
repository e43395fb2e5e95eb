"""Notebook 00's checkers: pass the reference, say "not implemented yet" on a stub, name the cause of each mistake."""

import torch
from checking import fails_with, leaves_the_random_stream_alone, says

from course_lib import PAD_ID
from course_lib.checks import check_count_parameters, check_count_tokens, check_relative_positions


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- count_tokens (the demonstration)

def test_count_tokens_checker_passes_the_reference():
    assert says(check_count_tokens, lambda batch: int((batch != PAD_ID).sum())) == "count_tokens: all 3 checks passed"
    assert "all 3 checks passed" in says(check_count_tokens, lambda batch: (batch != PAD_ID).sum())  # a 0-d tensor


def test_count_tokens_checker_on_the_stub():
    assert says(check_count_tokens, _stub) == "count_tokens: not implemented yet — write it in the cell above"


def test_count_tokens_checker_names_the_counted_padding():
    fails_with(check_count_tokens, lambda batch: batch.numel(),
               r"failed on the batch \[\[4, 5, 6\], \[7, 9, <pad>\]\] .*expected 5, got 6\. Hint: <pad> is filler")


def test_count_tokens_checker_names_the_forgotten_special_tokens():
    fails_with(check_count_tokens, lambda batch: int((batch > 3).sum()),
               r"failed on the batch \[\[1, 8, 3, 2\]\] .*expected 4, got 1\. Hint: <bos>, <eos> and <unk>")


def test_count_tokens_checker_wants_one_number():
    fails_with(check_count_tokens, lambda batch: (batch != PAD_ID).sum(dim=1),
               r"expected one whole number, got a tensor of shape \(2,\)\. Hint: add everything up")


# ---------------------------------------------------------------- relative_positions

def relative_positions(length):
    positions = torch.arange(length)
    return positions[None, :] - positions[:, None]


def test_relative_positions_checker_passes_the_reference():
    assert says(check_relative_positions, relative_positions) == "relative_positions: all 3 checks passed"


def test_relative_positions_checker_on_the_stub():
    fails_with(check_relative_positions, _stub, "relative_positions: not implemented yet")


def test_relative_positions_checker_names_the_swapped_axes():
    fails_with(check_relative_positions, lambda length: relative_positions(length).T,
               r"failed on length=3 .*expected .*\[0, 1, 2, -1, 0, 1, -2, -1\] .*got .*\[0, -1, -2, 1, 0, -1, 2, 1\]"
               r" .*Hint: row i is the query's position")


def test_relative_positions_checker_names_the_lost_sign():
    fails_with(check_relative_positions, lambda length: relative_positions(length).abs(),
               r"failed on length=3 .*Hint: keep the sign")


def test_relative_positions_checker_names_float_positions():
    fails_with(check_relative_positions, lambda length: relative_positions(length).float(),
               r"failed on length=3 .*expected integers \(torch\.int64\), got dtype torch\.float32.* Hint: positions "
               r"are whole numbers")


def test_relative_positions_checker_explains_a_missing_axis():
    fails_with(check_relative_positions, lambda length: torch.arange(length) - torch.arange(length),
               r"expected shape \(3, 3\), got shape \(3,\)\. Hint: make the positions 0\.\.length-1 once as a column")


# ---------------------------------------------------------------- count_parameters

def test_count_parameters_checker_passes_the_reference():
    assert says(check_count_parameters, lambda model: sum(p.numel() for p in model.parameters())) == (
        "count_parameters: all 6 checks passed")


def test_count_parameters_checker_on_the_stub():
    fails_with(check_count_parameters, _stub, "count_parameters: not implemented yet")


def test_count_parameters_checker_names_counting_tensors():
    fails_with(check_count_parameters, lambda model: len(list(model.parameters())),
               r"failed on nn\.Linear\(4, 3\).*expected 15, got 2\. Hint: count numbers, not tensors")


def test_count_parameters_checker_names_the_forgotten_biases():
    fails_with(check_count_parameters, lambda model: sum(p.numel() for p in model.parameters() if p.dim() > 1),
               r"expected 15, got 12\. Hint: biases are parameters too")


def test_count_parameters_checker_names_the_state_dict():
    fails_with(check_count_parameters, lambda model: sum(t.numel() for t in model.state_dict().values()),
               r"failed on nn\.BatchNorm1d\(4\).*expected 8, got 17\. Hint: state_dict\(\) is what a checkpoint saves")


def test_count_parameters_checker_names_the_buffers():
    fails_with(check_count_parameters,
               lambda model: sum(t.numel() for t in [*model.parameters(), *model.buffers()]),
               r"failed on PositionalEncoding.*expected 0, got 40\. Hint: buffers")


def test_count_parameters_checker_names_counting_every_module():
    fails_with(check_count_parameters, lambda model: sum(p.numel() for m in model.modules() for p in m.parameters()),
               r"failed on TokenEmbedding\(10, 4\).*expected 40, got 80\. Hint: model\.modules\(\)")


def test_count_parameters_checker_counts_a_shared_table_once():
    def every_name(model):  # a shared tensor counted under each of its names
        return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))

    fails_with(check_count_parameters, every_name,
               r"failed on an nn\.Embedding\(10, 4\) and an nn\.Linear.*expected 50, got 90")


def test_count_parameters_checker_wants_a_whole_number_and_leaves_the_random_stream_alone():
    fails_with(check_count_parameters, lambda model: float(sum(p.numel() for p in model.parameters())),
               r"expected one whole number, got 15\.0")
    assert leaves_the_random_stream_alone(check_count_parameters,
                                          lambda model: sum(p.numel() for p in model.parameters()))
