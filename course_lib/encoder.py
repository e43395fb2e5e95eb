"""The encoder (notebook 08): N identical layers of self-attention and feed-forward, each with Add & Norm."""

import torch
from torch import nn

from .add_and_norm import LayerNorm, add_and_norm, final_norm_or_none
from .feed_forward import PositionwiseFeedForward
from .multi_head_attention import MultiHeadAttention
from .validation import require_positive_int


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward, each wrapped in a residual connection and LayerNorm."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 norm_first: bool = False, activation: str = "relu"):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ffn = PositionwiseFeedForward(d_model, d_ff, dropout=dropout, activation=activation)
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.dropout1, self.dropout2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # 1. every position attends to every (unpadded) position of the sentence
        x = add_and_norm(x, lambda y: self.self_attn(y, mask=mask), self.norm1, self.dropout1, self.norm_first)
        # 2. then each position is transformed on its own
        return add_and_norm(x, self.ffn, self.norm2, self.dropout2, self.norm_first)  # (B, L, d_model)


class Encoder(nn.Module):
    """A stack of `num_layers` EncoderLayers on embedded inputs, with an optional final LayerNorm."""

    def __init__(self, num_layers: int, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 norm_first: bool = False, activation: str = "relu", final_norm: bool | None = None):
        super().__init__()
        require_positive_int("num_layers", num_layers)
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, num_heads, d_ff, dropout, norm_first, activation) for _ in range(num_layers)
        )
        self.norm = final_norm_or_none(d_model, norm_first, final_norm)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)  # (B, L_src, d_model)
        return x if self.norm is None else self.norm(x)
