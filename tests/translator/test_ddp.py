"""DistributedDataParallel on two CPU processes (gloo) gives the gradients of one process on the whole batch."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from course_lib import PAD_ID, Transformer
from course_lib.translator.batching import Batch
from course_lib.translator.trainer import batch_loss

FIXTURE = Path(__file__).parent / "fixtures" / "mini.tsv"
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


def resume_worker(rank: int, world: int, ports: list[int], out: str) -> None:
    """Train 4 steps straight, and 2 steps then 2 more resumed, as two torchrun-style gloo processes."""
    from course_lib.translator import TrainConfig, train

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1")
    config = dict(corpus=str(FIXTURE), device="cpu", max_tokens=60, eval_sentences=2, warmup_steps=4,
                  model=dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32,
                             dropout=0.3))  # dropout on: every rank's random state matters
    quiet = dict(progress=False, log=lambda *_: None)
    for port, (where, steps, resume) in zip(ports, [("straight", 4, False), ("halves", 2, False),
                                                    ("halves", 4, True)], strict=True):
        os.environ["MASTER_PORT"] = str(port)  # each run its own process group
        train(TrainConfig(max_steps=steps, **config), Path(out) / where, resume=resume, **quiet)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")
def test_two_processes_seed_apart_and_resume_exactly(tmp_path):
    mp.spawn(resume_worker, args=(2, [free_port() for _ in range(3)], str(tmp_path)), nprocs=2, join=True)
    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    halves = torch.load(tmp_path / "halves" / "last.pt", weights_only=True)
    # each rank's random state is saved, and they differ: each rank draws its own dropout masks
    assert len(straight["rng"]) == 2 and not torch.equal(straight["rng"][0]["torch"], straight["rng"][1]["torch"])
    assert straight["progress"]["step"] == halves["progress"]["step"] == 4
    for name, tensor in straight["model"].items():
        assert torch.equal(tensor, halves["model"][name]), name
    assert straight["history"]["loss"] == halves["history"]["loss"]


def cpu_run_on_a_gpu_machine_worker(rank: int, world: int, port: int, out: str) -> None:
    """A `--device cpu` run under torchrun where CUDA is present: its process group must be gloo, not NCCL."""
    from course_lib.translator import TrainConfig, train

    torch.cuda.is_available = lambda: True  # what a GPU machine reports (NCCL cannot carry CPU tensors)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    train(TrainConfig(corpus=str(FIXTURE), device="cpu", max_steps=1, max_tokens=60, eval_sentences=2,
                      model=dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32)),
          out, progress=False, log=lambda *_: None)


@pytest.mark.skipif(not dist.is_available() or not dist.is_gloo_available(), reason="no gloo backend")
def test_a_cpu_run_on_a_gpu_machine_uses_gloo(tmp_path):
    # seen on an H200 machine: the backend followed torch.cuda.is_available(), and DDP on CPU tensors then failed
    mp.spawn(cpu_run_on_a_gpu_machine_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["progress"]["step"] == 1
