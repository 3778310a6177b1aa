"""--eval-every: scores logged during training equal `cgan eval` on the same checkpoint, best.safetensors follows
the first metric, training is unchanged by it, and --resume continues the best so far and the schedule exactly."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_cli import ok, one_line_error
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from cgan_cli.checkpoint import read_metadata
from cgan_cli.cli import app
from cgan_cli.evaluation.options import EvalOptions
from cgan_cli.evaluation.service import Report, evaluate
from cgan_cli.watch import runlog
from cgan_cli.watch.evaluator import Best

pytestmark = pytest.mark.usefixtures("single_thread")

TINY_DCGAN = ["--image-size", "32", "--batch-size", "4", "--ngf", "8", "--ndf", "8", "--log-every", "1",
              "--sample-every", "2", "--workers", "0", "--seed", "3"]  # fmt: skip


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("real")
    rng = np.random.default_rng(0)
    for i in range(10):
        base = rng.integers(0, 255, (1, 1, 3))
        Image.fromarray(np.clip(base + rng.normal(0, 40, (32, 32, 3)), 0, 255).astype("uint8")).save(root / f"{i}.png")
    return root


def train(*args: str) -> list[str]:
    return ok(CliRunner().invoke(app, ["train", *args]))


def evals(run: Path) -> list[dict]:
    return [r for r in runlog.read(run) if "eval" in r]


@pytest.fixture(scope="module")
def straight(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("straight") / "run"
    train("dcgan", "--images", str(images), "--out", str(run), "--steps", "6", "--eval-every", "2",
          "--eval-real", str(images), *TINY_DCGAN)  # fmt: skip
    return run


def test_each_logged_score_is_what_cgan_eval_gives_for_that_checkpoint(straight, images):
    records = evals(straight)
    assert [r["step"] for r in records] == [0, 2, 4, 6]  # where the curve starts, every 2nd step, the end
    for record in records[1:]:
        ckpt = straight / f"step-{record['step']:07d}.safetensors"
        again = evaluate(images, ckpt, ["fid"], EvalOptions(device="cpu"))
        assert again.results["fid"] == record["eval"]["fid"]  # the same code path: the same number, bit for bit
        assert record["eval"]["settings"]["fake"] == str(ckpt) and record["eval"]["settings"]["fake_count"] == 10
    fids = [r["eval"]["fid"] for r in records]
    best_step = records[int(np.argmin(fids))]["step"]
    assert records[-1]["best"] == {"metric": "fid", "value": min(fids), "step": best_step}
    assert int(read_metadata(straight / "best.safetensors")["step"]) == best_step
    assert os.path.samefile(straight / "best.safetensors", straight / f"step-{best_step:07d}.safetensors")


def test_evaluating_leaves_training_unchanged(straight, images, tmp_path):
    plain = tmp_path / "plain"
    train("dcgan", "--images", str(images), "--out", str(plain), "--steps", "6", *TINY_DCGAN)
    a, b = load_file(straight / "latest.safetensors"), load_file(plain / "latest.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # weights, Adam moments and the RNG state alike
    assert not (plain / "best.safetensors").exists()


def test_resume_continues_the_best_and_the_schedule(straight, images, tmp_path):
    run = tmp_path / "split"
    train("dcgan", "--images", str(images), "--out", str(run), "--steps", "4", "--eval-every", "2",
          "--eval-real", str(images), *TINY_DCGAN)  # fmt: skip
    # the run died during step 4's evaluation: its checkpoint is saved, its score never logged
    lines = (run / "log.jsonl").read_text().splitlines()
    kept = [line for line in lines if '"eval"' not in line or '"step": 4' not in line]
    (run / "log.jsonl").write_text("".join(line + "\n" for line in kept))
    (run / "best.safetensors").unlink()
    os.link(run / "step-0000002.safetensors", run / "best.safetensors")
    train("--resume", str(run / "latest.safetensors"), "--steps", "6", "--workers", "0")
    assert [(r["step"], r["eval"]["fid"], r["best"]) for r in evals(run)] == [
        (r["step"], r["eval"]["fid"], r["best"]) for r in evals(straight)
    ]
    a, b = load_file(straight / "latest.safetensors"), load_file(run / "latest.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    best = evals(straight)[-1]["best"]["step"]
    assert int(read_metadata(run / "best.safetensors")["step"]) == best


def test_resume_rewinds_the_log_and_keeps_what_it_moved(images, tmp_path):
    run = tmp_path / "r"
    train("dcgan", "--images", str(images), "--out", str(run), "--steps", "4", "--save-every", "2", *TINY_DCGAN)
    logged = (run / "log.jsonl").read_text()
    (run / "log.jsonl").write_text(logged + '{"step": 5, "epo')  # a torn line, as a kill leaves it
    train("--resume", str(run / "step-0000002.safetensors"), "--steps", "3", "--workers", "0")
    steps = [r["step"] for r in runlog.read(run) if "lr" in r]
    assert steps == [1, 2, 3]  # one history: steps 3 and 4 of the first session are gone from log.jsonl
    moved = (run / runlog.ABANDONED).read_text().splitlines()
    assert moved[-1] == '{"step": 5, "epo' and {json.loads(x)["step"] for x in moved[:-1]} == {3, 4}


def test_best_follows_the_direction_of_the_first_metric(tmp_path, monkeypatch):
    from cgan_cli.config import TrainConfig
    from cgan_cli.watch import evaluator as module

    real = tmp_path / "real"
    real.mkdir()
    cfg = TrainConfig(eval_every=1, eval_real=str(real), eval_metrics="psnr,l1")
    monkeypatch.setattr(module, "find_pairs", lambda *a: [])  # the folder's layout is not what is tested here
    ev = module.Evaluator(cfg, "translations", tmp_path, torch.device("cpu"))
    scores = iter([{"psnr": 20.0, "l1": 0.3}, {"psnr": 25.0, "l1": 0.4}, {"psnr": 22.0, "l1": 0.1}])
    monkeypatch.setattr("cgan_cli.evaluation.service.evaluate",
                        lambda *a, **k: Report(dict(next(scores)), {"real": str(real)}))  # fmt: skip
    for step in (1, 2, 3):
        (tmp_path / f"c{step}").write_bytes(str(step).encode())
        ev.evaluate(tmp_path / f"c{step}", step, 0)
    assert ev.best == Best("psnr", 25.0, 2)  # higher PSNR is better, whatever L1 says
    assert (tmp_path / "best.safetensors").read_bytes() == b"2"
    assert Best("fid", 10.0, 1).beaten_by(9.0) and not Best("fid", 10.0, 1).beaten_by(11.0)


def test_a_failed_evaluation_is_logged_and_training_goes_on(images, tmp_path, monkeypatch):
    from cgan_cli.errors import CganError

    def broken(*args, **kwargs):
        raise CganError("the Inception weights went away")

    monkeypatch.setattr("cgan_cli.evaluation.service.evaluate", broken)
    run = tmp_path / "r"
    result = CliRunner().invoke(app, ["train", "dcgan", "--images", str(images), "--out", str(run), "--steps", "2",
                                      "--eval-every", "1", "--eval-real", str(images), *TINY_DCGAN])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "evaluation at step 1 failed: the Inception weights went away" in result.stderr
    assert [r["eval_error"] for r in runlog.read(run) if "eval_error" in r] == ["the Inception weights went away"] * 3
    assert not (run / "best.safetensors").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--eval-every", "2"], "--eval-every needs --eval-real"),
        (["--eval-real", "{images}"], "--eval-real, --eval-metrics, --eval-n and --inception-weights are for"),
        (["--eval-every", "2", "--eval-real", "{images}/missing"], "no such folder or file"),
        (["--eval-every", "2", "--eval-real", "{images}", "--eval-metrics", "fid,sharp"], "unknown metric sharp"),
        (["--eval-every", "2", "--eval-real", "{images}", "--eval-metrics", "psnr"], "need a translation"),
        (["--eval-every", "2", "--eval-real", "{images}/0.png"], "not a folder of images or a --save-stats file"),
    ],
)
def test_evaluation_options_are_checked_before_the_first_step(images, tmp_path, extra, message):
    run = tmp_path / "r"
    args = [a.format(images=images) for a in extra]
    result = CliRunner().invoke(app, ["train", "dcgan", "--images", str(images), "--out", str(run), *args, *TINY_DCGAN])
    assert message in one_line_error(result, 2)
    assert not (run / "log.jsonl").exists()


def test_stargan_runs_cannot_be_scored_and_say_so(tmp_path):
    for domain in ("a", "b"):
        (tmp_path / "d" / domain).mkdir(parents=True)
        Image.new("RGB", (16, 16), domain == "a" and "red" or "blue").save(tmp_path / "d" / domain / "x.png")
    args = ["--domains", str(tmp_path / "d"), "--out", str(tmp_path / "r"), "--eval-every", "2"]
    result = CliRunner().invoke(app, ["train", "stargan", *args, "--eval-real", str(tmp_path / "d")])
    assert "cgan eval cannot score stargan checkpoints" in one_line_error(result, 2)


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_statistics_file_as_eval_real(images, tmp_path):
    stats = tmp_path / "real.safetensors"
    ok(CliRunner().invoke(app, ["eval", str(images), "--save-stats", str(stats)]))
    run = tmp_path / "r"
    train("dcgan", "--images", str(images), "--out", str(run), "--steps", "2", "--eval-every", "2",
          "--eval-real", str(stats), "--eval-n", "6", *TINY_DCGAN)  # fmt: skip
    record = evals(run)[-1]
    again = evaluate(stats, run / "step-0000002.safetensors", ["fid"], EvalOptions(device="cpu", n=6))
    assert record["eval"]["fid"] == again.results["fid"] and record["eval"]["settings"]["fake_count"] == 6
    args = ["--out", str(tmp_path / "k"), "--eval-every", "2", "--eval-real", str(stats), "--eval-metrics", "kid"]
    result = CliRunner().invoke(app, ["train", "dcgan", "--images", str(images), *args])
    assert "holds only FID statistics, which kid cannot use" in one_line_error(result, 2)


# --- translation and text families ----------------------------------------------------------------------------


def run_logged_command(record: dict) -> dict:
    """The `cgan eval` command a record names, run: it must print the numbers the record holds."""
    argv = shlex.split(record["command"])
    assert argv[:2] == ["cgan", "eval"]
    return json.loads(ok(CliRunner().invoke(app, [*argv[1:], "--json"]))[-1])


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_translation_runs_score_their_paired_validation_folder(demo_dir, tmp_path):
    run = tmp_path / "p2p"
    train("pix2pix", "--paired", str(demo_dir), "--out", str(run), "--net-g", "unet_32", "--ngf", "8", "--ndf", "8",
          "--load-size", "36", "--crop-size", "32", "--steps", "2", "--eval-every", "2", "--workers", "0",
          "--eval-real", str(demo_dir / "test"))  # fmt: skip
    record = evals(run)[-1]
    assert set(record["eval"]) == {"fid", "l1", "psnr", "ssim", "settings"}  # FID and the paired metrics by default
    assert record["eval"]["settings"]["real_count"] == 4
    printed = run_logged_command(record)
    assert {k: printed[k] for k in ("fid", "l1", "psnr", "ssim")} == {
        k: record["eval"][k] for k in ("fid", "l1", "psnr", "ssim")
    }
    assert "--aligned" in record["command"] and "--size 32" in record["command"]


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_text_runs_score_fid_and_clip_score_with_their_own_clip(tmp_path):
    from helpers_captions import write_captioned

    from cgan_cli.text import clip as clip_module

    captions = write_captioned(tmp_path / "captions", per_kind=2)
    weights = tmp_path / "clip.safetensors"
    assert clip_module.main(["--model", "cgan-tiny", "--seed", "3", "--out", str(weights)]) == 0
    run = tmp_path / "text"
    train("gancls", "--captions", str(captions), "--out", str(run), "--clip-model", "cgan-tiny", "--clip-weights",
          str(weights), "--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "4", "--steps", "2",
          "--eval-every", "2", "--eval-real", str(captions), "--workers", "0")  # fmt: skip
    record = evals(run)[-1]
    assert set(record["eval"]) == {"fid", "clip_score", "settings"}
    assert record["eval"]["settings"]["clip_sha256"]  # the run's CLIP, named by its digest
    printed = run_logged_command(record)
    assert (printed["fid"], printed["clip_score"]) == (record["eval"]["fid"], record["eval"]["clip_score"])


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_the_logged_command_reproduces_a_sampling_score(straight):
    record = evals(straight)[0]
    assert run_logged_command(record)["fid"] == record["eval"]["fid"]


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_eval_aligned_reads_a_folders_a_and_b_like_aligned_files(demo_dir, tmp_path):
    """`cgan eval DIR CKPT --aligned` with DIR/A and DIR/B gives what the same pairs as A|B files give."""
    ckpt = tmp_path / "p2p"
    train("pix2pix", "--paired", str(demo_dir), "--out", str(ckpt), "--net-g", "unet_32", "--ngf", "8", "--ndf", "8",
          "--load-size", "36", "--crop-size", "32", "--steps", "1", "--workers", "0")  # fmt: skip
    folders = tmp_path / "ab"
    for name in ("A", "B"):
        (folders / name).mkdir(parents=True)
    for f in sorted((demo_dir / "test").glob("*.png")):
        with Image.open(f) as ab:
            w = ab.width // 2
            ab.crop((0, 0, w, ab.height)).save(folders / "A" / f.name)
            ab.crop((w, 0, 2 * w, ab.height)).save(folders / "B" / f.name)
    options = EvalOptions(device="cpu", aligned=True)
    metrics = ["fid", "l1", "psnr"]
    a = evaluate(demo_dir / "test", ckpt / "latest.safetensors", metrics, options).results
    b = evaluate(folders, ckpt / "latest.safetensors", metrics, options).results
    assert a == b and a["l1"] > 0


def test_eval_size_translates_and_compares_at_that_size(demo_dir, tmp_path):
    ckpt = tmp_path / "p2p"
    train("pix2pix", "--paired", str(demo_dir), "--out", str(ckpt), "--net-g", "unet_32", "--ngf", "8", "--ndf", "8",
          "--load-size", "36", "--crop-size", "32", "--steps", "1", "--workers", "0")  # fmt: skip
    big = tmp_path / "big"
    big.mkdir()
    for f in sorted((demo_dir / "test").glob("*.png")):  # the same pairs at twice the size
        with Image.open(f) as ab:
            ab.resize((ab.width * 2, ab.height * 2), Image.Resampling.BICUBIC).save(big / f.name)
    native = evaluate(big, ckpt / "latest.safetensors", ["l1"], EvalOptions(device="cpu", aligned=True))
    at_32 = evaluate(big, ckpt / "latest.safetensors", ["l1"], EvalOptions(device="cpu", aligned=True, size=32))
    assert native.results["l1"] != at_32.results["l1"]
    result = CliRunner().invoke(app, ["eval", str(big), str(big), "--size", "32", "--l1"])
    assert "--size" in one_line_error(result, 2)


def test_cached_features_of_an_aligned_half_are_not_those_of_the_whole_files(demo_dir, tmp_path):
    """--cache keyed a folder by its files alone, so REAL read as one half reused the whole files' features."""
    from cgan_cli.evaluation.sides import folder_side
    from cgan_cli.metrics.features import FeatureSettings, cache_key

    settings = FeatureSettings("sha", "pytorch-fid", 2048, False)
    keys = {cache_key(s.root, s.paths, settings, s.view) for s in
            (folder_side(demo_dir / "test"), folder_side(demo_dir / "test", "left"),
             folder_side(demo_dir / "test", "right"), folder_side(demo_dir / "test", "right", 32))}  # fmt: skip
    assert len(keys) == 4


# --- what a person watches ------------------------------------------------------------------------------------


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_tensorboard_mirrors_the_log_and_the_sample_grids(images, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "tb"
    train("dcgan", "--images", str(images), "--out", str(run), "--steps", "4", "--eval-every", "2",
          "--eval-real", str(images), "--tensorboard", *TINY_DCGAN)  # fmt: skip
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    log = runlog.read(run)
    losses = [r for r in log if "lr" in r]
    g = [(e.step, e.value) for e in events.Scalars("loss/G/G")]
    assert g == [(r["step"], pytest.approx(r["G"])) for r in losses]
    fid = [(e.step, e.value) for e in events.Scalars("eval/fid")]
    assert fid == [(r["step"], pytest.approx(r["eval"]["fid"])) for r in evals(run)]
    assert [e.step for e in events.Scalars("samples/diversity")] == [2, 4]
    shown = events.Images("samples")
    assert [e.step for e in shown] == [2, 4]
    with Image.open(run / "samples" / "step-0000004.png") as grid:
        assert (shown[-1].width, shown[-1].height) == grid.size


def test_tensorboard_missing_is_one_line(images, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    result = CliRunner().invoke(app, ["train", "dcgan", "--images", str(images), "--out", str(tmp_path / "r"),
                                      "--steps", "1", "--tensorboard", *TINY_DCGAN])  # fmt: skip
    assert "pip install 'cgan-cli[tensorboard]'" in one_line_error(result, 2)


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_the_live_bar_shows_rates_losses_and_the_latest_score(images, tmp_path, monkeypatch):
    """On a terminal: a rich bar with step/s, img/s, the losses and the latest metric (here forced: the test's
    stderr is no terminal)."""
    from rich.console import Console

    from cgan_cli import trainer

    screen = io.StringIO()
    monkeypatch.setattr(trainer, "stderr_console", lambda: Console(file=screen, force_terminal=True, width=250))
    monkeypatch.setattr(trainer, "animated", lambda console: True)
    train("dcgan", "--images", str(images), "--out", str(tmp_path / "r"), "--steps", "4", "--eval-every", "2",
          "--eval-real", str(images), *TINY_DCGAN)  # fmt: skip
    final = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue()).splitlines()
    bar = [line for line in final if "4/4" in line][-1]
    assert re.search(r"[\d.]+ step/s [\d.]+ img/s", bar) and "G " in bar and "fid " in bar and "best" in bar


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_the_real_images_features_are_computed_once_per_run(images, tmp_path, monkeypatch):
    from cgan_cli.metrics.features import FeatureExtractor

    passes: list[int] = []
    extract = FeatureExtractor.extract

    def counted(self, loaders, *args, **kwargs):
        loaders = list(loaders)
        passes.append(len(loaders))
        return extract(self, loaders, *args, **kwargs)

    monkeypatch.setattr(FeatureExtractor, "extract", counted)
    monkeypatch.setenv("CGAN_CACHE_DIR", str(tmp_path / "cache"))
    train("dcgan", "--images", str(images), "--out", str(tmp_path / "r"), "--steps", "3", "--eval-every", "1",
          "--eval-real", str(images), "--eval-n", "4", *TINY_DCGAN)  # fmt: skip
    assert passes == [10, 4, 4, 4, 4]  # REAL's 10 images once, then only the 4 samples of steps 0 to 3
