"""The command line: train/evaluate/translate, and one clear line with a non-zero exit for every user error."""

import json
import subprocess
import sys

import pytest

from course_lib.translator import TrainConfig, train
from course_lib.translator.cli import main

TINY = dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, dropout=0.0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("translator")
    config = TrainConfig(corpus="toy", device="cpu", max_steps=3, max_tokens=400, eval_sentences=8, model=TINY,
                         max_len=24)
    train(config, out, progress=False, log=lambda *_: None)
    return out


def run_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_lib.translator", *args], input=stdin,
                          capture_output=True, text=True, timeout=120)


def test_translate_one_line_per_input(checkpoint, capsys):
    assert main(["translate", "--checkpoint", str(checkpoint), "I like tea .", "", "blorptastic ."]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""  # three lines, the empty input empty


def test_translate_reads_stdin_and_warns_on_truncation(checkpoint):
    result = run_cli("translate", "--checkpoint", str(checkpoint), "--beam", "2",
                     stdin="I like tea .\n" + "tea " * 40 + "\n")
    assert result.returncode == 0
    assert len(result.stdout.splitlines()) == 2
    assert result.stderr.strip().startswith("warning:") and "truncated" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_evaluate_json(checkpoint, capsys):
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--limit", "10", "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert {"bleu", "chrf", "exact_match", "n", "signature"} <= scores.keys()
    assert 0 <= scores["bleu"] <= 100 and 0 <= scores["chrf"] <= 100 and 0 <= scores["exact_match"] <= 1
    assert "tok:zh" in scores["signature"]


@pytest.mark.parametrize("args, message", [
    (["translate", "--checkpoint", "no/such/dir", "hello"], "no checkpoint"),
    (["evaluate", "--checkpoint", "no/such/dir"], "no checkpoint"),
    (["train", "--corpus", "no/such/file.tsv", "--out", "OUT", "--max-steps", "1"], "no/such/file.tsv"),
    (["train", "--out", "OUT", "--preset", "huge"], "invalid choice"),
])
def test_user_errors_are_one_line(tmp_path, args, message):
    args = [str(tmp_path / "OUT") if a == "OUT" else a for a in args]
    result = run_cli(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_corrupt_checkpoint_is_one_line(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"\x00garbage")
    result = run_cli("translate", "--checkpoint", str(tmp_path), "hello")
    assert result.returncode == 1 and "corrupt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
