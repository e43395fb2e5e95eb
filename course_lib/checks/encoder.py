"""Checkers for notebook 08: one encoder layer's forward pass, and a stack of N independent encoder layers."""

import torch
from torch import nn

from ..encoder import Encoder, EncoderLayer
from ..masking import padding_mask
from ..tokens import PAD_ID
from .core import CheckCase, CheckFailed, run_checks


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
        run_checks("encoder_layer", fn, cases, atol=1e-9,
                   hint='h = layer.norm1(x + layer.self_attn(x, x, x, mask)), then layer.norm2(h + layer.ffn(h))')


def _stack_probe(fn, seed: int):
    """Build fn(...) and answer one question about it, named by the case's first argument."""

    def probe(what: str, num_layers: int, d_model: int, num_heads: int, d_ff: int):
        stack = fn(num_layers, d_model, num_heads, d_ff)
        layers = getattr(stack, "layers", None)
        if not isinstance(stack, nn.Module) or layers is None:
            raise CheckFailed(f"expected an nn.Module with a `layers` attribute, got {stack!r}")
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
        cases = [
            CheckCase("len(stack.layers) for num_layers=3, d_model=8, num_heads=2, d_ff=16", ("count", 3, 8, 2, 16),
                      3),
            CheckCase("the layer classes in stack.layers (want course_lib's EncoderLayer)", ("types", 3, 8, 2, 16),
                      ["EncoderLayer"]),
            CheckCase("how many distinct layer objects stack.layers holds for num_layers=3 (each layer needs its own "
                      "parameters)", ("distinct", 3, 8, 2, 16), 3),
            CheckCase(f"trainable parameters for num_layers=3, d_model=8, num_heads=2, d_ff=16 (want 3 x {small})",
                      ("parameters", 3, 8, 2, 16), 3 * small),
            CheckCase(f"trainable parameters for num_layers=6, d_model=16, num_heads=4, d_ff=32 (want 6 x {large})",
                      ("parameters", 6, 16, 4, 32), 6 * large),
            CheckCase("stack(x, mask) minus a reference encoder with the same weights, x (2, 4, 8) with sentence 2 "
                      "padded (want zeros: the layers run in order, no final norm)", ("output", 3, 8, 2, 16),
                      torch.zeros(2, 4, 8)),
        ]
        run_checks("encoder_stack", _stack_probe(fn, seed=4), cases,
                   hint='nn.ModuleList of num_layers separate EncoderLayer objects, applied in order in forward')
