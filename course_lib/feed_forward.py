"""Position-wise feed-forward network (notebook 06): FFN(x) = W2 act(W1 x + b1) + b2 at every position."""

import torch
import torch.nn.functional as F
from torch import nn

from .validation import require_choice, require_positive_int, require_probability

ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class PositionwiseFeedForward(nn.Module):
    """Two linear maps with an activation between: d_model -> d_ff -> d_model, the same at every position."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu"):
        super().__init__()
        require_positive_int("d_model", d_model)
        require_positive_int("d_ff", d_ff)
        require_probability("dropout", dropout)
        require_choice("activation", activation, ACTIVATIONS)
        self.activation = ACTIVATIONS[activation]
        self.linear1 = nn.Linear(d_model, d_ff)  # W1, b1
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(d_ff, d_model)  # W2, b2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = self.dropout(self.activation(self.linear1(x)))  # (B, L, d_ff)
        return self.linear2(hidden)  # (B, L, d_model)
