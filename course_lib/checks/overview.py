"""Checkers for notebook 00: the demonstration (counting tokens) and the two warm-ups (relative positions, a
parameter count)."""

import torch
from torch import nn

from ..embeddings import TokenEmbedding
from ..positional_encoding import PositionalEncoding
from ..tokens import PAD_ID
from .core import CheckCase, CheckFailed, Mistake, run_checks


def _one_number(result) -> int:
    """A Python int or a one-element tensor as an int; anything else fails the case in words."""
    if isinstance(result, torch.Tensor) and result.numel() == 1 and not result.is_floating_point():
        return int(result.item())
    if isinstance(result, int) and not isinstance(result, bool):
        return result
    shown = f"a tensor of shape {tuple(result.shape)}" if isinstance(result, torch.Tensor) else repr(result)
    raise CheckFailed(f"expected one whole number, got {shown}",
                      hint="add everything up into a single number (a Python int, or a one-element integer tensor)")


def check_count_tokens(fn) -> None:
    """fn(batch (B, L) of ids padded with PAD_ID) must return how many real tokens the batch holds (an int)."""

    def probe(function, batch: torch.Tensor) -> int:
        return _one_number(function(batch.clone()))

    cases = [
        CheckCase("the batch [[4, 5, 6], [7, 9, <pad>]] (want 5: the <pad> only fills the second row up)",
                  (torch.tensor([[4, 5, 6], [7, 9, PAD_ID]]),), 5),
        CheckCase("the batch [[4, 5, <pad>, <pad>]] (want 2)", (torch.tensor([[4, 5, PAD_ID, PAD_ID]]),), 2),
        CheckCase("the batch [[1, 8, 3, 2]] of <bos>, a word, <unk> and <eos> (want 4: special tokens other than <pad> "
                  "are tokens)", (torch.tensor([[1, 8, 3, 2]]),), 4),
    ]
    mistakes = [
        Mistake("<pad> is filler, not a token: leave out the entries equal to PAD_ID", lambda batch: batch.numel()),
        Mistake("<bos>, <eos> and <unk> (ids 1, 2, 3) are tokens too: only <pad> = 0 is filler",
                lambda batch: int((batch > 3).sum())),
    ]
    run_checks("count_tokens", fn, cases, mistakes=mistakes, probe=probe,
               hint="compare the batch with PAD_ID to get True on every real token, then count the Trues")


def check_relative_positions(fn) -> None:
    """fn(length) must return the (length, length) integer table whose entry (i, j) is j - i."""
    cases = [
        CheckCase("length=3 (want [[0, 1, 2], [-1, 0, 1], [-2, -1, 0]])", (3,),
                  torch.tensor([[0, 1, 2], [-1, 0, 1], [-2, -1, 0]])),
        CheckCase("length=1 (one token: want [[0]])", (1,), torch.tensor([[0]])),
        CheckCase("length=6", (6,), torch.arange(6)[None, :] - torch.arange(6)[:, None]),
    ]
    mistakes = [
        Mistake("row i is the query's position and column j the key's: entry (i, j) is j - i, so row 0 reads "
                "0, 1, 2, ... (keys ahead of the query are positive)",
                lambda length: torch.arange(length)[:, None] - torch.arange(length)[None, :]),
        Mistake("keep the sign: a key behind the query is a negative distance, so the table is not symmetric",
                lambda length: (torch.arange(length)[None, :] - torch.arange(length)[:, None]).abs()),
        Mistake("positions are whole numbers: build them with torch.arange(length), which gives integers (torch.long)",
                lambda length: (torch.arange(length)[None, :] - torch.arange(length)[:, None]).float()),
    ]
    run_checks("relative_positions", fn, cases, mistakes=mistakes,
               hint=("make the positions 0..length-1 once as a column (length, 1) for the queries and once as a row "
                     "(1, length) for the keys: broadcasting their difference fills the table"))


class _TiedOutput(nn.Module):
    """An embedding and an output layer that share one (10, 4) table: weight tying."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.out = nn.Linear(4, 10)
        self.out.weight = self.embed.weight  # one tensor, two names


# what each case builds: its description names the model and the expected count
_MODELS = {
    "nn.Linear(4, 3): a 3 x 4 weight and 3 biases (want 15)": (lambda: nn.Linear(4, 3), 15),
    "TokenEmbedding(10, 4): one 10 x 4 table (want 40)": (lambda: TokenEmbedding(10, 4), 40),
    "nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4)) (want 32 + 8 + 32 + 4 = 76)":
        (lambda: nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 4)), 76),
    "PositionalEncoding(d_model=4, max_len=10): its table is a buffer, never trained (want 0)":
        (lambda: PositionalEncoding(4, max_len=10), 0),
    "nn.BatchNorm1d(4): a learned scale and shift; its running mean and variance are buffers (want 8)":
        (lambda: nn.BatchNorm1d(4), 8),
    "an nn.Embedding(10, 4) and an nn.Linear(4, 10) that share one 10 x 4 table, plus the linear's 10 biases "
    "(want 50: the shared table counts once)": (_TiedOutput, 50),
}


def check_count_parameters(fn) -> None:
    """fn(model) must return how many numbers training can change: each parameter's entries, shared ones once."""

    def probe(function, description: str) -> int:
        return _one_number(function(_MODELS[description][0]()))  # a fresh model for every call

    cases = [CheckCase(description, (description,), count) for description, (_, count) in _MODELS.items()]
    mistakes = [
        Mistake("count numbers, not tensors: a parameter p holds p.numel() numbers",
                lambda model: len(list(model.parameters()))),
        Mistake("biases are parameters too, not only the weight matrices",
                lambda model: sum(p.numel() for p in model.parameters() if p.dim() > 1)),
        Mistake("state_dict() is what a checkpoint saves: it also holds buffers (never trained) and lists a shared "
                "tensor once under each of its names",
                lambda model: sum(t.numel() for t in model.state_dict().values())),
        Mistake("buffers (model.buffers()) are saved with the model but never trained: they are not parameters",
                lambda model: sum(t.numel() for t in [*model.parameters(), *model.buffers()])),
        Mistake("model.modules() yields the model itself and every sub-module, and each one's parameters() already "
                "includes its children's: every parameter was counted once per level above it",
                lambda model: sum(p.numel() for module in model.modules() for p in module.parameters())),
    ]
    with torch.random.fork_rng(devices=[]):  # the models draw random weights: leave the caller's random stream alone
        run_checks("count_parameters", fn, cases, mistakes=mistakes, probe=probe,
                   hint="model.parameters() yields every parameter tensor once, shared ones included; add up their "
                        "sizes")
