"""Training the translator: AdamW, warm-up + inverse-sqrt schedule, label smoothing, clipping, budgets in steps
and minutes, validation BLEU, best/last checkpoints and an exact resume; DistributedDataParallel under torchrun."""

import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ..fused import set_fused
from ..tokens import PAD_ID
from ..training import inverse_sqrt_schedule, label_smoothed_cross_entropy
from ..transformer import Transformer
from .batching import Batch, make_batches
from .checkpoint import (
    BEST,
    LAST,
    checkpoint_file,
    load_checkpoint,
    load_weights,
    mismatch,
    require_keys,
    save_checkpoint,
)
from .config import TrainConfig, config_from_checkpoint
from .dataset import Languages, languages_from_checkpoint, load_splits
from .translate import Translator, pick_device, score


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


class Trainer:
    """One training run into `out_dir`; `resume=True` continues the run saved there exactly."""

    def __init__(self, config: TrainConfig, out_dir, resume: bool = False, progress: bool = True, log=print):
        self.out_dir, self.progress, self.rank, self.world = Path(out_dir), progress, *rank_and_world()
        self.log = log if self.rank == 0 else (lambda *_: None)
        self.saved_path = checkpoint_file(self.out_dir, LAST) if resume else None
        saved = load_checkpoint(self.saved_path) if resume else None
        if self.world > 1:
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        self.device = self.setup_device(config.device)
        # 1. configuration, data and languages: from the checkpoint when resuming, else built afresh
        if saved is not None:
            self.config = config_from_checkpoint(saved, self.saved_path, max_steps=config.max_steps,
                                                 max_minutes=config.max_minutes)
        else:
            self.config = config.resolved(self.device.type)
        splits, target_lang = load_splits(self.config.corpus, self.config.split_seed, self.config.skip_malformed,
                                          self.log, self.config.split_method)
        self.languages = (languages_from_checkpoint(saved, self.saved_path) if saved is not None
                          else Languages.build(splits["train"], target_lang, self.config.min_freq,
                                                self.config.subwords))
        self.train_examples = self.languages.encode(splits["train"], self.config.max_len)
        self.valid_examples = self.languages.encode(splits["valid"], self.config.max_len)
        self.valid_pairs = splits["valid"][: self.config.eval_sentences]
        # 2. model, optimizer, schedule (the seed fixes the initial weights)
        torch.manual_seed(self.config.seed)
        model = Transformer(len(self.languages.src_vocab), len(self.languages.tgt_vocab), **self.config.model_kwargs())
        model.src_embed.reset_to_unit_scale(), model.tgt_embed.reset_to_unit_scale()
        self.model = set_fused(model).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.config.lr, betas=(0.9, 0.98), eps=1e-9,
                                           weight_decay=self.config.weight_decay)
        self.scheduler = inverse_sqrt_schedule(self.optimizer, self.config.warmup_steps)
        self.step, self.epoch, self.position, self.elapsed = 0, 0, 0, 0.0
        self.tokens, self.train_seconds = 0, 0.0  # target tokens trained on (this process), time in train_step
        self.history = {"step": [], "loss": [], "valid": []}
        self.best_bleu = float("-inf")
        if saved is not None:
            self.restore(saved)
        self.ddp = (DistributedDataParallel(self.model, device_ids=[self.device.index] if self.device.type == "cuda"
                                            else None) if self.world > 1 else self.model)

    def setup_device(self, requested: str) -> torch.device:
        """The device; under torchrun on GPUs, this rank's own GPU."""
        device = pick_device(requested)
        if device.type == "cuda" and self.world > 1:
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
            torch.cuda.set_device(device)
        return device

    def state(self) -> dict:
        """Everything a checkpoint holds: model, optimizer, schedule, languages, config, progress and RNG."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "config": asdict(self.config),
                "languages": self.languages.to_dict(), "rng": rng_state(self.device), "history": self.history,
                "progress": {"step": self.step, "epoch": self.epoch, "position": self.position,
                             "elapsed": self.elapsed, "best_bleu": self.best_bleu, "tokens": self.tokens,
                             "train_seconds": self.train_seconds}}

    def restore(self, saved: dict) -> None:
        """Continue from a checkpoint's state (a one-line CheckpointError if it does not fit)."""
        path = self.saved_path
        require_keys(saved, path, ["model", "optimizer", "scheduler", "rng", "history", "progress"])
        load_weights(self.model, saved["model"], path)
        try:
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
            set_rng_state(saved["rng"], self.device)
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
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            loss = batch_loss(self.ddp, batch, self.config.label_smoothing, self.world)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_norm)
        self.optimizer.step()
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
        if self.rank != 0:
            return
        state = self.state()
        save_checkpoint(state, self.out_dir / LAST)
        if improved:
            save_checkpoint(state, self.out_dir / BEST)

    def run(self) -> dict:
        """Train until a budget is spent; validate each epoch (or every `eval_every` steps) and at the end."""
        self.model.train()
        bar = tqdm(total=self.config.max_steps, initial=self.step, disable=not self.progress or self.rank != 0,
                   desc="training", unit="step")
        clock = time.perf_counter()
        while not self.out_of_budget():
            batches = self.epoch_batches()
            while self.position < len(batches) and not self.out_of_budget():
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
        bar.close()
        if not self.history["valid"] or self.history["valid"][-1]["step"] != self.step:
            self.checkpoint()
        if self.world > 1:
            dist.destroy_process_group()
        return {"steps": self.step, "epochs": self.epoch, "seconds": self.elapsed, "best_bleu": self.best_bleu,
                "tokens": self.tokens, "train_seconds": self.train_seconds, "last": self.history["valid"][-1]}


def train(config: TrainConfig, out_dir, resume: bool = False, progress: bool = True, log=print) -> dict:
    """Train (or resume) a translator into `out_dir`; returns a summary of the run."""
    return Trainer(config, out_dir, resume, progress, log).run()
