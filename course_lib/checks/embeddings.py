"""Checkers for notebook 01: words to ids, a vocabulary with a minimum count, the scaled lookup, the gradient that
reaches the table, the taught initialisation, and an embedding layer with a <pad> row."""

import math
from collections import Counter

import torch
import torch.nn.functional as F
from torch import nn

from ..tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID
from .core import CheckCase, CheckFailed, Mistake, run_checks

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
    mistakes = [  # the float one first: a mistake's output is matched by value, whatever its dtype
        Mistake("ids index rows of a table, so nn.Embedding wants integers (torch.long): the values are right, "
                "the dtype is not", lambda sentence, vocab: torch.tensor(
                    [vocab.get(word, UNK_ID) for word in sentence.split()], dtype=torch.float32)),
        Mistake("0 is <pad>, which masks and the loss skip: a word that is not in the vocabulary is <unk> = UNK_ID",
                lambda sentence, vocab: torch.tensor([vocab.get(word, PAD_ID) for word in sentence.split()])),
    ]
    run_checks("encode", fn, cases, mistakes=mistakes,
               hint=('split on spaces, look each word up with vocab.get(word, UNK_ID) and return torch.tensor(ids,'
                     ' dtype=torch.long)'))


def _vocab(*words: str) -> dict[str, int]:
    """The special tokens at ids 0-3, then `words` from id 4 on."""
    return {token: i for i, token in enumerate([*SPECIAL_TOKENS, *words])}


def _counts(corpus) -> Counter:
    """How often each word occurs in the corpus, in order of first appearance."""
    return Counter(word for line in corpus for word in line.split())


def _most_frequent_first(counts: Counter, min_count: int) -> dict[str, int]:
    """Special tokens, then the words counted >= min_count times, most frequent first (ties: first appearance)."""
    return _vocab(*[word for word, count in counts.most_common() if count >= min_count])


def _alphabetical_ties(corpus, min_count):
    counts = _counts(corpus)
    return _vocab(*sorted((word for word in counts if counts[word] >= min_count), key=lambda w: (-counts[w], w)))


def check_build_vocab(fn) -> None:
    """fn(corpus, min_count) must return the special tokens, then the words seen >= min_count times, most frequent
    first."""
    notes = ["I like apples", "you like pears", "I eat apples"]
    cat = ["the cat sat", "the dog sat on the mat"]
    cases = [
        CheckCase(f"corpus {notes}, min_count=1 (want section 2's vocabulary: I, like, apples are seen twice, you, "
                  "pears, eat once)", (notes, 1), _vocab("I", "like", "apples", "you", "pears", "eat")),
        CheckCase(f"corpus {notes}, min_count=2 (want only the words seen twice: I, like, apples)", (notes, 2),
                  _vocab("I", "like", "apples")),
        CheckCase(f"corpus {cat}, min_count=1 (want the: 3 times, sat: 2, then cat, dog, on, mat in order of first "
                  "appearance)", (cat, 1), _vocab("the", "sat", "cat", "dog", "on", "mat")),
        CheckCase("corpus ['a a b', 'b c'], min_count=2 (want a and b, each seen twice; not c)", (["a a b", "b c"], 2),
                  _vocab("a", "b")),
    ]
    mistakes = [
        Mistake("min_count is the smallest count a word needs: a word seen exactly min_count times stays in",
                lambda corpus, min_count: _most_frequent_first(_counts(corpus), min_count + 1)),
        Mistake("ids 0-3 belong to <pad>, <bos>, <eos> and <unk> in every vocabulary of the course: words start at 4",
                lambda corpus, min_count: {word: i for i, (word, count) in enumerate(_counts(corpus).most_common())
                                           if count >= min_count}),
        Mistake("most frequent words first: order by count, highest first; only words with equal counts keep the order "
                "of first appearance",
                lambda corpus, min_count: _vocab(*[w for w, n in _counts(corpus).items() if n >= min_count])),
        Mistake("words with equal counts keep the order in which they first appear in the corpus, not the alphabet's",
                _alphabetical_ties),
        Mistake("count every occurrence of a word, repeats within one sentence included",
                lambda corpus, min_count: _most_frequent_first(
                    Counter(word for line in corpus for word in set(line.split())), min_count)),
    ]
    run_checks("build_vocab", fn, cases, mistakes=mistakes,
               hint=("start from the four special tokens, count every word of the corpus, then give the next free id "
                     "to each word seen at least min_count times, the most frequent first"))


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
    mistakes = [
        Mistake("the rows come out as they are in the table: the factor sqrt(d_model) is missing",
                lambda ids, table: table[ids]),
        Mistake("that is d_model times the rows: the paper's factor is the square root of d_model",
                lambda ids, table: table[ids] * table.size(-1)),
        Mistake("the rows are divided by sqrt(d_model): the embedding multiplies by it (attention is what divides, by "
                "sqrt(d_k))", lambda ids, table: table[ids] / math.sqrt(table.size(-1))),
    ]
    run_checks("scaled_embedding", fn, cases, mistakes=mistakes,
               hint="look the rows up, then scale them by the square root of d_model, the table's width")


def _table_gradient(ids: torch.Tensor, grad_output: torch.Tensor, vocab_size: int,
                    padding_idx: int | None = PAD_ID) -> torch.Tensor:
    """What autograd gives the table of TokenEmbedding(padding_idx=PAD_ID) for this upstream gradient (V, d_model)."""
    d_model = grad_output.size(-1)
    table = torch.zeros(vocab_size, d_model, dtype=grad_output.dtype, requires_grad=True)
    out = F.embedding(ids, table, padding_idx=padding_idx) * math.sqrt(d_model)  # (*ids.shape, d_model)
    out.backward(grad_output)
    return table.grad


def _gradient_case(description: str, ids: torch.Tensor, grad_output: torch.Tensor, vocab_size: int) -> CheckCase:
    return CheckCase(description, (ids, grad_output, vocab_size), _table_gradient(ids, grad_output, vocab_size))


def _assigned(ids, grad_output, vocab_size):
    """The gradient written with `=` instead of added: a repeated id keeps one of its gradients."""
    grad = torch.zeros(vocab_size, grad_output.size(-1), dtype=grad_output.dtype)
    grad[ids.flatten()] = grad_output.reshape(-1, grad_output.size(-1)) * math.sqrt(grad_output.size(-1))
    grad[PAD_ID] = 0.0
    return grad


def check_table_gradient(fn) -> None:
    """fn(ids, grad_output, vocab_size) must return dL/dE (V, d_model) for out = E[ids] * sqrt(d_model), <pad>
    frozen."""
    generator = torch.Generator().manual_seed(2)
    numbered = torch.arange(12, dtype=torch.float64).reshape(3, 4) / 10  # (3, 4): row t is [t.0, t.1, t.2, t.3] / 10
    cases = [
        _gradient_case("ids [4, 5, 6] ('I like apples'), vocab_size=8, grad_output all ones of shape (3, 4) (want rows "
                       "4, 5, 6 of twos: sqrt(4) = 2)", _ids(4, 5, 6), torch.ones(3, 4, dtype=torch.float64), 8),
        _gradient_case("ids [4, 5, 4] ('I like I'), vocab_size=8, grad_output rows [0.0, 0.1, 0.2, 0.3], [0.4, ..], "
                       "[0.8, ..] (want row 4 = 2 x (first row + third row))", _ids(4, 5, 4), numbered, 8),
        _gradient_case("the batch [[4, 5, 6], [7, 9, <pad>]], vocab_size=10, a random grad_output of shape (2, 3, 9) "
                       "(want <pad>'s row zero)", torch.tensor([[4, 5, 6], [7, 9, PAD_ID]]),
                       torch.randn(2, 3, 9, generator=generator, dtype=torch.float64), 10),
        _gradient_case("ids [[6, 6, 6], [6, 3, 0]], vocab_size=7, a random grad_output of shape (2, 3, 16)",
                       torch.tensor([[6, 6, 6], [6, 3, 0]]),
                       torch.randn(2, 3, 16, generator=generator, dtype=torch.float64), 7),
    ]
    mistakes = [
        Mistake("the forward multiplies the rows by sqrt(d_model), so by the chain rule their gradient is multiplied "
                "by it too", lambda ids, grad_output, vocab_size: _table_gradient(ids, grad_output, vocab_size)
                / math.sqrt(grad_output.size(-1))),
        Mistake("a token used twice receives both gradients: add them up; writing with = keeps only one",
                _assigned),
        Mistake("<pad>'s row is frozen (padding_idx): it receives no gradient, however often <pad> appears",
                lambda ids, grad_output, vocab_size: _table_gradient(ids, grad_output, vocab_size, padding_idx=None)),
    ]
    run_checks("table_gradient", fn, cases, mistakes=mistakes,
               hint=("the lookup is onehot(ids) @ E: its gradient sends each position's grad_output row, times "
                     "sqrt(d_model), to the row of that position's id, and <pad>'s row gets nothing"))


def _std_times_sqrt_d(function, padding_idx: int | None = PAD_ID) -> float:
    """Initialise a fresh nn.Embedding(1000, 64) with `function`; the std of its entries but <pad>'s, times sqrt(64)."""
    layer = nn.Embedding(1000, 64, padding_idx=padding_idx)
    _initialised(function, layer)
    rows = torch.ones(1000, dtype=torch.bool)
    if padding_idx is not None:
        rows[padding_idx] = False
    return round(layer.weight.detach()[rows].std().item() * math.sqrt(64), 3)


def _initialised(function, layer: nn.Embedding) -> nn.Embedding:
    """Call function(layer); fail the case in words if the table was replaced or stopped being trainable."""
    table = layer.weight
    function(layer)
    if layer.weight is not table:
        raise CheckFailed("the layer's weight is a new object afterwards: change the existing table in place",
                          hint="write into layer.weight itself (nn.init functions change a tensor in place)")
    if not layer.weight.requires_grad:
        raise CheckFailed("the table no longer requires a gradient, so training would never change it",
                          hint="change the values under torch.no_grad() instead of detaching or freezing the table")
    return layer


def _zero_rows(function, vocab_size: int, padding_idx: int | None) -> list[int]:
    """Initialise a fresh nn.Embedding(vocab_size, 16) with `function`; the indices of its all-zero rows."""
    layer = _initialised(function, nn.Embedding(vocab_size, 16, padding_idx=padding_idx))
    return (layer.weight.detach() == 0).all(dim=-1).nonzero().flatten().tolist()


def _probe_init(function, what: str):
    if what == "std":
        return _std_times_sqrt_d(function)
    if what == "pad":
        layer = _initialised(function, nn.Embedding(1000, 64, padding_idx=PAD_ID))
        return int((layer.weight.detach()[PAD_ID] != 0).sum())
    if what == "pad 5":
        return _zero_rows(function, 50, padding_idx=5)
    return _zero_rows(function, 30, padding_idx=None)


@torch.no_grad()
def _redrawn(layer: nn.Embedding, std: float, zero_row: str = "own") -> None:
    """A known mistake's initialisation: N(0, std^2), then zero the row `zero_row`: own, none, 0 or padding_idx."""
    layer.weight.normal_(0.0, std)
    if zero_row == "0":
        layer.weight[PAD_ID] = 0.0
    elif zero_row == "padding_idx" or (zero_row == "own" and layer.padding_idx is not None):
        layer.weight[layer.padding_idx] = 0.0


def check_init_embedding(fn) -> None:
    """fn(layer) must redraw an nn.Embedding's table in place from N(0, 1/d_model), keeping its padding row zero."""
    cases = [
        CheckCase("nn.Embedding(1000, 64, padding_idx=0): the standard deviation of the entries outside the <pad> row, "
                  "times sqrt(64) (want 1.0: entries from N(0, 1/64) have standard deviation 1/8)", ("std",), 1.0),
        CheckCase("the same layer: how many entries of the <pad> row (padding_idx=0) are not zero (want 0)", ("pad",),
                  0),
        CheckCase("nn.Embedding(50, 16, padding_idx=5): the rows that are all zero (want only row 5, the layer's own "
                  "padding_idx)", ("pad 5",), [5]),
        CheckCase("nn.Embedding(30, 16) with no padding_idx: the rows that are all zero (want none)", ("no pad",), []),
    ]
    mistakes = [
        Mistake("those are nn.Embedding's own N(0, 1) entries: draw new ones with standard deviation 1/sqrt(d_model)",
                lambda layer: None),
        Mistake("N(0, 1/d_model) names the variance: the standard deviation is its square root, 1/sqrt(d_model)",
                lambda layer: _redrawn(layer, 1 / layer.embedding_dim)),
        Mistake("drawing the table overwrote the <pad> row too: set it back to zero afterwards",
                lambda layer: _redrawn(layer, layer.embedding_dim**-0.5, zero_row="none")),
        Mistake("zero the layer's own padding row, layer.padding_idx: it need not be 0, and a layer may have none",
                lambda layer: _redrawn(layer, layer.embedding_dim**-0.5, zero_row="0")),
        Mistake("a layer without a padding row has layer.padding_idx = None, and weight[None] = 0 zeroes the whole "
                "table: zero a row only when there is one",
                lambda layer: _redrawn(layer, layer.embedding_dim**-0.5, zero_row="padding_idx")),
    ]
    with torch.random.fork_rng(devices=[]):  # the tables are random: leave the caller's random stream alone
        torch.manual_seed(0)
        run_checks("init_embedding", fn, cases, mistakes=mistakes, probe=_probe_init, atol=0.05,
                   hint=("under torch.no_grad(), refill layer.weight from a normal distribution with standard "
                         "deviation 1/sqrt(d_model) (d_model = layer.embedding_dim), then zero the row "
                         "layer.padding_idx if the layer has one"))


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
                  "(want every row but <pad>'s)", ("gradient",), torch.tensor([False, True, True, True]),
                  hint=("the row that never receives a gradient is the layer's padding_idx: it must be <pad>'s "
                        "(PAD_ID = 0), never a token that carries meaning")),
        CheckCase("the vector of <pad> (id 0) in a fresh layer (want zeros)", ("pad",), torch.zeros(4)),
    ]
    with torch.random.fork_rng(devices=[]):  # the layers draw random tables: leave the caller's random stream alone
        torch.manual_seed(0)
        run_checks("make_embedding", probe, cases,
                   hint=('wrap nn.Embedding(vocab_size, d_model, padding_idx=PAD_ID) in a module whose forward '
                         'multiplies by sqrt(d_model)'))
