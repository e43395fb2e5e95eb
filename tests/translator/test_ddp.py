"""DistributedDataParallel on two CPU processes (gloo) gives the gradients of one process on the whole batch."""

import socket
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from course_lib import PAD_ID, Transformer
from course_lib.translator.batching import Batch
from course_lib.translator.trainer import batch_loss

TOLERANCE = dict(atol=1e-6, rtol=1e-5)  # float32 sums in a different order: equal to ~1e-7


def model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(12, 14, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32,
                       dropout=0.0)


def batch() -> Batch:
    """Four sentences of different lengths, so the two halves hold different numbers of target tokens."""
    torch.manual_seed(1)
    src = torch.randint(4, 12, (4, 6))
    tgt = torch.randint(4, 14, (4, 7))
    tgt[:, 0] = 1
    tgt[0, 3:], tgt[1, 5:], tgt[3, 2:] = PAD_ID, PAD_ID, PAD_ID
    return Batch(src=src, tgt=tgt)


def gradients(module) -> dict:
    return {name: p.grad.clone() for name, p in module.named_parameters() if p.grad is not None}


def worker(rank: int, world: int, port: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    ddp = DistributedDataParallel(model())
    whole = batch()
    half = Batch(src=whole.src[rank::world], tgt=whole.tgt[rank::world])  # each rank: its own rows
    batch_loss(ddp, half, smoothing=0.1, world_size=world).backward()
    if rank == 0:
        torch.save(gradients(ddp.module), out)
    dist.barrier()
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")
def test_two_gloo_processes_match_one(tmp_path):
    single = model()
    batch_loss(single, batch(), smoothing=0.1).backward()
    expected = gradients(single)
    out = tmp_path / "ddp_gradients.pt"
    mp.spawn(worker, args=(2, free_port(), str(out)), nprocs=2, join=True)
    got = torch.load(out, weights_only=True)
    assert got.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], **TOLERANCE, msg=name)


def test_torchrun_trains_with_two_cpu_processes(tmp_path):
    """The documented launch: torchrun runs the CLI on two gloo processes; rank 0 writes the checkpoints."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
               f"--master_port={free_port()}", "-m", "course_lib.translator", "train", "--out", str(tmp_path),
               "--max-steps", "2", "--device", "cpu", "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("trained 2 steps") == 1  # printed by rank 0 only
    assert torch.load(tmp_path / "last.pt", weights_only=True)["progress"]["step"] == 2
