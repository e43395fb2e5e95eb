"""Notebook 08's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import copy

import torch
from checking import fails_with
from torch import nn

from course_lib import Encoder, EncoderLayer
from course_lib.checks import check_encoder_layer, check_encoder_stack


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- encoder_layer

def encoder_layer(layer, x, mask):
    h = layer.norm1(x + layer.self_attn(x, mask=mask))
    return layer.norm2(h + layer.ffn(h))


def test_encoder_layer_checker_passes_the_reference(capsys):
    check_encoder_layer(encoder_layer)
    assert "✔ encoder_layer: all 3 checks passed" in capsys.readouterr().out


def test_encoder_layer_checker_accepts_the_layer_itself(capsys):
    check_encoder_layer(lambda layer, x, mask: layer(x, mask))
    assert "all 3 checks passed" in capsys.readouterr().out


def test_encoder_layer_checker_on_the_stub():
    fails_with(check_encoder_layer, _stub, "encoder_layer: not implemented yet")


def test_encoder_layer_checker_rejects_the_forgotten_mask():
    def encoder_layer_no_mask(layer, x, mask):  # the notebook's first bug
        h = layer.norm1(x + layer.self_attn(x))
        return layer.norm2(h + layer.ffn(h))

    fails_with(check_encoder_layer, encoder_layer_no_mask,
               r"encoder_layer failed on a batch of 2 sentences of 3 and 4 tokens, the "
               r"first padded.*max difference")


def test_encoder_layer_checker_rejects_swapped_norms():
    def swapped(layer, x, mask):  # invisible with fresh norms (weight 1, bias 0): the checker randomises them
        h = layer.norm2(x + layer.self_attn(x, mask=mask))
        return layer.norm1(h + layer.ffn(h))

    fails_with(check_encoder_layer, swapped, r"encoder_layer failed on x of shape \(2, 3, 8\), 2 heads, no mask")


def test_encoder_layer_checker_rejects_pre_norm_and_a_missing_residual():
    def pre_norm(layer, x, mask):
        h = x + layer.self_attn(layer.norm1(x), mask=mask)
        return h + layer.ffn(layer.norm2(h))

    def no_residual(layer, x, mask):
        h = layer.norm1(layer.self_attn(x, mask=mask))
        return layer.norm2(h + layer.ffn(h))

    for wrong in (pre_norm, no_residual):
        fails_with(check_encoder_layer, wrong, "encoder_layer failed on x of shape")


def test_encoder_layer_checker_reports_a_crash_with_the_input_shapes():
    def wrong_mask_shape(layer, x, mask):
        return encoder_layer(layer, x, None if mask is None else mask[:, 0, 0])  # (B, L): no longer broadcasts

    fails_with(check_encoder_layer, wrong_mask_shape,
               r"encoder_layer failed on a batch of 2 sentences .*it raised ValueError: "
               r"mask of shape")


def test_encoder_layer_checker_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_encoder_layer(encoder_layer)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- encoder_stack

class EncoderStack(nn.Module):
    def __init__(self, num_layers, d_model, num_heads, d_ff):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(d_model, num_heads, d_ff) for _ in range(num_layers))

    def forward(self, x, mask=None):
        for layer in self.layers:
            x = layer(x, mask)
        return x


class SharedStack(EncoderStack):
    """The notebook's second bug: `[layer] * N`."""

    def __init__(self, num_layers, d_model, num_heads, d_ff):
        nn.Module.__init__(self)
        self.layers = nn.ModuleList([EncoderLayer(d_model, num_heads, d_ff)] * num_layers)


def test_encoder_stack_checker_passes_the_reference(capsys):
    check_encoder_stack(EncoderStack)
    assert "✔ encoder_stack: all 6 checks passed" in capsys.readouterr().out


def test_encoder_stack_checker_accepts_course_lib_and_deep_copies(capsys):
    check_encoder_stack(lambda num_layers, d_model, num_heads, d_ff: Encoder(num_layers, d_model, num_heads, d_ff))

    class Cloned(EncoderStack):  # The Annotated Transformer's clones(): deep copies of one template
        def __init__(self, num_layers, d_model, num_heads, d_ff):
            nn.Module.__init__(self)
            template = EncoderLayer(d_model, num_heads, d_ff)
            self.layers = nn.ModuleList(copy.deepcopy(template) for _ in range(num_layers))

    check_encoder_stack(Cloned)
    assert capsys.readouterr().out.count("all 6 checks passed") == 2


def test_encoder_stack_checker_on_the_stub():
    fails_with(check_encoder_stack, _stub, "encoder_stack: not implemented yet")


def test_encoder_stack_checker_rejects_one_shared_layer():
    fails_with(check_encoder_stack, SharedStack,
               r"encoder_stack failed on how many distinct layer objects .* expected 3, "
               r"got 1")


def test_encoder_stack_checker_rejects_a_plain_list():
    class PlainList(EncoderStack):  # layers in a Python list: nn.Module never registers their parameters
        def __init__(self, num_layers, d_model, num_heads, d_ff):
            nn.Module.__init__(self)
            self.layers = [EncoderLayer(d_model, num_heads, d_ff) for _ in range(num_layers)]

    fails_with(check_encoder_stack, PlainList,
               r"failed on trainable parameters for num_layers=3.* expected 1800, got 0")


def test_encoder_stack_checker_rejects_a_final_norm_and_a_fixed_depth():
    fails_with(check_encoder_stack, lambda n, d_model, h, d_ff: Encoder(n, d_model, h, d_ff, final_norm=True),
               "expected 1800, got 1816")
    fails_with(check_encoder_stack, lambda n, d_model, h, d_ff: EncoderStack(6, d_model, h, d_ff),
               r"len\(stack.layers\) for num_layers=3.* expected 3, got 6")


def test_encoder_stack_checker_rejects_layers_run_in_reverse():
    class Reversed(EncoderStack):
        def forward(self, x, mask=None):
            for layer in reversed(self.layers):
                x = layer(x, mask)
            return x

    fails_with(check_encoder_stack, Reversed, r"encoder_stack failed on stack\(x, mask\) minus a reference encoder")


def test_encoder_stack_checker_explains_a_missing_layers_attribute():
    fails_with(check_encoder_stack, lambda n, d_model, h, d_ff: nn.Linear(d_model, d_model),
               "expected an nn.Module with a `layers` attribute")


def test_encoder_stack_checker_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_encoder_stack(EncoderStack)
    assert torch.equal(torch.rand(3), expected)
