"""Add & Norm (notebook 07): LayerNorm from scratch, and the residual connection around each sublayer."""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .validation import require_last_dim, require_non_negative_number, require_positive_int

HALF_PRECISION = (torch.float16, torch.bfloat16)


class LayerNorm(nn.Module):
    """LayerNorm(x) = (x - mean) / sqrt(var + eps) * weight + bias, over the last dim (biased variance)."""

    fused = False  # True: F.layer_norm, the same numbers from one kernel (training)

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        require_positive_int("d_model", d_model)
        require_non_negative_number("eps", eps)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))  # gamma
        self.bias = nn.Parameter(torch.zeros(d_model))  # beta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        require_last_dim("x", x, self.weight.size(0), "d_model")
        if self.fused:
            return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)
        # float16/bfloat16 input: the statistics in float32, as F.layer_norm computes them, and x's dtype out
        h = x.float() if x.dtype in HALF_PRECISION else x  # (..., d_model)
        mean = h.mean(dim=-1, keepdim=True)  # (..., 1)
        # biased variance (divide by d, not d - 1), and eps inside the square root, as nn.LayerNorm
        var = h.var(dim=-1, keepdim=True, unbiased=False)  # (..., 1)
        out = (h - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias  # (..., d_model)
        return out if h is x else out.to(x.dtype)


def add_and_norm(
    x: torch.Tensor,
    sublayer: Callable[[torch.Tensor], torch.Tensor],
    norm: nn.Module,
    dropout: nn.Module,
    norm_first: bool,
) -> torch.Tensor:
    """Post-norm (the paper): norm(x + sublayer(x)); pre-norm: x + sublayer(norm(x))."""
    if norm_first:
        return x + dropout(sublayer(norm(x)))  # (B, L, d_model)
    return norm(x + dropout(sublayer(x)))  # (B, L, d_model)


def final_norm_or_none(d_model: int, norm_first: bool, final_norm: bool | None) -> LayerNorm | None:
    """A stack's last LayerNorm: on by default for pre-norm, whose last residual sum is unnormalised."""
    return LayerNorm(d_model) if (norm_first if final_norm is None else final_norm) else None
