"""KV-cache bytes and decode-step time of MHA, GQA, MQA and MLA (naive and absorbed), across context lengths.

One attention layer of each kind at the same width and head count (MLA in DeepSeek-V2's proportions,
`course_lib.mla_sizes`) gets a cache filled to T positions by a chunked prefill; then one new token at a
time is decoded through that cache and the median step time is reported. Prints a markdown table.

    .venv/bin/python bench/attention_variants.py                       # CPU, about a minute
    .venv/bin/python bench/attention_variants.py --device cuda --contexts 1024 8192 32768
"""

import argparse
import statistics
import time

import torch

from course_lib import GroupedQueryAttention, MultiHeadAttention, MultiHeadLatentAttention, mla_sizes


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-model", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--kv-heads", type=int, default=4, help="GQA's key/value heads")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--contexts", type=int, nargs="+", default=[256, 1024, 4096], help="cached positions T")
    p.add_argument("--steps", type=int, default=15, help="timed decode steps per variant and context")
    p.add_argument("--warmup", type=int, default=3, help="untimed decode steps first")
    p.add_argument("--chunk", type=int, default=512, help="prefill chunk length")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (1: steady on a shared machine)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def build_variants(d_model: int, heads: int, kv_heads: int) -> dict:
    """name -> (module, absorb): the five ways to attend, at the same d_model and number of query heads."""
    mla = MultiHeadLatentAttention(d_model, heads, **mla_sizes(d_model, heads))
    return {
        "MHA": (MultiHeadAttention(d_model, heads), False),
        f"GQA ({kv_heads} kv heads)": (GroupedQueryAttention(d_model, heads, kv_heads), False),
        "MQA": (GroupedQueryAttention(d_model, heads, 1), False),
        "MLA naive": (mla, False),
        "MLA absorbed": (mla, True),
    }


def call(module, x, cache, absorb: bool):
    """One forward through the cache; only MLA takes `absorb`."""
    if isinstance(module, MultiHeadLatentAttention):
        return module(x, cache=cache, absorb=absorb)
    return module(x, cache=cache)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def measure(module, absorb: bool, context: int, args, device, dtype) -> tuple[int, float]:
    """(cache bytes after `context` positions, median decode-step seconds with that many cached)."""
    d_model, batch = args.d_model, args.batch
    cache = module.new_cache(batch, context + args.warmup + args.steps, dtype=dtype, device=device)
    for start in range(0, context, args.chunk):  # chunked prefill (the naive path: cheaper for many queries)
        length = min(args.chunk, context - start)
        call(module, torch.randn(batch, length, d_model, device=device, dtype=dtype), cache, False)
    nbytes = cache.nbytes()
    token = torch.randn(batch, 1, d_model, device=device, dtype=dtype)
    times = []
    for step in range(args.warmup + args.steps):
        synchronize(device)
        start = time.perf_counter()
        call(module, token, cache, absorb)
        synchronize(device)
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    return nbytes, statistics.median(times)


def check_cache_bytes(name: str, measured: int, batch: int, context: int, per_token: int, element: int) -> None:
    """Raise SystemExit unless the cache holds batch * T * elements-per-token * element-size bytes."""
    expected = batch * context * per_token * element
    if measured != expected:
        raise SystemExit(f"{name}: the cache holds {measured:,} bytes at T={context}, the formula says "
                         f"{batch} x {context} x {per_token} x {element} = {expected:,}")


def main(argv=None) -> dict[str, dict]:
    """Print the table; return {variant: {"per_token", "bytes", "seconds"}}, bytes and seconds per context."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    variants = build_variants(args.d_model, args.heads, args.kv_heads)
    for module, _ in variants.values():
        module.to(device, dtype).eval()
    size = dict(mla_sizes(args.d_model, args.heads))
    print(f"one layer, d_model={args.d_model}, {args.heads} heads of {args.d_model // args.heads}, MLA {size}, "
          f"batch {args.batch}, {args.dtype} on {args.device} ({args.threads} thread(s)); median of {args.steps} steps")
    print()
    contexts = args.contexts
    header = ["variant", "cache elements / token"]
    header += [f"cache MiB @ T={t}" for t in contexts] + [f"decode step ms @ T={t}" for t in contexts]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    element = torch.tensor([], dtype=dtype).element_size()
    table = {}
    for name, (module, absorb) in variants.items():
        results = [measure(module, absorb, t, args, device, dtype) for t in contexts]
        per_token = module.kv_cache_elements_per_token()
        for t, (nbytes, _) in zip(contexts, results, strict=True):  # the measured bytes are the formula's
            check_cache_bytes(name, nbytes, args.batch, t, per_token, element)
        cells = [name, f"{per_token:,}"] + [f"{nbytes / 2**20:.2f}" for nbytes, _ in results]
        cells += [f"{seconds * 1e3:.2f}" for _, seconds in results]
        print("| " + " | ".join(cells) + " |", flush=True)
        table[name] = {"per_token": per_token, "bytes": [nbytes for nbytes, _ in results],
                       "seconds": [seconds for _, seconds in results]}
    return table


if __name__ == "__main__":
    main()
