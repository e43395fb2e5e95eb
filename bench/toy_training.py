"""The margins of notebook 10's checks, per seed and per CPU kernel path: does the toy training converge everywhere?

Notebook 10 trains `course_lib.training.train_toy_task` on copy and reverse and asserts what must hold on any
machine: sequence accuracy, the final loss near its floor, a cross-attention head on the expected source digit,
the right answer for the digits of pi, and that the model trained without the shift fails. This script trains the
same runs for several seeds and prints each figure beside its threshold. Training amplifies last-bit differences
between CPU kernels, so `--kernel-paths` reruns everything in subprocesses under the kernel paths of other CPUs
(`ATEN_CPU_CAPABILITY=avx2`, a laptop without AVX-512; `default` + `MKL_CBWR=COMPATIBLE`, the plainest kernels).

    .venv/bin/python bench/toy_training.py                          # this CPU, seeds 0 1 2
    .venv/bin/python bench/toy_training.py --kernel-paths --seeds 0 1 2 3
    .venv/bin/python bench/toy_training.py --steps 300 --peak-lr 2e-3 --threads 2
"""

import argparse
import dataclasses
import os
import subprocess
import sys
import time

import torch

from course_lib import toy_tasks as tt
from course_lib.training import ToyTrainingConfig, toy_accuracy, train_toy_task
from course_lib.viz import transformer as viz

# notebook 10's thresholds: what its checked cells assert
MIN_ACCURACY = 0.99
MAX_LOSS_ABOVE_FLOOR = 0.03  # the mean loss of the last 50 steps
MIN_BEST_HEAD = 0.5  # the best head's share of weight on the expected source digit
MAX_CHEAT_ACCURACY = 0.05
MAX_CHEAT_ABOVE_FLOOR = 0.01  # the mean loss of its last 10 steps
CHEAT_STEPS = 100
PI = [3, 1, 4, 1, 5, 9, 2, 6]
KERNEL_PATHS = {  # name -> the environment that selects it
    "plain": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "default+MKL_CBWR": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
    "avx2+MKL_CBWR": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"},  # an AVX2 machine told to be exact
}


def parse_args(argv=None) -> argparse.Namespace:
    defaults = ToyTrainingConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--peak-lr", type=float, default=defaults.peak_lr)
    parser.add_argument("--warmup", type=int, default=defaults.warmup)
    parser.add_argument("--cooldown", type=float, default=defaults.cooldown, help="share of steps cooling down")
    parser.add_argument("--cheat-steps", type=int, default=CHEAT_STEPS, help="steps of the run without the shift")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--kernel-paths", action="store_true", help="rerun under each kernel path in a subprocess")
    return parser.parse_args(argv)


def without_shift(tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Notebook 10's spot-the-bug: the labels are the decoder input itself."""
    return tgt[:, :-1], tgt[:, :-1]


def tail_mean(losses: list[float], count: int) -> float:
    """The mean of the last `count` losses."""
    tail = losses[-count:]
    return sum(tail) / len(tail)


def measure(config: ToyTrainingConfig, cheat_steps: int = CHEAT_STEPS) -> dict:
    """Every figure notebook 10 checks, for one seed: per task, and for the run without the shift."""
    floor = viz.smoothed_loss_floor(tt.VOCAB_SIZE, config.smoothing)
    result = {"seconds": 0.0, "cpu_seconds": 0.0}
    for task in tt.TASKS:
        start, cpu_start = time.perf_counter(), time.process_time()
        model, losses = train_toy_task(task, config)
        result["seconds"] += time.perf_counter() - start
        result["cpu_seconds"] += time.process_time() - cpu_start  # every thread's
        data = viz.cross_attention_data(model, task, PI)
        answer = PI if task == "copy" else PI[::-1]
        layer_means = data["scores"].mean(dim=1)  # (layers,): the mean over each layer's heads
        layer, head = viz.best_head(data)
        eos_row = data["weights"][layer, head, -1]  # (Ls,): the last query, which must write <eos>
        result[task] = {"accuracy": toy_accuracy(model, task, config),
                        "above_floor": tail_mean(losses, 50) - floor,
                        "best_head": data["scores"].max().item(),
                        "best_layer": layer + 1,
                        "eos_looks_at": data["source"][int(eos_row.argmax())] + f"@{int(eos_row.argmax())}",
                        "layer_means": layer_means.tolist(),
                        "pi": data["output"] == [tt.FIRST_DIGIT_ID + d for d in answer] + [tt.EOS_ID]}
    cheat, losses = train_toy_task("copy", dataclasses.replace(config, steps=cheat_steps), pair=without_shift)
    result["cheat"] = {"accuracy": toy_accuracy(cheat, "copy", config),
                       "above_floor": tail_mean(losses, 10) - floor}
    return result


def report(name: str, seed: int, result: dict) -> bool:
    """One line per task for a seed; whether every check of the notebook holds."""
    ok = True
    for task in tt.TASKS:
        r = result[task]
        last_layer_sharper = r["layer_means"][-1] > r["layer_means"][0]
        holds = (r["accuracy"] >= MIN_ACCURACY and r["above_floor"] < MAX_LOSS_ABOVE_FLOOR
                 and r["best_head"] > MIN_BEST_HEAD and r["pi"] and last_layer_sharper)
        ok &= holds
        means = ", ".join(f"{m:.2f}" for m in r["layer_means"])
        print(f"{name:17s} seed {seed}  {task:7s}  accuracy {r['accuracy']:.4f}  loss - floor {r['above_floor']:+.4f}"
              f"  best head {r['best_head']:.3f} (layer {r['best_layer']}), layer means [{means}], "
              f"<eos> query reads {r['eos_looks_at']}"
              f"  pi {'right' if r['pi'] else 'WRONG'}  {'ok' if holds else 'FAILS'}")
    cheat = result["cheat"]
    holds = cheat["accuracy"] < MAX_CHEAT_ACCURACY and cheat["above_floor"] < MAX_CHEAT_ABOVE_FLOOR
    ok &= holds
    print(f"{name:17s} seed {seed}  no shift accuracy {cheat['accuracy']:.4f}  loss - floor {cheat['above_floor']:+.4f}"
          f"  {'ok' if holds else 'FAILS'}  | both tasks trained in {result['seconds']:.1f} s "
          f"({result['cpu_seconds']:.1f} s of CPU)")
    return ok


def kernel_path_name() -> str:
    """The KERNEL_PATHS name of this process's environment ("plain" when it sets neither variable)."""
    chosen = [n for n, env in KERNEL_PATHS.items() if all(os.environ.get(k) == v for k, v in env.items())]
    return max(chosen, key=lambda n: len(KERNEL_PATHS[n]))  # the most specific: "plain" matches every environment


def main(argv=None) -> bool:
    """Train and report every seed on this process's kernel path (or on each path); True when every check holds."""
    args = parse_args(argv)
    if args.kernel_paths:
        rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--kernel-paths"]
        inherited = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
        codes = [subprocess.call([sys.executable, __file__, *rest], env={**inherited, **env})
                 for env in KERNEL_PATHS.values()]
        return not any(codes)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)  # as notebook 10
    name = kernel_path_name()
    print(f"kernel path {name} ({torch.backends.cpu.get_cpu_capability()}), {args.threads} thread(s), "
          f"{args.steps} steps, peak lr {args.peak_lr}, warm-up {args.warmup}, cool-down {args.cooldown}; thresholds: "
          f"accuracy >= {MIN_ACCURACY}, loss - floor < {MAX_LOSS_ABOVE_FLOOR}, best head > {MIN_BEST_HEAD}, layer 2 "
          f"sharper than layer 1; no shift: accuracy < {MAX_CHEAT_ACCURACY}, loss - floor < {MAX_CHEAT_ABOVE_FLOOR}")
    ok = True
    for seed in args.seeds:
        config = ToyTrainingConfig(steps=args.steps, peak_lr=args.peak_lr, warmup=args.warmup, cooldown=args.cooldown,
                                   seed=seed)
        ok &= report(name, seed, measure(config, args.cheat_steps))
    return ok


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
