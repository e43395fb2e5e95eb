"""The KV cache: one design shared by every attention module (MHA, GQA, MLA) and by decoder stacks.

A `KVCache` holds named buffers of shape (B, *lead, max_len, dim), time on dim -2, filled left to right:
MHA stores "k" and "v" as (B, H, T, d_k), GQA the same with its n_g shared heads; MLA stores its latent
"c_kv" as (B, T, d_c) and its shared rotary key "k_rope" as (B, T, d_h^R). A `CacheGroup` bundles
the caches of a layer or a stack so that they are counted and reordered together.
"""

import torch

from .validation import require_positive_int


class KVCache:
    """Preallocated per-position tensors for incremental decoding; `length` positions are filled.

    The buffers are stored in the cache's `dtype` and on its `device` (default: those of the first tensors
    appended); `append` returns every filled position in the dtype of the tensors it was given, so attention
    computes in the model's dtype whatever the cache stores (a bfloat16 cache under a float32 model).
    """

    def __init__(self, batch_size: int, max_len: int | None, dtype=None, device=None):
        require_positive_int("batch_size", batch_size)
        if max_len is not None:
            require_positive_int("max_len", max_len)
        if dtype is not None and not isinstance(dtype, torch.dtype):
            raise TypeError(f"dtype must be a torch.dtype or None, got {type(dtype).__name__} {dtype!r}")
        self.batch_size = batch_size
        self.max_len = max_len  # None: sized by the first append and then full (cross-attention memory)
        self.dtype = dtype
        self.device = None if device is None else torch.device(device)
        self.length = 0
        self.buffers: dict[str, torch.Tensor] = {}

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
        self.buffers = {name: buf.index_select(0, indices.to(buf.device)) for name, buf in self.buffers.items()}
        self.batch_size = indices.numel()

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
            if tensor.size(0) != self.batch_size:
                raise ValueError(
                    f"the cache was made for batch_size={self.batch_size}, got {name} with batch {tensor.size(0)}"
                )
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

    def nbytes(self) -> int:
        """Bytes held by every member."""
        return sum(cache.nbytes() for cache in self.caches.values())

    def reorder(self, indices: torch.Tensor) -> None:
        """Reorder the batch of every member."""
        for cache in self.caches.values():
            cache.reorder(indices)
