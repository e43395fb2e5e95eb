"""Notebook 08's checkers: pass the reference, say "not implemented yet" on a stub, name each known mistake's cause."""

import copy

import torch
from checking import fails_with
from torch import nn

from course_lib import Encoder, EncoderLayer
from course_lib.checks import check_encoder_layer, check_encoder_parameters, check_encoder_stack, check_sentence_vector


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
               r"first padded.*max difference.*Hint: the mask never reached the attention")


def test_encoder_layer_checker_rejects_swapped_norms():
    def swapped(layer, x, mask):  # invisible with fresh norms (weight 1, bias 0): the checker randomises them
        h = layer.norm2(x + layer.self_attn(x, mask=mask))
        return layer.norm1(h + layer.ffn(h))

    fails_with(check_encoder_layer, swapped,
               r"encoder_layer failed on x of shape \(2, 3, 8\), 2 heads, no mask.*Hint: norm1 belongs to")


def test_encoder_layer_checker_rejects_pre_norm_and_a_missing_residual():
    def pre_norm(layer, x, mask):
        h = x + layer.self_attn(layer.norm1(x), mask=mask)
        return h + layer.ffn(layer.norm2(h))

    def no_residual(layer, x, mask):
        h = layer.norm1(layer.self_attn(x, mask=mask))
        return layer.norm2(h + layer.ffn(h))

    fails_with(check_encoder_layer, pre_norm, "encoder_layer failed on x of shape.*Hint: that is pre-norm")
    fails_with(check_encoder_layer, no_residual, "encoder_layer failed on x of shape.*Hint: the attention's residual")


def test_encoder_layer_checker_falls_back_on_its_general_hint():
    def ffn_without_residual(layer, x, mask):
        h = layer.norm1(x + layer.self_attn(x, mask=mask))
        return layer.norm2(layer.ffn(h))

    fails_with(check_encoder_layer, ffn_without_residual, "Hint: two sublayers, each one's input added to its output")


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
               r"got 1\. Hint: `\[layer\] \* n` puts one object in the list n times")


def test_encoder_stack_checker_rejects_a_plain_list():
    class PlainList(EncoderStack):  # layers in a Python list: nn.Module never registers their parameters
        def __init__(self, num_layers, d_model, num_heads, d_ff):
            nn.Module.__init__(self)
            self.layers = [EncoderLayer(d_model, num_heads, d_ff) for _ in range(num_layers)]

    fails_with(check_encoder_stack, PlainList,
               r"failed on trainable parameters for num_layers=3.* expected 1800, got 0\. Hint: nn.Module counts only "
               r"the parameters it can see")


def test_encoder_stack_checker_rejects_a_final_norm_and_a_fixed_depth():
    fails_with(check_encoder_stack, lambda n, d_model, h, d_ff: Encoder(n, d_model, h, d_ff, final_norm=True),
               "expected 1800, got 1816.*a post-norm stack adds no final LayerNorm")
    fails_with(check_encoder_stack, lambda n, d_model, h, d_ff: EncoderStack(6, d_model, h, d_ff),
               r"len\(stack.layers\) for num_layers=3.* expected 3, got 6\. Hint: build as many layers")


def test_encoder_stack_checker_rejects_layers_run_in_reverse():
    class Reversed(EncoderStack):
        def forward(self, x, mask=None):
            for layer in reversed(self.layers):
                x = layer(x, mask)
            return x

    fails_with(check_encoder_stack, Reversed,
               r"encoder_stack failed on stack\(x, mask\) minus a reference encoder.*Hint: run the layers in")


def test_encoder_stack_checker_explains_a_missing_layers_attribute():
    fails_with(check_encoder_stack, lambda n, d_model, h, d_ff: nn.Linear(d_model, d_model),
               "expected an nn.Module with a `layers` attribute")


def test_encoder_stack_checker_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_encoder_stack(EncoderStack)
    assert torch.equal(torch.rand(3), expected)


# ---------------------------------------------------------------- sentence_vector

def sentence_vector(memory, mask):
    keep = mask[:, 0, 0, :, None].to(memory.dtype)  # (B, L, 1)
    return (memory * keep).sum(dim=1) / keep.sum(dim=1)


def test_sentence_vector_checker_passes_the_reference(capsys):
    check_sentence_vector(sentence_vector)
    assert capsys.readouterr().out == "✔ sentence_vector: all 3 checks passed\n"


def test_sentence_vector_checker_on_the_stub():
    fails_with(check_sentence_vector, _stub, "^sentence_vector: not implemented yet")


def test_sentence_vector_checker_names_each_mistake():
    def keep(mask):
        return mask[:, 0, 0, :, None].double()

    mistakes = {  # the wrong answer -> the words of its hint
        "the <pad> rows were averaged in": lambda memory, mask: memory.mean(dim=1),
        "not by the padded length L": lambda memory, mask: (memory * keep(mask)).sum(dim=1) / memory.size(1),
        "that is a sum": lambda memory, mask: (memory * keep(mask)).sum(dim=1),
        "count each sentence's real tokens on its own": lambda memory, mask: (memory * keep(mask)).sum(1) / mask.sum(),
    }
    for words, wrong in mistakes.items():
        fails_with(check_sentence_vector, wrong, r"failed on memory .*Hint: .*" + words)


def test_sentence_vector_checker_reports_a_mask_that_does_not_broadcast():
    fails_with(check_sentence_vector, lambda memory, mask: (memory * mask).sum(dim=1),
               r"failed on memory \(2, 3, 4\) .*it raised RuntimeError.*Hint: turn the mask into a \(B, L, 1\) tensor")


def test_sentence_vector_checker_falls_back_on_its_general_hint():
    fails_with(check_sentence_vector, lambda memory, mask: memory.amax(dim=1), "Hint: turn the mask into")


# ---------------------------------------------------------------- encoder_parameters

def encoder_parameters(num_layers, d_model, num_heads, d_ff):
    attention = 4 * (d_model * d_model + d_model)
    ffn = d_model * d_ff + d_ff + d_ff * d_model + d_model
    return num_layers * (attention + ffn + 2 * 2 * d_model)


def test_encoder_parameters_checker_passes_the_reference(capsys):
    check_encoder_parameters(encoder_parameters)
    assert capsys.readouterr().out == "✔ encoder_parameters: all 4 checks passed\n"


def test_encoder_parameters_checker_accepts_a_count_of_a_built_stack(capsys):
    check_encoder_parameters(lambda *sizes: sum(p.numel() for p in Encoder(*sizes).parameters()))
    assert "all 4 checks passed" in capsys.readouterr().out


def test_encoder_parameters_checker_on_the_stub():
    fails_with(check_encoder_parameters, _stub, "^encoder_parameters: not implemented yet")


def test_encoder_parameters_checker_names_each_mistake():
    def layer(d, f, projections=4, biases=True, norms=2):
        return projections * (d * d + d * biases) + 2 * d * f + (f + d) * biases + norms * 2 * d

    mistakes = {  # the wrong answer -> the words of its hint
        "each of the num_layers layers has its own parameters": lambda n, d, h, f: layer(d, f),
        "every nn.Linear has a bias as well": lambda n, d, h, f: n * layer(d, f, biases=False),
        "two LayerNorms": lambda n, d, h, f: n * layer(d, f, norms=0),
        "four projections": lambda n, d, h, f: n * layer(d, f, projections=3),
        "the count does not depend on num_heads": lambda n, d, h, f: n * layer(d, f, projections=3 * h + 1),
        "no final LayerNorm": lambda n, d, h, f: n * layer(d, f) + 2 * d,
    }
    for words, wrong in mistakes.items():
        fails_with(check_encoder_parameters, wrong, r"failed on section 2's encoder: num_layers=3, d_model=8, "
                                                    r"num_heads=2, d_ff=16: expected 1800, got \d+\. Hint: .*" + words)


def test_encoder_parameters_checker_catches_a_head_count_on_the_second_case():
    fails_with(check_encoder_parameters, lambda n, d, h, f: encoder_parameters(n, d, h, f) * h // 2,
               r"failed on the same with num_heads=4: expected 1800, got 3600\. Hint: per layer")


def test_encoder_parameters_checker_leaves_the_random_stream_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_encoder_parameters(encoder_parameters)
    assert torch.equal(torch.rand(3), expected)
