"""Multi-head Latent Attention, MLA (notebook 11): cache one small latent per token instead of every head's K and V.

DeepSeek-V2 (arXiv 2405.04434, section 2.1), per token t with hidden state h_t:

    c_t^KV = W^DKV h_t                      the joint latent (d_c numbers): the only K/V content cached
    k_t^C = W^UK c_t^KV,  v_t^C = W^UV c_t^KV   per-head keys and values, rebuilt from the latent
    c_t^Q = W^DQ h_t,  q_t^C = W^UQ c_t^Q   optional query compression (saves training memory, not cache)
    q_t^R = RoPE(W^QR c_t^Q)                 a rotary part per head (d_h^R numbers)
    k_t^R = RoPE(W^KR h_t)                   ONE rotary key shared by every head, cached too
    score = [q^C; q^R] . [k^C; k^R] / sqrt(d_h + d_h^R)

Because no rotation sits between q^C and k^C, q^C . (W^UK c) = (W^UK^T q^C) . c: the queries can be moved
into the latent space and attend to the cached latents directly (`absorb=True`), and W^UV applied after
the weighted sum. Both paths read the same cache and give the same output; only the work differs: a decoding step
(one new token over T cached ones) is far cheaper absorbed, training and prefill (many queries) are cheaper naive.
By default (`absorb=None`) each call takes the cheaper path, as serving engines split prefill and decode.
"""

import math

import torch
from torch import nn

from .kv_cache import KVCache, check_cache_call
from .masking import check_mask
from .multi_head_attention import (
    attend,
    cached_self_attention_mask,
    check_attention_inputs,
    merge_heads,
    split_heads,
)
from .rms_norm import RMSNorm
from .rope import apply_rope
from .validation import (
    require_head_split,
    require_keys_from_query,
    require_positive_int,
    require_positive_number,
    require_probability,
)


def _require_even_or_zero(name: str, value) -> None:
    """Raise TypeError/ValueError unless `value` is an int >= 0 and even (RoPE rotates pairs)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0 or value % 2:
        raise ValueError(f"{name} must be an even int >= 0 (RoPE rotates pairs of dimensions), got {name}={value}")


def mla_sizes(d_model: int, num_heads: int) -> dict[str, int]:
    """MLA sizes for a model of width d_model, in DeepSeek-V2's proportions to the head dim d_h = d_model / n_h.

    DeepSeek-V2 has d_h = 128, d_c = 512 = 4 d_h, d_h^R = 64 = d_h / 2, and nope and value heads of d_h,
    so its cache is 4.5 d_h per token: "GQA with 2.25 groups" whatever the width. Query compression is
    off, as in DeepSeek-V2-Lite: it saves training activations, not cache.
    """
    require_head_split(d_model, num_heads)
    head_dim = d_model // num_heads
    return dict(kv_lora_rank=4 * head_dim, qk_nope_head_dim=head_dim,
                qk_rope_head_dim=max(2, head_dim // 4 * 2), v_head_dim=head_dim)


class MultiHeadLatentAttention(nn.Module):
    """Self-attention with low-rank joint K/V compression and a decoupled, shared rotary key (DeepSeek-V2)."""

    fused = False  # True: torch's fused kernel (training); False: the explicit path the notebooks read
    absorb_when_decoding = True  # absorb=None: a decoding step takes the absorbed path (False: the naive one)

    def __init__(self, d_model: int, num_heads: int, kv_lora_rank: int, qk_nope_head_dim: int,
                 qk_rope_head_dim: int, v_head_dim: int, q_lora_rank: int | None = None,
                 latent_norm: bool = True, rope_base: float = 10000.0, dropout: float = 0.0):
        super().__init__()
        for name, value in (("d_model", d_model), ("num_heads", num_heads), ("kv_lora_rank", kv_lora_rank),
                            ("qk_nope_head_dim", qk_nope_head_dim), ("v_head_dim", v_head_dim)):
            require_positive_int(name, value)
        _require_even_or_zero("qk_rope_head_dim", qk_rope_head_dim)
        if q_lora_rank is not None:
            require_positive_int("q_lora_rank", q_lora_rank)
        require_positive_number("rope_base", rope_base)
        require_probability("dropout", dropout)
        self.d_model, self.num_heads = d_model, num_heads
        self.kv_lora_rank, self.q_lora_rank = kv_lora_rank, q_lora_rank
        self.qk_nope_head_dim, self.qk_rope_head_dim, self.v_head_dim = qk_nope_head_dim, qk_rope_head_dim, v_head_dim
        self.rope_base, self.dropout = rope_base, dropout
        # queries: h -> (c^Q ->) q^C and q^R in every head
        query_width = d_model if q_lora_rank is None else q_lora_rank
        self.w_dq = None if q_lora_rank is None else nn.Linear(d_model, q_lora_rank, bias=False)
        self.q_norm = RMSNorm(q_lora_rank) if latent_norm and q_lora_rank is not None else nn.Identity()
        self.w_uq = nn.Linear(query_width, num_heads * qk_nope_head_dim, bias=False)
        self.w_qr = nn.Linear(query_width, num_heads * qk_rope_head_dim, bias=False) if qk_rope_head_dim else None
        # keys and values: h -> c^KV (cached) -> k^C, v^C in every head; h -> k^R (cached, one for all heads)
        self.w_dkv = nn.Linear(d_model, kv_lora_rank, bias=False)
        self.kv_norm = RMSNorm(kv_lora_rank) if latent_norm else nn.Identity()
        self.w_uk = nn.Linear(kv_lora_rank, num_heads * qk_nope_head_dim, bias=False)
        self.w_uv = nn.Linear(kv_lora_rank, num_heads * v_head_dim, bias=False)
        self.w_kr = nn.Linear(d_model, qk_rope_head_dim, bias=False) if qk_rope_head_dim else None
        self.w_o = nn.Linear(num_heads * v_head_dim, d_model, bias=False)
        self.attn_weights = None

    @property
    def scale(self) -> float:
        """1 / sqrt(d_h + d_h^R): the width of the query-key dot product, on both paths."""
        return 1.0 / math.sqrt(self.qk_nope_head_dim + self.qk_rope_head_dim)

    def forward(self, query: torch.Tensor, key=None, value=None, mask: torch.Tensor | None = None,
                cache: KVCache | None = None, absorb: bool | None = None) -> torch.Tensor:
        """Self-attention of `query` (B, L, d_model); `key` and `value` exist for the shared call signature.

        `absorb` picks the path (True: absorbed, False: naive); None takes the cheaper one: absorbed for a decoding
        step (a cache and one new position, when `absorb_when_decoding`), naive for training and prefill.
        """
        if absorb is not None and not isinstance(absorb, bool):
            raise TypeError(f"absorb must be True, False or None, got {type(absorb).__name__} {absorb!r}")
        require_keys_from_query(query, key, value, "MultiHeadLatentAttention is self-attention only",
                                "pass the mask by name: mla(x, mask=mask)")
        check_attention_inputs(query, None, None, self.d_model, self.w_o.weight)
        if cache is not None:  # a self-attention cache: MLA's keys and values always come from the query
            check_cache_call(cache, query, None, None)
        x = query
        batch, length, _ = x.shape
        offset = 0 if cache is None else cache.length  # the position of x's first token
        if mask is not None:
            check_mask(mask, torch.Size((batch, self.num_heads, length, offset + length)))
        if cache is not None:  # the new queries see every cached position and the new ones up to themselves
            mask = cached_self_attention_mask(mask, length, cache, x.device)
        # 1. queries: the content part q^C and the rotary part q^R of every head
        q_nope, q_rope = self.queries(x, offset)  # (B, H, L, d_h), (B, H, L, d_h^R)
        # 2. the latent c^KV and the shared rotary key k^R of the new tokens: all the cache keeps
        c_kv, k_rope = self.latents(x, offset)  # (B, L, d_c), (B, L, d_h^R)
        if cache is not None:
            filled = cache.append(c_kv=c_kv, k_rope=k_rope)  # read back in c_kv's dtype, whatever the cache's
            c_kv, k_rope = filled["c_kv"], filled["k_rope"]  # (B, T, d_c), (B, T, d_h^R)
        # 3. attention over the T positions, by either route: by default absorbed for a decoding step only
        if absorb is None:
            absorb = self.absorb_when_decoding and cache is not None and length == 1
        attention = self.attend_absorbed if absorb else self.attend_naive
        out = attention(q_nope, q_rope, c_kv, k_rope, mask)  # (B, H, L, d_v)
        # 4. concatenate the heads and mix them with W^O
        return self.w_o(merge_heads(out))  # (B, L, d_model)

    def queries(self, x: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        """q^C = W^UQ c^Q and q^R = RoPE(W^QR c^Q), c^Q = norm(W^DQ h) (or h itself without compression)."""
        c_q = x if self.w_dq is None else self.q_norm(self.w_dq(x))  # (B, L, d_c') or (B, L, d_model)
        q_nope = split_heads(self.w_uq(c_q), self.num_heads)  # (B, H, L, d_h)
        if self.w_qr is None:
            return q_nope, q_nope.new_zeros(*q_nope.shape[:-1], 0)  # no rotary part: (B, H, L, 0)
        q_rope = apply_rope(split_heads(self.w_qr(c_q), self.num_heads), offset, self.rope_base)  # (B, H, L, d_h^R)
        return q_nope, q_rope

    def latents(self, x: torch.Tensor, offset: int) -> tuple[torch.Tensor, torch.Tensor]:
        """c^KV = norm(W^DKV h) and k^R = RoPE(W^KR h): what the cache stores for each token."""
        c_kv = self.kv_norm(self.w_dkv(x))  # (B, L, d_c)
        if self.w_kr is None:
            return c_kv, x.new_zeros(*x.shape[:-1], 0)  # no rotary key: (B, L, 0)
        return c_kv, apply_rope(self.w_kr(x), offset, self.rope_base)  # (B, L, d_c), (B, L, d_h^R)

    def attend_naive(self, q_nope, q_rope, c_kv, k_rope, mask) -> torch.Tensor:
        """Up-project every cached latent to per-head keys and values, then ordinary attention."""
        heads, (batch, length, _) = self.num_heads, c_kv.shape
        # k^C = W^UK c, v^C = W^UV c for all T positions, at every step
        k_nope = split_heads(self.w_uk(c_kv), heads)  # (B, H, T, d_h)
        v = split_heads(self.w_uv(c_kv), heads)  # (B, H, T, d_v)
        # k = [k^C; k^R]: the one rotary key is the same in every head
        k_shared = k_rope[:, None].expand(batch, heads, length, self.qk_rope_head_dim)  # (B, H, T, d_h^R)
        q = torch.cat([q_nope, q_rope], dim=-1)  # (B, H, L, d_h + d_h^R)
        k = torch.cat([k_nope, k_shared], dim=-1)  # (B, H, T, d_h + d_h^R)
        return attend(self, q, k, v, mask, scale=self.scale)  # (B, H, L, d_v)

    def attend_absorbed(self, q_nope, q_rope, c_kv, k_rope, mask) -> torch.Tensor:
        """Move the queries into the latent space and attend to the cached latents directly."""
        batch, heads, length, _ = q_nope.shape
        total = c_kv.size(1)
        w_uk = self.w_uk.weight.view(heads, self.qk_nope_head_dim, self.kv_lora_rank)  # (H, d_h, d_c)
        w_uv = self.w_uv.weight.view(heads, self.v_head_dim, self.kv_lora_rank)  # (H, d_v, d_c)
        # q^C . (W^UK_h c) = (W^UK_h^T q^C) . c: each head's query becomes a d_c-wide latent query
        q_latent = torch.einsum("bhld,hdc->bhlc", q_nope, w_uk)  # (B, H, L, d_c)
        q = torch.cat([q_latent, q_rope], dim=-1)  # (B, H, L, d_c + d_h^R)
        # every head meets the same key [c; k^R] and value c: fold the heads into query rows, so one
        # product over the shared latent serves them all (multi-query attention over the latent)
        q = q.reshape(batch, 1, heads * length, q.size(-1))  # (B, 1, H*L, d_c + d_h^R)
        k = torch.cat([c_kv, k_rope], dim=-1)[:, None]  # (B, 1, T, d_c + d_h^R)
        if mask is not None:
            mask = mask.broadcast_to(batch, heads, length, total).reshape(batch, 1, heads * length, total)
        # the scale stays 1/sqrt(d_h + d_h^R): the dot products are the same numbers as on the naive path
        context = attend(self, q, k, c_kv[:, None], mask, scale=self.scale)  # (B, 1, H*L, d_c)
        context = context.view(batch, heads, length, self.kv_lora_rank)  # (B, H, L, d_c)
        if self.attn_weights is not None and not self.fused:
            self.attn_weights = self.attn_weights.view(batch, heads, length, total)  # (B, H, L, T)
        # o_h = W^UV_h (sum_j a_j c_j): the value up-projection after the weighted sum
        return torch.einsum("bhlc,hvc->bhlv", context, w_uv)  # (B, H, L, d_v)

    def new_cache(self, batch_size: int, max_len: int, dtype=None, device=None) -> KVCache:
        """An empty cache for `max_len` positions: it will hold "c_kv" (B, T, d_c) and "k_rope" (B, T, d_h^R)."""
        return KVCache(batch_size, max_len, dtype=dtype, device=device)

    def kv_cache_elements_per_token(self) -> int:
        """Cached numbers per token per layer: the latent and the shared rotary key, d_c + d_h^R."""
        return self.kv_lora_rank + self.qk_rope_head_dim
