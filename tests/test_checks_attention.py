"""Notebook 03's checkers: they pass the references, flag the stubs, and reject the notebook's spot-the-bug versions."""

import math

import pytest
import torch
import torch.nn.functional as F
from checking import fails_with

from course_lib import scaled_dot_product_attention
from course_lib.checks import check_attention_weights, check_scaled_dot_product_attention, check_softmax

D_MODEL = 8  # the notebook's layer: tokens of width d_model = 8 projected to d_k = 4


def _stub(*args):
    raise NotImplementedError


def stable_softmax(x):
    z = x - x.max(dim=-1, keepdim=True).values
    return z.exp() / z.exp().sum(dim=-1, keepdim=True)


def weights_over_d_model(q, k):  # the notebook's bug: sqrt(d_model), not sqrt(d_k)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(D_MODEL), dim=-1)


def weights_over_queries(q, k):  # the notebook's bug: softmax over the queries (dim=-2)
    return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-2)


def _with_values(weights_fn):
    def attention(q, k, v):
        weights = weights_fn(q, k)
        return weights @ v, weights
    return attention


# ---------------------------------------------------------------- softmax

def test_softmax_checker_passes_torch_and_the_stable_version(capsys):
    check_softmax(lambda x: torch.softmax(x, dim=-1))
    check_softmax(stable_softmax)
    assert capsys.readouterr().out.count("✔ softmax: all 4 checks passed") == 2


def test_softmax_checker_on_the_stub():
    fails_with(check_softmax, _stub, "softmax: not implemented yet")


def test_softmax_checker_rejects_the_naive_formula():
    fails_with(check_softmax, lambda x: x.exp() / x.exp().sum(dim=-1, keepdim=True),
               r"softmax failed on x = \[\[1000, 0, 999\], .*got NaN")


def test_softmax_checker_rejects_the_wrong_axis():
    fails_with(check_softmax, lambda x: torch.softmax(x, dim=0),
               r"softmax failed on x = \[\[1000, 0, 999\], \[0, 0, 0\]\]")


def test_softmax_checker_rejects_a_max_over_the_whole_tensor():
    def global_max(x):  # subtracting one max for everything underflows the rows far below it
        z = (x - x.max()).exp()
        return z / z.sum(dim=-1, keepdim=True)

    fails_with(check_softmax, global_max, r"failed on x = \[\[1000, 0, 999\], .*got NaN")


# ---------------------------------------------------------------- attention_weights

def test_attention_weights_checker_passes_torch(capsys):
    check_attention_weights(lambda q, k: scaled_dot_product_attention(q, k, k)[1])
    assert "✔ attention_weights: all 3 checks passed" in capsys.readouterr().out


def test_attention_weights_checker_on_the_stub():
    fails_with(check_attention_weights, _stub, "attention_weights: not implemented yet")


def test_attention_weights_checker_rejects_scaling_by_d_model():
    fails_with(check_attention_weights, weights_over_d_model,
               r"attention_weights failed on 2 queries, 3 keys, d_k=4 .*expected .*"
               r"\[0.4223, 0.1554, 0.4223, .*got .*\[0.4011, 0.1978, 0.4011,")


def test_attention_weights_checker_rejects_the_softmax_over_queries():
    fails_with(check_attention_weights, weights_over_queries,
               r"attention_weights failed on 2 queries, 3 keys, d_k=4 .*got .*"
               r"\[0.7311, 0.2689, 0.2689, 0.2689, 0.7311, 0.7311\]")


def test_attention_weights_checker_rejects_the_softmax_over_axis_1():
    def over_axis_1(q, k):  # right for one (L_q, L_k) matrix, wrong once batch or head axes come first
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=1)

    fails_with(check_attention_weights, over_axis_1,
               r"attention_weights failed on q, k of shape \(B=2, H=2, L=3, d_k=4\)")


def test_attention_weights_checker_rejects_no_scale():
    fails_with(check_attention_weights, lambda q, k: torch.softmax(q @ k.transpose(-2, -1), dim=-1),
               "attention_weights failed on 2 queries")


def test_attention_weights_checker_rejects_a_scale_right_only_for_d_k_4():
    fails_with(check_attention_weights, lambda q, k: torch.softmax(q @ k.transpose(-2, -1) / 2, dim=-1),
               r"failed on cross-attention: q \(1, 2, 16\), k \(1, 5, 16\)")


# ---------------------------------------------------------------- scaled_dot_product_attention

def test_attention_checker_passes_course_lib_and_torch(capsys):
    check_scaled_dot_product_attention(scaled_dot_product_attention)

    def with_torch(q, k, v):
        return F.scaled_dot_product_attention(q, k, v), _with_values(lambda q, k: torch.softmax(
            q @ k.transpose(-2, -1) / math.sqrt(q.size(-1)), dim=-1))(q, k, v)[1]

    check_scaled_dot_product_attention(with_torch)
    assert capsys.readouterr().out.count("✔ scaled_dot_product_attention: all 3 checks passed") == 2


def test_attention_checker_on_the_stub():
    fails_with(check_scaled_dot_product_attention, _stub, "scaled_dot_product_attention: not implemented yet")


@pytest.mark.parametrize("buggy", [weights_over_d_model, weights_over_queries], ids=["d_model", "wrong axis"])
def test_attention_checker_rejects_the_notebook_bugs(buggy):
    fails_with(check_scaled_dot_product_attention, _with_values(buggy),
               r"scaled_dot_product_attention failed on 2 queries, 3 keys, d_k=4, "
               r"values .*: the output: expected")


def test_attention_checker_rejects_returning_the_output_alone():
    fails_with(check_scaled_dot_product_attention, lambda q, k, v: scaled_dot_product_attention(q, k, v)[0],
               r"expected a tuple of 2 values, got tensor of shape \(2, 2\)")


def test_attention_checker_rejects_weights_times_keys():
    def times_keys(q, k, v):  # a slip: the weights average the keys instead of the values
        weights = scaled_dot_product_attention(q, k, v)[1]
        return weights @ k, weights

    fails_with(check_scaled_dot_product_attention, times_keys,
               r"failed on 2 queries, 3 keys, d_k=4, .*the output: expected shape \(2, 2\), "
               r"got shape \(2, 4\)")
