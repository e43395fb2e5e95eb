"""Notebook 07's checkers: pass the references, say "not implemented yet" on a stub, and give each known mistake its
own hint (the notebook's spot-the-bug versions and the slips learners make)."""

import torch
import torch.nn.functional as F
from checking import fails_with, says
from torch import nn

from course_lib import LayerNorm, RMSNorm, add_and_norm
from course_lib.checks import check_batch_norm, check_layer_norm, check_residual_block, check_rms_norm


def _stub(*args):
    raise NotImplementedError


def _normalise(x, dim, eps, unbiased=False):
    mean = x.mean(dim=dim, keepdim=True)
    return (x - mean) / torch.sqrt(x.var(dim=dim, keepdim=True, unbiased=unbiased) + eps)


# ---------------------------------------------------------------- layer_norm (spot the bug)

def layer_norm(x, weight, bias, eps):
    return _normalise(x, -1, eps) * weight + bias


def test_layer_norm_checker_passes_the_reference_torch_and_course_lib():
    assert says(check_layer_norm, layer_norm) == "layer_norm: all 4 checks passed"
    assert says(check_layer_norm, lambda x, w, b, eps: F.layer_norm(x, w.shape, w, b, eps)) == (
        "layer_norm: all 4 checks passed")

    def course(x, weight, bias, eps):
        norm = LayerNorm(x.size(-1), eps=eps).double()
        norm.weight.data, norm.bias.data = weight, bias
        return norm(x)

    assert says(check_layer_norm, course) == "layer_norm: all 4 checks passed"
    fails_with(check_layer_norm, _stub, "layer_norm: not implemented yet")


def test_layer_norm_checker_names_the_study_notes_unbiased_variance():
    def notes_layer_norm(x, alpha, bias, eps):  # the notebook's bug: unbiased std, eps outside the square root
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True)
        return alpha * (x - mean) / (std + eps) + bias

    fails_with(check_layer_norm, notes_layer_norm,
               r"layer_norm failed on x = \[\[1, 2, 3, 6\]\].*expected .*\[-1\.069, -0\.5345, 0\.0, 1\.6036\], got .*"
               r"\[-0\.9258, -0\.4629, 0\.0, 1\.3887\].*Hint: the variance was divided by d - 1")


def test_layer_norm_checker_names_eps_outside_the_root():
    def eps_outside(x, weight, bias, eps):  # the notebook's half-fix: biased std, eps still outside
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True, unbiased=False)
        return (x - mean) / (std + eps) * weight + bias

    fails_with(check_layer_norm, eps_outside, r"layer_norm failed on x = \[\[0, 0\.1, 0, 0\.1\]\], eps=0\.01.*"
                                              r"got .*\[-0\.8333, 0\.8333.*Hint: eps was added to the standard "
                                              r"deviation")


def test_layer_norm_checker_names_the_wrong_axis_not_the_variance_divisor():
    line = fails_with(check_layer_norm, lambda x, w, b, eps: _normalise(x, -2, eps) * w + b,
                      r"layer_norm failed on x = \[\[1, 2, 3, 6\]\].*got NaN.*Hint: the statistics were taken over "
                      r"the wrong axis")
    assert "d - 1" not in line


def test_layer_norm_checker_names_statistics_over_the_whole_tensor():
    fails_with(check_layer_norm, lambda x, w, b, eps: _normalise(x, tuple(range(x.dim())), eps) * w + b,
               r"failed on a batch x of shape \(2, 3, 8\).*Hint: one mean and variance for the whole tensor")


def test_layer_norm_checker_names_a_missing_eps():
    fails_with(check_layer_norm, lambda x, w, b, eps: _normalise(x, -1, 0.0) * w + b,
               r"failed on x = \[\[0, 0\.1, 0, 0\.1\]\], eps=0\.01.*Hint: eps is missing")


def test_layer_norm_checker_names_a_division_by_the_variance():
    fails_with(check_layer_norm,
               lambda x, w, b, eps: (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False) + eps)
               * w + b, "Hint: x - mean was divided by the variance")


def test_layer_norm_checker_names_a_missing_or_swapped_affine():
    fails_with(check_layer_norm, lambda x, w, b, eps: _normalise(x, -1, eps),
               r"failed on a batch x of shape \(2, 3, 8\).*Hint: weight and bias are not applied")
    fails_with(check_layer_norm, lambda x, w, b, eps: _normalise(x, -1, eps) * b + w,
               "Hint: weight and bias swapped places")


def test_layer_norm_checker_falls_back_to_its_general_hint():
    fails_with(check_layer_norm, lambda x, w, b, eps: x, r"Hint: over the last dimension: subtract the mean")


# ---------------------------------------------------------------- residual_block (spot the bug)

def residual_block(x, sublayer, norm, norm_first):
    return x + sublayer(norm(x)) if norm_first else norm(x + sublayer(x))


def test_residual_block_checker_passes_the_reference_and_course_lib():
    assert says(check_residual_block, residual_block) == "residual_block: all 4 checks passed"
    assert says(check_residual_block, lambda x, sublayer, norm, norm_first: add_and_norm(
        x, sublayer, norm, nn.Identity(), norm_first)) == "residual_block: all 4 checks passed"
    fails_with(check_residual_block, _stub, "residual_block: not implemented yet")


def test_residual_block_checker_names_the_normalised_skip_path():
    def residual_block_normed_skip(x, sublayer, norm, norm_first):  # the notebook's bug
        if norm_first:
            x = norm(x)  # BUG: the skip path now carries norm(x), not x
            return x + sublayer(x)
        return norm(x + sublayer(x))

    fails_with(check_residual_block, residual_block_normed_skip,
               r"residual_block failed on pre-norm \(norm_first=True\).*want x \+ sublayer\(norm\(x\)\).*"
               r"Hint: the skip path carries norm\(x\) instead of x")


def test_residual_block_checker_names_swapped_orders():
    fails_with(check_residual_block, lambda x, s, n, first: residual_block(x, s, n, not first),
               r"residual_block failed on post-norm.*Hint: post-norm and pre-norm are swapped")


def test_residual_block_checker_names_a_missing_residual():
    fails_with(check_residual_block, lambda x, s, n, first: s(n(x)) if first else n(s(x)),
               r"residual_block failed on post-norm \(norm_first=False\).*Hint: x is never added back")


def test_residual_block_checker_names_a_missing_norm():
    fails_with(check_residual_block, lambda x, s, n, first: x + s(n(x)) if first else x + s(x),
               "Hint: the norm is missing")


# ---------------------------------------------------------------- rms_norm (exercise 1)

def rms_norm(x, weight, eps):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def test_rms_norm_checker_passes_the_reference_torch_and_course_lib():
    assert says(check_rms_norm, rms_norm) == "rms_norm: all 4 checks passed"
    assert says(check_rms_norm, lambda x, w, eps: F.rms_norm(x, w.shape, w, eps)) == "rms_norm: all 4 checks passed"

    def course(x, weight, eps):
        norm = RMSNorm(x.size(-1), eps=eps).double()
        norm.weight.data = weight
        return norm(x)

    assert says(check_rms_norm, course) == "rms_norm: all 4 checks passed"
    fails_with(check_rms_norm, _stub, "rms_norm: not implemented yet")


def test_rms_norm_checker_hand_case_numbers():
    line = fails_with(check_rms_norm, lambda x, w, eps: x, r"mean of the squares \(1 \+ 4 \+ 9 \+ 36\) / 4 = 12\.5")
    assert "expected tensor of shape (1, 4): [0.2828, 0.5657, 0.8485, 1.6971]" in line  # x / sqrt(12.5)


def test_rms_norm_checker_names_a_subtracted_mean():
    fails_with(check_rms_norm, lambda x, w, eps: rms_norm(x - x.mean(-1, keepdim=True), w, eps),
               "Hint: the mean was subtracted: that is LayerNorm")
    fails_with(check_rms_norm, lambda x, w, eps: F.layer_norm(x, w.shape, w, None, eps),
               "Hint: the mean was subtracted: that is LayerNorm")


def test_rms_norm_checker_names_eps_outside_or_missing():
    fails_with(check_rms_norm, lambda x, w, eps: x / (x.pow(2).mean(-1, keepdim=True).sqrt() + eps) * w,
               r"failed on x = \[\[0, 0\.1, 0, 0\.1\]\].*Hint: eps was added after the square root")
    fails_with(check_rms_norm, lambda x, w, eps: rms_norm(x, w, 0.0), "Hint: eps is missing")


def test_rms_norm_checker_names_a_missing_root():
    fails_with(check_rms_norm, lambda x, w, eps: x / (x.pow(2).mean(-1, keepdim=True) + eps) * w,
               "Hint: x was divided by the mean of the squares itself")


def test_rms_norm_checker_names_the_vector_length():
    fails_with(check_rms_norm, lambda x, w, eps: x / torch.sqrt(x.pow(2).sum(-1, keepdim=True) + eps) * w,
               "Hint: the squares were summed, not averaged")


def test_rms_norm_checker_names_the_wrong_axis():
    fails_with(check_rms_norm, lambda x, w, eps: x * torch.rsqrt(x.pow(2).mean(dim=-2, keepdim=True) + eps) * w,
               "Hint: the statistics were taken over the wrong axis")


def test_rms_norm_checker_names_a_missing_weight():
    fails_with(check_rms_norm, lambda x, w, eps: rms_norm(x, 1.0, eps),
               r"failed on a batch x of shape \(2, 3, 8\).*Hint: weight is not applied")


def test_rms_norm_checker_names_the_standard_deviation():
    fails_with(check_rms_norm, lambda x, w, eps: x / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps) * w,
               "Hint: x was divided by its standard deviation")


# ---------------------------------------------------------------- batch_norm (exercise 2)

def batch_norm(x, eps):
    return _normalise(x, (0, 1), eps)


def test_batch_norm_checker_passes_the_reference_and_torch():
    assert says(check_batch_norm, batch_norm) == "batch_norm: all 4 checks passed"
    assert says(check_batch_norm, lambda x, eps: F.batch_norm(x.transpose(1, 2), None, None, training=True,
                                                              eps=eps).transpose(1, 2)) == (
        "batch_norm: all 4 checks passed")
    assert says(check_batch_norm, lambda x, eps: nn.BatchNorm1d(x.size(-1), eps=eps, affine=False).double()(
        x.reshape(-1, x.size(-1))).view_as(x)) == "batch_norm: all 4 checks passed"
    fails_with(check_batch_norm, _stub, "batch_norm: not implemented yet")


def test_batch_norm_checker_hand_case_numbers():
    line = fails_with(check_batch_norm, lambda x, eps: x, "feature 0 takes 1, 3, 5, 7")
    # feature 0: (-3, -1, 1, 3) / sqrt(5); feature 1: (-10, -10, 0, 20) / sqrt(150)
    expected = "[-1.3416, -0.8165, -0.4472, -0.8165, 0.4472, 0.0, 1.3416, 1.633]"
    assert f"expected tensor of shape (2, 2, 2): {expected}" in line


def test_batch_norm_checker_names_layer_norm():
    fails_with(check_batch_norm, lambda x, eps: _normalise(x, -1, eps),
               r"failed on x = \[\[\[1, 10\], \[3, 10\]\], \[\[5, 20\], \[7, 40\]\]\].*Hint: each token was normalised "
               r"over its own features: that is LayerNorm")


def test_batch_norm_checker_names_statistics_over_one_axis_only():
    fails_with(check_batch_norm, lambda x, eps: _normalise(x, 0, eps), "Hint: the statistics were taken over the "
                                                                      "sentences only")
    fails_with(check_batch_norm, lambda x, eps: _normalise(x, 1, eps), "Hint: the statistics were taken over the "
                                                                      "positions of each sentence only")


def test_batch_norm_checker_names_the_unbiased_variance():
    fails_with(check_batch_norm, lambda x, eps: _normalise(x, (0, 1), eps, unbiased=True),
               r"Hint: the variance was divided by n - 1")


def test_batch_norm_checker_names_eps_outside_the_root():
    fails_with(check_batch_norm, lambda x, eps: (x - x.mean((0, 1), keepdim=True)) / (
        x.var((0, 1), keepdim=True, unbiased=False).sqrt() + eps),
        r"failed on x of shape \(2, 2, 2\) whose feature 0 takes 0, 0\.1.*"
        r"Hint: eps was added to the standard deviation")


def test_batch_norm_checker_names_statistics_over_the_whole_tensor():
    fails_with(check_batch_norm, lambda x, eps: _normalise(x, (0, 1, 2), eps),
               "Hint: one mean and variance for the whole tensor")


def test_batch_norm_checker_falls_back_to_its_general_hint():
    fails_with(check_batch_norm, lambda x, eps: x, r"Hint: for each feature \(the last dimension\)")
