"""Notebook 03's checkers: they pass the references, flag the stubs, and answer each known bug with its own hint."""

import math

import pytest
import torch
import torch.nn.functional as F
from checking import fails_with

from course_lib import scaled_dot_product_attention
from course_lib.checks import (
    check_attention_weights,
    check_blockwise_attention,
    check_softmax,
    check_softmax_backward,
)

D_MODEL = 8  # the notebook's layer: tokens of width d_model = 8 projected to d_k = 4


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- softmax

def stable_softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)


def test_softmax_checker_passes_torch_and_the_stable_version(capsys):
    check_softmax(lambda x: torch.softmax(x, dim=-1))
    check_softmax(stable_softmax)
    assert capsys.readouterr().out.count("✔ softmax: all 4 checks passed") == 2


def test_softmax_checker_on_the_stub():
    fails_with(check_softmax, _stub, "softmax: not implemented yet")


def test_softmax_checker_explains_the_overflow_of_the_naive_formula():
    fails_with(check_softmax, lambda x: x.exp() / x.exp().sum(dim=-1, keepdim=True),
               r"failed on x = \[\[1000, 0, 999\], .*got NaN.*Hint: exp of a large score overflows to inf")


def test_softmax_checker_explains_a_shift_by_the_minimum_as_the_same_overflow():
    def shift_by_min(x):
        z = (x - x.min(dim=-1, keepdim=True).values).exp()
        return z / z.sum(dim=-1, keepdim=True)

    fails_with(check_softmax, shift_by_min, r"got NaN.*Hint: exp of a large score overflows")


def test_softmax_checker_explains_one_shift_for_the_whole_tensor():
    def global_max(x):  # subtracting one max for everything underflows the rows far below it
        z = (x - x.max()).exp()
        return z / z.sum(dim=-1, keepdim=True)

    fails_with(check_softmax, global_max, r"failed on x = \[\[1000, 0, 999\], .*got NaN.*Hint: one shift for the "
                                          r"whole tensor .*each row needs its own shift")


def test_softmax_checker_explains_the_wrong_axis():
    def over_first_axis(x):
        z = (x - x.max(dim=0, keepdim=True).values).exp()
        return z / z.sum(dim=0, keepdim=True)

    fails_with(check_softmax, over_first_axis,
               r"failed on x = \[\[1000, 0, 999\], \[0, 0, 0\]\].*Hint: the normalisation ran over the first dimension")


def test_softmax_checker_gives_the_general_hint_for_a_missing_keepdim():
    def no_keepdim(x):  # the row maxima (2,) do not line up with the rows of (2, 3)
        z = (x - x.max(dim=-1).values).exp()
        return z / z.sum(dim=-1)

    fails_with(check_softmax, no_keepdim, r"failed on x = \[\[1000, 0, 999\].*it raised RuntimeError.*Hint: each row "
                                          r"of the last dimension is its own softmax.*keep the reduced dimension")


# ---------------------------------------------------------------- attention_weights

def weights_over_d_model(q, k):  # the notebook's bug 1: sqrt(d_model), not sqrt(d_k)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D_MODEL), dim=-1)


def weights_over_queries(q, k):  # the notebook's bug 2: softmax over the queries (dim=-2)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-2)


def test_attention_weights_checker_passes_course_lib(capsys):
    check_attention_weights(lambda q, k: scaled_dot_product_attention(q, k, k)[1])
    assert "✔ attention_weights: all 3 checks passed" in capsys.readouterr().out


def test_attention_weights_checker_on_the_stub():
    fails_with(check_attention_weights, _stub, "attention_weights: not implemented yet")


def test_attention_weights_checker_names_the_scale_of_sqrt_d_model():
    fails_with(check_attention_weights, weights_over_d_model,
               r"failed on q = \[\[2, 0, 0, 0\], \[0, 2, 2, 0\]\] and k = .*expected .*\[0.4223, 0.1554, 0.4223, .*got "
               r".*\[0.4011, 0.1978, 0.4011, .*Hint: the scores were divided by √8 ≈ 2.828, but q and k have width "
               r"d_k = 4 here, so the scale is √4 = 2.*not from d_model")


def test_attention_weights_checker_says_when_there_is_no_scale():
    fails_with(check_attention_weights, lambda q, k: torch.softmax(q @ k.transpose(-2, -1), dim=-1),
               r"failed on q = .*Hint: the scores were not scaled at all: .*d_k = 4 .*÷ √4 = 2")


def test_attention_weights_checker_says_when_the_scale_is_d_k_not_its_root():
    fails_with(check_attention_weights, lambda q, k: torch.softmax(q @ k.transpose(-2, -1) / q.size(-1), dim=-1),
               r"Hint: the scores were divided by d_k = 4 itself, not by its square root √4 = 2")


def test_attention_weights_checker_says_when_the_scale_multiplies():
    fails_with(check_attention_weights,
               lambda q, k: torch.softmax(q @ k.transpose(-2, -1) * math.sqrt(q.size(-1)), dim=-1),
               r"Hint: the scores were multiplied by √d_k = 2 instead of divided by it")


def test_attention_weights_checker_names_a_fixed_scale_right_only_for_d_k_4():
    fails_with(check_attention_weights, lambda q, k: torch.softmax(q @ k.transpose(-2, -1) / 2, dim=-1),
               r"failed on cross-attention: q \(1, 2, 16\), k \(1, 5, 16\).*Hint: the scores were divided by √4 ≈ 2, "
               r"but q and k have width d_k = 16 here, so the scale is √16 = 4")


def test_attention_weights_checker_explains_the_softmax_over_queries():
    fails_with(check_attention_weights, weights_over_queries,
               r"failed on q = .*got .*\[0.7311, 0.2689, 0.2689, 0.2689, 0.7311, 0.7311\].*Hint: each query's row "
               r"must sum to 1, but here each column does")


def test_attention_weights_checker_explains_the_softmax_over_a_head_axis():
    def over_axis_1(q, k):  # right for one (L_q, L_k) matrix, wrong once batch or head axes come first
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=1)

    fails_with(check_attention_weights, over_axis_1,
               r"failed on q, k of shape \(B=2, H=2, L=3, d_k=4\).*Hint: the softmax ran over a batch or head axis")


def test_attention_weights_checker_explains_keys_times_queries():
    fails_with(check_attention_weights,
               lambda q, k: torch.softmax(k @ q.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1),
               r"expected shape \(2, 3\), got shape \(3, 2\)\. Hint: rows are queries and columns keys")


# ---------------------------------------------------------------- softmax_backward

def backward(weights, grad):
    return weights * (grad - (weights * grad).sum(dim=-1, keepdim=True))


def test_softmax_backward_checker_passes_the_formula_and_the_jacobian(capsys):
    check_softmax_backward(backward)

    def through_the_jacobian(weights, grad):  # the n x n way: right, just wasteful
        jacobian = torch.diag_embed(weights) - weights[..., :, None] * weights[..., None, :]  # (..., n, n)
        return (grad[..., None, :] @ jacobian).squeeze(-2)

    check_softmax_backward(through_the_jacobian)
    assert capsys.readouterr().out.count("✔ softmax_backward: all 4 checks passed") == 2


def test_softmax_backward_checker_on_the_stub():
    fails_with(check_softmax_backward, _stub, "softmax_backward: not implemented yet")


@pytest.mark.parametrize("buggy, hint", [
    (lambda a, g: a * g, "only the diagonal term A_j G_j is there"),
    (lambda a, g: a * (1 - a) * g, r"A_j \(1 − A_j\) G_j is the diagonal of the Jacobian alone"),
    (lambda a, g: g - (a * g).sum(dim=-1, keepdim=True), "the factor A_j is missing"),
    (lambda a, g: a * (g - g.sum(dim=-1, keepdim=True)), "the subtracted term .* not its plain sum"),
    (lambda a, g: a * (g - g.mean(dim=-1, keepdim=True)), "the subtracted term .* not its plain mean"),
    (lambda a, g: a * ((a * g).sum(dim=-1, keepdim=True) - g), "the sign is flipped"),
], ids=["diagonal only", "sigmoid-style diagonal", "no factor A", "plain sum", "plain mean", "sign"])
def test_softmax_backward_checker_names_each_known_mistake(buggy, hint):
    fails_with(check_softmax_backward, buggy, rf"failed on A = \[0.1, 0.2, 0.7\] and G = \[1, 0, 0\].*Hint: {hint}")


def test_softmax_backward_checker_gives_the_general_hint_for_the_wrong_axis():
    fails_with(check_softmax_backward, lambda a, g: a * (g - (a * g).sum(dim=0, keepdim=True)),
               r"failed on A \(2, 3, 5\).*Hint: \(∂L/∂S\)_j = Σ_i G_i ∂A_i/∂S_j")


# ---------------------------------------------------------------- blockwise_attention

def blockwise(q, k, v, block_size):
    best = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=q.dtype)
    total, out = torch.zeros_like(best), torch.zeros(q.shape[:-1] + (v.size(-1),), dtype=q.dtype)
    for start in range(0, k.size(-2), block_size):
        s = q @ k[..., start:start + block_size, :].transpose(-2, -1) / math.sqrt(q.size(-1))
        new_best = torch.maximum(best, s.amax(dim=-1, keepdim=True))
        shrink, p = (best - new_best).exp(), (s - new_best).exp()
        total = total * shrink + p.sum(dim=-1, keepdim=True)
        out = out * shrink + p @ v[..., start:start + block_size, :]
        best = new_best
    return out / total


def blockwise_with(block_scores, rescale_sum=True, rescale_out=True, keep_last=True):
    """The learner's loop with one step left out: the running max taken from `block_scores`' own max, no rescale."""

    def attend(q, k, v, block_size):
        best = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=q.dtype)
        total, out = torch.zeros_like(best), torch.zeros(q.shape[:-1] + (v.size(-1),), dtype=q.dtype)
        stop = k.size(-2) if keep_last else k.size(-2) // block_size * block_size
        for start in range(0, stop, block_size):
            s = block_scores(q, k[..., start:start + block_size, :])
            new_best = torch.maximum(best, s.amax(dim=-1, keepdim=True))
            shrink, p = (best - new_best).exp(), (s - new_best).exp()
            total = (total * shrink if rescale_sum else total) + p.sum(dim=-1, keepdim=True)
            out = (out * shrink if rescale_out else out) + p @ v[..., start:start + block_size, :]
            best = new_best
        return out / total

    return attend


def scaled(q, k):
    return q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))


def test_blockwise_attention_checker_passes_the_online_softmax(capsys):
    check_blockwise_attention(blockwise)
    assert "✔ blockwise_attention: all 5 checks passed" in capsys.readouterr().out


def test_blockwise_attention_checker_on_the_stub():
    fails_with(check_blockwise_attention, _stub, "blockwise_attention: not implemented yet")


def test_blockwise_attention_checker_rejects_the_scores_of_all_keys_at_once():
    def all_at_once(q, k, v, block_size):  # right numbers, but the (L_q, L_k) matrix it was meant to avoid
        return torch.softmax(scaled(q, k), dim=-1) @ v

    fails_with(check_blockwise_attention, all_at_once,
               r"failed on q \(5, 4\), k \(7, 4\), v \(7, 3\) with block_size=2 .*: a tensor of shape \(\.\.\., 5, 7\) "
               r"was formed: the scores of all 7 keys at once\. Hint: hold only one block of scores")


def test_blockwise_attention_checker_rejects_pytorchs_fused_attention_on_all_keys():
    fails_with(check_blockwise_attention, lambda q, k, v, block_size: F.scaled_dot_product_attention(q, k, v),
               r"with block_size=2 .*: F.scaled_dot_product_attention was given all 7 keys at once\. Hint: hold only "
               r"one block of scores")


def test_blockwise_attention_checker_rejects_scores_concatenated_from_blocks():
    def concatenated(q, k, v, block_size):
        blocks = [scaled(q, k[..., i:i + block_size, :]) for i in range(0, k.size(-2), block_size)]
        return torch.softmax(torch.cat(blocks, dim=-1), dim=-1) @ v

    fails_with(check_blockwise_attention, concatenated, r"a tensor of shape \(\.\.\., 5, 7\) was formed")


@pytest.mark.parametrize("buggy, case, hint", [
    (blockwise_with(scaled, rescale_sum=False, rescale_out=False), "block_size=2",
     r"when a block raises a query's running maximum .* both must be rescaled"),
    (blockwise_with(scaled, rescale_out=False), "block_size=2",
     "the running sum was rescaled when the maximum rose, but the output gathered so far was not"),
    (blockwise_with(scaled, rescale_sum=False), "block_size=2",
     "the output gathered so far was rescaled when the maximum rose, but the running sum was not"),
    (blockwise_with(scaled, keep_last=False), "block_size=2", "the last block was dropped"),
    (blockwise_with(lambda q, k: q @ k.transpose(-2, -1)), "block_size=2", r"the scores were not divided by √d_k"),
], ids=["no rescale", "sum only", "output only", "last block dropped", "no scale"])
def test_blockwise_attention_checker_names_each_known_mistake(buggy, case, hint):
    fails_with(check_blockwise_attention, buggy, rf"failed on q \(5, 4\), k \(7, 4\), v \(7, 3\) with {case}.*"
                                                 rf"Hint: {hint}")


def test_blockwise_attention_checker_explains_exp_overflow_without_a_running_max():
    def unshifted(q, k, v, block_size):  # exact in real numbers, inf / inf in floating point
        total, out = 0.0, 0.0
        for i in range(0, k.size(-2), block_size):
            p = scaled(q, k[..., i:i + block_size, :]).exp()
            total, out = total + p.sum(dim=-1, keepdim=True), out + p @ v[..., i:i + block_size, :]
        return out / total

    fails_with(check_blockwise_attention, unshifted, r"failed on q = \[\[2, 2, 2, 2\], \[2, 2, 2, 1.5\]\].*got NaN.*"
                                                     r"Hint: exp of scores near 1000 overflows")


def test_blockwise_attention_checker_explains_each_block_shifted_by_its_own_max():
    def own_shift(q, k, v, block_size):
        total, out = 0.0, 0.0
        for i in range(0, k.size(-2), block_size):
            s = scaled(q, k[..., i:i + block_size, :])
            p = (s - s.amax(dim=-1, keepdim=True)).exp()
            total, out = total + p.sum(dim=-1, keepdim=True), out + p @ v[..., i:i + block_size, :]
        return out / total

    fails_with(check_blockwise_attention, own_shift, r"Hint: each block was shifted by its own maximum")


def test_blockwise_attention_checker_explains_a_softmax_per_block():
    def averaged(q, k, v, block_size):
        starts = range(0, k.size(-2), block_size)
        return sum(torch.softmax(scaled(q, k[..., i:i + block_size, :]), dim=-1) @ v[..., i:i + block_size, :]
                   for i in starts) / len(starts)

    fails_with(check_blockwise_attention, averaged, r"Hint: each block was normalised on its own and the blocks "
                                                    r"averaged")


@pytest.mark.parametrize("check, wrong, hint", [
    (check_attention_weights, lambda q, k: q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)),
     "the weights are a softmax of q·kᵀ / √d_k over the keys"),
    (check_blockwise_attention, lambda q, k, v, block_size: v[..., :1, :].expand(*q.shape[:-1], v.size(-1)),
     "keep, per query, the largest score seen so far m"),
], ids=["attention_weights", "blockwise_attention"])
def test_an_unknown_mistake_gets_the_general_hint(check, wrong, hint):
    fails_with(check, wrong, rf"Hint: {hint}")
