"""Notebook 01's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import math
from collections import Counter

import torch
import torch.nn.functional as F
from checking import fails_with, leaves_the_random_stream_alone, says
from torch import nn

from course_lib import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID, TokenEmbedding
from course_lib.checks import (
    check_build_vocab,
    check_encode,
    check_init_embedding,
    check_make_embedding,
    check_scaled_embedding,
    check_table_gradient,
)


def _stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------- encode

def encode(sentence, vocab):
    return torch.tensor([vocab.get(word, UNK_ID) for word in sentence.split()], dtype=torch.long)


def test_encode_checker_passes_the_reference(capsys):
    check_encode(encode)
    assert "✔ encode: all 4 checks passed" in capsys.readouterr().out


def test_encode_checker_on_the_stub():
    fails_with(check_encode, _stub, "encode: not implemented yet")


def test_encode_checker_rejects_unknown_words_as_padding():
    def encode_unknown_as_pad(sentence, vocab):  # the notebook's bug: an unknown word becomes <pad> (id 0)
        return torch.tensor([vocab.get(word, 0) for word in sentence.split()])

    fails_with(check_encode, encode_unknown_as_pad,
               r"encode failed on 'I like bananas' .*expected .*\[4, 5, 3\], got .*"
               r"\[4, 5, 0\]")


def test_encode_checker_wants_a_tensor():
    fails_with(check_encode, lambda sentence, vocab: [vocab.get(word, UNK_ID) for word in sentence.split()],
               "encode failed on 'I like apples': expected a tensor, got list")


# ---------------------------------------------------------------- scaled_embedding

def scaled_embedding(ids, table):
    return table[ids] * math.sqrt(table.size(-1))


def test_scaled_embedding_checker_passes_the_reference(capsys):
    check_scaled_embedding(scaled_embedding)
    assert "✔ scaled_embedding: all 3 checks passed" in capsys.readouterr().out


def test_scaled_embedding_checker_accepts_nn_functional_embedding(capsys):
    check_scaled_embedding(lambda ids, table: nn.functional.embedding(ids, table) * table.size(1) ** 0.5)
    assert "all 3 checks passed" in capsys.readouterr().out


def test_scaled_embedding_checker_on_the_stub():
    fails_with(check_scaled_embedding, _stub, "scaled_embedding: not implemented yet")


def test_scaled_embedding_checker_rejects_the_forgotten_scale():
    def unscaled(ids, table):  # the notebook's first bug: no sqrt(d_model)
        return table[ids]

    fails_with(check_scaled_embedding, unscaled,
               r"scaled_embedding failed on ids \[4, 5\] .*expected .*\[8.0, 8.2, 8.4, "
               r"8.6, .*got .*\[4.0, 4.1, 4.2, 4.3,")


def test_scaled_embedding_checker_rejects_scaling_by_d_model():
    def times_d_model(ids, table):  # the notebook's second bug: d_model instead of its square root
        return table[ids] * table.size(1)

    fails_with(check_scaled_embedding, times_d_model,
               r"scaled_embedding failed on ids \[4, 5\] .*got .*\[16.0, 16.4, 16.8")


def test_scaled_embedding_checker_rejects_dividing():
    fails_with(check_scaled_embedding, lambda ids, table: table[ids] / math.sqrt(table.size(1)),
               "scaled_embedding failed on ids")


def test_scaled_embedding_checker_rejects_a_fixed_width():
    def always_times_two(ids, table):  # right for d_model = 4 only
        return table[ids] * 2

    fails_with(check_scaled_embedding, always_times_two, r"failed on ids \[7, 3, 3, 9\] in a random 10 x 9 table")


# ---------------------------------------------------------------- make_embedding

def test_make_embedding_checker_passes_token_embedding(capsys):
    check_make_embedding(lambda vocab_size, d_model: TokenEmbedding(vocab_size, d_model, padding_idx=PAD_ID))
    assert "✔ make_embedding: all 4 checks passed" in capsys.readouterr().out


def test_make_embedding_checker_leaves_the_random_stream_alone():
    assert leaves_the_random_stream_alone(
        check_make_embedding, lambda vocab_size, d_model: TokenEmbedding(vocab_size, d_model, padding_idx=PAD_ID))


def test_make_embedding_checker_on_the_stub():
    fails_with(check_make_embedding, _stub, "make_embedding: not implemented yet")


def test_make_embedding_checker_rejects_eos_as_the_padding_row():
    def eos_as_padding(vocab_size, d_model):  # the notebook's bug: <eos> doubles as padding, so it never learns
        return TokenEmbedding(vocab_size, d_model, padding_idx=EOS_ID)

    fails_with(check_make_embedding, eos_as_padding,
               r"make_embedding failed on which rows .* expected .*\[False, True, True, "
               r"True\], got .*\[True, True, False, True\]")


def test_make_embedding_checker_rejects_a_missing_padding_idx():
    fails_with(check_make_embedding, lambda vocab_size, d_model: TokenEmbedding(vocab_size, d_model),
               r"failed on which rows .*got .*\[True, True, True, True\]")


def test_make_embedding_checker_rejects_bos_as_padding_idx():
    def bos_as_padding(vocab_size, d_model):
        return TokenEmbedding(vocab_size, d_model, padding_idx=BOS_ID)

    fails_with(check_make_embedding, bos_as_padding, r"got .*\[True, False, True, True\]")


def test_make_embedding_checker_rejects_a_plain_nn_embedding():
    def unscaled(vocab_size, d_model):  # nn.Embedding alone: right table, no sqrt(d_model)
        return nn.Embedding(vocab_size, d_model, padding_idx=PAD_ID)

    fails_with(check_make_embedding, unscaled, r"failed on output / the table rows .*expected .*\[2.0, 2.0, .*got .*"
                                               r"\[1.0, 1.0,")


def test_make_embedding_checker_explains_a_missing_table():
    fails_with(check_make_embedding, lambda vocab_size, d_model: nn.Embedding(d_model, vocab_size),
               r"expected one \(11, 4\) table parameter in the layer, found 0")
    fails_with(check_make_embedding, lambda vocab_size, d_model: torch.randn(vocab_size, d_model),
               "expected an nn.Module, got Tensor")


def test_make_embedding_checker_names_the_wrong_padding_row():
    fails_with(check_make_embedding,
               lambda vocab_size, d_model: TokenEmbedding(vocab_size, d_model, padding_idx=EOS_ID),
               r"Hint: the row that never receives a gradient is the layer's padding_idx: it must be <pad>'s")


def test_encode_checker_rejects_float_ids():  # issue 12: nn.Embedding needs torch.long ids
    def float_ids(sentence, vocab):
        return torch.tensor([vocab.get(word, UNK_ID) for word in sentence.split()], dtype=torch.float32)

    fails_with(check_encode, float_ids, r"failed on 'I like apples': expected integers \(torch\.int64\), got dtype "
                                        r"torch\.float32.*Hint: ids index rows of a table, so nn\.Embedding wants "
                                        r"integers")


def test_encode_checker_names_the_unknown_word_as_padding():
    fails_with(check_encode, lambda sentence, vocab: torch.tensor([vocab.get(word, 0) for word in sentence.split()]),
               r"Hint: 0 is <pad>, which masks and the loss skip")


def test_scaled_embedding_hints_name_each_wrong_scale():
    fails_with(check_scaled_embedding, lambda ids, table: table[ids], "Hint: the rows come out as they are")
    fails_with(check_scaled_embedding, lambda ids, table: table[ids] * table.size(1), "Hint: that is d_model times")
    fails_with(check_scaled_embedding, lambda ids, table: table[ids] / table.size(1) ** 0.5,
               r"Hint: the rows are divided by sqrt\(d_model\)")


# ---------------------------------------------------------------- build_vocab

def build_vocab(corpus, min_count):
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
    for word, count in Counter(word for line in corpus for word in line.split()).most_common():
        if count >= min_count:
            vocab[word] = len(vocab)
    return vocab


def test_build_vocab_checker_passes_the_reference():
    assert says(check_build_vocab, build_vocab) == "build_vocab: all 4 checks passed"


def test_build_vocab_checker_on_the_stub():
    fails_with(check_build_vocab, _stub, "build_vocab: not implemented yet")


def test_build_vocab_checker_names_a_strict_min_count():
    def more_than(corpus, min_count):  # count > min_count drops the words seen exactly min_count times
        return build_vocab(corpus, min_count + 1)

    fails_with(check_build_vocab, more_than, r"failed on corpus .*min_count=1 .*Hint: min_count is the smallest count")


def test_build_vocab_checker_names_the_missing_special_tokens():
    def words_only(corpus, min_count):
        return {word: i - 4 for word, i in build_vocab(corpus, min_count).items() if i >= 4}

    fails_with(check_build_vocab, words_only, r"min_count=1 .*got \{'I': 0, .*Hint: ids 0-3 belong to <pad>")


def test_build_vocab_checker_names_the_order_of_first_appearance():
    def first_seen(corpus, min_count):  # section 2's order, with a minimum count
        counts = Counter(word for line in corpus for word in line.split())
        vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS)}
        for word in counts:
            if counts[word] >= min_count:
                vocab[word] = len(vocab)
        return vocab

    fails_with(check_build_vocab, first_seen,
               r"failed on corpus \['the cat sat', .*got \{.*'the': 4, 'cat': 5, .*Hint: most frequent words first")


def test_build_vocab_checker_names_alphabetical_ties():
    def alphabetical(corpus, min_count):
        counts = Counter(word for line in corpus for word in line.split())
        kept = sorted((word for word in counts if counts[word] >= min_count), key=lambda word: (-counts[word], word))
        return {token: i for i, token in enumerate([*SPECIAL_TOKENS, *kept])}

    fails_with(check_build_vocab, alphabetical, r"min_count=1 .*Hint: words with equal counts keep the order")


def test_build_vocab_checker_names_counting_sentences():
    def per_sentence(corpus, min_count):
        return build_vocab([" ".join(dict.fromkeys(line.split())) for line in corpus], min_count)

    fails_with(check_build_vocab, per_sentence,
               r"failed on corpus \['a a b', 'b c'\].*Hint: count every occurrence of a word")


# ---------------------------------------------------------------- table_gradient

def table_gradient(ids, grad_output, vocab_size):
    d_model = grad_output.size(-1)
    one_hot = F.one_hot(ids.flatten(), vocab_size).to(grad_output.dtype)  # (N, V)
    grad = one_hot.T @ grad_output.reshape(-1, d_model) * math.sqrt(d_model)  # (V, d_model)
    grad[PAD_ID] = 0.0
    return grad


def test_table_gradient_checker_passes_the_reference_and_autograd():
    assert says(check_table_gradient, table_gradient) == "table_gradient: all 4 checks passed"

    def by_autograd(ids, grad_output, vocab_size):
        layer = TokenEmbedding(vocab_size, grad_output.size(-1), padding_idx=PAD_ID).double()
        layer(ids).backward(grad_output)
        return layer.lookup.weight.grad

    assert "all 4 checks passed" in says(check_table_gradient, by_autograd)


def test_table_gradient_checker_on_the_stub():
    fails_with(check_table_gradient, _stub, "table_gradient: not implemented yet")


def test_table_gradient_checker_names_the_missing_scale():
    fails_with(check_table_gradient, lambda *args: table_gradient(*args) / 2,
               r"failed on ids \[4, 5, 6\] .*Hint: the forward multiplies the rows by sqrt\(d_model\)")


def test_table_gradient_checker_names_overwriting_a_repeated_row():
    def assigned(ids, grad_output, vocab_size):
        d_model = grad_output.size(-1)
        grad = torch.zeros(vocab_size, d_model, dtype=grad_output.dtype)
        grad[ids.flatten()] = grad_output.reshape(-1, d_model) * math.sqrt(d_model)  # BUG: = keeps one gradient
        grad[PAD_ID] = 0.0
        return grad

    fails_with(check_table_gradient, assigned, r"failed on ids \[4, 5, 4\] .*Hint: a token used twice")


def test_table_gradient_checker_names_the_trained_pad_row():
    def pad_trained(ids, grad_output, vocab_size):
        d_model = grad_output.size(-1)
        return F.one_hot(ids.flatten(), vocab_size).to(grad_output.dtype).T @ grad_output.reshape(-1, d_model) * (
            math.sqrt(d_model))

    fails_with(check_table_gradient, pad_trained, r"failed on the batch .*Hint: <pad>'s row is frozen")


# ---------------------------------------------------------------- init_embedding

def init_embedding(layer):
    nn.init.normal_(layer.weight, std=layer.embedding_dim**-0.5)
    if layer.padding_idx is not None:
        with torch.no_grad():
            layer.weight[layer.padding_idx] = 0.0


def test_init_embedding_checker_passes_the_reference_and_token_embeddings_own():
    assert says(check_init_embedding, init_embedding) == "init_embedding: all 4 checks passed"

    def as_token_embedding(layer):
        fresh = TokenEmbedding(layer.num_embeddings, layer.embedding_dim, padding_idx=layer.padding_idx)
        with torch.no_grad():
            layer.weight.copy_(fresh.lookup.weight)

    assert "all 4 checks passed" in says(check_init_embedding, as_token_embedding)


def test_init_embedding_checker_on_the_stub_and_the_random_stream():
    fails_with(check_init_embedding, _stub, "init_embedding: not implemented yet")
    assert leaves_the_random_stream_alone(check_init_embedding, init_embedding)


def test_init_embedding_checker_names_the_untouched_default():
    fails_with(check_init_embedding, lambda layer: layer,
               r"standard deviation .*expected 1\.0, got 7\.99\. Hint: those are nn\.Embedding's own N\(0, 1\)")


def test_init_embedding_checker_names_the_variance_taken_for_the_std():
    def variance_as_std(layer):
        nn.init.normal_(layer.weight, std=1 / layer.embedding_dim)
        if layer.padding_idx is not None:
            with torch.no_grad():
                layer.weight[layer.padding_idx] = 0.0

    fails_with(check_init_embedding, variance_as_std, r"expected 1\.0, got 0\.125\. Hint: N\(0, 1/d_model\) names the "
                                                      r"variance")


def test_init_embedding_checker_names_the_overwritten_pad_row():
    fails_with(check_init_embedding, lambda layer: nn.init.normal_(layer.weight, std=layer.embedding_dim**-0.5),
               r"how many entries of the <pad> row .*expected 0, got 64\. Hint: drawing the table overwrote the <pad> "
               r"row")


def test_init_embedding_checker_names_a_hard_coded_pad_row():
    def row_0(layer):
        nn.init.normal_(layer.weight, std=layer.embedding_dim**-0.5)
        with torch.no_grad():
            layer.weight[PAD_ID] = 0.0

    fails_with(check_init_embedding, row_0,
               r"padding_idx=5\): the rows that are all zero .*expected \[5\], got \[0\]\. Hint: zero the layer's own")


def test_init_embedding_checker_names_zeroing_row_none():
    def row_none(layer):
        nn.init.normal_(layer.weight, std=layer.embedding_dim**-0.5)
        with torch.no_grad():
            layer.weight[layer.padding_idx] = 0.0

    fails_with(check_init_embedding, row_none, r"with no padding_idx.*Hint: a layer without a padding row")


def test_init_embedding_checker_explains_autograd_and_replaced_tables():
    fails_with(check_init_embedding, lambda layer: layer.weight.normal_(0.0, 0.125),
               r"it raised RuntimeError: a leaf Variable .*Hint: under torch\.no_grad\(\)")

    def replaced(layer):
        layer.weight = nn.Parameter(torch.randn(layer.num_embeddings, layer.embedding_dim) / 8)

    fails_with(check_init_embedding, replaced, "the layer's weight is a new object afterwards: change the existing")

    def frozen(layer):
        init_embedding(layer)
        layer.weight.requires_grad_(False)

    fails_with(check_init_embedding, frozen, "the table no longer requires a gradient")
