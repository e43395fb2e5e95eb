"""Training pieces shared by notebook 10 and the translator: label-smoothed loss and the learning-rate schedule;
and notebook 10's whole run on a toy task (`train_toy_task`), which its test repeats bit for bit."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import LambdaLR

from .decoding import greedy_decode
from .fused import set_fused
from .tokens import PAD_ID
from .toy_tasks import TASKS, VOCAB_SIZE, make_batch, sequence_accuracy, teacher_forcing_pair
from .transformer import Transformer
from .validation import (
    require_choice,
    require_head_split,
    require_non_negative_int,
    require_positive_int,
    require_probability,
)


def label_smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, smoothing: float = 0.1,
                                 pad_id: int = PAD_ID, num_tokens=None) -> torch.Tensor:
    """Mean cross-entropy over non-pad targets against (1 - ε)·one-hot + ε/V (Szegedy et al., 2016).

    `num_tokens`: divide the summed loss by this count instead of the batch's own (data parallel: the
    global count, so that averaging the ranks' gradients gives the gradient of the whole batch).
    """
    require_probability("smoothing", smoothing)
    if logits.shape[:-1] != target.shape:
        raise ValueError(f"logits {tuple(logits.shape)} need target of shape {tuple(logits.shape[:-1])}, "
                         f"got {tuple(target.shape)}")
    log_probs = F.log_softmax(logits.float(), dim=-1)  # (B, L, V)
    # -log p(y): the loss against the one-hot target
    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B, L)
    # -(1/V) Σ_v log p(v): the loss against the uniform distribution
    uniform = -log_probs.mean(dim=-1)  # (B, L)
    loss = (1.0 - smoothing) * nll + smoothing * uniform  # (B, L)
    keep = target != pad_id  # (B, L)
    count = keep.sum().clamp(min=1) if num_tokens is None else num_tokens
    return loss[keep].sum() / count


def warmup_inverse_sqrt(step: int, warmup_steps: int, total_steps: int | None = None,
                        cooldown_steps: int = 0) -> float:
    """Learning-rate factor: linear warm-up to 1 at `warmup_steps`, then 1/√step decay (peak = base lr), and over
    the last `cooldown_steps` of `total_steps` a linear fall towards 0 (a cool-down; 0: none)."""
    # lr(s) = lr_peak · min(s / w, √(w / s)) · min(1, (T − s + 1) / c) with s counted from 1
    step = max(step, 1)
    factor = min(step / warmup_steps, (warmup_steps / step) ** 0.5)
    if cooldown_steps:
        factor *= min(1.0, (total_steps - step + 1) / cooldown_steps)
    return factor


def inverse_sqrt_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int | None = None,
                          cooldown_steps: int = 0) -> LambdaLR:
    """A LambdaLR applying `warmup_inverse_sqrt`; the optimizer's lr is the peak, reached at `warmup_steps`."""
    require_positive_int("warmup_steps", warmup_steps)
    require_non_negative_int("cooldown_steps", cooldown_steps)
    if cooldown_steps:
        require_positive_int("total_steps", total_steps)
        if cooldown_steps > total_steps:
            raise ValueError(f"cooldown_steps={cooldown_steps} is more than total_steps={total_steps}")
    return LambdaLR(optimizer, lambda step: warmup_inverse_sqrt(step + 1, warmup_steps, total_steps, cooldown_steps))


@dataclass(frozen=True)
class ToyTrainingConfig:
    """Notebook 10's run: a small Transformer, a budget in steps, Adam with warm-up; the seed fixes everything."""

    d_model: int = 64
    num_heads: int = 4
    num_layers: int = 2  # on each side
    d_ff: int = 128
    max_digits: int = 8
    steps: int = 500
    batch_size: int = 64
    peak_lr: float = 3e-3
    warmup: int = 100
    cooldown: float = 0.2  # the share of steps at the end where the rate falls to 0: the model kept is not mid-jump
    smoothing: float = 0.1
    seed: int = 0  # the initial weights; the training strings are drawn with seed + 1

    def __post_init__(self):
        for name in ("d_model", "num_heads", "num_layers", "d_ff", "max_digits", "steps", "batch_size", "warmup"):
            require_positive_int(name, getattr(self, name))
        require_probability("cooldown", self.cooldown)
        require_head_split(self.d_model, self.num_heads)
        require_probability("smoothing", self.smoothing)
        require_non_negative_int("seed", self.seed)
        if not self.peak_lr > 0:
            raise ValueError(f"peak_lr must be > 0, got peak_lr={self.peak_lr}")

    @property
    def cooldown_steps(self) -> int:
        """The number of steps the cool-down lasts."""
        return round(self.cooldown * self.steps)


def toy_model(config: ToyTrainingConfig) -> Transformer:
    """A fresh Transformer for the toy tasks, no dropout (every batch is new: nothing to overfit)."""
    return Transformer(VOCAB_SIZE, VOCAB_SIZE, config.d_model, config.num_heads, config.num_layers, config.num_layers,
                       config.d_ff, dropout=0.0, max_len=config.max_digits + 2)


def train_toy_task(task: str, config: ToyTrainingConfig = ToyTrainingConfig(), pair=teacher_forcing_pair,
                   log_every: int = 0) -> tuple[Transformer, list[float]]:
    """Train on `task` for config.steps steps: the model (eval mode, explicit path) and every step's loss.

    `pair(tgt)` turns a target batch into (decoder input, labels); `log_every` > 0 prints the loss that often.
    """
    require_choice("task", task, TASKS)
    torch.manual_seed(config.seed)
    model = set_fused(toy_model(config))  # fused attention and LayerNorm: the same maths, faster
    optimizer = torch.optim.Adam(model.parameters(), lr=config.peak_lr, betas=(0.9, 0.98), eps=1e-9)
    schedule = inverse_sqrt_schedule(optimizer, config.warmup, config.steps, config.cooldown_steps)
    data = torch.Generator().manual_seed(config.seed + 1)
    losses = []
    model.train()
    for step in range(1, config.steps + 1):
        # 1. a fresh batch, shifted for teacher forcing
        batch = make_batch(task, config.batch_size, 1, config.max_digits, generator=data)
        decoder_input, labels = pair(batch.tgt)  # (B, Lt) each
        # 2. the label-smoothed loss over the real target tokens
        loss = label_smoothed_cross_entropy(model(batch.src, decoder_input), labels, config.smoothing)
        # 3. one Adam step on the scheduled learning rate
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if log_every and step % log_every == 0:
            print(f"step {step:4d}  loss {loss.item():.3f}  lr {schedule.get_last_lr()[0]:.5f}")
    return set_fused(model.eval(), False), losses


def toy_accuracy(model: Transformer, task: str, config: ToyTrainingConfig = ToyTrainingConfig(), size: int = 500,
                 seed: int = 2024) -> float:
    """Greedy sequence accuracy on `size` fresh strings drawn with their own seed (the held-out set)."""
    test = make_batch(task, size, 1, config.max_digits, generator=torch.Generator().manual_seed(seed))
    return sequence_accuracy(greedy_decode(model, test.src, config.max_digits + 1), test.tgt)
