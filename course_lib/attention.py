"""Scaled dot-product attention (notebook 03): softmax(Q K^T / sqrt(d_k)) V, explicit and fused."""

import math

import torch
import torch.nn.functional as F

from .masking import check_mask
from .validation import require_dtype, require_float_tensor, require_positive_number, require_probability

# Since torch 2.5 the CPU kernels return zeros for a fully masked row themselves (a "safe softmax",
# pytorch/pytorch#133882), so the fused path skips its own zeroing there: ~1.5% of a CPU training step.
# Older versions, and some other devices' kernels (MPS, CUDA backends), may give NaN: zero those by hand.
SDPA_ZEROES_MASKED_ROWS_ON_CPU = torch.__version__ >= (2, 5)


def _check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float, scale: float | None) -> None:
    """Raise TypeError/ValueError when q, k and v cannot meet in attention, or dropout_p or scale is out of range."""
    for name, x in (("q", q), ("k", k), ("v", v)):
        require_float_tensor(name, x)
        if x.dim() < 2:
            raise ValueError(f"{name} must be (..., length, dim), got shape {tuple(x.shape)}")
    require_dtype("k", k, q.dtype, "q")
    require_dtype("v", v, q.dtype, "q")
    require_probability("dropout_p", dropout_p)
    if scale is not None:
        require_positive_number("scale", scale)
    if q.size(-1) != k.size(-1):
        raise ValueError(f"q and k must share the last dim d_k, got q {tuple(q.shape)} and k {tuple(k.shape)}")
    if k.size(-2) != v.size(-2):
        raise ValueError(f"k and v must have the same length Lk, got k {tuple(k.shape)} and v {tuple(v.shape)}")


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (output (..., Lq, d_v), weights (..., Lq, Lk)); a fully masked row gives zeros, not NaN.

    `scale` replaces 1/sqrt(d_k) when the queries are not the vectors the scale was meant for (MLA's
    absorbed path attends in the latent space but keeps the scale of the original query width).
    """
    _check_qkv(q, k, v, dropout_p, scale)
    # 1. scores = Q K^T / sqrt(d_k): dividing keeps their variance near 1 whatever d_k is
    if scale is None:
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., Lq, Lk)
    else:
        scores = q @ k.transpose(-2, -1) * scale  # (..., Lq, Lk)
    # 2. a masked key gets score -inf, so exp(-inf) = 0 weight after the softmax
    if mask is not None:
        check_mask(mask, scores.shape)
        scores = scores.masked_fill(~mask, float("-inf"))
    # 3. softmax over the keys: each query's weights sum to 1
    weights = torch.softmax(scores, dim=-1)  # (..., Lq, Lk)
    # 4. a row with every key masked is softmax(-inf, ..., -inf) = NaN: give it zero weight instead
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    # 5. output = weights V: a weighted average of the values
    return weights @ v, weights  # (..., Lq, d_v), (..., Lq, Lk)


def fused_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> torch.Tensor:
    """Same output as `scaled_dot_product_attention`, through PyTorch's fused kernel (no weights)."""
    _check_qkv(q, k, v, dropout_p, scale)
    if mask is not None:
        check_mask(mask, q.shape[:-1] + k.shape[-2:-1])
        if mask.dim() < 2:  # SDPA reads a mask as (..., Lq, Lk): a row of keys (Lk,) becomes (1, Lk)
            mask = mask.reshape(1, -1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, is_causal=is_causal,
                                         scale=scale)
    if mask is not None and not (SDPA_ZEROES_MASKED_ROWS_ON_CPU and out.device.type == "cpu"):
        # a kernel that returns NaN for a fully masked row: zero it, as the explicit path does
        out = out.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)  # (..., Lq, d_v)
    return out
