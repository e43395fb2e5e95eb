"""Token embeddings (notebook 01): look up a learned vector per token id, scaled by sqrt(d_model)."""

import math

import torch
from torch import nn

from .validation import require_index, require_positive_int, require_token_ids


class TokenEmbedding(nn.Module):
    """Map token ids (B, L) to vectors (B, L, d_model), multiplied by sqrt(d_model) as in the paper."""

    def __init__(self, vocab_size: int, d_model: int, padding_idx: int | None = None):
        super().__init__()
        require_positive_int("vocab_size", vocab_size)
        require_positive_int("d_model", d_model)
        if padding_idx is not None:
            require_index("padding_idx", padding_idx, vocab_size, "vocab_size")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.lookup = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)

    @torch.no_grad()
    def reset_to_unit_scale(self) -> "TokenEmbedding":
        """Re-draw the table from N(0, 1/d_model), so that E[x]·√d_model has unit variance like the positions.

        nn.Embedding's N(0, 1) times √d_model drowns the positional encoding (amplitude 1) at the start of
        training; the translator and notebook 10 train faster from this scale. <pad>'s row stays zero.
        """
        self.lookup.weight.normal_(0.0, self.d_model**-0.5)
        if self.lookup.padding_idx is not None:
            self.lookup.weight[self.lookup.padding_idx] = 0.0
        return self

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        require_token_ids("tokens", tokens, self.vocab_size)
        # Embedding(x) = E[x] * sqrt(d_model): keeps embeddings on the scale of the positional encoding
        return self.lookup(tokens) * math.sqrt(self.d_model)  # (B, L, d_model)
