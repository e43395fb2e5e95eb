"""Training pieces shared by notebook 10 and the translator: label-smoothed loss and the learning-rate schedule."""

import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import LambdaLR

from .tokens import PAD_ID
from .validation import require_positive_int, require_probability


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


def warmup_inverse_sqrt(step: int, warmup_steps: int) -> float:
    """Learning-rate factor: linear warm-up to 1 at `warmup_steps`, then 1/√step decay (peak = base lr)."""
    # lr(s) = lr_peak · min(s / w, √(w / s)) with s counted from 1
    step = max(step, 1)
    return min(step / warmup_steps, (warmup_steps / step) ** 0.5)


def inverse_sqrt_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int) -> LambdaLR:
    """A LambdaLR applying `warmup_inverse_sqrt`; the optimizer's lr is the peak, reached at `warmup_steps`."""
    require_positive_int("warmup_steps", warmup_steps)
    return LambdaLR(optimizer, lambda step: warmup_inverse_sqrt(step + 1, warmup_steps))
