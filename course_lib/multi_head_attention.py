"""Multi-head attention (notebook 05): h attention heads over learned projections, concatenated."""

import torch
from torch import nn

from .attention import fused_attention, scaled_dot_product_attention
from .kv_cache import KVCache
from .masking import causal_mask, check_mask
from .validation import require_divisible, require_positive_int, require_probability


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, L, H * d) -> (B, H, L, d)."""
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads).transpose(1, 2)  # (B, H, L, d)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, L, d) -> (B, L, H * d)."""
    batch, heads, length, dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * dim)  # (B, L, H * d)


def check_attention_inputs(query: torch.Tensor, key: torch.Tensor, d_model: int) -> None:
    """Raise ValueError unless query and key are (B, L, d_model) with the same batch size."""
    for name, x in (("query", query), ("key", key)):
        if x.dim() != 3 or x.size(-1) != d_model:
            raise ValueError(f"{name} must be (batch, length, d_model={d_model}), got shape {tuple(x.shape)}")
    if query.size(0) != key.size(0):
        raise ValueError(f"query and key must have the same batch size, got {query.size(0)} and {key.size(0)}")


def attend(module: nn.Module, q, k, v, mask, scale: float | None = None) -> torch.Tensor:
    """Run attention on the module's path: fused for speed, or explicit, keeping `attn_weights`."""
    dropout_p = module.dropout if module.training else 0.0
    if module.fused:
        return fused_attention(q, k, v, mask, dropout_p, scale=scale)
    out, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p, scale=scale)
    module.attn_weights = weights.detach()  # (B, H, Lq, Lk), for plots
    return out


def cached_self_attention_mask(mask, new_len: int, cache: KVCache, device) -> torch.Tensor | None:
    """Causal mask for `new_len` queries after `cache.length` cached positions, and the padding mask."""
    if new_len == 1:  # one new query may see every cached position and itself: its causal row is all True
        return mask
    causal = causal_mask(new_len, device=device, offset=cache.length)  # (Lq, L_total)
    return causal if mask is None else mask & causal


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1..head_h) W^O, head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)."""

    fused = False  # True: torch's fused kernel (training); False: the explicit path the notebooks read

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        require_positive_int("d_model", d_model)
        require_positive_int("num_heads", num_heads)
        require_divisible("d_model", d_model, "num_heads", num_heads)
        require_probability("dropout", dropout)
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.attn_weights = None

    def forward(self, query, key=None, value=None, mask=None, cache: KVCache | None = None) -> torch.Tensor:
        is_self = key is None
        key = query if key is None else key
        value = key if value is None else value
        check_attention_inputs(query, key, self.d_model)
        # 1. project the queries and split them into heads
        q = split_heads(self.q_proj(query), self.num_heads)  # (B, H, Lq, d_k)
        # 2. keys and values: computed now, appended to the cache, or read from it
        if cache is None:
            k = split_heads(self.k_proj(key), self.num_heads)  # (B, H, Lk, d_k)
            v = split_heads(self.v_proj(value), self.num_heads)  # (B, H, Lk, d_k)
        elif is_self:
            if mask is not None:  # check it before it meets the causal mask: (B, H, Lq, cached + Lq)
                check_mask(mask, torch.Size((q.size(0), self.num_heads, q.size(2), cache.length + q.size(2))))
            mask = cached_self_attention_mask(mask, query.size(1), cache, query.device)
            k_new = split_heads(self.k_proj(query), self.num_heads)  # (B, H, Lq, d_k)
            v_new = split_heads(self.v_proj(query), self.num_heads)  # (B, H, Lq, d_k)
            kv = cache.append(k=k_new, v=v_new)
            k, v = kv["k"], kv["v"]  # (B, H, L_total, d_k)
        else:  # cross-attention: the memory is projected on the first call only
            kv = cache.filled() if cache.length else cache.append(
                k=split_heads(self.k_proj(key), self.num_heads), v=split_heads(self.v_proj(value), self.num_heads)
            )
            k, v = kv["k"], kv["v"]  # (B, H, Lk, d_k)
        # 3. attention in every head at once
        out = attend(self, q, k, v, mask)  # (B, H, Lq, d_k)
        # 4. concatenate the heads and mix them with W^O
        return self.out_proj(merge_heads(out))  # (B, Lq, d_model)

    def new_cache(self, batch_size: int, max_len: int | None, dtype=None, device=None) -> KVCache:
        """An empty cache for `max_len` positions (None: sized by the first append, for cross-attention)."""
        return KVCache(batch_size, max_len, dtype=dtype, device=device)

    def kv_cache_elements_per_token(self) -> int:
        """Cached numbers per token per layer: a key and a value in every head, 2 * n_h * d_h."""
        return 2 * self.num_heads * self.d_k
