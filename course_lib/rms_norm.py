"""RMSNorm (notebook 11): LayerNorm without the mean, used on MLA's compressed latents."""

import torch
from torch import nn

from .validation import require_last_dim, require_positive_int


class RMSNorm(nn.Module):
    """RMSNorm(x) = x / sqrt(mean(x^2) + eps) * weight, over the last dim (no centring, no bias)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        require_positive_int("dim", dim)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))  # gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require_last_dim("x", x, self.weight.size(0), "dim")
        # x / sqrt(mean(x^2) + eps): scale every vector to unit root-mean-square, then by gamma
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight  # (..., dim)
