"""Token embeddings (notebook 01): look up a learned vector per token id, scaled by sqrt(d_model)."""

import math

import torch
from torch import nn
from torch.nn.utils import skip_init

from .validation import require_index, require_positive_int, require_token_ids


class TokenEmbedding(nn.Module):
    """Map token ids (B, L) to vectors (B, L, d_model), multiplied by sqrt(d_model) as in the paper.

    The table starts at N(0, 1/d_model), as in the authors' tensor2tensor code: a row has norm about 1, so after the
    sqrt(d_model) factor a token vector has unit-variance entries, on the scale of the sin/cos positions it is added
    to (notebook 01). nn.Embedding's own N(0, 1) would make it sqrt(2 d_model) times longer than a position's.
    """

    def __init__(self, vocab_size: int, d_model: int, padding_idx: int | None = None):
        super().__init__()
        require_positive_int("vocab_size", vocab_size)
        require_positive_int("d_model", d_model)
        if padding_idx is not None:
            require_index("padding_idx", padding_idx, vocab_size, "vocab_size")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.lookup = skip_init(nn.Embedding, vocab_size, d_model, padding_idx=padding_idx)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Draw the table from N(0, 1/d_model); <pad>'s row is zero."""
        self.lookup.weight.normal_(0.0, self.d_model**-0.5)
        if self.lookup.padding_idx is not None:
            self.lookup.weight[self.lookup.padding_idx] = 0.0

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        require_token_ids("tokens", tokens, self.vocab_size)
        # Embedding(x) = E[x] * sqrt(d_model): keeps embeddings on the scale of the positional encoding
        return self.lookup(tokens) * math.sqrt(self.d_model)  # (B, L, d_model)
