"""`python -m course_lib.translator train|evaluate|translate ...`: the translator from the command line."""

import argparse
import json
import sys
import warnings

from .checkpoint import CheckpointError, one_line
from .config import ATTENTIONS, DEVICES, MAX_SEED, PRESETS, TrainConfig
from .everyday import EVERYDAY
from .runs import Interrupted
from .split import SPLIT_METHODS

DEFAULT_MINUTES = 10.0  # the budget when neither --max-steps nor --max-minutes is given
MAX_BEAM = 64  # wider beams cost memory and time and, past a handful, no longer help BLEU
# train options that name a setting of the run (None: not given; a resumed run keeps its own)
RUN_OPTIONS = ("corpus", "preset", "seed", "split_seed", "split_method", "subwords", "skip_malformed", "attention",
               "lr", "eval_every", "max_steps", "max_minutes")


def number(kind, accept, expected: str):
    """An argparse type: `kind(text)` if `accept(value)`, else a one-line usage error saying what was `expected`."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    convert.__name__ = expected
    return convert


POSITIVE_INT = number(int, lambda value: value > 0, "a positive int")
POSITIVE_FLOAT = number(float, lambda value: 0 < value < float("inf"), "a positive float")  # NaN fails both tests
BEAM = number(int, lambda value: 0 < value <= MAX_BEAM, f"a positive int up to {MAX_BEAM}")
SEED = number(int, lambda value: 0 <= value <= MAX_SEED, f"an int from 0 to {MAX_SEED}")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line on stderr (and exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parser() -> Parser:
    """The three commands and their options."""
    main = Parser(prog="python -m course_lib.translator", description=__doc__)
    commands = main.add_subparsers(dest="command", required=True, parser_class=Parser)
    train = commands.add_parser("train", help="train a translator into a checkpoint directory")
    train.add_argument("--corpus", help="'toy' (the embedded grammar, the default) or a Tatoeba-style TSV path")
    train.add_argument("--out", required=True, help="checkpoint directory (best.pt and last.pt); one that holds a "
                       "run needs --resume or --overwrite")
    train.add_argument("--preset", choices=sorted(PRESETS), help="model size (default: tiny on CPU, base on GPU)")
    train.add_argument("--max-minutes", type=POSITIVE_FLOAT, help="stop after this much wall time (default: 10 "
                       "when --max-steps is not given either)")
    train.add_argument("--max-steps", type=POSITIVE_INT, help="stop after this many optimizer steps")
    train.add_argument("--device", default="auto", choices=DEVICES)
    train.add_argument("--lr", type=POSITIVE_FLOAT, help="peak learning rate (default: the preset's; tiny: 2e-3 on the "
                       "toy corpus, 3e-3 on a real one)")
    train.add_argument("--seed", type=SEED, help="initial weights, dropout and batch order (default: 0)")
    train.add_argument("--split-seed", type=int, help="which sentences go to train/valid/test (default: 0)")
    train.add_argument("--split-method", choices=sorted(SPLIT_METHODS),
                       help="real corpora: 'group' (the default) keeps near copies in one split, 'source' splits by "
                       "English sentence")
    train.add_argument("--subwords", type=int, help="English subword pieces learned on the training split "
                       "(sentencepiece unigram, e.g. 4000; default 0: whole words)")
    train.add_argument("--tie-embeddings", action=argparse.BooleanOptionalAction,
                       help="share the target embedding and the output layer (default: untied)")
    train.add_argument("--skip-malformed", action="store_true", default=None,
                       help="skip malformed corpus lines (and count them)")
    train.add_argument("--attention", choices=ATTENTIONS, help="the decoder's self-attention (default: mha)")
    train.add_argument("--eval-every", type=POSITIVE_INT, help="steps between validations (default: once per epoch)")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out with its settings "
                       "(a new budget may be given)")
    train.add_argument("--overwrite", action="store_true", help="delete the run saved in --out and train afresh")
    train.add_argument("--save-every-minutes", type=POSITIVE_FLOAT, default=5.0,
                       help="save last.pt this often (default: 5); SIGINT/SIGTERM save it too")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate = commands.add_parser("evaluate", help="BLEU, chrF and exact match of a checkpoint on a split")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--corpus", help="default: the corpus the checkpoint was trained on")
    evaluate.add_argument("--split", default="test", choices=("train", "valid", "test", EVERYDAY),
                          help=f"a split of the corpus, or '{EVERYDAY}': the course's own held-out sentences")
    evaluate.add_argument("--beam", type=BEAM, default=1, help=f"beam size, 1 (greedy) to {MAX_BEAM}")
    evaluate.add_argument("--limit", type=POSITIVE_INT, help="score only the first N sentence pairs")
    evaluate.add_argument("--device", default="auto", choices=DEVICES)
    evaluate.add_argument("--json", action="store_true", help="one JSON object: bleu, bleu_ci, chrf, exact_match, n, "
                          "leak_target_seen, leak_within_2_edits, signature, ...")
    translate = commands.add_parser("translate", help="translate TEXT arguments, or stdin line by line")
    translate.add_argument("--checkpoint", required=True)
    translate.add_argument("--beam", type=BEAM, default=1, help=f"beam size, 1 (greedy) to {MAX_BEAM}")
    translate.add_argument("--device", default="auto", choices=DEVICES)
    translate.add_argument("text", nargs="*")
    return main


def run_train(args) -> None:
    from .trainer import rank_and_world, train

    # the options given; the others are the defaults (or, resuming, the saved run's own settings)
    given = {name: getattr(args, name) for name in RUN_OPTIONS if getattr(args, name) is not None}
    if args.tie_embeddings is not None:
        given["model"] = {"tie_embeddings": args.tie_embeddings}
    budget = {} if "max_steps" in given or "max_minutes" in given else {"max_minutes": DEFAULT_MINUTES}
    config = TrainConfig(**{"device": args.device, **budget, **given})
    summary = train(config, args.out, resume=args.resume, progress=not args.quiet, overwrite=args.overwrite,
                    given=list(given), save_every_minutes=args.save_every_minutes)
    if rank_and_world()[0] == 0:
        print(f"trained {summary['steps']} steps in {summary['seconds']:.0f} s; best valid BLEU "
              f"{summary['best_bleu']:.1f}; checkpoints in {args.out}")


def run_evaluate(args) -> None:
    from .translate import evaluate

    scores = evaluate(args.checkpoint, args.corpus, args.split, args.beam, args.device, args.limit)
    if args.json:
        print(json.dumps(scores, ensure_ascii=False))
        return
    low, high = scores["bleu_ci"]
    print(f"{args.split}: {scores['n']} sentences | BLEU {scores['bleu']:.2f} [{low:.2f}, {high:.2f}] all references "
          f"(first reference only {scores['bleu_single_ref']:.2f}) | chrF {scores['chrf']:.2f} | "
          f"exact match {scores['exact_match']:.3f}")
    print(f"  split {scores['split_method']}: target seen in training {scores['leak_target_seen']:.3f}, "
          f"within 2 word edits of a training sentence {scores['leak_within_2_edits']:.3f} "
          "(BLEU interval: bootstrap 95 %, 1000 resamples)")
    if scores.get("phenomena"):
        print(f"  {'phenomenon':<14} {'check':>6} {'sentence':>8}   (check: the phenomenon itself right; "
              "sentence: the whole sentence exact)")
    for name, accuracy in scores.get("phenomena", {}).items():
        print(f"  {name:<14} {accuracy:6.3f} {scores['phenomena_sentence'][name]:8.3f}")
    print(scores["signature"])


def run_translate(args) -> None:
    from .translate import Translator

    translator = Translator.from_checkpoint(args.checkpoint, args.device)
    texts = args.text or [line.rstrip("\n") for line in sys.stdin]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lines = translator.translate(texts, beam=args.beam)
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)
    for line in lines:
        print(line)


def main(argv=None) -> int:
    """Run one command; a user's mistake (bad checkpoint or corpus, bad option value) is one line, exit 1."""
    args = parser().parse_args(argv)
    command = {"train": run_train, "evaluate": run_evaluate, "translate": run_translate}[args.command]
    try:
        command(args)
    except (CheckpointError, OSError, ValueError, KeyError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {one_line(message)}", file=sys.stderr)
        return 1
    except Interrupted as stop:
        print(stop, file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except RuntimeError as err:  # out of memory (torch raises RuntimeError for it, on the CPU and on GPUs)
        if "memory" not in str(err).lower():
            raise
        print(f"error: out of memory ({one_line(err)[:200]}): try a smaller --beam or --preset", file=sys.stderr)
        return 1
    return 0
