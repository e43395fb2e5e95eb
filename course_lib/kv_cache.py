"""The KV cache: one design shared by every attention module (MHA, GQA, MLA) and by decoder stacks.

A `KVCache` holds named buffers of shape (B, *lead, max_len, dim), time on dim -2, filled left to right:
MHA stores "k" and "v" as (B, H, T, d_k), GQA the same with its n_g shared heads; MLA stores its latent
"c_kv" as (B, T, d_c) and its shared rotary key "k_rope" as (B, T, d_h^R). A `CacheGroup` bundles
the caches of a layer or a stack so that they are counted and reordered together.
"""

import torch


class KVCache:
    """Preallocated per-position tensors for incremental decoding; `length` positions are filled."""

    def __init__(self, batch_size: int, max_len: int | None, dtype=None, device=None):
        self.batch_size = batch_size
        self.max_len = max_len  # None: sized by the first append and then full (cross-attention memory)
        self.dtype = dtype
        self.device = device
        self.length = 0
        self.buffers: dict[str, torch.Tensor] = {}

    def append(self, **new: torch.Tensor) -> dict[str, torch.Tensor]:
        """Write the new positions (time on dim -2) after the filled ones; return every filled position."""
        steps = next(iter(new.values())).size(-2)
        if not self.buffers:
            self._allocate(new, steps)
        end = self.length + steps
        capacity = next(iter(self.buffers.values())).size(-2)
        if end > capacity:
            raise ValueError(
                f"the cache holds max_len={capacity} positions; appending {steps} to {self.length} needs {end}"
            )
        for name, tensor in new.items():
            self.buffers[name][..., self.length : end, :] = tensor
        self.length = end
        return self.filled()

    def filled(self) -> dict[str, torch.Tensor]:
        """Views of the positions written so far, each (B, *lead, length, dim)."""
        return {name: buf[..., : self.length, :] for name, buf in self.buffers.items()}

    def nbytes(self) -> int:
        """Bytes held for the positions filled so far."""
        return sum(t.numel() * t.element_size() for t in self.filled().values())

    def reorder(self, indices: torch.Tensor) -> None:
        """Select batch rows by `indices` (beam search: keep the surviving hypotheses)."""
        self.buffers = {name: buf.index_select(0, indices.to(buf.device)) for name, buf in self.buffers.items()}
        self.batch_size = indices.numel()

    def _allocate(self, new: dict[str, torch.Tensor], steps: int) -> None:
        """Create the buffers on the first append, shaped like the first tensors written."""
        capacity = steps if self.max_len is None else self.max_len
        for name, tensor in new.items():
            if tensor.size(0) != self.batch_size:
                raise ValueError(
                    f"the cache was made for batch_size={self.batch_size}, got {name} with batch {tensor.size(0)}"
                )
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
