"""The decoder (notebook 09): masked self-attention, cross-attention to the encoder, feed-forward."""

import torch
from torch import nn

from .add_and_norm import LayerNorm, add_and_norm, final_norm_or_none
from .feed_forward import PositionwiseFeedForward
from .kv_cache import CacheGroup, CrossAttentionCache, check_cache_group
from .latent_attention import MultiHeadLatentAttention, mla_sizes
from .multi_head_attention import MultiHeadAttention
from .validation import require_choice, require_positive_int

SELF_ATTENTION_KINDS = ("mha", "mla")
CACHE_MEMBERS = ("self_attn", "cross_attn")  # a layer's cache: a KVCache and a CrossAttentionCache


def build_self_attention(kind: str, d_model: int, num_heads: int, dropout: float):
    """The decoder's self-attention: multi-head ("mha") or multi-head latent ("mla", sizes from `mla_sizes`)."""
    require_choice("self_attention", kind, SELF_ATTENTION_KINDS)
    if kind == "mla":
        return MultiHeadLatentAttention(d_model, num_heads, **mla_sizes(d_model, num_heads), dropout=dropout)
    return MultiHeadAttention(d_model, num_heads, dropout=dropout)


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention over the memory, then feed-forward; each with Add & Norm."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 norm_first: bool = False, activation: str = "relu", self_attention: str = "mha"):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = build_self_attention(self_attention, d_model, num_heads, dropout)  # cross stays MHA
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout=dropout, activation=activation)
        self.norm1, self.norm2, self.norm3 = LayerNorm(d_model), LayerNorm(d_model), LayerNorm(d_model)
        self.dropout1, self.dropout2, self.dropout3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, tgt_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, cache: CacheGroup | None = None) -> torch.Tensor:
        if cache is not None:
            check_cache_group(cache, CACHE_MEMBERS, "DecoderLayer")
        self_cache = None if cache is None else cache["self_attn"]
        cross_cache = None if cache is None else cache["cross_attn"]
        # 1. each target position attends to itself and earlier positions only
        x = add_and_norm(x, lambda y: self.self_attn(y, mask=tgt_mask, cache=self_cache),
                         self.norm1, self.dropout1, self.norm_first)
        # 2. queries from the decoder, keys and values from the encoder's memory
        x = add_and_norm(x, lambda y: self.cross_attn(y, memory, mask=memory_mask, cache=cross_cache),
                         self.norm2, self.dropout2, self.norm_first)
        # 3. position-wise feed-forward
        return add_and_norm(x, self.ffn, self.norm3, self.dropout3, self.norm_first)  # (B, L_tgt, d_model)

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None) -> CacheGroup:
        """Self-attention cache for `max_len` target positions; cross-attention cache sized by the memory."""
        return CacheGroup({
            "self_attn": self.self_attn.new_cache(batch_size, max_len, dtype, device),
            "cross_attn": CrossAttentionCache(batch_size, dtype, device),
        })


class Decoder(nn.Module):
    """A stack of `num_layers` DecoderLayers on embedded targets, with an optional final LayerNorm."""

    def __init__(self, num_layers: int, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 norm_first: bool = False, activation: str = "relu", final_norm: bool | None = None,
                 self_attention: str = "mha"):
        super().__init__()
        require_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(
            DecoderLayer(d_model, num_heads, d_ff, dropout, norm_first, activation, self_attention)
            for _ in range(num_layers)
        )
        self.norm = final_norm_or_none(d_model, norm_first, final_norm)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, tgt_mask: torch.Tensor | None = None,
                memory_mask: torch.Tensor | None = None, cache: CacheGroup | None = None) -> torch.Tensor:
        if cache is not None:
            check_cache_group(cache, range(len(self.layers)), "Decoder")
        for i, layer in enumerate(self.layers):
            x = layer(x, memory, tgt_mask, memory_mask, None if cache is None else cache[i])  # (B, L_tgt, d_model)
        return x if self.norm is None else self.norm(x)

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None) -> CacheGroup:
        """One cache per layer; `length` counts the target positions decoded so far."""
        caches = {i: layer.new_cache(batch_size, max_len, dtype, device) for i, layer in enumerate(self.layers)}
        return CacheGroup(caches)
