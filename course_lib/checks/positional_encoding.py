"""Checkers for notebook 02: the sinusoidal table for any width, the matrix that moves every position k steps on,
and learned positions."""

import math

import torch
from torch import nn

from .core import CheckCase, CheckFailed, Mistake, run_checks


def _table(max_len: int, d_model: int, exponent=lambda dim: 2 * (dim // 2), first: int = 0,
           base: float = 10000.0) -> torch.Tensor:
    """The table in float64 entry by entry (max_len, d_model); the keywords make the known mistakes' versions."""
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    for pos in range(first, first + max_len):
        for dim in range(d_model):
            # PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
            angle = pos / base ** (exponent(dim) / d_model)
            pe[pos - first, dim] = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
    return pe


def _swapped(max_len: int, d_model: int) -> torch.Tensor:
    """cos on the even dimensions, sin on the odd ones."""
    pe = _table(max_len, d_model + d_model % 2)
    return pe.view(max_len, -1, 2).flip(-1).reshape(max_len, -1)[:, :d_model]


def _sines_then_cosines(max_len: int, d_model: int) -> torch.Tensor:
    """Every sine first, then every cosine (tensor2tensor's layout), instead of interleaved pairs."""
    pe = _table(max_len, d_model)
    return torch.cat([pe[:, 0::2], pe[:, 1::2]], dim=-1)


def _last_sine_dropped(max_len: int, d_model: int) -> torch.Tensor:
    """Only the d_model // 2 whole pairs filled: for an odd d_model the last column stays zero."""
    pe = _table(max_len, d_model)
    pe[:, 2 * (d_model // 2):] = 0.0
    return pe


def check_positional_encoding(fn) -> None:
    """fn(max_len, d_model) must return the (max_len, d_model) table, odd d_model included: sin even, cos odd."""
    odd = ("for an odd d_model the sines fill one column more than the cosines: the last pair has its sine and no "
           "cosine")
    cases = [
        CheckCase("max_len=3, d_model=4 ('I love AI': row 1 is love, want [0.8415, 0.5403, 0.0100, 1.0000])",
                  (3, 4), _table(3, 4)),
        CheckCase("max_len=50, d_model=16", (50, 16), _table(50, 16)),
        CheckCase("max_len=7, d_model=2 (one sin/cos pair)", (7, 2), _table(7, 2)),
        CheckCase("max_len=4, d_model=5 (odd: pairs 0 and 1, then dimension 4 = sin(pos / 10000^(4/5)))", (4, 5),
                  _table(4, 5), hint=odd),
        CheckCase("max_len=6, d_model=1 (odd: a single column, sin(pos))", (6, 1), _table(6, 1), hint=odd),
        CheckCase("max_len=20, d_model=127", (20, 127), _table(20, 127), hint=odd),
        CheckCase("max_len=20, d_model=128", (20, 128), _table(20, 128)),
    ]
    mistakes = [
        Mistake("a sine and its cosine share one angle: the exponent is 2i / d_model for both dimensions 2i and "
                "2i + 1, not each dimension's own", lambda max_len, d_model: _table(max_len, d_model, lambda dim: dim)),
        Mistake("in Python ^ is bitwise XOR, and 10000 ^ 0 is 10000 for every pair: write the power with **",
                lambda max_len, d_model: _table(max_len, d_model, lambda dim: d_model)),  # pos / 10000 everywhere
        Mistake("even dimensions (0, 2, ...) hold the sine and odd ones the cosine: they are swapped", _swapped),
        Mistake("the paper interleaves: the pair i sits in dimensions 2i (sin) and 2i + 1 (cos); all sines followed by "
                "all cosines is a shuffled table", _sines_then_cosines),
        Mistake("positions count from 0: the first row is [0, 1, 0, 1, ...] (sin 0, cos 0)",
                lambda max_len, d_model: _table(max_len, d_model, first=1)),
        Mistake("the last column is empty: " + odd, _last_sine_dropped),
    ]
    run_checks("positional_encoding", fn, cases, mistakes=mistakes,
               hint=('sin on the even columns, cos on the odd ones, both of pos / 10000 ** (2i / d_model) with i '
                     "the pair's index"))


def _shift_reference(k: int, d_model: int) -> torch.Tensor:
    """Block-diagonal (d_model, d_model): pair i turns by the angle k ω_i."""
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i in range(d_model // 2):
        angle = k / 10000 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        # sin(a + b) = sin a cos b + cos a sin b,  cos(a + b) = cos a cos b - sin a sin b
        m[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=torch.float64)
    return m


def _moved(m, d_model: int, positions: int):
    """M itself, or with `positions`, M @ PE[pos] for pos = 0..positions-1 as rows (positions, d_model)."""
    if not positions or not isinstance(m, torch.Tensor) or m.shape != (d_model, d_model):
        return m
    return (m.to(torch.float64) @ _table(positions, d_model).T).T  # (positions, d_model): row pos is M @ PE[pos]


def check_shift_matrix(fn) -> None:
    """fn(k, d_model) must return M (d_model, d_model) with M @ PE[pos] == PE[pos + k] for every position."""
    cases = [
        CheckCase("k=1, d_model=4", (1, 4), _shift_reference(1, 4)),
        CheckCase("k=0, d_model=6 (no move: want the identity)", (0, 6), torch.eye(6, dtype=torch.float64)),
        CheckCase("k=3, d_model=8", (3, 8), _shift_reference(3, 8)),
        CheckCase("k=-2, d_model=4 (two steps back)", (-2, 4), _shift_reference(-2, 4)),
        CheckCase("M @ PE[pos] for pos = 0..9 with k=5, d_model=16 (want PE[5..14])", (5, 16),
                  _table(15, 16)[5:], {"positions": 10}),
    ]
    mistakes = [
        Mistake("this matrix turns every pair backwards, k steps towards the start: the block that maps (sin a, cos a) "
                "to (sin(a + b), cos(a + b)) has +sin b in its first row",
                lambda k, d_model: _shift_reference(-k, d_model)),
        Mistake("every pair turns by its own angle k * omega_i: the pairs further right turn more slowly",
                lambda k, d_model: torch.block_diag(*[_shift_reference(k, 2)] * (d_model // 2))),
    ]
    run_checks("shift_matrix", fn, cases, mistakes=mistakes,
               probe=lambda function, k, d_model, positions=0: _moved(function(k, d_model), d_model, positions),
               hint=('each (sin, cos) pair turns by the angle k * omega_i: a 2 x 2 rotation block on the diagonal,'
                     ' zeros elsewhere'))


class _LearnedPositions(nn.Module):
    """Known mistakes' learned positions: rows first..first+L-1 added, and a length check that may be too strict."""

    def __init__(self, max_len: int, d_model: int, first: int = 0, check: str = "> max_len"):
        super().__init__()
        self.max_len, self.first, self.check = max_len, first, check
        self.table = nn.Parameter(torch.randn(max_len, d_model) / math.sqrt(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.size(1)
        if (self.check == "> max_len" and length > self.max_len) or (self.check == ">= max_len"
                                                                       and length >= self.max_len):
            raise ValueError(f"x has {length} positions, more than max_len={self.max_len}")
        return x + self.table[self.first : self.first + length]  # (B, L, d_model)


def _position_table(module, max_len: int, d_model: int) -> torch.Tensor:
    """The module's one (max_len, d_model) parameter, or a CheckFailed saying what was found instead."""
    if not isinstance(module, nn.Module):
        raise CheckFailed(f"expected an nn.Module, got {type(module).__name__}",
                          hint="return an instance of your nn.Module subclass (or of nn.Embedding inside one)")
    tables = [p for p in module.parameters() if tuple(p.shape) == (max_len, d_model)]
    if len(tables) != 1:
        buffers = [name for name, b in module.named_buffers() if tuple(b.shape) == (max_len, d_model)]
        found = f"found {len(tables)}" + (f" (and a buffer, {buffers[0]!r}, which is never trained)" if buffers else "")
        raise CheckFailed(f"expected one trainable ({max_len}, {d_model}) table of positions in the module, {found}",
                          hint="learned positions are a parameter: nn.Parameter or nn.Embedding, not a buffer")
    return tables[0]


def _probe_learned(function, what: str, length: int, max_len: int = 10, d_model: int = 8, batch: int = 2):
    """Build function(max_len, d_model), fill its table with distinct rows, and report `what` for a (batch, length)
    input: the output shape, the table row added at each position, the rows that get a gradient, or the error."""
    module = function(max_len, d_model)
    table = _position_table(module, max_len, d_model)
    with torch.no_grad():
        table.copy_(torch.randn(max_len, d_model))  # distinct rows, whatever the module's own initialisation
    x = torch.randn(batch, length, d_model)  # (B, L, d_model)
    if what == "error":
        try:
            module(x)
        except Exception as err:  # which error, if any, is what this case compares
            return type(err).__name__
        return "no error"
    out = module(x)
    if what == "shape":
        return tuple(out.shape)
    if what == "gradient":
        out.sum().backward()
        if table.grad is None:  # the output does not depend on the table
            return torch.zeros(max_len, dtype=torch.bool)
        return table.grad.abs().sum(dim=-1) > 0  # (max_len,): did each row receive a gradient?
    added = (out - x).detach()  # (B, L, d_model)
    if added.shape != x.shape:
        raise CheckFailed(f"expected an output of shape {tuple(x.shape)}, got {tuple(out.shape)}")
    # the row r of the table with added[b, l] == table[r], or -1 when there is none
    matches = ((added[:, :, None, :] - table.detach()).abs().amax(dim=-1) < 1e-5)  # (B, L, max_len)
    return torch.where(matches.any(dim=-1), matches.int().argmax(dim=-1), -1)  # (B, L)


def check_make_learned_positions(fn) -> None:
    """fn(max_len, d_model) must build a module adding a learned row per position, x (B, L, d) -> x + P[:L]."""
    rows = torch.arange(3).expand(2, 3)
    too_long = ("there is no learned row for a position at or past max_len: check the length first and raise a "
                "ValueError that names it, as course_lib does")
    cases = [
        CheckCase("x of shape (2, 3, 8) with max_len=10, d_model=8: the output's shape", ("shape", 3), (2, 3, 8)),
        CheckCase("x of shape (2, 3, 8): the row of the table added at each position (want rows 0, 1, 2 in both "
                  "sentences)", ("rows", 3), rows),
        CheckCase("which rows of the table get a gradient from module(x).sum(), x of shape (2, 3, 8) (want rows 0, 1, "
                  "2 and no other)", ("gradient", 3), torch.arange(10) < 3,
                  hint="the rows used must stay in the autograd graph: no .detach() or torch.no_grad() in forward"),
        CheckCase("x of shape (2, 10, 8), exactly max_len=10 tokens (want rows 0..9)", ("rows", 10),
                  torch.arange(10).expand(2, 10),
                  hint="max_len tokens fit: positions 0..max_len-1 all have a row"),
        CheckCase("x of shape (2, 11, 8), one token more than max_len=10 (want a ValueError)", ("error", 11),
                  "ValueError", hint=too_long),
        CheckCase("max_len=50, d_model=4, x of shape (3, 7, 4) (want rows 0..6 in every sentence)",
                  ("rows", 7, 50, 4, 3), torch.arange(7).expand(3, 7)),
    ]
    mistakes = [
        Mistake("positions count from 0: the first token gets the table's row 0",
                lambda max_len, d_model: _LearnedPositions(max_len, d_model, first=1)),
        Mistake("max_len tokens fit: only a sentence longer than max_len has a position without a row",
                lambda max_len, d_model: _LearnedPositions(max_len, d_model, check=">= max_len")),
    ]
    with torch.random.fork_rng(devices=[]):  # the tables and inputs are random: leave the caller's stream alone
        torch.manual_seed(0)
        run_checks("make_learned_positions", fn, cases, mistakes=mistakes, probe=_probe_learned,
                   hint=("keep a trainable (max_len, d_model) table and add its first L rows to x (B, L, d_model); "
                         "broadcasting adds the same rows to every sentence of the batch"))
