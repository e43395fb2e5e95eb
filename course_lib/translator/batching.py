"""From numbered sentence pairs to padded batches: <eos>/<bos> framing, length bucketing, masks."""

from dataclasses import dataclass

import torch

from ..masking import padding_mask
from ..tokens import BOS_ID, EOS_ID, PAD_ID
from ..validation import require_positive_int

BUCKET_CHUNK = 10_000  # bucketing sorts by length inside shuffled chunks of this many sentences


def encode_pairs(pairs, src_tok, tgt_tok, src_vocab, tgt_vocab, max_len: int) -> list[tuple[list[int], list[int]]]:
    """Each pair -> (source ids + <eos>, <bos> + target ids + <eos>), cut to `max_len` keeping the <eos>."""
    require_positive_int("max_len", max_len)
    examples = []
    for pair in pairs:
        src = src_vocab.encode(src_tok.encode(pair.src))[: max_len - 1] + [EOS_ID]
        tgt = [BOS_ID] + tgt_vocab.encode(tgt_tok.encode(pair.tgt))[: max_len - 2] + [EOS_ID]
        examples.append((src, tgt))
    return examples


def pad_batch(seqs: list[list[int]]) -> torch.Tensor:
    """Lists of ids -> (B, L) long tensor padded with <pad>."""
    width = max(len(s) for s in seqs)
    return torch.tensor([s + [PAD_ID] * (width - len(s)) for s in seqs], dtype=torch.long)  # (B, L)


@dataclass
class Batch:
    """Source ids (B, Ls) ending in <eos>; target ids (B, Lt) from <bos> to <eos>; both padded."""

    src: torch.Tensor
    tgt: torch.Tensor

    def src_mask(self) -> torch.Tensor:
        """(B, 1, 1, Ls): True where the source is a real token."""
        return padding_mask(self.src, PAD_ID)

    def num_tokens(self) -> int:
        """Target tokens the model predicts (all but <bos>, no padding)."""
        return int(self.tgt[:, 1:].ne(PAD_ID).sum())

    def to(self, device) -> "Batch":
        """The batch on `device`."""
        return Batch(self.src.to(device, non_blocking=True), self.tgt.to(device, non_blocking=True))


def group(examples, order: list[int], max_tokens: int) -> list[list[int]]:
    """Cut `order` into runs whose padded size, rows x longest side, stays within `max_tokens` (at least one row)."""
    batches, current, longest = [], [], 0
    for i in order:
        length = max(len(examples[i][0]), len(examples[i][1]))
        if current and (len(current) + 1) * max(longest, length) > max_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, length)
    if current:
        batches.append(current)
    return batches


def make_batches(examples, max_tokens: int, shuffle: bool, generator: torch.Generator | None = None,
                 bucket: bool = True) -> list[Batch]:
    """Every example in exactly one batch of at most `max_tokens` padded tokens per side.

    With `bucket`, sentences are sorted by length inside shuffled chunks, so a batch holds similar lengths;
    with `shuffle`, the order of sentences and of batches is random (and fixed by `generator`).
    """
    require_positive_int("max_tokens", max_tokens)
    n = len(examples)
    order = torch.randperm(n, generator=generator).tolist() if shuffle else list(range(n))
    if bucket:
        by_length = lambda i: (len(examples[i][0]), len(examples[i][1]))  # noqa: E731
        chunks = (order[start : start + BUCKET_CHUNK] for start in range(0, n, BUCKET_CHUNK))
        order = [i for chunk in chunks for i in sorted(chunk, key=by_length)]
    groups = group(examples, order, max_tokens)
    if shuffle:
        groups = [groups[i] for i in torch.randperm(len(groups), generator=generator).tolist()]
    return [Batch(pad_batch([examples[i][0] for i in g]), pad_batch([examples[i][1] for i in g])) for g in groups]
