"""Translator benchmarks: toy-corpus BLEU within a training budget, and cached vs uncached greedy decoding.

    .venv/bin/python bench/translator.py decode                  # KV cache speed-up at 50 tokens, batch 1 and 32
    .venv/bin/python bench/translator.py decode --attention mla --tokens 300 --batches 1 16 --threads 1
                                                                 # also MLA's absorbed vs naive decoding steps
    .venv/bin/python bench/translator.py toy --minutes 3         # train on the toy corpus, test BLEU
    .venv/bin/python bench/translator.py toy --minutes 3 --attention mla
    .venv/bin/python bench/translator.py tatoeba --corpus ../shared/data/tatoeba-cmn-eng.tsv --minutes 15
    .venv/bin/python bench/translator.py decode --device cuda    # on a GPU
    .venv/bin/python bench/translator.py toy --device cuda --preset base --minutes 5 --eval-every 50

`toy` and `tatoeba` also report the training throughput (target tokens per second of optimizer steps, and per
second of wall time with validation) and, from the validation history, the time and steps to validation BLEU 95.

`decode` times the same model on the same (explicit) attention path: cached (one new position per step,
keys/values kept) against recomputing the whole prefix every step (and, like the cached step, sending only the
newest position through the output layer); both make exactly 50 tokens (<eos> is never taken) and are timed
alternately, so a noisy machine slows both alike. With `--attention mla` the cached decode runs its steps on the
absorbed path (the default), and a third variant times the same cached decode on the naive path: `absorbed_speedup`
is naive / absorbed, measured side by side in the same run.
"""

import argparse
import json
import statistics
import tempfile
import time

import torch

from course_lib import MultiHeadLatentAttention, Transformer, greedy_decode
from course_lib.translator import TrainConfig, Translator, train
from course_lib.translator.checkpoint import load_checkpoint
from course_lib.translator.config import PRESETS
from course_lib.translator.dataset import load_splits
from course_lib.translator.translate import pick_device, score

NEVER = -1  # an <eos> id no token has: decoding runs the full budget


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


def bench_training(args, corpus: str) -> dict:
    """Train for `--minutes` (or `--max-steps`) on `corpus`, then score the best checkpoint on its test split."""
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(corpus=corpus, preset=args.preset, device=args.device, max_minutes=args.minutes,
                             max_steps=args.max_steps, attention=args.attention, eval_every=args.eval_every)
        summary = train(config, out, progress=False)
        history = load_checkpoint(out, "last.pt")["history"]["valid"]
        state = load_checkpoint(out)
        translator = Translator.from_state(state, args.device)
        splits, _ = load_splits(corpus, state["config"]["split_seed"])
        test = splits["test"][: args.limit] if args.limit else splits["test"]
        greedy = score(translator, test)
        beam = score(translator, test, beam=4) if args.beam else None
        params = sum(p.numel() for p in translator.model.parameters())
        cache_bytes = self_attention_cache_bytes(translator, tokens=20)
    result = {"corpus": corpus, "device": str(translator.device), "preset": state["config"]["preset"],
              "attention": args.attention, "minutes": args.minutes, "steps": summary["steps"],
              **throughput(summary, history), "parameters": params, "self_attention_cache_bytes_20_tokens": cache_bytes,
              "test_bleu_greedy": round(greedy["bleu"], 2),
              "test_bleu_single_ref": round(greedy["bleu_single_ref"], 2), "chrf": round(greedy["chrf"], 2),
              "exact_match": round(greedy["exact_match"], 4), "signature": greedy["signature"],
              "phenomena_check": greedy.get("phenomena"), "phenomena_sentence": greedy.get("phenomena_sentence")}
    if beam is not None:
        result["test_bleu_beam4"] = round(beam["bleu"], 2)
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
    p.add_argument("--minutes", type=float, default=3.0, help="training budget")
    p.add_argument("--max-steps", type=int, help="training: also stop after this many steps")
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
