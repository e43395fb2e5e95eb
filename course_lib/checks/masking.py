"""Checkers for notebook 04: the causal mask, a padding mask built from lengths, a sliding-window mask, a prefix-LM
mask, and a softmax that respects a mask (no NaN). Masks are bool, True = may attend."""

import torch

from .core import CheckCase, CheckFailed, Mistake, run_checks

INVERTED = ("True means 'may attend' in this course, but this mask is True where attention is blocked (PyTorch's "
            "nn.MultiheadAttention convention): the polarity is inverted")


class Grid:
    """A bool mask compared whole and shown whole in a message, row by row as T/F (a tensor shows only 8 entries)."""

    def __init__(self, mask: torch.Tensor):
        self.mask = mask

    def __eq__(self, other) -> bool:
        return isinstance(other, Grid) and self.mask.shape == other.mask.shape and torch.equal(self.mask, other.mask)

    def __repr__(self) -> str:
        rows = self.mask.reshape(-1, self.mask.size(-1)) if self.mask.dim() > 1 else self.mask[None]
        grid = "[" + ", ".join("[" + ", ".join("T" if x else "F" for x in row) + "]" for row in rows.tolist()) + "]"
        return f"{grid} of shape {tuple(self.mask.shape)}"


def _as_grid(fn, *args):
    """Run fn(*args): a bool mask is compared as a Grid, any other dtype fails clearly (True = may attend)."""
    got = fn(*args)
    if isinstance(got, torch.Tensor) and got.dtype != torch.bool:
        raise CheckFailed(f"expected a bool mask (True = may attend), got dtype {got.dtype}: "
                          f"{got.flatten()[:8].tolist()}",
                          hint="a comparison (==, <, <=, ...) gives a bool tensor; a float mask of 0 and -inf is "
                               "PyTorch's other convention")
    return Grid(got) if isinstance(got, torch.Tensor) else got


def _positions(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Query positions (size, 1) and key positions (1, size), to compare by broadcasting."""
    positions = torch.arange(size)
    return positions[:, None], positions[None, :]


def _offsets(size: int) -> torch.Tensor:
    """i - j for query i and key j (size, size): how far back key j lies."""
    i, j = _positions(size)
    return i - j


def _causal(size: int) -> torch.Tensor:
    return _offsets(size) >= 0  # (size, size): j <= i


def _inverted(fn):
    return lambda *args: ~fn(*args)


# ---------------------------------------------------------------- causal_mask

CAUSAL_MISTAKES = [
    Mistake(INVERTED, lambda size: ~_causal(size)),
    Mistake("the diagonal is missing: a query may attend its own position", lambda size: _offsets(size) > 0),
    Mistake("rows are queries and columns keys: query i may attend keys 0..i, so the True entries lie on and below "
            "the diagonal, not above it", lambda size: _offsets(size) <= 0),
]


def check_causal_mask(fn) -> None:
    """fn(size) must return the (size, size) bool mask where query i may attend keys 0..i (True = may attend)."""
    cases = [CheckCase(f"size={size}", (size,), Grid(_causal(size))) for size in (3, 1, 5)]
    run_checks("causal_mask", fn, cases, probe=_as_grid, mistakes=CAUSAL_MISTAKES,
               hint="query i may attend keys 0..i: True on and below the diagonal, False above it")


# ---------------------------------------------------------------- padding_mask_from_lengths

def _lengths_mask(lengths: torch.Tensor, max_len: int, padding_side: str = "right", *, shape=(1, 1),
                  shift: int = 0) -> torch.Tensor:
    """True at the real tokens; `shape` places the length axis, `shift` moves the border (the known mistakes)."""
    positions = torch.arange(max_len)[None, :]  # (1, L)
    n = lengths[:, None]  # (B, 1)
    real = positions < n + shift if padding_side == "right" else positions >= max_len - n - shift  # (B, L)
    if shape == (1, 1):
        return real[:, None, None, :]  # (B, 1, 1, L): one row per sentence, for every head and query
    if shape == (1, "L", 1):
        return real[:, None, :, None]  # (B, 1, L, 1): the queries, not the keys
    return real  # (B, L)


OFF_BY_ONE = ("off by one: a sentence of n tokens has exactly n real positions, 0..n-1 with right padding and the "
              "last n, max_len-n..max_len-1, with left padding")
LENGTHS_MISTAKES = [
    Mistake(OFF_BY_ONE, lambda lengths, max_len, side: _lengths_mask(lengths, max_len, side, shift=1)),
    Mistake(OFF_BY_ONE, lambda lengths, max_len, side: _lengths_mask(lengths, max_len, side, shift=-1)),
    Mistake("with left padding the <pad> tokens come first and the n real tokens are the last n positions",
            lambda lengths, max_len, side: _lengths_mask(lengths, max_len, "right")),
    Mistake(INVERTED, lambda lengths, max_len, side: ~_lengths_mask(lengths, max_len, side)),
    Mistake("a (B, L) mask against scores (B, H, L_q, L_k) would line the batch axis up with the queries: give it "
            "the shape (B, 1, 1, L), one row per sentence that broadcasts over every head and query",
            lambda lengths, max_len, side: _lengths_mask(lengths, max_len, side, shape=())),
    Mistake("this (B, 1, L, 1) mask blocks padded queries: padding must be blocked as keys, the last axis, "
            "(B, 1, 1, L); a padded query's row is computed and ignored later",
            lambda lengths, max_len, side: _lengths_mask(lengths, max_len, side, shape=(1, "L", 1))),
]


def check_padding_mask_from_lengths(fn) -> None:
    """fn(lengths (B,), max_len, padding_side) must return the (B, 1, 1, max_len) bool mask, True at real tokens."""
    lengths, short = torch.tensor([3, 1, 4]), torch.tensor([0, 2])

    def case(lengths: torch.Tensor, max_len: int, side: str, want: str = "") -> CheckCase:
        description = f"lengths={lengths.tolist()}, max_len={max_len}, padding_side={side!r}{want}"
        return CheckCase(description, (lengths, max_len, side), Grid(_lengths_mask(lengths, max_len, side)))

    cases = [
        case(lengths, 4, "right"),
        case(lengths, 4, "left"),
        case(short, 5, "right", " (an empty sentence and a short one)"),
        case(short, 5, "left"),
    ]
    run_checks("padding_mask_from_lengths", fn, cases, probe=_as_grid, mistakes=LENGTHS_MISTAKES,
               hint=("compare every position 0..max_len-1 with each sentence's length (which positions hold its "
                     "real tokens depends on the padding side), then shape it (B, 1, 1, max_len)"))


# ---------------------------------------------------------------- sliding_window_mask

def _window(size: int, window: int) -> torch.Tensor:
    offset = _offsets(size)  # (size, size): i - j
    return (offset >= 0) & (offset < window)  # key j among the `window` positions ending at query i


WINDOW_MISTAKES = [
    Mistake(INVERTED, _inverted(_window)),
    Mistake("a causal window looks back only: the keys after the query must stay masked",
            lambda size, window: _offsets(size).abs() < window),
    Mistake("rows are queries and columns keys: the window lies on and below the diagonal, the query and the keys "
            "before it", lambda size, window: _window(size, window).T),
    Mistake("the window counts the query itself: query i sees keys i-window+1..i, `window` keys in all, not "
            "window + 1", lambda size, window: _window(size, window + 1)),
    Mistake("the window counts the query itself: query i sees keys i-window+1..i, `window` keys in all, its own "
            "position included", lambda size, window: _window(size, window - 1)),
    Mistake("the diagonal is missing: a query may attend its own position, the last of the `window` keys it sees",
            lambda size, window: (_offsets(size) > 0) & (_offsets(size) < window)),
    Mistake("every query sees its whole past: a window keeps only the last `window` keys",
            lambda size, window: _causal(size)),
]


def check_sliding_window_mask(fn) -> None:
    """fn(size, window) must return the (size, size) bool mask where query i may attend keys i-window+1..i."""
    cases = [
        CheckCase("size=5, window=2", (5, 2), Grid(_window(5, 2))),
        CheckCase("size=4, window=1 (each query sees only itself)", (4, 1), Grid(_window(4, 1))),
        CheckCase("size=6, window=3", (6, 3), Grid(_window(6, 3))),
        CheckCase("size=4, window=6 (a window longer than the sentence)", (4, 6), Grid(_window(4, 6))),
    ]
    run_checks("sliding_window_mask", fn, cases, probe=_as_grid, mistakes=WINDOW_MISTAKES,
               hint="query i may attend key j when j is not after i and fewer than `window` positions before it")


# ---------------------------------------------------------------- prefix_lm_mask

def _prefix_lm(size: int, prefix_len: int) -> torch.Tensor:
    i, j = _positions(size)
    return (j <= i) | (j < prefix_len)  # the past, and the whole prompt


PREFIX_MISTAKES = [
    Mistake(INVERTED, _inverted(_prefix_lm)),
    Mistake("the prompt's queries see the whole prompt, but not what follows it: a prompt token must not look at "
            "the continuation that is generated after it",
            lambda size, p: _causal(size) | (_positions(size)[0] < p)),
    Mistake("prefix_len counts tokens: the prompt is positions 0..prefix_len-1, and position prefix_len is the "
            "first generated one", lambda size, p: _prefix_lm(size, p + 1)),
    Mistake("the prompt is known in full before generation starts, so its tokens may attend each other in both "
            "directions: this is the plain causal mask", lambda size, p: _causal(size)),
    Mistake("this mask shows a key only when it is both in the past and in the prompt; either one is enough to "
            "make it visible", lambda size, p: _causal(size) & (_positions(size)[1] < p)),
]


def check_prefix_lm_mask(fn) -> None:
    """fn(size, prefix_len) must return the (size, size) bool mask where every query may attend the whole prompt
    (positions 0..prefix_len-1) and, after it, its own past."""
    cases = [
        CheckCase("size=5, prefix_len=2", (5, 2), Grid(_prefix_lm(5, 2))),
        CheckCase("size=4, prefix_len=0 (no prompt)", (4, 0), Grid(_prefix_lm(4, 0))),
        CheckCase("size=4, prefix_len=4 (all prompt, as in the encoder)", (4, 4), Grid(_prefix_lm(4, 4))),
        CheckCase("size=6, prefix_len=3", (6, 3), Grid(_prefix_lm(6, 3))),
    ]
    run_checks("prefix_lm_mask", fn, cases, probe=_as_grid, mistakes=PREFIX_MISTAKES,
               hint="key j is visible to query i when it lies in the prompt (j < prefix_len) or not after the query")


# ---------------------------------------------------------------- masked_softmax

def _reference_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    # softmax over the allowed keys only; a query with no allowed key gets all-zero weights
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # (..., Lq, Lk)
    return weights.masked_fill(~mask, 0.0)


MASKED_SOFTMAX_MISTAKES = [
    Mistake("a query whose keys are all masked has every score -inf, and softmax(-inf, ..., -inf) = 0 / 0 = NaN: "
            "such a row needs all-zero weights, set after the softmax",
            lambda scores, mask: torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)),
    Mistake("a large negative fill avoids the NaN, but turns a fully masked row into a uniform average over keys "
            "it may not see: that row must be all zeros",
            lambda scores, mask: torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)),
    Mistake(INVERTED, lambda scores, mask: _reference_softmax(scores, ~mask)),
    Mistake("zeroing the weights after the softmax leaves each row summing to less than 1: mask the scores before "
            "the softmax, so the allowed keys share the whole weight",
            lambda scores, mask: torch.softmax(scores, dim=-1) * mask),
]


def check_masked_softmax(fn) -> None:
    """fn(scores (..., Lq, Lk), mask bool broadcastable to scores) must return the softmax over the keys where
    mask is True, exact zeros where it is False, and all-zero rows (not NaN) where a query may attend nothing."""
    scores = torch.tensor([[1.0, 2.0, 3.0], [0.5, 0.5, 4.0]], dtype=torch.float64)  # (Lq=2, Lk=3)
    causal = torch.ones(2, 3, dtype=torch.bool).tril()  # (2, 3)
    padded = torch.tensor([[True, True, False], [False, False, False]])  # (2, 3): query 1 may attend nothing
    generator = torch.Generator().manual_seed(0)
    batch_scores = torch.randn(2, 2, 4, 4, generator=generator, dtype=torch.float64)  # (B=2, H=2, Lq=4, Lk=4)
    batch_mask = torch.tensor([True, True, True, False])[None, None, None, :] & torch.ones(4, 4, dtype=torch.bool)
    batch_mask = torch.cat([batch_mask, torch.zeros_like(batch_mask)])  # (2, 1, 4, 4): sentence 2 is all padding
    cases = [
        CheckCase("scores [[1, 2, 3], [0.5, 0.5, 4]] with the mask [[T, F, F], [T, T, F]] "
                  "(want [[1, 0, 0], [0.5, 0.5, 0]])", (scores, causal), _reference_softmax(scores, causal)),
        CheckCase("scores [[1, 2, 3], [0.5, 0.5, 4]] with the mask [[T, T, F], [F, F, F]]: the second query may "
                  "attend nothing (want [[0.2689, 0.7311, 0], [0, 0, 0]], no NaN)", (scores, padded),
                  _reference_softmax(scores, padded)),
        CheckCase("random scores (2, 2, 4, 4) with a (2, 1, 4, 4) mask: key 3 is padding in sentence 1 and "
                  "sentence 2 is all padding", (batch_scores, batch_mask),
                  _reference_softmax(batch_scores, batch_mask)),
    ]
    run_checks("masked_softmax", fn, cases, atol=1e-6, mistakes=MASKED_SOFTMAX_MISTAKES,
               hint=("the weights of each query are a softmax over its allowed keys only: exact zeros at masked keys, "
                     "and all zeros (not NaN) for a query that may attend nothing"))
