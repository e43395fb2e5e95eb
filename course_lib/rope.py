"""Rotary Position Embedding, RoPE (notebook 11): rotate pairs of dimensions by position-dependent angles.

A query at position m and a key at position n, both rotated, meet in a dot product that depends on
m - n only: the rotation encodes relative position inside attention itself. This module uses the
rotate-half layout (dimension i pairs with i + d/2, as in GPT-NeoX and Hugging Face); DeepSeek's and
Meta's reference code pair neighbours (2i, 2i + 1). The two are the same rotation on permuted
dimensions: `interleaved_to_half_permutation` converts one into the other.
"""

import torch

from .validation import require_float_tensor, require_non_negative_int, require_positive_number, require_tensor


def _check_rope_dim(dim: int) -> None:
    """Raise ValueError unless the rotated width is even: RoPE turns pairs of dimensions."""
    if dim % 2 != 0:
        raise ValueError(f"RoPE rotates pairs of dimensions, so the last dim must be even, got x.size(-1)={dim}")


def _check_rope_input(x) -> None:
    """Raise TypeError unless x is a floating-point tensor and ValueError unless it is (..., L, d), d even."""
    require_float_tensor("x", x)
    if x.dim() < 2:
        raise ValueError(f"x must be (..., length, dim), time on dim -2, got shape {tuple(x.shape)}")
    _check_rope_dim(x.size(-1))


def rope_inverse_frequencies(dim: int, base: float = 10000.0) -> torch.Tensor:
    """The (dim / 2,) angular speeds theta_i = base^(-2i / dim), in float64."""
    _check_rope_dim(dim)
    require_positive_number("base", base)
    two_i = torch.arange(0, dim, 2, dtype=torch.float64)  # (dim / 2,)
    return base ** (-two_i / dim)  # (dim / 2,)


def rope_angles(length: int, dim: int, offset: int = 0, base: float = 10000.0) -> torch.Tensor:
    """The (length, dim / 2) angles m * theta_i for positions m = offset .. offset + length - 1 (float64, CPU)."""
    require_non_negative_int("offset", offset)
    positions = torch.arange(offset, offset + length, dtype=torch.float64)  # (length,)
    return torch.outer(positions, rope_inverse_frequencies(dim, base))  # (length, dim / 2)


def like(table: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A float64 CPU table in x's dtype, then on x's device: cast first, since Apple's MPS has no float64."""
    return table.to(x.dtype).to(x.device)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) on the two halves of the last dim: the 90-degree turn of every pair (i, i + d/2)."""
    require_tensor("x", x)
    _check_rope_dim(x.size(-1))
    x1, x2 = x.chunk(2, dim=-1)  # (..., d / 2) each
    return torch.cat([-x2, x1], dim=-1)  # (..., d)


def apply_rope(x: torch.Tensor, offset: int = 0, base: float = 10000.0) -> torch.Tensor:
    """Rotate x (..., L, d), time on dim -2, as positions offset .. offset + L - 1 (rotate-half layout)."""
    _check_rope_input(x)
    angles = rope_angles(x.size(-2), x.size(-1), offset, base)  # (L, d / 2)
    angles = torch.cat([angles, angles], dim=-1)  # (L, d): pair (i, i + d/2) turns by the same angle
    cos, sin = like(angles.cos(), x), like(angles.sin(), x)  # (L, d) each
    # RoPE(x)_m = x * cos(m theta) + rotate_half(x) * sin(m theta)
    return x * cos + rotate_half(x) * sin  # (..., L, d)


def apply_rope_interleaved(x: torch.Tensor, offset: int = 0, base: float = 10000.0) -> torch.Tensor:
    """The same rotation with neighbouring pairs (2i, 2i + 1), the layout of DeepSeek's reference code."""
    _check_rope_input(x)
    angles = rope_angles(x.size(-2), x.size(-1), offset, base)  # (L, d / 2)
    cos, sin = like(angles.cos(), x), like(angles.sin(), x)  # (L, d / 2) each
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., L, d / 2) each
    # (a, b) -> (a cos - b sin, a sin + b cos): multiply the complex number a + ib by e^(i m theta)
    rotated = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)  # (..., L, d / 2, 2)
    return rotated.flatten(-2)  # (..., L, d)


def interleaved_to_half_permutation(dim: int) -> torch.Tensor:
    """Indices p with x[..., p] moving pair (2i, 2i + 1) to (i, i + d/2): [0, 2, 4, ..., 1, 3, 5, ...]."""
    _check_rope_dim(dim)
    return torch.cat([torch.arange(0, dim, 2), torch.arange(1, dim, 2)])  # (dim,)
