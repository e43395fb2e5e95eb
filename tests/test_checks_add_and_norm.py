"""Notebook 07's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import torch
import torch.nn.functional as F
from checking import fails_with

from course_lib import LayerNorm, add_and_norm
from course_lib.checks import check_layer_norm, check_residual_block


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- layer_norm

def layer_norm(x, weight, bias, eps):
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps) * weight + bias


def test_layer_norm_checker_passes_the_reference(capsys):
    check_layer_norm(layer_norm)
    assert "✔ layer_norm: all 4 checks passed" in capsys.readouterr().out


def test_layer_norm_checker_accepts_torch_and_course_lib(capsys):
    check_layer_norm(lambda x, weight, bias, eps: F.layer_norm(x, weight.shape, weight, bias, eps))

    def course(x, weight, bias, eps):
        norm = LayerNorm(x.size(-1), eps=eps).double()
        norm.weight.data, norm.bias.data = weight, bias
        return norm(x)

    check_layer_norm(course)
    assert capsys.readouterr().out.count("all 4 checks passed") == 2


def test_layer_norm_checker_on_the_stub():
    fails_with(check_layer_norm, _stub, "layer_norm: not implemented yet")


def test_layer_norm_checker_rejects_the_study_notes_version():
    def notes_layer_norm(x, alpha, bias, eps):  # the notebook's bug: unbiased std, eps outside the square root
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True)
        return alpha * (x - mean) / (std + eps) + bias

    fails_with(check_layer_norm, notes_layer_norm, r"layer_norm failed on x = \[\[1, 2, 3, 6\]\].*divide by d = 4.*"
                                                   r"expected .*\[-1\.069, -0\.5345, 0\.0, 1\.6036\], got .*"
                                                   r"\[-0\.9258, -0\.4629, 0\.0, 1\.3887\]")


def test_layer_norm_checker_rejects_eps_outside_the_root():
    def eps_outside(x, weight, bias, eps):  # the notebook's half-fix: biased std, eps still outside
        mean = x.mean(dim=-1, keepdim=True)
        std = x.std(dim=-1, keepdim=True, unbiased=False)
        return (x - mean) / (std + eps) * weight + bias

    fails_with(check_layer_norm, eps_outside, r"layer_norm failed on x = \[\[0, 0\.1, 0, 0\.1\]\], eps=0\.01.*"
                                              r"got .*\[-0\.8333, 0\.8333")


def test_layer_norm_checker_rejects_the_wrong_axis():
    def over_positions(x, weight, bias, eps):
        mean = x.mean(dim=-2, keepdim=True)
        var = x.var(dim=-2, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + eps) * weight + bias

    fails_with(check_layer_norm, over_positions, r"layer_norm failed on x = \[\[1, 2, 3, 6\]\].*got NaN")


def test_layer_norm_checker_rejects_a_missing_weight_and_bias():
    fails_with(check_layer_norm, lambda x, weight, bias, eps: layer_norm(x, 1.0, 0.0, eps),
               "layer_norm failed on a batch x of shape \\(2, 3, 8\\)")


# ---------------------------------------------------------------- residual_block

def residual_block(x, sublayer, norm, norm_first):
    if norm_first:
        return x + sublayer(norm(x))
    return norm(x + sublayer(x))


def test_residual_block_checker_passes_the_reference(capsys):
    check_residual_block(residual_block)
    check_residual_block(lambda x, sublayer, norm, norm_first: add_and_norm(x, sublayer, norm, torch.nn.Identity(),
                                                                             norm_first))
    assert capsys.readouterr().out.count("✔ residual_block: all 4 checks passed") == 2


def test_residual_block_checker_on_the_stub():
    fails_with(check_residual_block, _stub, "residual_block: not implemented yet")


def test_residual_block_checker_rejects_adding_the_normalised_input():
    def residual_block_normed_skip(x, sublayer, norm, norm_first):  # the notebook's bug
        if norm_first:
            x = norm(x)  # BUG: the skip path now carries norm(x), not x
            return x + sublayer(x)
        return norm(x + sublayer(x))

    fails_with(check_residual_block, residual_block_normed_skip,
               r"residual_block failed on pre-norm \(norm_first=True\).*"
               r"want x \+ sublayer\(norm\(x\)\)")


def test_residual_block_checker_rejects_a_missing_residual():
    fails_with(check_residual_block, lambda x, sublayer, norm, norm_first: norm(sublayer(x)),
               r"residual_block failed on post-norm \(norm_first=False\)")


def test_residual_block_checker_rejects_swapped_orders():
    def swapped(x, sublayer, norm, norm_first):
        return residual_block(x, sublayer, norm, not norm_first)

    fails_with(check_residual_block, swapped, r"residual_block failed on post-norm")
