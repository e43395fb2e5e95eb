"""Notebook 01's checkers: pass the reference, say "not implemented yet" on a stub, reject the notebook's bugs."""

import math

import torch
from checking import fails_with
from torch import nn

from course_lib import BOS_ID, EOS_ID, PAD_ID, UNK_ID, TokenEmbedding
from course_lib.checks import check_encode, check_make_embedding, check_scaled_embedding


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
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    check_make_embedding(lambda vocab_size, d_model: TokenEmbedding(vocab_size, d_model, padding_idx=PAD_ID))
    assert torch.equal(torch.rand(3), expected)


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
