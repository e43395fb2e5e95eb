"""Training details: AdamW's weight decay on matrices only, bf16 or loss-scaled fp16 autocast (the fp16 path run on
the CPU), and BLEU's tokenizer for Japanese."""


import pytest
import torch
from torch import nn

from course_lib import Transformer
from course_lib.translator import metrics, train
from course_lib.translator.checkpoint import LAST, load_checkpoint
from course_lib.translator.corpus import Pair
from course_lib.translator.dataset import guess_target_lang
from course_lib.translator.trainer import Trainer, autocast_dtype, parameter_groups

QUIET = dict(progress=False, log=lambda *_: None)




def names(model: nn.Module, params) -> set[str]:
    ids = {id(p) for p in params}
    return {name for name, p in model.named_parameters(remove_duplicate=False) if id(p) in ids}


@pytest.mark.parametrize("attention", ["mha", "mla"])
def test_weight_decay_falls_on_the_matrices_of_linear_maps_only(attention):
    model = Transformer(11, 13, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32,
                        self_attention=attention)
    decay, no_decay = parameter_groups(model, 0.01)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.01, 0.0)
    linear = {f"{m}.weight" for m, module in model.named_modules() if isinstance(module, nn.Linear)}
    assert names(model, decay["params"]) == linear
    rest = names(model, no_decay["params"])
    assert rest == {name for name, _ in model.named_parameters()} - linear
    assert {"src_embed.lookup.weight", "tgt_embed.lookup.weight", "generator.bias"} <= rest  # embeddings, biases
    assert any("norm" in name and name.endswith("weight") for name in rest)  # LayerNorm gains


def test_an_output_layer_tied_to_an_embedding_counts_as_the_embedding():
    model = Transformer(11, 13, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32)
    model.generator.weight = model.tgt_embed.lookup.weight  # (13, 16): one tensor, two names
    decay, no_decay = parameter_groups(model, 0.01)
    assert all(p is not model.generator.weight for p in decay["params"])
    assert sum(p is model.generator.weight for p in no_decay["params"]) == 1  # once: AdamW refuses duplicates
    torch.optim.AdamW([decay, no_decay])


def test_the_trainer_uses_the_two_groups(tmp_path, tiny_config):
    trainer = Trainer(tiny_config(), tmp_path, **QUIET)
    groups = trainer.optimizer.param_groups
    assert [g["weight_decay"] for g in groups] == [0.01, 0.0]
    assert names(trainer.model, groups[1]["params"]) >= {"src_embed.lookup.weight", "generator.bias"}
    trainer.release()


@pytest.mark.parametrize("bf16, expected", [(True, torch.bfloat16), (False, torch.float16)])
def test_a_gpu_without_bf16_trains_in_fp16(monkeypatch, bf16, expected):
    # a T4 reports bf16 through emulation only: the native answer decides
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16 or including_emulation)
    assert autocast_dtype(torch.device("cuda")) == expected
    assert autocast_dtype(torch.device("cpu")) is None and autocast_dtype(torch.device("mps")) is None
    assert autocast_dtype(torch.device("cpu"), "fp16") == torch.float16
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast_dtype(torch.device("cpu"), "fp8")


def test_fp16_with_a_grad_scaler_trains_and_resumes_exactly_on_the_cpu(tmp_path, tiny_config):
    fp32, fp16, halves = tmp_path / "fp32", tmp_path / "fp16", tmp_path / "halves"
    train(tiny_config(), fp32, **QUIET)
    train(tiny_config(), fp16, precision="fp16", **QUIET)
    a, b = load_checkpoint(fp32, LAST), load_checkpoint(fp16, LAST)
    assert b["scaler"]["scale"] == 2.0**16 and not a["scaler"]  # the scaler ran (and never had to back off)
    torch.testing.assert_close(torch.tensor(b["history"]["loss"]), torch.tensor(a["history"]["loss"]), atol=0.02,
                               rtol=0.0)  # fp16 rounding, not another computation
    assert all(t.isfinite().all() for t in b["model"].values())
    train(tiny_config(max_steps=2), halves, precision="fp16", **QUIET)
    train(tiny_config(), halves, resume=True, precision="fp16", **QUIET)
    c = load_checkpoint(halves, LAST)
    for name, tensor in b["model"].items():
        assert torch.equal(tensor, c["model"][name]), name


def test_a_step_whose_fp16_gradients_overflow_is_skipped_and_does_not_advance_the_schedule(tmp_path, tiny_config):
    trainer = Trainer(tiny_config(), tmp_path, precision="fp16", **QUIET)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**120)  # loss * scale overflows fp16 gradients
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train_step(trainer.epoch_batches()[0])
    assert trainer.scaler.get_scale() == 2.0**119 and trainer.scheduler.last_epoch == 0
    assert all(torch.equal(p, before[name]) for name, p in trainer.model.named_parameters())
    trainer.scaler = torch.amp.GradScaler("cpu")
    trainer.train_step(trainer.epoch_batches()[0])
    assert trainer.scheduler.last_epoch == 1
    trainer.release()


@pytest.mark.parametrize("installed, tokenize", [(True, "ja-mecab"), (False, "char")])
def test_japanese_bleu_uses_mecab_when_installed_else_characters(monkeypatch, installed, tokenize):
    monkeypatch.setattr(metrics, "mecab_available", lambda: installed)
    assert metrics.bleu_tokenize("ja") == tokenize == metrics.bleu_tokenize("jpn")
    assert metrics.bleu_tokenize("zh") == "zh" and metrics.bleu_tokenize("fr") == "13a"
    if installed and not metrics.find_spec("MeCab"):
        return  # sacrebleu cannot run ja-mecab here: the choice is what this test can see
    scores = metrics.corpus_scores(["私は猫が好きです。"], ["私は犬が好きです。"], "ja")
    assert f"tok:{tokenize}" in scores["signature"] and 0 < scores["bleu"] < 100


def test_kana_marks_a_japanese_target():
    assert guess_target_lang([Pair("I like cats.", "私は猫が好きです。")]) == "ja"
    assert guess_target_lang([Pair("I like cats.", "我喜欢猫。")]) == "zh"
    assert guess_target_lang([Pair("I like cats.", "J'aime les chats.")]) == "xx"


def test_the_learning_rate_default_depends_on_the_corpus():
    # tiny trains the toy grammar at 2e-3 (notebook 12's margins) and real corpora at 3e-3 (Tatoeba's validation);
    # a given lr wins either way
    from course_lib.translator import TrainConfig

    assert TrainConfig(corpus="toy", preset="tiny", max_steps=1).resolved("cpu").lr == 2e-3
    assert TrainConfig(corpus="pairs.tsv", preset="tiny", max_steps=1).resolved("cpu").lr == 3e-3
    assert TrainConfig(corpus="pairs.tsv", preset="base", max_steps=1).resolved("cuda").lr == 7e-4
    assert TrainConfig(corpus="pairs.tsv", preset="tiny", max_steps=1, lr=1e-3).resolved("cpu").lr == 1e-3
