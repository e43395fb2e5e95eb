"""Checkers for notebook 02: the sinusoidal table, and the matrix that moves every position k steps on."""

import math

import torch

from .core import CheckCase, run_checks


def _table(max_len: int, d_model: int) -> torch.Tensor:
    """The reference table in float64, straight from the formula (max_len, d_model)."""
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    for pos in range(max_len):
        for dim in range(d_model):
            # PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(pos / 10000^(2i/d))
            angle = pos / 10000 ** (2 * (dim // 2) / d_model)
            pe[pos, dim] = math.sin(angle) if dim % 2 == 0 else math.cos(angle)
    return pe


def check_positional_encoding(fn) -> None:
    """fn(max_len, d_model) must return the (max_len, d_model) table: sin on even dimensions, cos on odd ones."""
    cases = [
        CheckCase("max_len=3, d_model=4 ('I love AI': row 1 is love, want [0.8415, 0.5403, 0.0100, 1.0000])",
                  (3, 4), _table(3, 4)),
        CheckCase("max_len=50, d_model=16", (50, 16), _table(50, 16)),
        CheckCase("max_len=7, d_model=2 (one sin/cos pair)", (7, 2), _table(7, 2)),
        CheckCase("max_len=20, d_model=128", (20, 128), _table(20, 128)),
    ]
    run_checks("positional_encoding", fn, cases,
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


def check_shift_matrix(fn) -> None:
    """fn(k, d_model) must return M (d_model, d_model) with M @ PE[pos] == PE[pos + k] for every position."""

    def probe(k: int, d_model: int, positions: int = 0):
        m = fn(k, d_model)
        if not positions or not isinstance(m, torch.Tensor) or m.shape != (d_model, d_model):
            return m
        return (m.to(torch.float64) @ _table(positions, d_model).T).T  # (positions, d_model): row pos is M @ PE[pos]

    cases = [
        CheckCase("k=1, d_model=4", (1, 4), _shift_reference(1, 4)),
        CheckCase("k=0, d_model=6 (no move: want the identity)", (0, 6), torch.eye(6, dtype=torch.float64)),
        CheckCase("k=3, d_model=8", (3, 8), _shift_reference(3, 8)),
        CheckCase("k=-2, d_model=4 (two steps back)", (-2, 4), _shift_reference(-2, 4)),
        CheckCase("M @ PE[pos] for pos = 0..9 with k=5, d_model=16 (want PE[5..14])", (5, 16),
                  _table(15, 16)[5:], {"positions": 10}),
    ]
    run_checks("shift_matrix", probe, cases,
               hint=('each (sin, cos) pair turns by the angle k * omega_i: a 2 x 2 rotation block on the diagonal,'
                     ' zeros elsewhere'))
