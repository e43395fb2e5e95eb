"""The KV cache: one design shared by every attention module (MHA, GQA, MLA) and by decoder stacks.

Decoding one token at a time, each step's queries need the keys and values of every earlier position;
recomputing them repeats the work of every earlier step. A cache keeps them. There are two kinds, and the
cache's class says which (never the call, never whether `key is query`):

- `KVCache`, for self-attention: keys and values come from the queries themselves. Every call appends
  those of its new positions, so the cache grows with the output, up to `max_len` positions (allocated on
  the first call). The call passes no key or value (or the query itself): `attn(x_new, cache=cache)`,
  and the new queries see every cached position and, causally, the new ones up to themselves.
- `CrossAttentionCache`, for cross-attention: keys and values come from the encoder's memory, which is the
  same at every step. The first call projects the memory and stores it; every later call reads it back.
  The call passes the memory as the key: `attn(x_new, memory, cache=cache)`; a memory of another length
  or batch is refused (a new memory needs a new cache).

A call that does not fit its cache's kind raises a ValueError naming the argument. Both store named
buffers of shape (B, *lead, T, dim), time on dim -2, filled left to right: MHA stores "k" and "v" as
(B, H, T, d_k), GQA the same with its n_g shared heads; MLA (self-attention only) stores its latent
"c_kv" as (B, T, d_c) and its shared rotary key "k_rope" as (B, T, d_h^R).

Every attention module makes its self-attention cache with `new_cache(batch_size, max_len, dtype=None,
device=None)`. A `CacheGroup` bundles the caches of a decoder layer ({"self_attn": KVCache, "cross_attn":
CrossAttentionCache}) or of a stack ({0: layer 0's group, 1: ...}); `new_cache` of a layer, a decoder or a
Transformer returns one. Every cache and group counts its bytes (`nbytes()`) and follows beam search's
surviving hypotheses (`reorder(indices)`).
"""

import torch

from .validation import require_indices, require_keys_from_query, require_positive_int


class KVCache:
    """Self-attention cache: the keys and values of every position so far, `length` of `max_len` filled.

    The buffers are stored in the cache's `dtype` and on its `device` (default: those of the first tensors
    appended); `append` returns every filled position in the dtype of the tensors it was given, so attention
    computes in the model's dtype whatever the cache stores (a bfloat16 cache under a float32 model).
    """

    def __init__(self, batch_size: int, max_len: int, dtype=None, device=None):
        require_positive_int("batch_size", batch_size)
        if max_len is None:
            raise TypeError("max_len must be an int, the positions this self-attention cache can hold, got None "
                            "(a cross-attention cache, sized by its memory, is CrossAttentionCache(batch_size))")
        require_positive_int("max_len", max_len)
        self._init(batch_size, max_len, dtype, device)

    def _init(self, batch_size: int, max_len: int | None, dtype, device) -> None:
        """Set the sizes and the storage: empty until the first append."""
        if dtype is not None and not isinstance(dtype, torch.dtype):
            raise TypeError(f"dtype must be a torch.dtype or None, got {type(dtype).__name__} {dtype!r}")
        self.batch_size = batch_size
        self.max_len = max_len
        self.dtype = dtype
        self.device = None if device is None else torch.device(device)
        self.length = 0
        self.buffers: dict[str, torch.Tensor] = {}

    def check_call(self, query: torch.Tensor, key, value) -> None:
        """Raise ValueError unless the call is self-attention: key and value None (or the query itself)."""
        require_keys_from_query(query, key, value, "a KVCache caches self-attention, whose keys and values come "
                                "from the query", "attention on a memory takes a CrossAttentionCache")
        self._require_batch("query", query)

    def append(self, **new: torch.Tensor) -> dict[str, torch.Tensor]:
        """Write the new positions (time on dim -2) after the filled ones; return every filled position."""
        steps = self._check_new(new)
        if not self.buffers:
            self._allocate(new, steps)
        end = self.length + steps
        capacity = next(iter(self.buffers.values())).size(-2)
        if end > capacity:
            raise ValueError(
                f"the cache holds max_len={capacity} positions; appending {steps} to {self.length} needs {end}"
            )
        for name, tensor in new.items():
            self.buffers[name][..., self.length : end, :] = tensor  # cast to the cache's dtype and device
        self.length = end
        return self.filled(next(iter(new.values())).dtype)

    def filled(self, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
        """Views of the positions written so far, each (B, *lead, length, dim); copies cast to `dtype` if given."""
        views = {name: buf[..., : self.length, :] for name, buf in self.buffers.items()}
        if dtype is None:
            return views
        return {name: t if t.dtype == dtype else t.to(dtype) for name, t in views.items()}

    def nbytes(self) -> int:
        """Bytes held for the positions filled so far."""
        return sum(t.numel() * t.element_size() for t in self.filled().values())

    def reorder(self, indices: torch.Tensor) -> None:
        """Select batch rows by `indices` (beam search: keep the surviving hypotheses)."""
        check_reorder_indices(indices, self.batch_size)
        self._reorder(indices)

    def _reorder(self, indices: torch.Tensor) -> None:
        """`reorder` without the check: a CacheGroup checks the indices once for all its members."""
        self.buffers = {name: buf.index_select(0, indices.to(buf.device)) for name, buf in self.buffers.items()}
        self.batch_size = indices.numel()

    def _require_batch(self, name: str, tensor: torch.Tensor) -> None:
        """Raise ValueError unless `tensor` has the cache's batch size on dim 0."""
        if tensor.size(0) != self.batch_size:
            raise ValueError(
                f"the cache was made for batch_size={self.batch_size}, got {name} with batch {tensor.size(0)}"
            )

    def _check_new(self, new: dict[str, torch.Tensor]) -> int:
        """Raise ValueError unless `new` fits the cache (names, batch, shape but time); return its positions.

        Plain int and tuple compares: this runs on every decoding step.
        """
        if not new:
            raise ValueError("append needs at least one named tensor, e.g. cache.append(k=k, v=v), got none")
        if self.buffers and new.keys() != self.buffers.keys():
            raise ValueError(f"the cache holds the tensors {sorted(self.buffers)}, got {sorted(new)}")
        steps = None
        for name, tensor in new.items():
            if tensor.dim() < 2:
                raise ValueError(f"{name} must be (batch, ..., time, dim), got shape {tuple(tensor.shape)}")
            self._require_batch(name, tensor)
            if steps is None:
                steps = tensor.size(-2)
            elif tensor.size(-2) != steps:
                raise ValueError(f"every tensor appended must hold the same number of positions (dim -2), "
                                 f"got {steps} and {name} with {tensor.size(-2)}")
            buf = self.buffers.get(name)
            if buf is not None and (tensor.shape[1:-2] != buf.shape[1:-2] or tensor.size(-1) != buf.size(-1)):
                expected = ", ".join(map(str, (*buf.shape[:-2], "T", buf.size(-1))))
                raise ValueError(f"the cache holds {name} as ({expected}) for T positions, "
                                 f"got {name} of shape {tuple(tensor.shape)}")
        return steps

    def _allocate(self, new: dict[str, torch.Tensor], steps: int) -> None:
        """Create the buffers on the first append, shaped like the first tensors written."""
        capacity = steps if self.max_len is None else self.max_len
        for name, tensor in new.items():
            shape = (*tensor.shape[:-2], capacity, tensor.size(-1))  # (B, *lead, max_len, dim)
            self.buffers[name] = torch.zeros(
                shape, dtype=self.dtype or tensor.dtype, device=self.device or tensor.device
            )


class CrossAttentionCache(KVCache):
    """Cross-attention cache: the keys and values of the encoder's memory, stored by the first call, then read.

    Sized by that memory (`max_len` is None): it holds as many positions as the memory has.
    """

    def __init__(self, batch_size: int, dtype=None, device=None):
        require_positive_int("batch_size", batch_size)
        self._init(batch_size, None, dtype, device)

    def check_call(self, query: torch.Tensor, key, value) -> None:
        """Raise ValueError unless the call passes a memory as `key`: the one the cache holds, once filled."""
        if key is None:
            raise ValueError("a CrossAttentionCache holds the keys and values of a memory, so key must be the "
                             "memory (attn(x, memory, cache=cache)), got key=None (for self-attention, pass a "
                             "KVCache from new_cache(batch_size, max_len))")
        self._require_batch("key", key)
        if self.length and key.size(-2) != self.length:
            raise ValueError(f"this CrossAttentionCache holds a memory of {self.length} positions, got key of shape "
                             f"{tuple(key.shape)}: a new memory needs a new CrossAttentionCache")


def check_cache_call(cache, query: torch.Tensor, key, value) -> None:
    """Raise TypeError unless `cache` is one attention module's cache and ValueError unless the call fits its kind.

    The attention modules call this before `key` and `value` default to the query, with the arguments given.
    """
    if not isinstance(cache, KVCache):
        raise TypeError(f"cache must be one attention module's cache, a KVCache (self-attention) or a "
                        f"CrossAttentionCache, got {type(cache).__name__}")
    cache.check_call(query, key, value)


def check_reorder_indices(indices, batch_size: int) -> None:
    """Raise TypeError/ValueError unless `indices` is a non-empty 1-D integer tensor of rows in [0, batch_size)."""
    require_indices("indices", indices, batch_size, "batch_size", "row", "the batch: rows")
    if indices.dim() != 1 or indices.numel() == 0:
        raise ValueError(f"indices must be a non-empty 1-D tensor, the rows of the new batch, "
                         f"got shape {tuple(indices.shape)}")


class CacheGroup:
    """Named caches (a layer's self- and cross-attention, or a stack's layers) handled as one."""

    def __init__(self, caches: dict):
        self.caches = caches

    def __getitem__(self, key):
        return self.caches[key]

    @property
    def length(self) -> int:
        """Positions decoded so far: the length of the first member (self-attention comes first)."""
        return next(iter(self.caches.values())).length

    @property
    def batch_size(self) -> int:
        """Rows in every member: the batch size of the first."""
        return next(iter(self.caches.values())).batch_size

    def nbytes(self) -> int:
        """Bytes held by every member."""
        return sum(cache.nbytes() for cache in self.caches.values())

    def reorder(self, indices: torch.Tensor) -> None:
        """Reorder the batch of every member; the indices are checked once."""
        check_reorder_indices(indices, self.batch_size)
        self._reorder(indices)

    def _reorder(self, indices: torch.Tensor) -> None:
        """`reorder` without the check."""
        for cache in self.caches.values():
            cache._reorder(indices)


def check_cache_group(cache, members, owner: str) -> None:
    """Raise TypeError unless `cache` is a CacheGroup and ValueError unless it holds exactly `members` (in order)."""
    made_by = f"{owner}.new_cache(batch_size, max_len)"
    if not isinstance(cache, CacheGroup):
        raise TypeError(f"cache must be the CacheGroup of {made_by}, got {type(cache).__name__}")
    if tuple(cache.caches) != tuple(members):
        raise ValueError(f"cache must be the CacheGroup of {made_by}, holding {list(members)}, "
                         f"got a CacheGroup holding {list(cache.caches)}")
