"""Attention masks (notebook 04). Convention: bool, True = may attend, broadcastable to (B, H, Lq, Lk)."""

import torch

from .validation import require_non_negative_int, require_positive_int, require_token_batch


def causal_mask(size: int, device=None, offset: int = 0) -> torch.Tensor:
    """Return (size, offset + size): query i (at position offset + i) may attend keys 0..offset + i.

    With offset=0 this is the square lower-triangular mask; a positive offset serves cached decoding,
    where `size` new queries follow `offset` positions already in the cache.
    """
    require_positive_int("size", size)
    require_non_negative_int("offset", offset)
    query_pos = torch.arange(offset, offset + size, device=device).unsqueeze(1)  # (size, 1)
    key_pos = torch.arange(offset + size, device=device).unsqueeze(0)  # (1, offset + size)
    return key_pos <= query_pos  # (size, offset + size)


def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Return (B, 1, 1, L): True where the key token is real, False where it is padding."""
    require_token_batch("tokens", tokens)
    require_non_negative_int("pad_id", pad_id)
    return (tokens != pad_id)[:, None, None, :]  # (B, 1, 1, L)


def broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """True when a tensor of `shape` broadcasts to exactly `target`: no more dims, each one 1 or equal."""
    if len(shape) > len(target):
        return False
    trailing = zip(reversed(shape), reversed(target), strict=False)  # shape may have fewer dims
    return all(s in (1, t) for s, t in trailing)


def check_mask(mask: torch.Tensor, scores_shape: torch.Size) -> None:
    """Raise TypeError unless `mask` is bool and ValueError unless it broadcasts to `scores_shape`."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        got = f"dtype {mask.dtype}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"mask must be a bool tensor (True = may attend), got {got}")
    # plain Python, not torch.broadcast_shapes: this runs on every attention call of every decoding step
    if not broadcasts_to(tuple(mask.shape), tuple(scores_shape)):
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} cannot broadcast to the attention scores "
            f"of shape {tuple(scores_shape)} (batch, heads, q_len, k_len)"
        )
