"""Multi-head attention (notebook 05): h attention heads over learned projections, concatenated."""

import torch
from torch import nn

from .attention import fused_attention, scaled_dot_product_attention
from .kv_cache import CrossAttentionCache, KVCache, check_cache_call
from .masking import causal_mask, check_mask
from .validation import require_batch_length_width, require_dtype, require_head_split, require_probability


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """(B, L, H * d) -> (B, H, L, d)."""
    batch, length, width = x.shape
    return x.view(batch, length, num_heads, width // num_heads).transpose(1, 2)  # (B, H, L, d)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, L, d) -> (B, L, H * d)."""
    batch, heads, length, dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * dim)  # (B, L, H * d)


def check_attention_inputs(query, key, value, d_model: int, weight: torch.Tensor) -> None:
    """Raise TypeError/ValueError unless the given query, key, value are (B, L, d_model) of one batch, in the dtype of
    the module's `weight` (autocast may mix them), and value as long as the key."""
    for name, x in (("query", query), ("key", key), ("value", value)):
        if x is None:  # value defaults to the key, the key to the query
            continue
        require_batch_length_width(name, x, d_model)
        if x.size(0) != query.size(0):
            raise ValueError(f"query and {name} must have the same batch size, got {query.size(0)} and {x.size(0)}")
        require_dtype(name, x, weight.dtype, "the module's weights")
    keys = query if key is None else key
    if value is not None and value.size(1) != keys.size(1):
        raise ValueError(f"value must have the key's length {keys.size(1)}, got value of shape {tuple(value.shape)} "
                         f"and key of shape {tuple(keys.shape)}")


def attend(module: nn.Module, q, k, v, mask, scale: float | None = None) -> torch.Tensor:
    """Run attention on the module's path: fused for speed, or explicit, keeping `attn_weights`."""
    dropout_p = module.dropout if module.training else 0.0
    if module.fused:
        module.attn_weights = None  # the fused kernel gives no weights: drop those of an earlier explicit call
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
        require_head_split(d_model, num_heads)
        require_probability("dropout", dropout)
        self.build_projections(d_model, num_heads, num_heads, dropout, bias)

    def build_projections(self, d_model: int, num_heads: int, num_kv_heads: int, dropout: float, bias: bool) -> None:
        """W^Q and W^O for num_heads heads; W^K and W^V for num_kv_heads (= num_heads here; fewer in GQA)."""
        self.d_model, self.num_heads, self.num_kv_heads = d_model, num_heads, num_kv_heads
        self.d_k = d_model // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, num_kv_heads * self.d_k, bias=bias)
        self.v_proj = nn.Linear(d_model, num_kv_heads * self.d_k, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.attn_weights = None

    def forward(self, query, key=None, value=None, mask=None, cache: KVCache | None = None) -> torch.Tensor:
        """Attention of `query` (B, Lq, d_model) on `key` and `value` (default: the query; with a cache, its kind)."""
        check_attention_inputs(query, key, value, self.d_model, self.q_proj.weight)
        if cache is not None:  # a KVCache: self-attention; a CrossAttentionCache: attention on the memory `key`
            check_cache_call(cache, query, key, value)
        key = query if key is None else key
        value = key if value is None else value
        # 1. project the queries and split them into heads
        q = split_heads(self.q_proj(query), self.num_heads)  # (B, H, Lq, d_k)
        # 2. keys and values in G = num_kv_heads heads (G = H here): computed now, appended to the cache, or read
        groups = self.num_kv_heads
        if cache is None:
            k = split_heads(self.k_proj(key), groups)  # (B, G, Lk, d_k)
            v = split_heads(self.v_proj(value), groups)  # (B, G, Lk, d_k)
        elif isinstance(cache, CrossAttentionCache):  # the memory is projected on the first call only
            kv = cache.filled(q.dtype) if cache.length else cache.append(
                k=split_heads(self.k_proj(key), groups), v=split_heads(self.v_proj(value), groups)
            )
            k, v = kv["k"], kv["v"]  # (B, G, Lk, d_k), in the queries' dtype
        else:  # self-attention: the new positions' keys and values join the cache
            if mask is not None:  # check it before it meets the causal mask: (B, H, Lq, cached + Lq)
                check_mask(mask, torch.Size((q.size(0), self.num_heads, q.size(2), cache.length + q.size(2))))
            mask = cached_self_attention_mask(mask, query.size(1), cache, query.device)
            k_new = split_heads(self.k_proj(query), groups)  # (B, G, Lq, d_k)
            v_new = split_heads(self.v_proj(query), groups)  # (B, G, Lq, d_k)
            kv = cache.append(k=k_new, v=v_new)
            k, v = kv["k"], kv["v"]  # (B, G, L_total, d_k), in the queries' dtype
        # 3. attention in every head at once
        out = self.attend_heads(q, k, v, mask)  # (B, H, Lq, d_k)
        # 4. concatenate the heads and mix them with W^O
        return self.out_proj(merge_heads(out))  # (B, Lq, d_model)

    def attend_heads(self, q, k, v, mask) -> torch.Tensor:
        """Attention of (B, H, Lq, d) queries on (B, H, Lk, d) keys and values, head by head."""
        return attend(self, q, k, v, mask)  # (B, H, Lq, d_k)

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None) -> KVCache:
        """An empty self-attention cache for `max_len` positions (cross-attention: `CrossAttentionCache`)."""
        return KVCache(batch_size, max_len, dtype=dtype, device=device)

    def kv_cache_elements_per_token(self) -> int:
        """Cached numbers per token per layer: a key and a value per key/value head, 2 * n_g * d_h (MHA: n_g = n_h)."""
        return 2 * self.num_kv_heads * self.d_k
