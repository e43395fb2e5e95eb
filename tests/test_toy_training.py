"""Notebook 10's training run (course_lib.training.train_toy_task): repeatable bit for bit, and its margins script."""

import dataclasses
import importlib.util
import re
from pathlib import Path

import pytest
import torch

from course_lib import Transformer, greedy_decode, sequence_accuracy
from course_lib import toy_tasks as tt
from course_lib.training import ToyTrainingConfig, toy_accuracy, toy_model, train_toy_task

# the notebook's loop on a reduced budget: the same code path, a few seconds
SMALL = ToyTrainingConfig(steps=8, batch_size=16, warmup=4)


@pytest.fixture
def deterministic():
    """torch.use_deterministic_algorithms(True), as notebook 10's first cell, restored afterwards."""
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


@pytest.mark.usefixtures("deterministic")
def test_training_twice_in_one_process_gives_identical_losses():
    first_model, first = train_toy_task("reverse", SMALL)
    torch.manual_seed(123)  # whatever the global generator did in between
    second_model, second = train_toy_task("reverse", SMALL)
    assert len(first) == SMALL.steps and first == second  # every loss, bit for bit
    for a, b in zip(first_model.state_dict().values(), second_model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    _, other_seed = train_toy_task("reverse", dataclasses.replace(SMALL, seed=1))
    assert other_seed != first  # the seed is what fixes the run


@pytest.mark.usefixtures("deterministic")
def test_the_run_learns_and_returns_the_model_ready_for_plots():
    model, losses = train_toy_task("copy", dataclasses.replace(SMALL, steps=30, peak_lr=3e-3))
    assert sum(losses[-5:]) < sum(losses[:5]) - 1.0  # five losses: the mean falls by more than 0.2
    assert not model.training  # eval mode, and the explicit path that keeps attn_weights
    assert not any(m.fused for m in model.modules() if hasattr(type(m), "fused"))


def test_pair_decides_what_the_decoder_reads_and_is_asked():
    seen = []

    def pair(tgt):
        seen.append(tgt.shape)
        return tgt[:, :-1], tgt[:, :-1]  # notebook 10's spot-the-bug: the labels are the input itself

    _, losses = train_toy_task("copy", dataclasses.replace(SMALL, steps=2), pair=pair)
    assert len(seen) == 2 and all(shape[0] == SMALL.batch_size for shape in seen) and len(losses) == 2


def test_toy_model_follows_the_config_without_dropout():
    config = ToyTrainingConfig(d_model=16, num_heads=2, num_layers=1, d_ff=32, max_digits=5)
    model = toy_model(config)
    assert isinstance(model, Transformer) and len(model.encoder.layers) == len(model.decoder.layers) == 1
    assert model.positions.pe.size(-2) == config.max_digits + 2  # <bos>, the digits, <eos>
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout))
    assert model.generator.out_features == tt.VOCAB_SIZE


def test_toy_accuracy_is_greedy_sequence_accuracy_on_its_own_held_out_strings():
    config = ToyTrainingConfig(max_digits=4)
    model = toy_model(config).eval()
    test = tt.make_batch("copy", 20, 1, 4, generator=torch.Generator().manual_seed(2024))
    expected = sequence_accuracy(greedy_decode(model, test.src, config.max_digits + 1), test.tgt)
    assert toy_accuracy(model, "copy", config, size=20) == expected
    assert toy_accuracy(model, "copy", config, size=20, seed=7) == sequence_accuracy(
        greedy_decode(model, (other := tt.make_batch("copy", 20, 1, 4, generator=torch.Generator().manual_seed(7))).src,
                      5), other.tgt)


# ---------------------------------------------------------------- bench/toy_training.py

def _bench():
    path = Path(__file__).resolve().parent.parent / "bench" / "toy_training.py"
    spec = importlib.util.spec_from_file_location("bench_toy_training", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_reports_every_check_per_task_and_seed(capsys):
    bench = _bench()
    ok = bench.main(["--seeds", "0", "--steps", "2", "--warmup", "1", "--cheat-steps", "2"])
    out = capsys.readouterr().out
    assert ok is False  # two steps train nothing: the thresholds are real
    path = bench.kernel_path_name()  # "plain", or "avx2" ... where the test itself runs under such a variable
    assert f"kernel path {path} " in out and "thresholds: accuracy >= 0.99" in out
    for task in tt.TASKS:
        assert re.search(rf"{re.escape(path)} +seed 0  {task} +accuracy [\d.]+  loss - floor [+-][\d.]+  "
                         rf"best head [\d.]+ \(layer \d\), layer means \[[\d., ]+\], "
                         rf"<eos> query reads \S+@\d  pi (right|WRONG)  FAILS",
                         out)
    assert re.search(r"seed 0  no shift accuracy [\d.]+  loss - floor [+-][\d.]+  (ok|FAILS)", out)
    assert bench.parse_args([]).steps == ToyTrainingConfig().steps  # it measures the notebook's budget by default


@pytest.mark.parametrize(("change", "message"), [
    ({"steps": 0}, "steps must be a positive int, got steps=0"),
    ({"d_model": 10, "num_heads": 4}, "d_model=10 is not divisible by num_heads=4"),
    ({"smoothing": 1.0}, "smoothing must be in"),
    ({"peak_lr": 0.0}, r"peak_lr must be > 0, got peak_lr=0.0"),
    ({"seed": -1}, "seed must be >= 0, got seed=-1"),
])
def test_config_rejects_bad_values_naming_them(change, message):
    with pytest.raises((TypeError, ValueError), match=message):
        ToyTrainingConfig(**change)


def test_train_toy_task_rejects_an_unknown_task():
    with pytest.raises(ValueError, match=r"task must be one of \['copy', 'reverse'\], got task='sort'"):
        train_toy_task("sort", SMALL)
