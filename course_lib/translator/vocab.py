"""Vocabularies: the four special tokens first, then tokens by frequency (ties alphabetical)."""

from collections import Counter

from ..tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID
from ..validation import require_positive_int


class Vocab:
    """token <-> id; <pad>=0, <bos>=1, <eos>=2, <unk>=3."""

    def __init__(self, tokens: list[str]):
        if tuple(tokens[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"a vocabulary must start with {SPECIAL_TOKENS}, got {tokens[:4]}")
        self.tokens = list(tokens)
        self.ids = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, token_lists, min_freq: int = 1, max_size: int | None = None) -> "Vocab":
        """Count tokens; keep those seen at least `min_freq` times, the most frequent first."""
        require_positive_int("min_freq", min_freq)
        counts = Counter(token for tokens in token_lists for token in tokens)
        kept = sorted((t for t, n in counts.items() if n >= min_freq and t not in SPECIAL_TOKENS),
                      key=lambda t: (-counts[t], t))
        return cls(list(SPECIAL_TOKENS) + kept[:max_size])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> list[int]:
        """Ids of `tokens`; unknown tokens become <unk>."""
        return [self.ids.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: list[int]) -> list[str]:
        """Tokens of `ids` up to the first <eos>, without <pad> and <bos>."""
        out = []
        for i in ids:
            if i == EOS_ID:
                break
            if i not in (PAD_ID, BOS_ID):
                out.append(self.tokens[i])
        return out

    def to_list(self) -> list[str]:
        """All tokens in id order (plain data for a checkpoint)."""
        return list(self.tokens)

    @classmethod
    def from_list(cls, tokens: list[str]) -> "Vocab":
        """Inverse of `to_list`."""
        return cls(tokens)
