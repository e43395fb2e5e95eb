"""Checkers for notebook 08: the post-norm encoder layer and the stack the text builds (its spot-the-bug cells call
them), one vector per sentence pooled from the memory, and the encoder's parameter count."""

import torch
from torch import nn

from ..encoder import Encoder, EncoderLayer
from ..masking import padding_mask
from ..tokens import PAD_ID
from .core import CheckCase, CheckFailed, Mistake, run_checks


@torch.no_grad()
def randomise_norms(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Give every LayerNorm of `module` a random weight and bias, so that swapping two norms shows; return it."""
    for name, param in module.named_parameters():
        if ".norm" in f".{name}" and name.rsplit(".", 1)[-1] in ("weight", "bias"):
            centre = 1.0 if name.endswith("weight") else 0.0
            param.copy_(centre + 0.5 * torch.randn(param.shape, generator=generator, dtype=param.dtype))
    return module


def padded_ids(lengths: list[int], width: int) -> torch.Tensor:
    """(B, width) ids: row b holds lengths[b] real tokens (ids 4, 5, ...), then <pad>."""
    rows = [[4 + i for i in range(n)] + [PAD_ID] * (width - n) for n in lengths]
    return torch.tensor(rows)  # (B, width)


# ---------------------------------------------------------------- the encoder layer of section 2 (spot the bug)

def _post_norm(layer, x, mask, norms=None):
    """Section 2's layer; `norms` (swapped by a known mistake) default to the layer's own two."""
    norm1, norm2 = norms or (layer.norm1, layer.norm2)
    h = norm1(x + layer.self_attn(x, mask=mask))  # (B, L, d_model)
    return norm2(h + layer.ffn(h))  # (B, L, d_model)


def _pre_norm(layer, x, mask):
    h = x + layer.self_attn(layer.norm1(x), mask=mask)  # (B, L, d_model)
    return h + layer.ffn(layer.norm2(h))  # (B, L, d_model)


def _no_attention_residual(layer, x, mask):
    h = layer.norm1(layer.self_attn(x, mask=mask))  # (B, L, d_model)
    return layer.norm2(h + layer.ffn(h))  # (B, L, d_model)


LAYER_MISTAKES = [
    Mistake("the mask never reached the attention, so the words of a padded sentence read its <pad> keys (a case "
            "without padding cannot show it)", lambda layer, x, mask: _post_norm(layer, x, None)),
    Mistake("norm1 belongs to the attention sublayer and norm2 to the feed-forward one: they are swapped",
            lambda layer, x, mask: _post_norm(layer, x, mask, (layer.norm2, layer.norm1))),
    Mistake("that is pre-norm (each norm before its sublayer); the paper's layer is post-norm: add the sublayer's "
            "output to its input, then normalise the sum", _pre_norm),
    Mistake("the attention's residual connection is missing: its input x must be added to its output before norm1",
            _no_attention_residual),
]


def _layer_case(description: str, d_model: int, num_heads: int, lengths: list[int] | None, width: int,
                seed: int) -> CheckCase:
    generator = torch.Generator().manual_seed(seed)
    layer = randomise_norms(EncoderLayer(d_model, num_heads, 2 * d_model, dropout=0.0).double().eval(), generator)
    x = torch.randn(2, width, d_model, generator=generator, dtype=torch.float64)  # (B=2, L, d_model)
    mask = None if lengths is None else padding_mask(padded_ids(lengths, width), PAD_ID)  # (B, 1, 1, L)
    return CheckCase(description, (layer, x, mask), layer(x, mask))


def check_encoder_layer(fn) -> None:
    """fn(layer, x, mask) must compute a post-norm encoder layer from the layer's parts:
    h = norm1(x + self_attn(x, mask)), then norm2(h + ffn(h))."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # the layers draw random weights
        torch.manual_seed(0)
        cases = [
            _layer_case("x of shape (2, 3, 8), 2 heads, no mask", 8, 2, None, 3, seed=1),
            _layer_case("a batch of 2 sentences of 3 and 4 tokens, the first padded: x (2, 4, 8), mask (2, 1, 1, 4) "
                        "False at sentence 1's <pad>", 8, 2, [3, 4], 4, seed=2),
            _layer_case("sentences of 2 and 5 tokens padded to 5: x (2, 5, 16), 4 heads, mask (2, 1, 1, 5)",
                        16, 4, [2, 5], 5, seed=3),
        ]
        run_checks("encoder_layer", fn, cases, atol=1e-9, mistakes=LAYER_MISTAKES,
                   hint=("two sublayers, each one's input added to its output and the sum normalised: the attention "
                         "(given the mask) under norm1, then the feed-forward network under norm2"))


# ---------------------------------------------------------------- a stack of N layers (spot the bug)

def _stack_probe(fn, seed: int):
    """Build fn(...) and answer one question about it, named by the case's first argument."""

    def probe(what: str, num_layers: int, d_model: int, num_heads: int, d_ff: int):
        stack = fn(num_layers, d_model, num_heads, d_ff)
        layers = getattr(stack, "layers", None)
        if not isinstance(stack, nn.Module) or layers is None:
            raise CheckFailed(f"expected an nn.Module with a `layers` attribute, got {type(stack).__name__}")
        if what == "count":
            return len(layers)
        if what == "distinct":
            return len({id(layer) for layer in layers})
        if what == "types":
            return sorted({type(layer).__name__ for layer in layers})
        if what == "parameters":
            return _parameter_count(stack)
        # "output": known weights in every layer, then compare with a reference encoder holding the same
        generator = torch.Generator().manual_seed(seed)
        reference = randomise_norms(Encoder(num_layers, d_model, num_heads, d_ff, dropout=0.0).eval(), generator)
        for ours, theirs in zip(layers, reference.layers, strict=True):
            ours.load_state_dict(theirs.state_dict())
        x = torch.randn(2, 4, d_model, generator=generator)  # (B=2, L=4, d_model)
        mask = padding_mask(padded_ids([4, 3], 4), PAD_ID)  # (B, 1, 1, L)
        return stack.eval()(x, mask) - reference(x, mask)  # (B, L, d_model): want zeros

    return probe


def _parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def check_encoder_stack(fn) -> None:
    """fn(num_layers, d_model, num_heads, d_ff) must return an nn.Module whose `layers` holds num_layers distinct
    EncoderLayers (each its own parameters) and whose forward(x, mask) runs them in order."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():  # the layers draw random weights
        torch.manual_seed(0)
        small, large = (_parameter_count(EncoderLayer(*sizes)) for sizes in [(8, 2, 16), (16, 4, 32)])
        registered = ("nn.Module counts only the parameters it can see: layers kept in a plain Python list are "
                      "invisible to it (nn.ModuleList registers them), and a post-norm stack adds no final LayerNorm")
        cases = [
            CheckCase("len(stack.layers) for num_layers=3, d_model=8, num_heads=2, d_ff=16", ("count", 3, 8, 2, 16),
                      3, hint="build as many layers as num_layers asks for"),
            CheckCase("the layer classes in stack.layers (want course_lib's EncoderLayer)", ("types", 3, 8, 2, 16),
                      ["EncoderLayer"]),
            CheckCase("how many distinct layer objects stack.layers holds for num_layers=3 (each layer needs its own "
                      "parameters)", ("distinct", 3, 8, 2, 16), 3,
                      hint="`[layer] * n` puts one object in the list n times: call EncoderLayer(...) once per layer"),
            CheckCase(f"trainable parameters for num_layers=3, d_model=8, num_heads=2, d_ff=16 (want 3 x {small})",
                      ("parameters", 3, 8, 2, 16), 3 * small, hint=registered),
            CheckCase(f"trainable parameters for num_layers=6, d_model=16, num_heads=4, d_ff=32 (want 6 x {large})",
                      ("parameters", 6, 16, 4, 32), 6 * large, hint=registered),
            CheckCase("stack(x, mask) minus a reference encoder with the same weights, x (2, 4, 8) with sentence 2 "
                      "padded (want zeros: the layers run in order, no final norm)", ("output", 3, 8, 2, 16),
                      torch.zeros(2, 4, 8),
                      hint="run the layers in their order, each on the previous one's output, with the mask"),
        ]
        run_checks("encoder_stack", _stack_probe(fn, seed=4), cases,
                   hint="nn.ModuleList of num_layers separate EncoderLayer objects, applied in order in forward")


# ---------------------------------------------------------------- exercise: one vector per sentence

def _masked_sum_and_count(memory: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The sum of each sentence's real rows (B, d_model) and its number of real tokens (B, 1)."""
    keep = mask.reshape(mask.size(0), -1, 1).to(memory.dtype)  # (B, 1, 1, L) -> (B, L, 1): 1 at real tokens
    return (memory * keep).sum(dim=1), keep.sum(dim=1)  # (B, d_model), (B, 1)


def _sentence_vector(memory, mask):
    """The reference: the mean of each sentence's real rows."""
    total, count = _masked_sum_and_count(memory, mask)
    return total / count  # (B, d_model)


POOLING_MISTAKES = [
    Mistake("the <pad> rows were averaged in: the encoder computes them like any row, but they are not words; average "
            "only the rows the mask keeps", lambda memory, mask: memory.mean(dim=1)),
    Mistake("divide by each sentence's own number of real tokens, not by the padded length L",
            lambda memory, mask: _masked_sum_and_count(memory, mask)[0] / memory.size(1)),
    Mistake("that is a sum, which grows with the sentence's length: divide it by the number of real tokens",
            lambda memory, mask: _masked_sum_and_count(memory, mask)[0]),
    Mistake("count each sentence's real tokens on its own (sum the mask over the positions, not over the whole batch)",
            lambda memory, mask: _masked_sum_and_count(memory, mask)[0] / mask.sum()),
]


def _pooling_case(description: str, lengths: list[int], width: int, d_model: int, seed: int) -> CheckCase:
    generator = torch.Generator().manual_seed(seed)
    mask = padding_mask(padded_ids(lengths, width), PAD_ID)  # (B, 1, 1, L)
    memory = torch.randn(len(lengths), width, d_model, generator=generator, dtype=torch.float64)  # (B, L, d_model)
    memory = memory.masked_fill(~mask[:, 0, 0, :, None], 100.0)  # (B, L, d_model): the <pad> rows hold 100s
    return CheckCase(description, (memory, mask), _sentence_vector(memory, mask))


def check_sentence_vector(fn) -> None:
    """fn(memory (B, L, d_model), mask (B, 1, 1, L)) must return (B, d_model): each sentence's mean over its real
    tokens, the <pad> rows left out."""
    cases = [
        _pooling_case("memory (2, 3, 4) of 2 sentences of 3 tokens, nothing padded: mask (2, 1, 1, 3) all True",
                      [3, 3], 3, 4, seed=1),
        _pooling_case("memory (2, 4, 4), sentence 2 padded after 2 tokens: mask (2, 1, 1, 4) = [[[[T, T, T, T]]], "
                      "[[[T, T, F, F]]]], its <pad> rows full of 100s", [4, 2], 4, 4, seed=2),
        _pooling_case("memory (3, 5, 6) of sentences of 5, 1 and 3 tokens padded to 5 (<pad> rows full of 100s)",
                      [5, 1, 3], 5, 6, seed=3),
    ]
    run_checks("sentence_vector", fn, cases, atol=1e-9, mistakes=POOLING_MISTAKES,
               hint=("turn the mask into a (B, L, 1) tensor of 1s and 0s, sum the memory's rows it keeps over the "
                     "positions and divide by each sentence's number of real tokens"))


# ---------------------------------------------------------------- exercise: the parameter count

def encoder_parameter_count(num_layers: int, d_model: int, num_heads: int, d_ff: int) -> int:
    """Parameters of course_lib's post-norm Encoder, counted on the meta device (no memory, any size)."""
    with torch.device("meta"):
        return _parameter_count(Encoder(num_layers, d_model, num_heads, d_ff))


def _parts(d: int, d_ff: int, *, projections: int = 4, biases: bool = True, norms: int = 2) -> int:
    """One layer's parameters, counted by parts: `projections` d x d attention maps, the FFN, `norms` LayerNorms."""
    attention = projections * (d * d + (d if biases else 0))
    ffn = 2 * d * d_ff + ((d_ff + d) if biases else 0)
    return attention + ffn + norms * 2 * d


PARAMETER_MISTAKES = [
    Mistake("each of the num_layers layers has its own parameters: multiply one layer's count by num_layers",
            lambda n, d, h, f: _parts(d, f)),
    Mistake("every nn.Linear has a bias as well: d_model numbers for each of the four attention projections, d_ff and "
            "d_model for the feed-forward network's two", lambda n, d, h, f: n * _parts(d, f, biases=False)),
    Mistake("each layer has two LayerNorms, each with a gain and a bias of d_model numbers",
            lambda n, d, h, f: n * _parts(d, f, norms=0)),
    Mistake("attention has four projections: W^Q, W^K, W^V and the output projection W^O",
            lambda n, d, h, f: n * _parts(d, f, projections=3)),
    Mistake("the heads split d_model: num_heads slices of d_model / num_heads columns make one d_model x d_model "
            "matrix, so the count does not depend on num_heads",
            lambda n, d, h, f: n * _parts(d, f, projections=3 * h + 1)),  # a full d x d W^Q, W^K, W^V per head
    Mistake("a post-norm stack has no final LayerNorm (the last layer already ends with one)",
            lambda n, d, h, f: n * _parts(d, f) + 2 * d),
]


def check_encoder_parameters(fn) -> None:
    """fn(num_layers, d_model, num_heads, d_ff) must return the number of trainable parameters of a post-norm
    encoder stack, without building one."""
    sizes = [
        ("section 2's encoder: num_layers=3, d_model=8, num_heads=2, d_ff=16", (3, 8, 2, 16)),
        ("the same with num_heads=4", (3, 8, 4, 16)),
        ("one layer: num_layers=1, d_model=12, num_heads=3, d_ff=20", (1, 12, 3, 20)),
        ("the paper's base encoder: num_layers=6, d_model=512, num_heads=8, d_ff=2048", (6, 512, 8, 2048)),
    ]
    with torch.random.fork_rng(devices=[]):  # building the modules may draw from the global generator
        cases = [CheckCase(description, args, encoder_parameter_count(*args)) for description, args in sizes]
    run_checks("encoder_parameters", fn, cases, mistakes=PARAMETER_MISTAKES,
               hint=("per layer: four d_model x d_model projections with biases, the FFN's two matrices with their "
                     "biases, two LayerNorms of a gain and a bias each; times num_layers"))
