"""Bridges to PyTorch's own modules: convert their masks and copy their weights into course_lib modules.

PyTorch's nn.MultiheadAttention and nn.Transformer* take masks with the opposite polarity to ours:
a bool True there means "may NOT attend", and `key_padding_mask` is True at padding.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .add_and_norm import LayerNorm
from .decoder import Decoder, DecoderLayer
from .encoder import Encoder, EncoderLayer
from .feed_forward import PositionwiseFeedForward
from .multi_head_attention import MultiHeadAttention


def to_torch_mask(mask: torch.Tensor) -> torch.Tensor:
    """Course mask (True = may attend) -> torch `attn_mask` / `key_padding_mask` (True = blocked)."""
    return ~mask


def from_torch_mask(mask: torch.Tensor) -> torch.Tensor:
    """Torch mask (bool True = blocked, or float 0 / -inf) -> course mask (True = may attend)."""
    if mask.dtype == torch.bool:
        return ~mask
    if not torch.all((mask == 0) | (mask == float("-inf"))):
        raise ValueError("a float mask must hold only 0 (attend) and -inf (blocked) to become a bool mask")
    return mask == 0


def key_padding_to_course(key_padding_mask: torch.Tensor) -> torch.Tensor:
    """Torch `key_padding_mask` (B, Lk), True at padding -> course mask (B, 1, 1, Lk)."""
    return from_torch_mask(key_padding_mask)[:, None, None, :]  # (B, 1, 1, Lk)


def _activation_name(layer: nn.Module) -> str:
    """'relu' or 'gelu' for a torch Transformer layer; ValueError for anything else."""
    if isinstance(layer.activation, nn.GELU) and layer.activation.approximate != "none":
        raise ValueError(f"only the exact gelu converts, got {layer.activation!r}")
    for name, fn in (("relu", F.relu), ("gelu", F.gelu)):
        if layer.activation is fn or isinstance(layer.activation, {"relu": nn.ReLU, "gelu": nn.GELU}[name]):
            return name
    raise ValueError(f"only relu and gelu activations convert, got {layer.activation!r}")


@torch.no_grad()
def _copy_mha(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """Split torch's packed in_proj [W_q; W_k; W_v] into our three projections."""
    for proj, weight in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_weight.chunk(3), strict=True):
        proj.weight.copy_(weight)
    if theirs.in_proj_bias is not None:
        for proj, bias in zip((ours.q_proj, ours.k_proj, ours.v_proj), theirs.in_proj_bias.chunk(3), strict=True):
            proj.bias.copy_(bias)
    ours.out_proj.load_state_dict(theirs.out_proj.state_dict())


@torch.no_grad()
def _copy_norm(ours: LayerNorm, theirs: nn.LayerNorm) -> None:
    ours.weight.copy_(theirs.weight)
    ours.bias.copy_(theirs.bias)
    ours.eps = theirs.eps


def _copy_ffn(ours: PositionwiseFeedForward, theirs: nn.Module) -> None:
    ours.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.linear2.load_state_dict(theirs.linear2.state_dict())


def _layer_sizes(layer: nn.Module) -> dict:
    """Constructor arguments shared by encoder and decoder layers, read off a torch layer."""
    return dict(d_model=layer.linear1.in_features, num_heads=layer.self_attn.num_heads,
                d_ff=layer.linear1.out_features, dropout=layer.dropout.p,
                norm_first=layer.norm_first, activation=_activation_name(layer))


def _copy_layer(ours: nn.Module, theirs: nn.Module) -> None:
    """Copy an encoder or decoder layer: attentions, feed-forward, norms."""
    _copy_mha(ours.self_attn, theirs.self_attn)
    if isinstance(ours, DecoderLayer):
        _copy_mha(ours.cross_attn, theirs.multihead_attn)
        _copy_norm(ours.norm3, theirs.norm3)
    _copy_ffn(ours.ffn, theirs)
    _copy_norm(ours.norm1, theirs.norm1)
    _copy_norm(ours.norm2, theirs.norm2)


def _convert_mha(module: nn.MultiheadAttention) -> MultiHeadAttention:
    if not module.batch_first:
        raise ValueError("nn.MultiheadAttention must be built with batch_first=True to convert "
                         "(the course is batch first)")
    if not module._qkv_same_embed_dim:
        raise ValueError("only nn.MultiheadAttention with kdim == vdim == embed_dim converts")
    if module.bias_k is not None or module.add_zero_attn:
        raise ValueError("nn.MultiheadAttention with add_bias_kv=True or add_zero_attn=True does not convert: "
                         "course attention has no extra key/value position")
    ours = MultiHeadAttention(module.embed_dim, module.num_heads, dropout=module.dropout,
                              bias=module.in_proj_bias is not None)
    _copy_mha(ours, module)
    return ours


def _check_layer(layer: nn.Module, name: str) -> None:
    """Raise ValueError for a torch layer the course layers cannot reproduce."""
    if not layer.self_attn.batch_first:
        raise ValueError(f"{name} must be built with batch_first=True to convert (the course is batch first)")
    if layer.linear1.bias is None or layer.norm1.bias is None:
        raise ValueError(f"{name} must be built with bias=True to convert (course layers always have biases)")


def _convert_layer(module: nn.Module, cls: type) -> nn.Module:
    _check_layer(module, type(module).__name__)
    ours = cls(**_layer_sizes(module))
    _copy_layer(ours, module)
    return ours


def _convert_stack(module: nn.Module, cls: type) -> nn.Module:
    first = module.layers[0]
    _check_layer(first, type(module).__name__)
    if module.norm is not None and not (isinstance(module.norm, nn.LayerNorm) and module.norm.bias is not None):
        raise ValueError(f"convert {type(module).__name__} whose final norm is an nn.LayerNorm with a bias, "
                         f"got {module.norm!r}")
    ours = cls(len(module.layers), **_layer_sizes(first), final_norm=module.norm is not None)
    for our_layer, their_layer in zip(ours.layers, module.layers, strict=True):
        _copy_layer(our_layer, their_layer)
    if module.norm is not None:
        _copy_norm(ours.norm, module.norm)
    return ours


def from_torch(module: nn.Module) -> nn.Module:
    """A course_lib module computing the same function as a torch attention/Transformer module."""
    if isinstance(module, nn.MultiheadAttention):
        ours = _convert_mha(module)
    elif isinstance(module, nn.TransformerEncoderLayer):
        ours = _convert_layer(module, EncoderLayer)
    elif isinstance(module, nn.TransformerDecoderLayer):
        ours = _convert_layer(module, DecoderLayer)
    elif isinstance(module, nn.TransformerEncoder):
        ours = _convert_stack(module, Encoder)
    elif isinstance(module, nn.TransformerDecoder):
        ours = _convert_stack(module, Decoder)
    else:
        raise TypeError(f"from_torch converts nn.MultiheadAttention and nn.Transformer{{Encoder,Decoder}}[Layer], "
                        f"got {type(module).__name__}")
    param = next(module.parameters())
    return ours.to(dtype=param.dtype, device=param.device).train(module.training)
