"""Checkers for notebook 01: words to ids, the scaled embedding lookup, and an embedding layer with a <pad> row."""

import math

import torch
from torch import nn

from ..tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS
from .core import CheckCase, CheckFailed, run_checks

# the small vocabulary the encode cases use: the special tokens, then six words
VOCAB = {token: i for i, token in enumerate(SPECIAL_TOKENS)} | {
    word: i for i, word in enumerate(["I", "like", "apples", "you", "pears", "eat"], start=len(SPECIAL_TOKENS))
}


def _ids(*values: int) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.long)


def check_encode(fn) -> None:
    """fn(sentence, vocab) must split on spaces and return the ids (L,) as a long tensor, <unk> for unknown words."""
    cases = [
        CheckCase("'I like apples'", ("I like apples", VOCAB), _ids(4, 5, 6)),
        CheckCase("'you eat pears'", ("you eat pears", VOCAB), _ids(7, 9, 8)),
        CheckCase("'I like bananas' ('bananas' is not in the vocabulary: want <unk> = 3)", ("I like bananas", VOCAB),
                  _ids(4, 5, 3)),
        CheckCase("'apples like apples' (a repeated word keeps its id)", ("apples like apples", VOCAB), _ids(6, 5, 6)),
    ]
    run_checks("encode", fn, cases,
               hint=('split on spaces, look each word up with vocab.get(word, UNK_ID) and return torch.tensor(ids,'
                     ' dtype=torch.long)'))


def _scaled_case(description: str, ids: torch.Tensor, table: torch.Tensor) -> CheckCase:
    return CheckCase(description, (ids, table), table[ids] * math.sqrt(table.size(1)))


def check_scaled_embedding(fn) -> None:
    """fn(ids (...), table (V, d_model)) must return table[ids] * sqrt(d_model), shape (..., d_model)."""
    counting = torch.arange(6.0, dtype=torch.float64)[:, None] + torch.arange(4) / 10  # (6, 4): row r is r.0 .. r.3
    wide = torch.randn(10, 9, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cases = [
        _scaled_case("ids [4, 5] in a 6 x 4 table whose row r is [r.0, r.1, r.2, r.3] (want x sqrt(4) = x2)",
                     _ids(4, 5), counting),
        _scaled_case("a batch of ids [[4, 5, 1], [2, 0, 0]] in the same 6 x 4 table",
                     torch.tensor([[4, 5, 1], [2, 0, 0]]), counting),
        _scaled_case("ids [7, 3, 3, 9] in a random 10 x 9 table (want x sqrt(9) = x3)", _ids(7, 3, 3, 9), wide),
    ]
    run_checks("scaled_embedding", fn, cases,
               hint='look the rows up with table[ids], then multiply by math.sqrt(d_model), d_model = table.size(-1)')


def _table_of(layer, vocab_size: int, d_model: int) -> torch.Tensor:
    """The layer's one (vocab_size, d_model) parameter, or a CheckFailed saying what was found instead."""
    if not isinstance(layer, nn.Module):
        raise CheckFailed(f"expected an nn.Module, got {type(layer).__name__}")
    tables = [p for p in layer.parameters() if tuple(p.shape) == (vocab_size, d_model)]
    if len(tables) != 1:
        raise CheckFailed(f"expected one ({vocab_size}, {d_model}) table parameter in the layer, "
                             f"found {len(tables)}")
    return tables[0]


def check_make_embedding(fn) -> None:
    """fn(vocab_size, d_model) must build a layer: ids -> table[ids] * sqrt(d_model), <pad> row zero and frozen."""
    vocab_size, d_model = 11, 4
    batch = torch.tensor([[4, 5, 6], [7, 8, 9]])  # (2, 3)
    specials = _ids(PAD_ID, BOS_ID, EOS_ID, 5)

    def probe(what: str):
        layer = fn(vocab_size, d_model)
        table = _table_of(layer, vocab_size, d_model)
        if what == "shape":
            return tuple(layer(batch).shape)
        if what == "ratio":
            return (layer(batch) / table[batch]).detach()  # (2, 3, d_model)
        if what == "gradient":
            layer(specials).sum().backward()
            return table.grad[specials].abs().sum(dim=-1) > 0  # (4,): did each row receive a gradient?
        return layer(_ids(PAD_ID))[0].detach()  # (d_model,)

    cases = [
        CheckCase("ids of shape (2, 3), vocab_size=11, d_model=4: the output shape", ("shape",), (2, 3, 4)),
        CheckCase("output / the table rows looked up, ids [[4, 5, 6], [7, 8, 9]] (want sqrt(d_model) = 2 everywhere)",
                  ("ratio",), torch.full((2, 3, 4), 2.0)),
        CheckCase("which rows of ids [<pad>=0, <bos>=1, <eos>=2, 5] get a gradient from layer(ids).sum() "
                  "(want every row but <pad>'s)", ("gradient",), torch.tensor([False, True, True, True])),
        CheckCase("the vector of <pad> (id 0) in a fresh layer (want zeros)", ("pad",), torch.zeros(4)),
    ]
    with torch.random.fork_rng(devices=[]):  # the layers draw random tables: leave the caller's random stream alone
        torch.manual_seed(0)
        run_checks("make_embedding", probe, cases,
                   hint=('wrap nn.Embedding(vocab_size, d_model, padding_idx=PAD_ID) in a module whose forward '
                         'multiplies by sqrt(d_model)'))
