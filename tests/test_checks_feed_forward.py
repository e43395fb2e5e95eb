"""Notebook 06's checkers: pass the references, say "not implemented yet" on a stub, and give each known mistake its
own hint (the notebook's spot-the-bug version and the slips learners make)."""

import torch
import torch.nn.functional as F
from checking import fails_with, says
from torch import nn

from course_lib import PositionwiseFeedForward
from course_lib.checks import check_feed_forward, check_make_conv_ffn, check_swiglu_ffn


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- feed_forward (spot the bug)

def feed_forward(x, W1, b1, W2, b2):
    return F.relu(x @ W1 + b1) @ W2 + b2


def test_feed_forward_checker_passes_the_reference_and_torch_linear():
    assert says(check_feed_forward, feed_forward) == "feed_forward: all 4 checks passed"
    assert says(check_feed_forward, lambda x, W1, b1, W2, b2: F.linear(F.relu(F.linear(x, W1.T, b1)), W2.T, b2)) == (
        "feed_forward: all 4 checks passed")
    fails_with(check_feed_forward, _stub, "feed_forward: not implemented yet")


def test_feed_forward_checker_names_a_missing_activation():
    def feed_forward_no_activation(x, W1, b1, W2, b2):  # the notebook's bug: two linear maps, nothing between
        return (x @ W1 + b1) @ W2 + b2

    fails_with(check_feed_forward, feed_forward_no_activation,
               r"feed_forward failed on a hand-sized case.*expected .*\[1\.6, 1\.4, 2\.6, -0\.1\], got .*"
               r"\[1\.6, -0\.1, 1\.6, -2\.1\].*Hint: nothing bends between the two maps")


def test_feed_forward_checker_names_a_missing_b1():
    fails_with(check_feed_forward, lambda x, W1, b1, W2, b2: F.relu(x @ W1) @ W2 + b2, "Hint: b1 is missing")


def test_feed_forward_checker_names_a_missing_b2_not_the_relu():
    line = fails_with(check_feed_forward, lambda x, W1, b1, W2, b2: F.relu(x @ W1 + b1) @ W2,
                      r"got .*\[1\.5, 1\.5, 2\.5, 0\.0\].*Hint: b2 is missing: the second map adds its own bias")
    assert "must zero" not in line


def test_feed_forward_checker_names_b1_after_the_relu():
    fails_with(check_feed_forward, lambda x, W1, b1, W2, b2: (F.relu(x @ W1) + b1) @ W2 + b2,
               "Hint: b1 was added after the ReLU")


def test_feed_forward_checker_names_the_activation_after_the_second_map():
    fails_with(check_feed_forward, lambda x, W1, b1, W2, b2: F.relu((x @ W1 + b1) @ W2 + b2),
               "Hint: the ReLU is on the output")


def test_feed_forward_checker_names_a_relu_on_the_output_as_well():
    fails_with(check_feed_forward, lambda x, W1, b1, W2, b2: F.relu(feed_forward(x, W1, b1, W2, b2)),
               r"Hint: the output went through max\(0, \.\) as well")


def test_feed_forward_checker_rejects_a_lost_batch_dimension():
    fails_with(check_feed_forward, lambda x, W1, b1, W2, b2: feed_forward(x, W1, b1, W2, b2).reshape(-1, x.size(-1)),
               r"random batch x of shape \(2, 3, 4\).*expected shape \(2, 3, 4\).*"
               r"Hint: FFN\(x\) = max\(0, x W1 \+ b1\)")


# ---------------------------------------------------------------- swiglu_ffn (exercise 1)

def swiglu_ffn(x, W, V, W2, gate=F.silu):
    return (gate(x @ W) * (x @ V)) @ W2


def test_swiglu_checker_passes_the_reference():
    assert says(check_swiglu_ffn, swiglu_ffn) == "swiglu_ffn: all 4 checks passed"
    assert says(check_swiglu_ffn, lambda x, W, V, W2: (x @ W * torch.sigmoid(x @ W) * (x @ V)) @ W2) == (
        "swiglu_ffn: all 4 checks passed")
    fails_with(check_swiglu_ffn, _stub, "swiglu_ffn: not implemented yet")


def test_swiglu_checker_hand_case_numbers():
    line = fails_with(check_swiglu_ffn, lambda x, W, V, W2: torch.zeros(2, 2, dtype=x.dtype), "hand-sized case")
    # Swish(1) * 1 + Swish(-2) * (-2) = 0.7311 + 0.4768; Swish(-1) * 0 - Swish(-2) * (-2); Swish(2) * 2 = 3.5232
    assert "expected tensor of shape (2, 2): [1.2079, -0.4768, 3.5232, 0.0]" in line


def test_swiglu_checker_names_the_sigmoid_gate():
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: swiglu_ffn(x, W, V, W2, gate=torch.sigmoid),
               r"Hint: the gate is sigma\(x W\) alone, the original GLU")


def test_swiglu_checker_names_relu_and_gelu_gates():
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: swiglu_ffn(x, W, V, W2, gate=F.relu), "which makes ReGLU")
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: swiglu_ffn(x, W, V, W2, gate=F.gelu), "which makes GEGLU")


def test_swiglu_checker_names_a_gate_without_activation():
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: swiglu_ffn(x, W, V, W2, gate=lambda z: z),
               "Hint: the gate has no activation at all")


def test_swiglu_checker_names_swish_on_the_wrong_branch():
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: swiglu_ffn(x, V, W, W2), "Hint: Swish went on the wrong branch")


def test_swiglu_checker_names_added_branches():
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: (F.silu(x @ W) + x @ V) @ W2, "Hint: the two branches were added")


def test_swiglu_checker_names_an_unused_v():
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: F.silu(x @ W) @ W2, "Hint: x V is never used")


def test_swiglu_checker_names_swish_after_the_product():
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: F.silu((x @ W) * (x @ V)) @ W2,
               "Hint: Swish came after the product")


def test_swiglu_checker_reports_a_matrix_product_gate_as_a_crash():
    fails_with(check_swiglu_ffn, lambda x, W, V, W2: (F.silu(x @ W) @ (x @ V)) @ W2,
               r"failed on a hand-sized case.*it raised RuntimeError.*Hint: \(Swish\(x W\) \* x V\) W2")


# ---------------------------------------------------------------- make_conv_ffn (exercise 2)

class ConvFeedForward(nn.Module):
    """The FFN as two Conv1d over the positions; kernel_size=1 is the paper's, anything larger mixes neighbours."""

    def __init__(self, d_model, d_ff, kernel_size=1, activation=F.relu, channels_first=True):
        super().__init__()
        self.conv1 = nn.Conv1d(d_model, d_ff, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(d_ff, d_model, kernel_size, padding=kernel_size // 2)
        self.activation, self.channels_first = activation, channels_first

    def forward(self, x):
        x = x.transpose(1, 2) if self.channels_first else x
        y = self.conv2(self.activation(self.conv1(x)))
        return y.transpose(1, 2) if self.channels_first else y


def test_make_conv_ffn_checker_passes_the_references(capsys):
    check_make_conv_ffn(ConvFeedForward)
    check_make_conv_ffn(lambda d_model, d_ff: ConvFeedForward(d_model, d_ff, activation=F.gelu))
    assert capsys.readouterr().out.count("✔ make_conv_ffn: all 7 checks passed") == 2
    fails_with(check_make_conv_ffn, _stub, "make_conv_ffn: not implemented yet")


def test_make_conv_ffn_checker_leaves_the_global_random_stream_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_make_conv_ffn(ConvFeedForward)
    assert torch.equal(torch.rand(3), expected)


def test_make_conv_ffn_checker_names_a_kernel_that_mixes_neighbours():
    fails_with(check_make_conv_ffn, lambda d_model, d_ff: ConvFeedForward(d_model, d_ff, kernel_size=3),
               r"failed on running each position alone.*want zeros.*Hint: a position's output depends on the other "
               r"positions")


def test_make_conv_ffn_checker_names_the_missing_transpose():
    fails_with(check_make_conv_ffn, lambda d_model, d_ff: ConvFeedForward(d_model, d_ff, channels_first=False),
               r"failed on x of shape \(2, 5, 8\).*it raised RuntimeError.*Hint: nn\.Conv1d reads \(batch, channels, "
               r"positions\)")


def test_make_conv_ffn_checker_names_a_missing_activation():
    fails_with(check_make_conv_ffn, lambda d_model, d_ff: ConvFeedForward(d_model, d_ff, activation=lambda h: h),
               r"failed on whether f\(x\) \+ f\(-x\) - 2 f\(0\).*expected True, got False.*Hint: without an "
               r"activation between them")


def test_make_conv_ffn_checker_names_linear_layers_instead_of_convolutions():
    fails_with(check_make_conv_ffn, PositionwiseFeedForward,
               r"failed on the kernel sizes of its nn\.Conv1d layers.*Hint: build it from two nn\.Conv1d")


def test_make_conv_ffn_checker_counts_the_parameters():
    class OneExtra(ConvFeedForward):
        def __init__(self, d_model, d_ff):
            super().__init__(d_model, d_ff)
            self.scale = nn.Parameter(torch.ones(1))  # a parameter the FFN does not have

    fails_with(check_make_conv_ffn, OneExtra, r"failed on the number of parameters.*expected 552, got 553")


def test_make_conv_ffn_checker_wants_a_module():
    fails_with(check_make_conv_ffn, lambda d_model, d_ff: feed_forward,
               r"expected fn\(d_model, d_ff\) to return an nn\.Module, got function\. Hint: return the module itself")
