"""Translator benchmarks: toy-corpus BLEU within a training budget, and cached vs uncached greedy decoding.

    .venv/bin/python bench/translator.py decode                  # KV cache speed-up at 50 tokens, batch 1 and 32
    .venv/bin/python bench/translator.py decode --attention mla --tokens 300 --batches 1 16 --threads 1
                                                                 # also MLA's absorbed vs naive decoding steps
    .venv/bin/python bench/translator.py toy --minutes 3         # train on the toy corpus, test BLEU
    .venv/bin/python bench/translator.py toy --minutes 3 --attention mla
    .venv/bin/python bench/translator.py tatoeba --corpus ../shared/data/tatoeba-cmn-eng.tsv --max-steps 2400 \
        --eval-every 600 --beam    # the group split; or --split-method source, --subwords 4000 --tie-embeddings
    .venv/bin/python bench/translator.py decode --device cuda    # on a GPU
    .venv/bin/python bench/translator.py toy --device cuda --preset base --minutes 5 --eval-every 50

`toy` and `tatoeba` also report the training throughput (target tokens per second of optimizer steps, and per
second of wall time with validation) and, from the validation history, the time and steps to validation BLEU 95.
`tatoeba` reports test BLEU against all references with its bootstrap 95 % interval, the split's leakage figures,
the everyday sentences' BLEU (`evaluate --split everyday`), the target tokens trained on, and the machine's load
average (the machine is shared: budgets are in steps, minutes are context).

`decode` times the same model on the same (explicit) attention path: cached (one new position per step,
keys/values kept) against recomputing the whole prefix every step (and, like the cached step, sending only the
newest position through the output layer); both make exactly 50 tokens (<eos> is never taken) and are timed
alternately, so a noisy machine slows both alike. With `--attention mla` the cached decode runs its steps on the
absorbed path (the default), and a third variant times the same cached decode on the naive path: `absorbed_speedup`
is naive / absorbed, measured side by side in the same run.
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import torch

from course_lib import MultiHeadLatentAttention, Transformer, greedy_decode
from course_lib.translator import TrainConfig, Translator, train
from course_lib.translator.checkpoint import load_checkpoint
from course_lib.translator.config import PRESETS
from course_lib.translator.everyday import EVERYDAY
from course_lib.translator.split import SPLIT_METHODS
from course_lib.translator.translate import evaluate, pick_device

NEVER = -1  # an <eos> id no token has: decoding runs the full budget
DEFAULT_MINUTES = 3.0  # the training budget when no step budget is given


def time_decode(model, src: torch.Tensor, tokens: int, use_cache: bool) -> float:
    """Seconds for one greedy decode of exactly `tokens` new tokens."""
    sync = torch.cuda.synchronize if src.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    greedy_decode(model, src, tokens, eos_id=NEVER, use_cache=use_cache)
    sync()
    return time.perf_counter() - start


def set_absorbed_decoding(model, enabled: bool) -> None:
    """Run MLA's cached decoding steps on the absorbed path (the default) or on the naive one."""
    for module in model.modules():
        if isinstance(module, MultiHeadLatentAttention):
            module.absorb_when_decoding = enabled


def decode_variants(attention: str) -> dict[str, tuple[bool, bool]]:
    """name -> (use the cache, absorbed decoding steps); MLA adds its cached decode on the naive path."""
    variants = {"cached": (True, True), "uncached": (False, True)}
    if attention == "mla":
        variants["cached_naive"] = (True, False)
    return variants


def bench_decode(args) -> dict:
    """Median decode times of each variant per batch size, and their ratios; first, proof of the same tokens."""
    device = pick_device(args.device)
    torch.manual_seed(0)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model = Transformer(4000, 4000, **PRESETS[args.preset], max_len=max(128, args.tokens + 1),
                        self_attention=args.attention).to(device).eval()
    variants = decode_variants(args.attention)
    results = {}
    for batch in args.batches:
        src = torch.randint(4, 4000, (batch, 20), device=device)  # (B, 20) source tokens
        outputs = {}
        for name, (use_cache, absorbed) in variants.items():  # doubles as warm-up
            set_absorbed_decoding(model, absorbed)
            outputs[name] = greedy_decode(model, src, args.tokens, eos_id=NEVER, use_cache=use_cache)
        different = [name for name in variants if not torch.equal(outputs[name], outputs["cached"])]
        if different:
            raise SystemExit(f"{', '.join(different)} and cached greedy decoding disagree at batch {batch}: "
                             "the timing would be void")
        seconds = {name: [] for name in variants}
        for _ in range(args.repeats):  # alternately, so a noisy machine slows every variant alike
            for name, (use_cache, absorbed) in variants.items():
                set_absorbed_decoding(model, absorbed)
                seconds[name].append(time_decode(model, src, args.tokens, use_cache))
        median = {name: statistics.median(times) for name, times in seconds.items()}
        row = {f"{name}_s": round(s, 4) for name, s in median.items()}
        row["speedup"] = round(median["uncached"] / median["cached"], 2)
        if "cached_naive" in median:
            row["absorbed_speedup"] = round(median["cached_naive"] / median["cached"], 2)
        results[f"batch {batch}"] = {**row, "same_tokens": True}
    return {"device": str(device), "preset": args.preset, "attention": args.attention, "tokens": args.tokens,
            "threads": torch.get_num_threads(), **results}


def self_attention_cache_bytes(translator, tokens: int) -> int:
    """Bytes the decoder's self-attention caches hold (all layers) after decoding `tokens` tokens of one sentence."""
    model = translator.model
    src = torch.tensor([translator.encode("I ate two apples yesterday.")[0]], device=translator.device)  # (1, Ls)
    cache = model.new_cache(1, tokens, device=translator.device)
    memory, src_mask = model.encode(src)
    ids = torch.full((1, 1), 1, device=translator.device)  # <bos>
    with torch.no_grad():
        for _ in range(tokens):
            model.decode(ids[:, -1:], memory, src_mask, cache)
            ids = torch.cat([ids, ids[:, -1:]], dim=1)  # (1, t + 1): any token will do for counting
    return sum(cache[i]["self_attn"].nbytes() for i in range(len(model.decoder.layers)))


def first_reaching(history: list[dict], bleu: float) -> dict | None:
    """The first validation record with BLEU >= `bleu` (its step and seconds of training), or None."""
    return next((record for record in history if record["bleu"] >= bleu), None)


def throughput(summary: dict, history: list[dict]) -> dict:
    """Target tokens per second (optimizer steps only, and wall time with validation); time to valid BLEU 95."""
    reached = first_reaching(history, 95.0)
    return {"train_tokens": summary["tokens"], "train_seconds": round(summary["train_seconds"], 2),
            "wall_seconds": round(summary["seconds"], 2),
            "tokens_per_second": round(summary["tokens"] / max(summary["train_seconds"], 1e-9)),
            "tokens_per_second_wall": round(summary["tokens"] / max(summary["seconds"], 1e-9)),
            "seconds_to_valid_bleu_95": None if reached is None else round(reached["seconds"], 1),
            "steps_to_valid_bleu_95": None if reached is None else reached["step"],
            "valid_bleu": [[r["step"], round(r["seconds"], 1), round(r["bleu"], 2)] for r in history]}


def figures(scores: dict, prefix: str) -> dict:
    """BLEU (all references) with its interval, chrF and the leakage figures of an `evaluate` result, rounded."""
    return {f"{prefix}_bleu": round(scores["bleu"], 2), f"{prefix}_bleu_ci": [round(x, 2) for x in scores["bleu_ci"]],
            f"{prefix}_chrf": round(scores["chrf"], 2), f"{prefix}_sentences": scores["n"],
            f"{prefix}_leak_target_seen": round(scores["leak_target_seen"], 4),
            f"{prefix}_leak_within_2_edits": round(scores["leak_within_2_edits"], 4)}


def bench_training(args, corpus: str) -> dict:
    """Train for `--max-steps` (or `--minutes`) on `corpus`, then score the best checkpoint on its test split
    (and, for a real corpus, on the everyday sentences)."""
    minutes = args.minutes if args.minutes or args.max_steps else DEFAULT_MINUTES
    model = {} if args.tie_embeddings is None else {"tie_embeddings": args.tie_embeddings}
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(corpus=corpus, preset=args.preset, device=args.device, max_minutes=minutes,
                             max_steps=args.max_steps, attention=args.attention, eval_every=args.eval_every,
                             split_method=args.split_method, subwords=args.subwords, seed=args.seed, model=model)
        summary = train(config, out, progress=False)
        history = load_checkpoint(out, "last.pt")["history"]["valid"]
        state = load_checkpoint(out)
        translator = Translator.from_state(state, args.device)
        greedy = evaluate(out, split="test", device=args.device, limit=args.limit)
        beam = evaluate(out, split="test", beam=4, device=args.device, limit=args.limit) if args.beam else None
        everyday = evaluate(out, split=EVERYDAY, device=args.device) if corpus != "toy" else None
        params = sum(p.numel() for p in translator.model.parameters())
        cache_bytes = self_attention_cache_bytes(translator, tokens=20)
    saved = state["config"]
    result = {"corpus": corpus, "device": str(translator.device), "preset": saved["preset"], "model": saved["model"],
              "seed": saved["seed"], "split_method": saved["split_method"], "subwords": saved["subwords"],
              "attention": args.attention, "minutes": minutes, "steps": summary["steps"],
              **throughput(summary, history), "parameters": params, "self_attention_cache_bytes_20_tokens": cache_bytes,
              "best_step": next(r["step"] for r in history if r["bleu"] == summary["best_bleu"]),
              **figures(greedy, "test"), "test_bleu_single_ref": round(greedy["bleu_single_ref"], 2),
              "exact_match": round(greedy["exact_match"], 4), "signature": greedy["signature"],
              "phenomena_check": greedy.get("phenomena"), "phenomena_sentence": greedy.get("phenomena_sentence"),
              "load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()]}
    if beam is not None:
        result["test_bleu_beam4"] = round(beam["bleu"], 2)
        result["test_bleu_beam4_ci"] = [round(x, 2) for x in beam["bleu_ci"]]
    if everyday is not None:
        result.update(figures(everyday, "everyday"))
    return result


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=("decode", "toy", "tatoeba"))
    p.add_argument("--device", default="cpu", help="cpu, cuda[:N], mps or auto")
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    p.add_argument("--tokens", type=int, default=50, help="decode: new tokens per sentence")
    p.add_argument("--repeats", type=int, default=5, help="decode: timed runs per variant")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32], help="decode: the batch sizes to time")
    p.add_argument("--threads", type=int, help="decode: torch.set_num_threads (default: torch's own)")
    p.add_argument("--minutes", type=float, help=f"training: stop after this much wall time (default: "
                   f"{DEFAULT_MINUTES:g} when --max-steps is not given)")
    p.add_argument("--max-steps", type=int, help="training: stop after this many steps")
    p.add_argument("--seed", type=int, default=0, help="training: the model's initialisation and batch order")
    p.add_argument("--split-method", default="group", choices=sorted(SPLIT_METHODS), help="tatoeba: the split")
    p.add_argument("--subwords", type=int, default=0, help="English subword pieces (default 0: whole words)")
    p.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction,
                   help="share the target embedding and the output layer (default: untied)")
    p.add_argument("--attention", default="mha", choices=("mha", "mla"))
    p.add_argument("--eval-every", type=int, help="steps between validations (default: once per epoch)")
    p.add_argument("--corpus", default="../shared/data/tatoeba-cmn-eng.tsv", help="tatoeba: the TSV file")
    p.add_argument("--limit", type=int, help="score only the first N test pairs")
    p.add_argument("--beam", action="store_true", help="also score beam search (size 4)")
    args = p.parse_args(argv)
    if args.what == "decode":
        result = bench_decode(args)
    else:
        result = bench_training(args, "toy" if args.what == "toy" else args.corpus)
    print(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
