"""Time one training step (forward, backward, AdamW) of course_lib.Transformer against torch.nn.Transformer.

Both models have the same sizes, the same embeddings, positions, dropout and output layer, see the same
batch (with padding) and are timed alternately in one process, so a shared, noisy machine slows both alike.
The result is the ratio of the median step times, course / torch.

    .venv/bin/python bench/step_time.py                 # the default config
    .venv/bin/python bench/step_time.py --device cuda --amp
"""

import argparse
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import course_lib
from course_lib import PAD_ID, PositionalEncoding


class TorchSeq2Seq(nn.Module):
    """torch.nn.Transformer with course_lib's embeddings (x sqrt(d_model)), sinusoidal positions and output layer."""

    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int, num_heads: int, num_encoder_layers: int,
                 num_decoder_layers: int, d_ff: int, dropout: float, max_len: int, pad_id: int = PAD_ID):
        super().__init__()
        self.d_model, self.pad_id = d_model, pad_id
        self.src_embed = nn.Embedding(src_vocab, d_model, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model, padding_idx=pad_id)
        self.positions = PositionalEncoding(d_model, max_len, dropout)
        self.transformer = nn.Transformer(d_model, num_heads, num_encoder_layers, num_decoder_layers, d_ff,
                                          dropout, batch_first=True)
        # course_lib's post-norm stacks (the paper) end without a final LayerNorm: drop torch's two
        self.transformer.encoder.norm = None
        self.transformer.decoder.norm = None
        self.generator = nn.Linear(d_model, tgt_vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        scale = math.sqrt(self.d_model)
        src_pad = src == self.pad_id  # (B, Ls), torch convention: True = ignore
        tgt_pad = tgt == self.pad_id  # (B, Lt)
        length = tgt.size(1)
        causal = torch.ones(length, length, dtype=torch.bool, device=tgt.device).triu(1)  # True = ignore
        x = self.transformer(
            self.positions(self.src_embed(src) * scale), self.positions(self.tgt_embed(tgt) * scale),
            tgt_mask=causal, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=src_pad, tgt_is_causal=True,
        )  # (B, Lt, d_model)
        return self.generator(x)  # (B, Lt, tgt_vocab)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--enc-layers", type=int, default=3)
    p.add_argument("--dec-layers", type=int, default=3)
    p.add_argument("--d-ff", type=int, default=1024)
    p.add_argument("--vocab", type=int, default=1000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=32)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=60, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=5, help="untimed steps per model first")
    p.add_argument("--device", default="auto", help="auto (cuda if available, else cpu), cpu or cuda")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (cuda only)")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def make_batch(batch: int, length: int, vocab: int, generator: torch.Generator, device) -> tuple:
    """(src (B, L), tgt_in (B, L), tgt_out (B, L)): random ids with random lengths, padded at the end."""
    def padded(total: int) -> torch.Tensor:
        ids = torch.randint(4, vocab, (batch, total), generator=generator)
        lengths = torch.randint(total // 2, total + 1, (batch,), generator=generator)
        lengths[0] = total  # the longest sentence fills the batch
        ids[torch.arange(total) >= lengths[:, None]] = PAD_ID
        return ids

    src = padded(length)
    tgt = padded(length + 1)
    tgt[:, 0] = course_lib.BOS_ID
    return src.to(device), tgt[:, :-1].contiguous().to(device), tgt[:, 1:].contiguous().to(device)


def make_step(model: nn.Module, batch: tuple, vocab: int, device: torch.device, amp: bool):
    """A closure running one training step: forward, cross-entropy (padding ignored), backward, AdamW."""
    src, tgt_in, tgt_out = batch
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            logits = model(src, tgt_in)  # (B, Lt, vocab)
            loss = F.cross_entropy(logits.reshape(-1, vocab).float(), tgt_out.reshape(-1), ignore_index=PAD_ID)
        loss.backward()
        optimizer.step()

    return step


def timed(step, device: torch.device) -> float:
    """Seconds for one step, waiting for the GPU on both ends."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def check_parameter_counts(counts: dict[str, int]) -> None:
    """Raise SystemExit unless the two models' parameter counts are within 1% (a check python -O keeps)."""
    course, ref = counts["course"], counts["torch"]
    if abs(course - ref) > 0.01 * ref:
        raise SystemExit(f"parameter counts differ by more than 1%: course {course:,}, torch {ref:,} "
                         f"({(course - ref) / ref:+.2%}); the two models are not the same size, so no fair timing")


def main(argv=None) -> float:
    args = parse_args(argv)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if args.amp and device.type != "cuda":
        raise SystemExit("--amp (bf16 autocast) is for --device cuda")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    sizes = dict(d_model=args.d_model, num_heads=args.heads, num_encoder_layers=args.enc_layers,
                 num_decoder_layers=args.dec_layers, d_ff=args.d_ff, dropout=args.dropout, max_len=args.seq_len + 1)
    course = course_lib.Transformer(args.vocab, args.vocab, **sizes)
    course_lib.set_fused(course)  # the training path: fused attention and F.layer_norm
    ref = TorchSeq2Seq(args.vocab, args.vocab, **sizes)
    models = {"course": course.to(device).train(), "torch": ref.to(device).train()}

    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    print(f"parameters: course {counts['course']:,}  torch {counts['torch']:,}")
    check_parameter_counts(counts)

    batch = make_batch(args.batch, args.seq_len, args.vocab, torch.Generator().manual_seed(args.seed), device)
    print(f"batch: {args.batch} x {args.seq_len} tokens, padding {((batch[0] == PAD_ID).float().mean()):.0%} of src "
          f"and {((batch[1] == PAD_ID).float().mean()):.0%} of tgt")
    steps = {name: make_step(m, batch, args.vocab, device, args.amp) for name, m in models.items()}

    for _ in range(args.warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    order = list(steps)
    for i in range(args.steps):
        for name in order if i % 2 == 0 else order[::-1]:  # alternate who goes first
            times[name].append(timed(steps[name], device))

    medians = {name: statistics.median(t) for name, t in times.items()}
    ratio = medians["course"] / medians["torch"]
    print(f"config: d_model {args.d_model}, heads {args.heads}, layers {args.enc_layers}+{args.dec_layers}, "
          f"d_ff {args.d_ff}, vocab {args.vocab}, dropout {args.dropout}, device {device}, "
          f"threads {torch.get_num_threads()}, amp {args.amp}, torch {torch.__version__}")
    print(f"median step: course {medians['course'] * 1e3:.2f} ms, torch {medians['torch'] * 1e3:.2f} ms")
    print(f"step time ratio course/torch (median of {args.steps}): {ratio:.3f}")
    return ratio


if __name__ == "__main__":
    main()
