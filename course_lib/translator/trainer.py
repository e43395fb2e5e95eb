"""Training the translator: AdamW (weight decay on matrices only), warm-up + inverse-sqrt schedule, label
smoothing, clipping, bf16 or loss-scaled fp16 autocast on GPUs, budgets in steps and minutes, validation BLEU,
best/last checkpoints, an exact resume, saves every few minutes and on SIGINT/SIGTERM; DistributedDataParallel
under torchrun."""

import os
import time
from contextlib import nullcontext
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..fused import set_fused
from ..tokens import PAD_ID
from ..training import inverse_sqrt_schedule, label_smoothed_cross_entropy
from ..transformer import Transformer
from ..validation import require_choice
from .batching import Batch, make_batches
from .checkpoint import (
    BEST,
    LAST,
    CheckpointError,
    checkpoint_file,
    load_checkpoint,
    load_weights,
    mismatch,
    require_keys,
    save_checkpoint,
)
from .config import TrainConfig, config_from_checkpoint
from .dataset import Languages, languages_from_checkpoint, load_splits
from .runs import (
    Interrupted,
    RunLock,
    StopSignals,
    corpus_fingerprint,
    remove_run,
    require_new_or_chosen,
    require_same_corpus,
    require_writable_dir,
    resumed_config,
)
from .translate import Translator, pick_device, score

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SEED_STRIDE = 2**32  # rank r > 0 draws its dropout from seed + r * 2**32 (seeds are below 2**32)


def batch_loss(model, batch: Batch, smoothing: float, world_size: int = 1) -> torch.Tensor:
    """Teacher-forced, label-smoothed loss per target token of the whole (all ranks') batch."""
    decoder_input, labels = batch.tgt[:, :-1], batch.tgt[:, 1:]  # (B, Lt - 1) each
    tokens = labels.ne(PAD_ID).sum()
    if world_size > 1:
        dist.all_reduce(tokens)  # every rank divides by the global count ...
    logits = model(batch.src, decoder_input)  # (B, Lt - 1, V)
    loss = label_smoothed_cross_entropy(logits, labels, smoothing, num_tokens=tokens)
    return loss * world_size  # ... and DDP averages the ranks' gradients: their sum is the whole batch's


def rank_and_world() -> tuple[int, int]:
    """This process's rank and the number of processes (torchrun sets RANK and WORLD_SIZE)."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def rng_state(device: torch.device) -> dict:
    """The random-number state that dropout draws from."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Inverse of `rng_state`."""
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW's two groups: weight decay on the matrices of linear maps, none on anything else.

    A parameter is decayed when it has two or more dimensions and is not an embedding table: biases and the gains
    and biases of LayerNorm/RMSNorm are 1-D, and an output layer tied to an embedding counts as the embedding.
    """
    embeddings = {id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)}
    decay, no_decay = [], []
    for param in model.parameters():
        (decay if param.dim() >= 2 and id(param) not in embeddings else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The dtype training computes in under autocast, None for float32.

    auto: bf16 on a GPU that computes in it natively (Ampere or newer), fp16 with loss scaling on an older one
    (a T4), float32 on the CPU and MPS; fp32, bf16 and fp16 force one (fp16 on the CPU is how the tests run it).
    """
    require_choice("precision", precision, PRECISIONS)
    if precision == "auto":
        return (torch.bfloat16 if bf16_native() else torch.float16) if device.type == "cuda" else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def bf16_native() -> bool:
    """torch.cuda.is_bf16_supported() without emulation: a T4 can store bf16 but not compute in it at speed."""
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # a torch release from before the argument
        return torch.cuda.is_bf16_supported()


class Trainer:
    """One training run into `out_dir`; `resume=True` continues the run saved there exactly.

    `out_dir` is checked before any work and locked while the run uses it; a run already there is refused unless
    resumed or `overwrite` (deleted first). Resuming keeps the saved settings but the device (`config`'s): `given`
    names the ones the caller chose (None: every one of `config`), and a choice that would change the run is
    refused; a budget replaces the saved one only when chosen. last.pt is saved every `save_every_minutes` and
    when SIGINT/SIGTERM asks the run to stop, which then raises Interrupted. `precision`: see `autocast_dtype`.
    """

    def __init__(self, config: TrainConfig, out_dir, resume: bool = False, progress: bool = True, log=print, *,
                 overwrite: bool = False, given=None, save_every_minutes: float = 5.0, precision: str = "auto"):
        self.out_dir, self.progress, self.rank, self.world = Path(out_dir), progress, *rank_and_world()
        self.log = log if self.rank == 0 else (lambda *_: None)
        self.save_every = 60 * save_every_minutes
        # 0. the directory: writable, ours alone (rank 0 writes), holding a run only to resume or overwrite
        require_writable_dir(self.out_dir)
        self.lock = RunLock(self.out_dir).acquire() if self.rank == 0 else None
        try:
            require_new_or_chosen(self.out_dir, resume, overwrite)
            if overwrite and self.rank == 0:
                remove_run(self.out_dir)
            self.setup(config, resume, given, precision)
        except BaseException:
            self.release()
            raise

    def setup(self, config: TrainConfig, resume: bool, given, precision: str) -> None:
        """Configuration, data, languages, model, optimizer; the saved state when resuming."""
        self.saved_path = checkpoint_file(self.out_dir, LAST) if resume else None
        saved = load_checkpoint(self.saved_path) if resume else None
        self.device = self.setup_device(config.device)
        if self.world > 1:  # the backend of the run's device: --device cpu on a GPU machine needs gloo too
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        # 1. configuration, data and languages: from the checkpoint when resuming, else built afresh
        if saved is not None:
            self.config, changes = resumed_config(config_from_checkpoint(saved, self.saved_path), config, given,
                                                  self.saved_path)
            if self.config.device != self.device.type:
                changes.append(f"device {self.config.device} -> {self.device.type}")
                self.config = replace(self.config, device=self.device.type)
        else:
            self.config, changes = config.resolved(self.device.type), []
        splits, target_lang = load_splits(self.config.corpus, self.config.split_seed, self.config.skip_malformed,
                                          self.log, self.config.split_method)
        self.corpus = corpus_fingerprint(splits)
        if saved is not None:
            require_same_corpus(saved.get("corpus"), self.corpus, self.config.corpus, self.saved_path)
        self.languages = (languages_from_checkpoint(saved, self.saved_path) if saved is not None
                          else Languages.build(splits["train"], target_lang, self.config.min_freq,
                                                self.config.subwords))
        self.train_examples = self.languages.encode(splits["train"], self.config.max_len)
        self.valid_examples = self.languages.encode(splits["valid"], self.config.max_len)
        self.valid_pairs = splits["valid"][: self.config.eval_sentences]
        # 2. model, optimizer, schedule (the seed fixes the initial weights, the same on every rank)
        torch.manual_seed(self.config.seed)
        model = Transformer(len(self.languages.src_vocab), len(self.languages.tgt_vocab), **self.config.model_kwargs())
        self.model = set_fused(model).to(self.device)
        if self.rank > 0:  # each rank its own dropout masks; rank 0 goes on as a single process would
            torch.manual_seed(self.config.seed + self.rank * SEED_STRIDE)
        self.optimizer = torch.optim.AdamW(parameter_groups(self.model, self.config.weight_decay), lr=self.config.lr,
                                           betas=(0.9, 0.98), eps=1e-9)
        self.scheduler = inverse_sqrt_schedule(self.optimizer, self.config.warmup_steps)
        self.amp_dtype = autocast_dtype(self.device, precision)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.step, self.epoch, self.position, self.elapsed = 0, 0, 0, 0.0
        self.tokens, self.train_seconds = 0, 0.0  # target tokens trained on (this process), time in train_step
        self.history = {"step": [], "loss": [], "valid": []}
        self.best_bleu = float("-inf")
        if saved is not None:
            self.restore(saved)
            changed = f"; changed: {', '.join(changes)}" if changes else ""
            self.log(f"resuming {self.saved_path} at step {self.step} with a budget of {budget(self.config)}{changed}")
        self.ddp = (DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                                            else None) if self.world > 1 else self.model)

    def release(self) -> None:
        """Unlock the directory."""
        if self.lock is not None:
            self.lock.release()

    def setup_device(self, requested: str) -> torch.device:
        """The device; under torchrun on GPUs, this rank's own GPU."""
        device = pick_device(requested)
        if device.type == "cuda" and self.world > 1:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        return device

    def state(self) -> dict:
        """Everything a checkpoint holds: model, optimizer, schedule, loss scale, languages, config, the corpus's
        fingerprint, progress and every rank's RNG state (gathered: every rank calls this)."""
        rng = [rng_state(self.device)]
        if self.world > 1:
            rng = [None] * self.world
            dist.all_gather_object(rng, rng_state(self.device))
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "config": asdict(self.config), "languages": self.languages.to_dict(), "corpus": self.corpus,
                "rng": rng, "history": self.history,
                "progress": {"step": self.step, "epoch": self.epoch, "position": self.position,
                             "elapsed": self.elapsed, "best_bleu": self.best_bleu, "tokens": self.tokens,
                             "train_seconds": self.train_seconds}}

    def restore(self, saved: dict) -> None:
        """Continue from a checkpoint's state (a one-line CheckpointError if it does not fit)."""
        path = self.saved_path
        require_keys(saved, path, ["model", "optimizer", "scheduler", "rng", "history", "progress"])
        load_weights(self.model, saved["model"], path)
        rng = saved["rng"] if isinstance(saved["rng"], list) else [saved["rng"]]  # one per rank (or rank 0's)
        if len(rng) != self.world:
            raise CheckpointError(f"checkpoint {str(path)!r} was saved by {len(rng)} training process(es): resume it "
                                  f"with as many (torchrun --nproc_per_node={len(rng)}), not {self.world}")
        try:
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
            if saved.get("scaler"):
                self.scaler.load_state_dict(saved["scaler"])
            set_rng_state(rng[self.rank], self.device)
            self.history = saved["history"]
            progress = saved["progress"]
            self.step, self.epoch, self.position = progress["step"], progress["epoch"], progress["position"]
            self.elapsed, self.best_bleu = progress["elapsed"], progress["best_bleu"]
            self.tokens, self.train_seconds = progress.get("tokens", 0), progress.get("train_seconds", 0.0)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise mismatch(path, "training state", err) from None

    def epoch_batches(self) -> list[Batch]:
        """This rank's batches of the current epoch: the same shuffle on every rank, seeded by (seed, epoch)."""
        generator = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.epoch)
        batches = make_batches(self.train_examples, self.config.max_tokens, shuffle=True, generator=generator)
        per_rank = len(batches) // self.world
        return batches[self.rank :: self.world][:per_rank]

    def out_of_budget(self) -> bool:
        """True once the step budget or the minute budget is spent."""
        steps, minutes = self.config.max_steps, self.config.max_minutes
        return (steps is not None and self.step >= steps) or (minutes is not None and self.elapsed >= 60 * minutes)

    def train_step(self, batch: Batch) -> float:
        """One optimizer step on one batch; returns its loss."""
        batch = batch.to(self.device)
        with torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext():
            loss = batch_loss(self.ddp, batch, self.config.label_smoothing, self.world)
        self.optimizer.zero_grad(set_to_none=True)
        # fp16: the loss is scaled up so that small gradients do not flush to zero, and unscaled before clipping
        # (with bf16 or float32 the scaler is off and each of these calls is the plain one)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        scale = self.scaler.get_scale()
        self.scaler.step(self.optimizer)  # fp16: skipped when a gradient overflowed ...
        self.scaler.update()  # ... and the scale halved
        if self.scaler.get_scale() >= scale:  # a skipped step does not advance the schedule
            self.scheduler.step()
        mean = loss.detach() / self.world  # this rank's share of the batch's mean loss
        if self.world > 1:
            dist.all_reduce(mean)
        return mean.item()

    @torch.no_grad()
    def validate(self) -> dict:
        """Validation loss (every sentence) and BLEU (greedy, the first `eval_sentences`)."""
        self.model.eval()
        total, tokens = 0.0, 0
        for batch in make_batches(self.valid_examples, self.config.max_tokens, shuffle=False, generator=None):
            batch = batch.to(self.device)
            n = batch.tgt[:, 1:].ne(PAD_ID).sum().item()
            total += batch_loss(self.model, batch, 0.0).item() * n
            tokens += n
        translator = Translator(self.model, self.languages, self.config.max_len, self.device)
        bleu = score(translator, self.valid_pairs)["bleu"]
        self.model.train()
        return {"step": self.step, "epoch": self.epoch, "seconds": self.elapsed, "loss": total / max(tokens, 1),
                "bleu": bleu}

    def checkpoint(self) -> None:
        """Validate; save the last state, and the best by validation BLEU."""
        result = self.validate()
        self.history["valid"].append(result)
        train_loss = f"{self.history['loss'][-1]:.3f}" if self.history["loss"] else "  -  "
        self.log(f"step {self.step:>6} | epoch {self.epoch:>3} | train loss {train_loss} | "
                 f"valid loss {result['loss']:.3f} | valid BLEU {result['bleu']:5.1f} | {self.elapsed:6.0f} s")
        improved = result["bleu"] > self.best_bleu
        self.best_bleu = max(self.best_bleu, result["bleu"])
        self.save(LAST, *([BEST] if improved else []))

    def save(self, *names: str) -> None:
        """Write the state to each named checkpoint (rank 0; every rank takes part in gathering it)."""
        state = self.state()
        if self.rank == 0:
            for name in names:
                save_checkpoint(state, self.out_dir / name)
        if self.world > 1:
            dist.barrier()  # no rank goes on before the files are written
        self.saved_at = time.monotonic()

    def save_if_asked(self, signals: StopSignals) -> None:
        """Between steps: save last.pt if a signal asked the run to stop (then raise Interrupted) or if
        `save_every_minutes` have passed since the last save. The ranks agree, so they stop at the same step."""
        asked = torch.tensor([signals.signum or 0, time.monotonic() - self.saved_at >= self.save_every],
                             device=self.device)  # (2,): the signal's number (0: none), whether a save is due
        if self.world > 1:
            dist.all_reduce(asked, op=dist.ReduceOp.MAX)
        signum, due = asked.tolist()
        if signum or due:
            self.save(LAST)
        if signum:
            raise Interrupted(signum, self.step, self.out_dir / LAST)

    def run(self) -> dict:
        """Train until a budget is spent; validate each epoch (or every `eval_every` steps) and at the end."""
        self.model.train()
        bar = tqdm(total=self.config.max_steps, initial=self.step, disable=not self.progress or self.rank != 0,
                   desc="training", unit="step")
        try:
            with StopSignals() as signals:
                self.train_steps(bar, signals)
            bar.close()
            if not self.history["valid"] or self.history["valid"][-1]["step"] != self.step:
                self.checkpoint()
        finally:
            bar.close()  # before any message: it then starts on a line of its own
            self.release()
            if self.world > 1:
                dist.destroy_process_group()
        return {"steps": self.step, "epochs": self.epoch, "seconds": self.elapsed, "best_bleu": self.best_bleu,
                "tokens": self.tokens, "train_seconds": self.train_seconds, "last": self.history["valid"][-1]}

    def train_steps(self, bar, signals: StopSignals) -> None:
        """The training loop: steps until a budget is spent, validating and saving on the way."""
        clock, self.saved_at = time.perf_counter(), time.monotonic()
        while not self.out_of_budget():
            batches = self.epoch_batches()
            while self.position < len(batches) and not self.out_of_budget():
                self.save_if_asked(signals)
                batch, start = batches[self.position], time.perf_counter()
                loss = self.train_step(batch)  # ends in .item(): the device has finished the step
                now = time.perf_counter()
                self.tokens += batch.num_tokens()  # counted on the CPU copy: no device sync
                self.train_seconds += now - start  # optimizer steps only, validation not included
                self.elapsed, clock = self.elapsed + now - clock, now  # wall time, validation included
                self.step, self.position = self.step + 1, self.position + 1
                self.history["step"].append(self.step)
                self.history["loss"].append(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}")
                if self.config.eval_every and self.step % self.config.eval_every == 0:
                    self.checkpoint()
            if self.position == len(batches):
                self.epoch, self.position = self.epoch + 1, 0
                if not self.config.eval_every:
                    self.checkpoint()


def budget(config: TrainConfig) -> str:
    """A run's budget in words: "400 steps", "10 minutes" or both."""
    parts = [f"{config.max_steps} steps" if config.max_steps else "", f"{config.max_minutes:g} minutes"
             if config.max_minutes else ""]
    return " or ".join(part for part in parts if part)


def train(config: TrainConfig, out_dir, resume: bool = False, progress: bool = True, log=print, **options) -> dict:
    """Train (or resume) a translator into `out_dir`; returns a summary of the run. `options`: see Trainer."""
    return Trainer(config, out_dir, resume, progress, log, **options).run()
