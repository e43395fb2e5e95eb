"""Grouped-query attention (notebook 11): n_h query heads share n_g key/value heads, shrinking the KV cache.

num_kv_heads = num_heads is multi-head attention (MHA); num_kv_heads = 1 is multi-query attention (MQA).
The cache holds the n_g shared heads. Attention equals ordinary attention on `expand_kv_heads`' copies
(the definition, tested), but the module never makes those copies: it stacks the n_h / n_g query heads
of a group as extra query rows against the group's one key/value head, so a decode step reads the
small cache as it is instead of copying it n_h / n_g times.
"""

import torch
from torch import nn

from .kv_cache import KVCache
from .masking import check_mask
from .multi_head_attention import attend, cached_self_attention_mask, check_attention_inputs, merge_heads, split_heads
from .validation import require_divisible, require_positive_int, require_probability


def fold_query_heads(x: torch.Tensor, num_kv_heads: int) -> torch.Tensor:
    """(B, H, L, d) -> (B, G, H/G * L, d): the query heads of each group stacked as rows (a view when contiguous)."""
    batch, heads, length, dim = x.shape
    return x.reshape(batch, num_kv_heads, heads // num_kv_heads * length, dim)  # (B, G, H/G * L, d)


def expand_kv_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, G, T, d) -> (B, H, T, d): query heads g*H/G .. (g+1)*H/G - 1 all read key/value head g."""
    batch, groups, length, dim = x.shape
    repeats = num_heads // groups
    # the same as x.repeat_interleave(repeats, dim=1); expand is a view, the reshape makes one copy
    return x[:, :, None].expand(batch, groups, repeats, length, dim).reshape(batch, num_heads, length, dim)


class GroupedQueryAttention(nn.Module):
    """Attention with num_heads query heads and num_kv_heads key/value heads, each shared by a group."""

    fused = False  # True: torch's fused kernel (training); False: the explicit path the notebooks read

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        require_positive_int("d_model", d_model)
        require_positive_int("num_heads", num_heads)
        require_positive_int("num_kv_heads", num_kv_heads)
        require_divisible("d_model", d_model, "num_heads", num_heads)
        require_divisible("num_heads", num_heads, "num_kv_heads", num_kv_heads)
        require_probability("dropout", dropout)
        self.d_model, self.num_heads, self.num_kv_heads = d_model, num_heads, num_kv_heads
        self.d_k = d_model // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, num_kv_heads * self.d_k, bias=bias)  # n_g heads, not n_h
        self.v_proj = nn.Linear(d_model, num_kv_heads * self.d_k, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.attn_weights = None

    def forward(self, query, key=None, value=None, mask=None, cache: KVCache | None = None) -> torch.Tensor:
        is_self = key is None
        key = query if key is None else key
        value = key if value is None else value
        check_attention_inputs(query, key, self.d_model)
        # 1. project the queries into n_h heads
        q = split_heads(self.q_proj(query), self.num_heads)  # (B, H, Lq, d_k)
        # 2. keys and values in n_g heads: computed now, appended to the cache, or read from it
        if cache is None:
            k = split_heads(self.k_proj(key), self.num_kv_heads)  # (B, G, Lk, d_k)
            v = split_heads(self.v_proj(value), self.num_kv_heads)  # (B, G, Lk, d_k)
        elif is_self:
            if mask is not None:  # check it before it meets the causal mask: (B, H, Lq, cached + Lq)
                check_mask(mask, torch.Size((q.size(0), self.num_heads, q.size(2), cache.length + q.size(2))))
            mask = cached_self_attention_mask(mask, query.size(1), cache, query.device)
            kv = cache.append(k=split_heads(self.k_proj(query), self.num_kv_heads),
                              v=split_heads(self.v_proj(query), self.num_kv_heads))
            k, v = kv["k"], kv["v"]  # (B, G, L_total, d_k)
        else:  # cross-attention: the memory is projected on the first call only
            kv = cache.filled() if cache.length else cache.append(
                k=split_heads(self.k_proj(key), self.num_kv_heads), v=split_heads(self.v_proj(value), self.num_kv_heads)
            )
            k, v = kv["k"], kv["v"]  # (B, G, Lk, d_k)
        # 3. every query head reads its group's key/value head: = attention on expand_kv_heads(k), without the copies
        out = self.attend_grouped(q, k, v, mask)  # (B, H, Lq, d_k)
        # 4. concatenate the heads and mix them with W^O
        return self.out_proj(merge_heads(out))  # (B, Lq, d_model)

    def attend_grouped(self, q, k, v, mask) -> torch.Tensor:
        """Attention of (B, H, Lq, d) queries on (B, G, Lk, d) keys and values, each group's heads as query rows."""
        batch, heads, length, _ = q.shape
        q = fold_query_heads(q, self.num_kv_heads)  # (B, G, H/G * Lq, d_k)
        if mask is not None:  # the same mask rows for every head of a group
            check_mask(mask, torch.Size((batch, heads, length, k.size(2))))
            mask = fold_query_heads(mask.broadcast_to(batch, heads, length, k.size(2)), self.num_kv_heads)
        out = attend(self, q, k, v, mask)  # (B, G, H/G * Lq, d_k)
        if not self.fused:
            self.attn_weights = self.attn_weights.view(batch, heads, length, k.size(2))  # (B, H, Lq, Lk)
        return out.reshape(batch, heads, length, -1)  # (B, H, Lq, d_k)

    def new_cache(self, batch_size: int, max_len: int | None, dtype=None, device=None) -> KVCache:
        """An empty cache for `max_len` positions (None: sized by the first append, for cross-attention)."""
        return KVCache(batch_size, max_len, dtype=dtype, device=device)

    def kv_cache_elements_per_token(self) -> int:
        """Cached numbers per token per layer: a key and a value in every shared head, 2 * n_g * d_h."""
        return 2 * self.num_kv_heads * self.d_k
