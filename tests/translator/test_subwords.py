"""English subwords: a sentencepiece model learned on the training split, carried in the checkpoint."""

from pathlib import Path

import pytest
import torch

from course_lib.translator import TrainConfig, Translator, train
from course_lib.translator.corpus import read_tsv
from course_lib.translator.dataset import Languages, load_splits
from course_lib.translator.subwords import SUBWORDS, train_subwords
from course_lib.translator.tokenizers import tokenizer

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"
SENTENCES = [p.src for p in read_tsv(FIXTURE).pairs] * 3


def test_training_is_deterministic_and_pieces_round_trip():
    model = train_subwords(SENTENCES, 60)
    assert model == train_subwords(SENTENCES, 60)
    tok = tokenizer(SUBWORDS, model)
    pieces = tok.encode("Where is the station?")
    assert pieces[0].startswith("\u2581") and "".join(pieces).replace("\u2581", " ").strip() == "where is the station?"
    assert tok.decode(pieces) == "where is the station?"  # case folded, like the word tokenizer
    assert len(tok.encode("unbelievably")) > 1  # an unseen word: known pieces, not one <unk>


def test_subwords_need_their_model_and_a_sensible_size():
    with pytest.raises(ValueError, match="needs its trained subword model"):
        tokenizer(SUBWORDS)
    with pytest.raises(ValueError, match="subwords=5: sentencepiece cannot learn such a model here "
                                         r"\(Vocabulary size is smaller than required_chars"):
        train_subwords(SENTENCES, 5)
    with pytest.raises(ValueError, match="subwords must be"):
        TrainConfig(corpus=str(FIXTURE), max_steps=1, subwords=-1)


def test_languages_learn_subwords_on_train_only_and_round_trip():
    splits, lang = load_splits(str(FIXTURE))
    languages = Languages.build(splits["train"], lang, min_freq=2, subwords=60)
    assert languages.src_tokenizer == SUBWORDS and languages.src_model
    assert languages.src_model == train_subwords([p.src for p in splits["train"]], 60)  # no held-out text in it
    assert languages.src_model != train_subwords([p.src for split in splits.values() for p in split], 60)
    saved = Languages.from_dict(languages.to_dict())
    assert saved.src_model == languages.src_model and saved.src_vocab.tokens == languages.src_vocab.tokens
    assert saved.encode(splits["test"], 16) == languages.encode(splits["test"], 16)
    assert Languages.build(splits["train"], lang, min_freq=2).src_tokenizer == "en_words"  # 0: whole words


def test_checkpoint_carries_the_subword_model(tmp_path):
    model = dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.0)
    config = TrainConfig(corpus=str(FIXTURE), device="cpu", max_steps=2, max_tokens=200, model=model, subwords=50)
    train(config, tmp_path, progress=False, log=lambda *_: None)
    state = torch.load(tmp_path / "last.pt", weights_only=True)  # plain data: the model is a uint8 tensor
    assert state["config"]["subwords"] == 50 and state["languages"]["src_tokenizer"] == SUBWORDS
    assert state["languages"]["src_model"].dtype == torch.uint8
    translator = Translator.from_checkpoint(tmp_path, device="cpu")
    assert len(translator.translate(["Thank you.", "Where is the station?"])) == 2


def test_whole_words_and_untied_layers_are_the_defaults():
    for corpus in ("toy", str(FIXTURE)):  # measured better on Tatoeba at 2,400 steps (README)
        config = TrainConfig(corpus=corpus, max_steps=1).resolved("cpu")
        assert config.subwords == 0 and not config.model_kwargs().get("tie_embeddings", False)
    chosen = TrainConfig(corpus=str(FIXTURE), max_steps=1, subwords=4000, model={"tie_embeddings": True})
    assert chosen.resolved("cpu").subwords == 4000 and chosen.resolved("cpu").model["tie_embeddings"]
