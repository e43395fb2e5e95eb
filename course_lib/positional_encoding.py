"""Sinusoidal positional encoding (notebook 02): a fixed vector per position, added to the embeddings."""

import math

import torch
from torch import nn

from .validation import require_batch_length_width, require_non_negative_int, require_positive_int, require_probability


def sinusoidal_positional_encoding(max_len: int, d_model: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Return the (max_len, d_model) table: sin on even dimensions, cos on odd ones."""
    require_positive_int("max_len", max_len)
    require_positive_int("d_model", d_model)
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)  # (max_len, 1)
    # 1 / 10000^(2i / d_model) for each pair i: computed as exp(-2i * ln(10000) / d_model)
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)  # (ceil(d_model / 2),)
    inv_freq = torch.exp(-two_i * math.log(10000.0) / d_model)  # (ceil(d_model / 2),)
    angles = position * inv_freq  # (max_len, ceil(d_model / 2))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)  # (max_len, d_model)
    # PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe.to(dtype)


class PositionalEncoding(nn.Module):
    """Add the sinusoidal table's rows offset..offset+L to (B, L, d_model) inputs, then dropout."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0):
        super().__init__()
        require_probability("dropout", dropout)
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)
        # a buffer, not a parameter: it moves with .to(device) but is never trained
        self.register_buffer("pe", sinusoidal_positional_encoding(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        """x (B, L, d_model) plus the encodings of positions offset … offset + L - 1, then dropout."""
        require_batch_length_width("x", x, self.pe.size(-1))
        require_non_negative_int("offset", offset)
        length = x.size(1)
        if offset + length > self.max_len:
            raise ValueError(
                f"positions {offset}..{offset + length - 1} run past max_len={self.max_len}: "
                f"build PositionalEncoding with a larger max_len"
            )
        x = x + self.pe[offset : offset + length].to(x.dtype)  # (B, L, d_model)
        return self.dropout(x)
