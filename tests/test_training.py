"""The shared trainer: exact resume, logs and samples, checkpoints, signals, non-finite losses."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.device import Runtime
from cgan_cli.families.pix2pix import Pix2Pix
from cgan_cli.trainer import lr_factor

TINY = ["--log-every", "2", "--net-g", "unet_32", "--ngf", "8", "--ndf", "8", "--load-size", "36", "--crop-size", "32"]


def train_cli(demo_dir, out, *extra):
    args = ["train", "pix2pix", "--paired", str(demo_dir), "--out", str(out), "--device", "cpu", *TINY, *extra]
    return CliRunner().invoke(app, args)


def weights(path):
    ckpt = load_checkpoint(path)
    return {k: v for k, v in ckpt.tensors.items() if k.startswith(("net/", "optim/"))}, ckpt


def test_lr_schedule_is_the_reference_linear_policy():
    assert [lr_factor(e, 2, 3) for e in range(6)] == pytest.approx([1, 1, 0.75, 0.5, 0.25, 0])


def test_resume_is_bit_identical_to_an_uninterrupted_run(demo_dir, tmp_path):
    # 12 images, batch 2 → 6 steps/epoch; 1 + 1 epochs so the learning rate changes at step 6;
    # the split at step 4 is mid-epoch, and the resumed half uses a worker process.
    common = ("--batch-size", "2", "--epochs", "1", "--epochs-decay", "1", "--seed", "7", "--loss", "wgangp")
    straight = train_cli(demo_dir, tmp_path / "straight", *common, "--steps", "9", "--workers", "0")
    assert straight.exit_code == 0, straight.output
    first = train_cli(demo_dir, tmp_path / "split", *common, "--steps", "4", "--workers", "0")
    assert first.exit_code == 0, first.output
    resumed = CliRunner().invoke(
        app, ["train", "--resume", str(tmp_path / "split" / "latest.safetensors"), "--steps", "9", "--workers", "1"]
    )
    assert resumed.exit_code == 0, resumed.output
    a, ckpt_a = weights(tmp_path / "straight" / "latest.safetensors")
    b, ckpt_b = weights(tmp_path / "split" / "latest.safetensors")
    assert ckpt_a.step == ckpt_b.step == 9 and ckpt_a.epoch == ckpt_b.epoch == 1
    assert a.keys() == b.keys() and len(a) > 50
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]
    # and the run really trained: the split run's step-4 weights differ from the final ones
    early, _ = weights(tmp_path / "split" / "step-0000004.safetensors")
    assert not all(torch.equal(early[k], a[k]) for k in a if k.startswith("net/G"))
    # the log continues where it stopped
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8, 9]


def test_run_folder_contents_and_stdout(demo_dir, tmp_path):
    run = tmp_path / "run"
    result = train_cli(demo_dir, run, "--steps", "4", "--sample-every", "2", "--save-every", "2", "--keep", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(run / "step-0000004.safetensors")]
    assert sorted(p.name for p in run.glob("*.safetensors")) == ["latest.safetensors", "step-0000004.safetensors"]
    assert os.path.samefile(run / "latest.safetensors", run / "step-0000004.safetensors")
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [2, 4]
    assert {"D_real", "D_fake", "G_GAN", "G_L1", "lr", "img_per_s"} <= set(records[0])
    grid = Image.open(run / "samples" / "step-0000004.png")
    # 4 fixed test pairs (input | output | target) of 32 px with 2 px gutters
    assert grid.size == (3 * 32 + 2 * 2, 4 * 32 + 3 * 2)
    assert (run / "samples" / "step-0000002.png").exists()
    config = json.loads((run / "config.json").read_text())
    assert config["family"] == "pix2pix" and config["config"]["ngf"] == 8
    meta = load_checkpoint(run / "latest.safetensors", groups=()).config
    assert meta["paired"] == str(demo_dir.resolve())


def test_existing_run_is_not_overwritten(demo_dir, tmp_path):
    run = tmp_path / "run"
    assert train_cli(demo_dir, run, "--steps", "1").exit_code == 0
    before = (run / "latest.safetensors").read_bytes()
    again = train_cli(demo_dir, run, "--steps", "1")
    assert again.exit_code == 2 and "--resume" in again.stderr
    assert (run / "latest.safetensors").read_bytes() == before


def test_sigint_finishes_the_step_saves_and_exits_130(demo_dir, tmp_path, monkeypatch):
    original = Pix2Pix.train_step
    calls = []

    def step(self, batch):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, batch)

    monkeypatch.setattr(Pix2Pix, "train_step", step)
    # start from Python's own handler: a shell's background job inherits SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run = tmp_path / "run"
        result = train_cli(demo_dir, run, "--steps", "50")
        assert result.exit_code == 130, result.output
        assert load_checkpoint(run / "latest.safetensors", groups=()).step == 3
        assert "--resume" in result.stderr
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    finally:
        signal.signal(signal.SIGINT, previous)


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(demo_dir, tmp_path, monkeypatch):
    original = Pix2Pix.train_step
    calls = []

    def step(self, batch):
        calls.append(1)
        losses = original(self, batch)
        if len(calls) >= 3:
            losses["G_L1"] = torch.tensor(float("nan"))
        return losses

    monkeypatch.setattr(Pix2Pix, "train_step", step)
    run = tmp_path / "run"
    result = train_cli(demo_dir, run, "--steps", "10", "--save-every", "2", "--log-every", "4")
    assert result.exit_code == 1
    assert "non-finite" in result.stderr and "G_L1" in result.stderr and "Traceback" not in result.output
    assert load_checkpoint(run / "latest.safetensors", groups=()).step == 2
    assert not (run / "step-0000004.safetensors").exists()


def test_corrupt_training_image_is_a_one_line_error(demo_dir, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(demo_dir / "train", data)
    victim = sorted(data.glob("*.png"))[0]
    victim.write_bytes(victim.read_bytes()[:200])  # header intact, pixels missing
    result = train_cli(data, tmp_path / "run", "--steps", "20", "--workers", "1")
    assert result.exit_code == 1
    assert victim.name in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--crop-size", "48"], "multiple of 32"),
        (["--input-nc", "2"], "1 or 3"),
        (["--lr", "-1"], "--lr"),
        (["--loss", "nope"], "nope"),
        (["--device", "cuda:7"], "device"),
    ],
)
def test_bad_options_are_usage_errors(demo_dir, tmp_path, extra, message):
    result = train_cli(demo_dir, tmp_path / "run", "--steps", "1", *extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run" / "latest.safetensors").exists()


def test_missing_dataset_and_bad_resume(tmp_path):
    result = train_cli(tmp_path / "nothing", tmp_path / "run", "--steps", "1")
    assert result.exit_code == 1 and "no such folder" in result.stderr
    junk = tmp_path / "junk.safetensors"
    junk.write_text("not a checkpoint")
    result = CliRunner().invoke(app, ["train", "--resume", str(junk)])
    assert result.exit_code == 1 and "not a readable" in result.stderr


@pytest.mark.slow
def test_compiled_step_tracks_the_eager_step(demo_dir):
    """--compile changes speed, not the math: same seed, same batch → the same losses (fp32, CPU)."""
    from cgan_cli.families import create
    from tests.conftest import tiny_config

    results = []
    for compile in (False, True):
        family = create("pix2pix", tiny_config(demo_dir, dropout=False), Runtime(torch.device("cpu"), compile=compile))
        batch = family.validation_batch()
        results.append([family.train_step(batch) for _ in range(3)])
    for eager, compiled in zip(*results):
        for key in eager:
            assert compiled[key].item() == pytest.approx(eager[key].item(), rel=1e-3, abs=1e-4), key


@pytest.mark.parametrize("how", ["ctrl-c to the process group", "sigterm to the trainer"])
def test_real_signals_stop_a_cli_run_cleanly(demo_dir, tmp_path, how):
    """The real command in its own session, with a loader worker: Ctrl-C in a terminal signals every
    process of the group, workers included; the run must still save and exit 130."""
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    args = [sys.executable, "-m", "cgan_cli", "train", "pix2pix", "--paired", str(demo_dir), "--out", str(run)]
    args += [*TINY, "--log-every", "1", "--steps", "100000", "--workers", "1", "--device", "cpu"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    log = run / "log.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.exists() and log.read_text().count("\n") >= 2):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    if how.startswith("ctrl-c"):
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr
    saved = load_checkpoint(run / "latest.safetensors", groups=())
    assert saved.step >= 2
    assert stdout.strip() == ""  # interrupted: no final checkpoint path on stdout
