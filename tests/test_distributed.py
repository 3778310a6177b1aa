"""Data-parallel training: two Gloo processes on the CPU, as `torchrun --nproc-per-node 2` runs them."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import tiny_config, tiny_cyclegan_config
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.data.sampling import ResumableSampler
from cgan_cli.device import Runtime
from cgan_cli.distributed import World
from cgan_cli.errors import UsageError
from cgan_cli.families import create
from cgan_cli.trainer import Trainer

CPU = torch.device("cpu")
pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without torch.distributed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def why_ranks_failed(stderr: str) -> str:
    """The ranks' own words (a C++ `what()`, a Python error) before torchrun's summary of who was signalled."""
    own = [line for line in stderr.splitlines() if any(w in line for w in ("what()", "Error", "terminate", "rank"))]
    return "\n".join(own[:40]) + "\n…\n" + stderr[-1500:]


def digest(nets: dict[str, torch.nn.Module], buffers: bool = False) -> str:
    """Of the weights (and with `buffers` the batch-norm statistics too, which ranks share after each step)."""
    h = hashlib.sha256()
    for name in sorted(nets):
        tensors = nets[name].state_dict() if buffers else dict(nets[name].named_parameters())
        for key, t in sorted(tensors.items()):
            h.update(key.encode())
            h.update(t.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def config(family: str, data: Path, **overrides):
    if family == "pix2pix":
        return tiny_config(data, **overrides)
    return tiny_cyclegan_config("", domain_a=str(data / "train"), domain_b=str(data / "test"), **overrides)


def _rank(
    rank: int, world: int, port: int, family: str, data: str, run: str, overrides: dict, resume: str, precision: str
) -> None:
    """One process of the world: what `cgan train` does under torchrun, recording a weight digest per step."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    me = World.detect()
    me.start(CPU)
    try:
        fam = create(family, config(family, Path(data), **overrides), Runtime(CPU, precision))
        trainer = Trainer(fam, Path(run))
        if resume:
            trainer.restore(load_checkpoint(resume))
        digests = [digest(fam.nets)]
        step = fam.train_step

        def recorded(batch):
            losses = step(batch)
            digests.append(digest(fam.nets))
            return losses

        fam.train_step = recorded
        trainer.fit()
        # after the trainer's own per-step buffer sync, the whole state must agree too
        digests.append(digest(fam.nets, buffers=True))
        Path(run, f"digests-{rank}.json").write_text(json.dumps(digests))
    finally:
        me.stop()


def run_world(
    family: str, data: Path, run: Path, world: int = 2, resume: Path | None = None, precision: str = "auto", **overrides
) -> Path:
    args = (world, free_port(), family, str(data), str(run), overrides, str(resume or ""), precision)
    mp.start_processes(_rank, args=args, nprocs=world, start_method="spawn", join=True)
    return run


@pytest.mark.parametrize("family", ["pix2pix", "cyclegan"])
def test_ranks_hold_identical_weights_after_every_step(demo_dir: Path, tmp_path: Path, family: str) -> None:
    run = run_world(family, demo_dir, tmp_path / "run", steps=3, batch_size=1)
    a, b = (json.loads((run / f"digests-{r}.json").read_text()) for r in (0, 1))
    assert len(a) == 3 + 2  # start, after each of 3 steps, after fit
    assert a == b
    assert len(set(a[:4])) == 4  # the weights did move every step
    # rank 0 alone wrote the run; its checkpoint knows the world it came from and resumes in one process
    ckpt = load_checkpoint(run / "latest.safetensors")
    assert ckpt.step == 3 and ckpt.state["world_size"] == 2 and ckpt.state["position"]["index"] == 6
    assert {k for k in ckpt.tensors if k.startswith("rng/")} >= {"rng/torch", "rng/torch/rank1"}
    assert [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()] == [2, 3]
    result = CliRunner().invoke(app, ["train", "--resume", str(run / "latest.safetensors"), "--steps", "5",
                                      "--device", "cpu", "--workers", "0"])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == str(run / "step-0000005.safetensors")
    assert load_checkpoint(run / "latest.safetensors").state["position"]["index"] == 8  # 6 + 2 × batch 1


def test_two_ranks_of_one_make_the_step_of_a_batch_of_two(demo_dir: Path, tmp_path: Path) -> None:
    """DDP's arithmetic: the mean of two ranks' gradients on one image each is the gradient of a batch of two
    (no batch statistics, no dropout). After one step Adam's first moment is (1 - β1) × that gradient, so the
    two runs' moments must agree (weights would not show it: Adam's first step is lr × sign(g)). In fp32, ranks
    and the single process alike: the 1e-4 bound is fp32 summation order, not bf16 rounding (2**-8) of a
    batch-of-one vs a batch-of-two weight gradient."""
    exact = dict(norm="instance", dropout=False, steps=1, flip=False)
    fp32 = Runtime(CPU, "fp32")
    run_world("pix2pix", demo_dir, tmp_path / "two", batch_size=1, precision="fp32", **exact)
    Trainer(create("pix2pix", config("pix2pix", demo_dir, batch_size=2, **exact), fp32), tmp_path / "one").fit()
    two = load_checkpoint(tmp_path / "two" / "latest.safetensors")
    one = load_checkpoint(tmp_path / "one" / "latest.safetensors")
    for net in ("G", "D"):
        a, b = two.sub(f"optim/{net}"), one.sub(f"optim/{net}")
        moments = [k for k in b if k.endswith(".exp_avg")]
        assert moments and a.keys() == b.keys()
        scale = max(b[k].abs().max().item() for k in moments)
        worst = max((a[k] - b[k]).abs().max().item() for k in moments)
        assert scale > 0 and worst <= 1e-4 * scale, (net, worst, scale)
    # and a world of two at batch 1 is not the same as one process at batch 1 (the check can fail)
    Trainer(create("pix2pix", config("pix2pix", demo_dir, batch_size=1, **exact), fp32), tmp_path / "b1").fit()
    b1 = load_checkpoint(tmp_path / "b1" / "latest.safetensors").sub("optim/G")
    assert max((b1[k] - two.sub("optim/G")[k]).abs().max().item() for k in b1 if k.endswith(".exp_avg")) > 1e-3 * scale


def test_the_sampler_shards_each_global_batch_and_pads_the_last(tmp_path: Path) -> None:
    n, batch, world = 7, 2, 2
    shards = []
    for rank in range(world):
        s = ResumableSampler(n, seed=3, rank=rank, world=world, batch=batch)
        shards.append([key for key in s])
        assert len(s) == len(shards[-1]) == 4  # ceil(7 / 4) = 2 steps of 2 on every rank
    single = list(ResumableSampler(n, seed=3))
    order = [k[0] for k in single]
    # global batch k is positions 4k … 4k+3: rank 0 takes the first two, rank 1 the next two
    assert [k[0] for k in shards[0]] == [order[0], order[1], order[4], order[5]]
    assert [k[0] for k in shards[1]] == [order[2], order[3], order[6], order[0]]  # the last is padded from the start
    assert shards[0][:2] == single[:2]  # the same augmentation seeds as one process at those positions
    resumed = ResumableSampler(n, seed=3, rank=1, world=world, batch=batch)
    resumed.start = 4
    assert list(resumed) == shards[1][2:]


def test_a_full_batch_sampler_fills_one_process_last_batch_from_the_start() -> None:
    """For nets that batch-normalise vectors (infogan's Q): 7 images at batch 3 are 3, 3 and 1 + 2 repeats."""
    plain, full = ResumableSampler(7, seed=3, batch=3), ResumableSampler(7, seed=3, batch=3, full=True)
    keys = list(full)
    assert len(plain) == 7 and len(full) == len(keys) == 9
    assert keys[:7] == list(plain) and [k[0] for k in keys[7:]] == [k[0] for k in keys[:2]]
    full.start = 6
    assert list(full) == keys[6:]


def test_torchrun_runs_the_cli_and_only_rank_zero_prints(demo_dir: Path, tmp_path: Path) -> None:
    """The real launcher and entry point: `torchrun --nproc-per-node 2 -m cgan_cli train …`."""
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
            "-m", "cgan_cli", "train", "pix2pix", "--paired", str(demo_dir), "--out", str(run), "--net-g", "unet_32",
            "--ngf", "8", "--ndf", "8", "--load-size", "36", "--crop-size", "32", "--steps", "2", "--device", "cpu",
            "--workers", "0"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, why_ranks_failed(done.stderr)
    assert done.stdout.splitlines() == [str(run / "step-0000002.safetensors")]
    assert done.stderr.count("training pix2pix") == 1 and "× 2 processes" in done.stderr
    assert load_checkpoint(run / "latest.safetensors").state["world_size"] == 2


def test_sync_bn_on_cpu_is_a_usage_error(demo_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "pix2pix", "--paired", str(demo_dir), "--out", str(tmp_path / "r"),
                                      "--steps", "1", "--device", "cpu", "--sync-bn"])  # fmt: skip
    assert result.exit_code == 2 and "needs CUDA" in result.stderr


def test_a_bad_torchrun_environment_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(UsageError, match="outside WORLD_SIZE"):
        World.detect()


def _worker_pids(launcher: int) -> dict[int, int]:
    """LOCAL_RANK → pid of torchrun's worker processes (Linux /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            env = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if parent == launcher:
            ranks = [e.split(b"=", 1)[1] for e in env if e.startswith(b"LOCAL_RANK=")]
            if ranks:
                found[int(ranks[0])] = int(entry.name)
    return found


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds worker processes through /proc")
def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(demo_dir: Path, tmp_path: Path) -> None:
    """Ctrl-C reaching only rank 1: both ranks stop after the same step, rank 0 saves that step, nothing hangs."""
    import signal
    import time

    run = tmp_path / "run"
    argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
            "-m", "cgan_cli", "train", "pix2pix", "--paired", str(demo_dir), "--out", str(run), "--net-g", "unet_32",
            "--ngf", "8", "--ndf", "8", "--load-size", "36", "--crop-size", "32", "--steps", "100000",
            "--log-every", "1", "--device", "cpu", "--workers", "0"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NO_COLOR": "1"}
    launcher = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not ((run / "log.jsonl").exists() and len((run / "log.jsonl").read_text().splitlines()) >= 3):
            assert launcher.poll() is None and time.monotonic() < deadline, "training did not start"
            time.sleep(0.2)
        workers = _worker_pids(launcher.pid)
        assert sorted(workers) == [0, 1]
        os.kill(workers[1], signal.SIGINT)
        stdout, stderr = launcher.communicate(timeout=120)
    finally:
        if launcher.poll() is None:  # a failure above: take the ranks down with the launcher
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    stopped = [line for line in stderr.splitlines() if "stopped at step" in line]
    assert len(stopped) == 1 and "another rank's signal" in stopped[0], stderr[-2000:]  # rank 0 says it, once
    step = int(stopped[0].split("stopped at step ")[1].split(";")[0])
    ckpt = load_checkpoint(run / "latest.safetensors")
    assert ckpt.step == step and ckpt.state["world_size"] == 2
    assert (run / f"step-{step:07d}.safetensors").is_file()
    assert not list(run.glob(".*.tmp"))  # no half-written file
    assert stdout == ""  # interrupted: no path on stdout


def test_a_signal_landing_during_the_stop_vote_is_counted_at_the_next_step(monkeypatch) -> None:
    """The race that once deadlocked two ranks: SIGINT arrives while rank 1 is inside the step's vote. It must
    still cast exactly one vote per step, and stop only when every rank agrees (at the next step)."""
    import signal

    from cgan_cli import distributed
    from cgan_cli.trainer import Trainer

    trainer = Trainer.__new__(Trainer)
    trainer.world = distributed.World(rank=1, size=2)
    trainer._stop_signal = None
    votes: list[bool] = []

    def vote(flag: bool, group: object = None) -> bool:
        votes.append(flag)
        if len(votes) == 1:
            trainer._on_signal(signal.SIGINT, None)  # lands mid-collective; the other rank voted False
        return flag  # the other rank votes False: MAX is this rank's own vote

    monkeypatch.setattr(distributed, "any_rank", vote)
    assert trainer._agree_to_stop(None) is False  # this step: nobody had seen a signal when voting
    assert trainer._agree_to_stop(None) is True  # the next step: this rank votes to stop, and all stop
    assert votes == [False, True]  # one vote per step, never a second one in the same step


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_rank_0_scores_while_the_other_waits(demo_dir: Path, tmp_path: Path) -> None:
    """--eval-every under two ranks: rank 0 alone evaluates and logs; both ranks keep identical weights and finish
    (the other rank waits for rank 0 at the next collective)."""
    run = run_world("pix2pix", demo_dir, tmp_path / "run", steps=4, batch_size=1, eval_every=2,
                    eval_real=str(demo_dir / "test"), log_every=1)  # fmt: skip
    a, b = (json.loads((run / f"digests-{r}.json").read_text()) for r in (0, 1))
    assert a == b
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    scored = [r for r in records if "eval" in r]
    assert [r["step"] for r in scored] == [0, 2, 4] and all(r["eval"]["settings"]["real_count"] == 4 for r in scored)
    assert load_checkpoint(run / "best.safetensors").step == scored[-1]["best"]["step"]
