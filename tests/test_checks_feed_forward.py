"""Notebook 06's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import torch
import torch.nn.functional as F
from checking import fails_with
from torch import nn

from course_lib import PositionwiseFeedForward
from course_lib.checks import check_feed_forward, check_position_wise


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- feed_forward

def feed_forward(x, W1, b1, W2, b2):
    return F.relu(x @ W1 + b1) @ W2 + b2


def test_feed_forward_checker_passes_the_reference(capsys):
    check_feed_forward(feed_forward)
    assert "✔ feed_forward: all 4 checks passed" in capsys.readouterr().out


def test_feed_forward_checker_accepts_torch_linear():
    check_feed_forward(lambda x, W1, b1, W2, b2: F.linear(F.relu(F.linear(x, W1.T, b1)), W2.T, b2))


def test_feed_forward_checker_on_the_stub():
    fails_with(check_feed_forward, _stub, "feed_forward: not implemented yet")


def test_feed_forward_checker_rejects_a_missing_activation():
    def feed_forward_no_activation(x, W1, b1, W2, b2):  # the notebook's bug: two linear maps, nothing between
        return (x @ W1 + b1) @ W2 + b2

    fails_with(check_feed_forward, feed_forward_no_activation,
               r"feed_forward failed on a hand-sized case.*expected .*"
               r"\[1\.6, 1\.4, 2\.6, -0\.1\], got .*\[1\.6, -0\.1, 1\.6, -2\.1\]")


def test_feed_forward_checker_rejects_the_activation_after_the_second_map():
    fails_with(check_feed_forward, lambda x, W1, b1, W2, b2: F.relu((x @ W1 + b1) @ W2 + b2),
               "feed_forward failed on a hand-sized case")


def test_feed_forward_checker_rejects_a_lost_batch_dimension():
    fails_with(check_feed_forward, lambda x, W1, b1, W2, b2: feed_forward(x, W1, b1, W2, b2).reshape(-1, x.size(-1)),
               r"random batch x of shape \(2, 3, 4\).*expected shape \(2, 3, 4\)")


# ---------------------------------------------------------------- position_wise

class ConvFeedForward(nn.Module):
    """The FFN as two Conv1d over the positions; kernel_size=1 is the paper's, anything larger mixes neighbours."""

    def __init__(self, d_model, d_ff, kernel_size=1):
        super().__init__()
        self.conv1 = nn.Conv1d(d_model, d_ff, kernel_size, padding=kernel_size // 2)
        self.conv2 = nn.Conv1d(d_ff, d_model, kernel_size, padding=kernel_size // 2)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x.transpose(1, 2)))).transpose(1, 2)


class TwoLinears(nn.Module):
    """The notebook's bug: no activation between the two linear maps."""

    def __init__(self, d_model, d_ff):
        super().__init__()
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.linear2(self.linear1(x))


def test_position_wise_checker_passes_the_references(capsys):
    check_position_wise(ConvFeedForward)
    check_position_wise(PositionwiseFeedForward)
    check_position_wise(lambda d_model, d_ff: PositionwiseFeedForward(d_model, d_ff, dropout=0.5, activation="gelu"))
    assert capsys.readouterr().out.count("✔ position_wise: all 6 checks passed") == 3


def test_position_wise_checker_leaves_the_global_random_stream_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    check_position_wise(ConvFeedForward)
    assert torch.equal(torch.rand(3), expected)


def test_position_wise_checker_on_the_stub():
    fails_with(check_position_wise, _stub, "position_wise: not implemented yet")


def test_position_wise_checker_rejects_a_kernel_that_mixes_neighbours():
    fails_with(check_position_wise, lambda d_model, d_ff: ConvFeedForward(d_model, d_ff, kernel_size=3),
               r"position_wise failed on running each position alone.*want zeros")


def test_position_wise_checker_rejects_a_missing_activation():
    fails_with(check_position_wise, TwoLinears, r"position_wise failed on whether f\(x\) \+ f\(-x\) - 2 f\(0\).*"
                                                r"expected True, got False")


def test_position_wise_checker_wants_a_module():
    fails_with(check_position_wise, lambda d_model, d_ff: feed_forward,
               "expected fn\\(d_model, d_ff\\) to return an nn.Module, got function")
