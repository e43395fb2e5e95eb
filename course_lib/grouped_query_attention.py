"""Grouped-query attention (notebook 11): n_h query heads share n_g key/value heads, shrinking the KV cache.

num_kv_heads = num_heads is multi-head attention (MHA); num_kv_heads = 1 is multi-query attention (MQA).
The cache holds the n_g shared heads. Attention equals ordinary attention on `expand_kv_heads`' copies
(the definition, tested), but the module never makes those copies: it stacks the n_h / n_g query heads
of a group as extra query rows against the group's one key/value head, so a decode step reads the
small cache as it is instead of copying it n_h / n_g times.
"""

import torch
from torch import nn

from .masking import check_mask
from .multi_head_attention import MultiHeadAttention, attend
from .validation import (
    require_divisible,
    require_head_split,
    require_positive_int,
    require_probability,
    require_tensor,
)


def fold_query_heads(x: torch.Tensor, num_kv_heads: int) -> torch.Tensor:
    """(B, H, L, d) -> (B, G, H/G * L, d): the query heads of each group stacked as rows (a view when contiguous)."""
    batch, heads, length, dim = x.shape
    return x.reshape(batch, num_kv_heads, heads // num_kv_heads * length, dim)  # (B, G, H/G * L, d)


def expand_kv_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, G, T, d) -> (B, H, T, d): query heads g*H/G .. (g+1)*H/G - 1 all read key/value head g."""
    require_tensor("x", x)
    if x.dim() != 4 or x.size(1) == 0:
        raise ValueError(f"x must be (batch, num_kv_heads >= 1, length, d_k), got shape {tuple(x.shape)}")
    require_positive_int("num_heads", num_heads)
    require_divisible("num_heads", num_heads, "x.size(1)", x.size(1))
    batch, groups, length, dim = x.shape
    repeats = num_heads // groups
    # the same as x.repeat_interleave(repeats, dim=1); expand is a view, the reshape makes one copy
    return x[:, :, None].expand(batch, groups, repeats, length, dim).reshape(batch, num_heads, length, dim)


class GroupedQueryAttention(MultiHeadAttention):
    """Attention with num_heads query heads and num_kv_heads key/value heads, each shared by a group.

    MultiHeadAttention's forward and cache serve it unchanged (they work in num_kv_heads key/value heads);
    only the projections' widths and the attention step (`attend_heads`) differ.
    """

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int, dropout: float = 0.0, bias: bool = True):
        nn.Module.__init__(self)  # not MultiHeadAttention.__init__: it would build n_h-wide W^K and W^V
        require_head_split(d_model, num_heads)
        require_positive_int("num_kv_heads", num_kv_heads)
        require_divisible("num_heads", num_heads, "num_kv_heads", num_kv_heads)
        require_probability("dropout", dropout)
        self.build_projections(d_model, num_heads, num_kv_heads, dropout, bias)  # W^K, W^V: n_g heads, not n_h

    def attend_heads(self, q, k, v, mask) -> torch.Tensor:
        """Attention of (B, H, Lq, d) queries on (B, G, Lk, d) keys and values, each group's heads as query rows.

        MultiHeadAttention.forward's step 3: every query head reads its group's key/value head, the same as
        attention on expand_kv_heads(k, v), without the copies.
        """
        batch, heads, length, _ = q.shape
        q = fold_query_heads(q, self.num_kv_heads)  # (B, G, H/G * Lq, d_k)
        if mask is not None:  # the same mask rows for every head of a group
            check_mask(mask, torch.Size((batch, heads, length, k.size(2))))
            mask = fold_query_heads(mask.broadcast_to(batch, heads, length, k.size(2)), self.num_kv_heads)
        out = attend(self, q, k, v, mask)  # (B, G, H/G * Lq, d_k)
        if not self.fused:
            self.attn_weights = self.attn_weights.view(batch, heads, length, k.size(2))  # (B, H, Lq, Lk)
        return out.reshape(batch, heads, length, out.size(-1))  # (B, H, Lq, d_k)
