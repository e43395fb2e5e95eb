"""Smoke tests of the benchmarks at tiny sizes: they run through main(argv) and report what they measure."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load(name: str):
    """Import bench/<name>.py as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def step_time():
    return _load("step_time")


@pytest.fixture(scope="module")
def attention_variants():
    return _load("attention_variants")


@pytest.fixture(scope="module")
def translator_bench():
    return _load("translator")


# ---------------------------------------------------------------- step_time.py

TINY_STEP = ["--d-model", "16", "--heads", "2", "--enc-layers", "1", "--dec-layers", "1", "--d-ff", "32",
             "--vocab", "40", "--batch", "2", "--seq-len", "6", "--steps", "2", "--warmup", "1",
             "--device", "cpu", "--threads", "1"]


def test_step_time_runs_and_prints_the_ratio(step_time, capsys):
    ratio = step_time.main(TINY_STEP)
    out = capsys.readouterr().out
    assert isinstance(ratio, float) and 0 < ratio < float("inf")
    course, ref = (int(n.replace(",", "")) for n in re.search(r"parameters: course ([\d,]+)  torch ([\d,]+)",
                                                               out).groups())
    assert course == ref  # the same architecture: embeddings, stacks without final norms, output layer
    assert "config: d_model 16, heads 2, layers 1+1, d_ff 32, vocab 40" in out
    assert re.search(r"median step: course [\d.]+ ms, torch [\d.]+ ms", out)
    assert f"step time ratio course/torch (median of 2): {ratio:.3f}" in out


def test_step_time_defaults_are_the_issues_config(step_time):
    args = step_time.parse_args([])
    assert (args.d_model, args.heads, args.enc_layers, args.dec_layers, args.d_ff) == (256, 8, 3, 3, 1024)
    assert (args.batch, args.seq_len, args.dropout) == (32, 32, 0.1)


def test_parameter_count_check_is_a_system_exit_not_an_assert(step_time):
    step_time.check_parameter_counts({"course": 1010, "torch": 1000})  # within 1%
    with pytest.raises(SystemExit, match=re.escape("parameter counts differ by more than 1%: course 1,011, "
                                                   "torch 1,000 (+1.10%)")):
        step_time.check_parameter_counts({"course": 1011, "torch": 1000})


def test_amp_needs_cuda(step_time):
    with pytest.raises(SystemExit, match="--amp"):
        step_time.main([*TINY_STEP, "--amp"])


# ---------------------------------------------------------------- attention_variants.py

TINY_VARIANTS = ["--d-model", "32", "--heads", "4", "--kv-heads", "2", "--contexts", "5", "9", "--steps", "1",
                 "--warmup", "0", "--chunk", "4"]


@pytest.mark.parametrize("dtype, element", [("float32", 4), ("bfloat16", 2)])
def test_attention_variants_measured_bytes_are_the_formula(attention_variants, capsys, dtype, element):
    table = attention_variants.main([*TINY_VARIANTS, "--dtype", dtype])
    out = capsys.readouterr().out
    head_dim, latent, rope = 8, 4 * 8, 4  # mla_sizes(32, 4): d_c = 4 d_h, d_h^R = d_h / 2
    per_token = {"MHA": 2 * 4 * head_dim, "GQA (2 kv heads)": 2 * 2 * head_dim, "MQA": 2 * head_dim,
                 "MLA naive": latent + rope, "MLA absorbed": latent + rope}
    assert list(table) == list(per_token)
    for name, row in table.items():
        assert row["per_token"] == per_token[name]
        assert row["bytes"] == [1 * t * per_token[name] * element for t in (5, 9)]  # batch 1, T = 5 and 9
        assert all(seconds > 0 for seconds in row["seconds"])
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(per_token)  # the header and one row per variant
    assert rows[1].startswith(f"| MHA | {per_token['MHA']} |")


def test_attention_variants_defaults_unchanged(attention_variants):
    args = attention_variants.parse_args([])
    assert (args.d_model, args.heads, args.kv_heads, args.contexts) == (1024, 16, 4, [256, 1024, 4096])


def test_cache_bytes_check_is_a_system_exit(attention_variants):
    attention_variants.check_cache_bytes("MHA", 640, 1, 5, 32, 4)
    with pytest.raises(SystemExit, match=re.escape("MHA: the cache holds 600 bytes at T=5, the formula says "
                                                   "1 x 5 x 32 x 4 = 640")):
        attention_variants.check_cache_bytes("MHA", 600, 1, 5, 32, 4)


# ---------------------------------------------------------------- translator.py (the tatoeba path)

def test_translator_bench_reports_honest_figures(translator_bench, capsys):
    corpus = Path(__file__).resolve().parent / "translator" / "fixtures" / "mini.tsv"
    translator_bench.main(["tatoeba", "--corpus", str(corpus), "--max-steps", "2", "--subwords", "50",
                           "--tie-embeddings"])
    out = capsys.readouterr().out
    result = json.loads(out[out.index("{\n"):])  # after the training log
    assert result["steps"] == 2 and result["minutes"] is None and result["train_tokens"] > 0
    assert result["split_method"] == "group" and result["subwords"] == 50 and result["model"]["tie_embeddings"]
    assert result["test_leak_target_seen"] == result["test_leak_within_2_edits"] == 0
    assert result["test_bleu_ci"][0] <= result["test_bleu_ci"][1] and result["everyday_sentences"] >= 40
    assert len(result["load_average_1_5_15_min"]) == 3


# ---------------------------------------------------------------- translator.py decode

@pytest.mark.parametrize("attention", ["mha", "mla"])
def test_translator_decode_times_every_variant_side_by_side(translator_bench, capsys, attention):
    translator_bench.main(["decode", "--attention", attention, "--tokens", "3", "--repeats", "1", "--batches", "1", "3",
                           "--threads", "1"])
    result = json.loads(capsys.readouterr().out)
    assert (result["attention"], result["tokens"], result["preset"], result["threads"]) == (attention, 3, "tiny", 1)
    names = ["cached", "uncached"] + (["cached_naive"] if attention == "mla" else [])
    for batch in ("batch 1", "batch 3"):
        row = result[batch]
        assert row["same_tokens"] is True and all(row[f"{name}_s"] > 0 for name in names)
        ratios = ["speedup"] + (["absorbed_speedup"] if attention == "mla" else [])
        assert [key for key in row if key.endswith("speedup")] == ratios and all(row[key] > 0 for key in ratios)
