"""The latent families' option table as the papers set it: the defaults pinned, the trick flags that may be given
bare (`--minibatch-disc` is `--minibatch-disc 100`), options that only one loss reads refused with another, ProGAN's
learning rate per resolution and its current size in `cgan info`, and `cgan eval` of ProGAN and InfoGAN runs."""

from __future__ import annotations

import re

import pytest
import torch
from helpers_cli import ok, one_line_error
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.cli.train import family_command
from cgan_cli.config.latent import LOSS_DEFAULTS, LatentConfig
from cgan_cli.config.progan import ProGANConfig
from cgan_cli.device import Runtime
from cgan_cli.evaluation.options import EvalOptions
from cgan_cli.evaluation.service import evaluate
from cgan_cli.families import family_spec
from cgan_cli.families.progan import ProGAN

pytestmark = pytest.mark.usefixtures("single_thread")

CPU = torch.device("cpu")
TINY_PROGAN = ["--image-size", "16", "--fmap-base", "64", "--fmap-max", "16", "--z-dim", "8", "--batch-size", "4",
               "--stable-images", "8", "--fade-images", "16", "--workers", "0"]  # fmt: skip
TINY_LATENT = ["--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "4", "--workers", "0"]


def parsed(family: str, *args: str) -> dict:
    """The values `cgan train FAMILY ARGS` would run with, from the real command's parser."""
    command = family_command(family_spec(family))
    return command.make_context(family, ["--out", "x", *args]).params


def test_progans_defaults_are_the_official_code_s(classes_dir):
    cfg = ProGANConfig(images="x")
    assert (cfg.lr, cfg.beta1, cfg.beta2, cfg.batch_size) == (1e-3, 0.0, 0.99, 128)
    assert (cfg.stable_images, cfg.fade_images) == (600_000, 600_000)  # lod_training_kimg, lod_transition_kimg
    assert (cfg.lambda_gp, cfg.drift, cfg.ema, cfg.mbstd_group, cfg.z_dim) == (10.0, 0.001, 0.999, 4, 512)
    assert (cfg.fmap_base, cfg.fmap_max) == (8192, 512)
    assert ProGANConfig(images="x", image_size=1024).learning_rates() == {
        **{r: 1e-3 for r in (4, 8, 16, 32, 64, 128, 256, 512)}, 1024: 1.5e-3}  # fmt: skip
    assert ProGANConfig(images="x", image_size=1024).batches() == {
        4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4, 1024: 4}  # fmt: skip
    small = ProGANConfig(images=str(classes_dir), image_size=8, fmap_base=64, fmap_max=16, z_dim=8)
    fam = ProGAN(small, Runtime(CPU, "fp32"))
    for opt in fam.optimizers.values():
        group = opt.param_groups[0]
        assert (group["lr"], group["betas"], group["eps"]) == (1e-3, (0.0, 0.99), 1e-8)


def test_the_tricks_defaults_are_their_papers():
    cfg = LatentConfig()
    assert (cfg.weight_clip, cfg.gamma) == (0.01, 0.05)  # WassersteinGAN's clamp; R3GAN's CIFAR-10 γ
    assert LOSS_DEFAULTS["wgan"] == ("rmsprop", 5e-5, (0.5, 0.999), 5)
    assert LOSS_DEFAULTS["r3gan"] == ("adam", 2e-4, (0.0, 0.99), 1)
    assert LatentConfig(loss="nonsat").optimiser() == ("adam", 2e-4, (0.5, 0.999), 1)


@pytest.mark.parametrize(
    ("args", "want"),
    [
        (["--minibatch-disc"], {"minibatch_disc": 100}),
        (["--minibatch-stddev"], {"minibatch_stddev": 4}),
        (["--feature-matching"], {"feature_matching": 1.0}),
        (["--feature-matching", "--seed", "3"], {"feature_matching": 1.0, "seed": 3}),
        (["--feature-matching", "0.5", "--minibatch-disc", "7"], {"feature_matching": 0.5, "minibatch_disc": 7}),
        (["--minibatch-disc=20"], {"minibatch_disc": 20}),
    ],
)
def test_trick_flags_given_alone_take_the_papers_value(args, want):
    values = parsed("cgan", "--classes", "d", *args)
    assert {k: values[k] for k in want} == want


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--gamma", "1"], "--gamma is R3GAN's R1 + R2 weight: it applies to --loss r3gan, not nonsat"),
        (["--weight-clip", "0.05"], "--weight-clip applies to --loss wgan, not nonsat"),
        (["--loss", "wgan", "--weight-clip", "0"], "--weight-clip must be above 0"),
        (["--minibatch-stddev", "1"], "--minibatch-stddev 1 has nothing to compare"),
    ],
)
def test_options_of_another_loss_are_refused_in_one_line(classes_dir, tmp_path, args, words):
    result = CliRunner().invoke(app, ["train", "cgan", "--classes", str(classes_dir), "--out", str(tmp_path / "r"),
                                      *args])  # fmt: skip
    assert words in one_line_error(result, 2)


def test_progan_takes_the_scheduled_learning_rate_of_each_resolution(classes_dir):
    cfg = ProGANConfig(classes=str(classes_dir), image_size=8, fmap_base=64, fmap_max=16, z_dim=8, batch_size=4,
                       stable_images=4, fade_images=4, lr_schedule="8:0.005")  # fmt: skip
    fam = ProGAN(cfg, Runtime(CPU, "fp32"))
    ds = fam.dataset()
    batch = {k: torch.stack([ds[(i, 0)][k] for i in range(4)]) for k in ("image", "label")}
    seen = []
    for step in range(3):  # 4×4 stable, then 8×8 fading in, then 8×8 stable
        fam.step = step
        fam.train_step(batch)
        seen.append((cfg.stage(step)[0], fam.opt_G.param_groups[0]["lr"], fam.opt_D.param_groups[0]["lr"]))
    assert seen == [(4, 1e-3, 1e-3), (8, 5e-3, 5e-3), (8, 5e-3, 5e-3)]
    result = CliRunner().invoke(app, ["train", "progan", "--classes", str(classes_dir), "--out", "x",
                                      "--lr-schedule", "12:0.1"])  # fmt: skip
    assert "--lr-schedule: '12:0.1' needs a power-of-two side" in one_line_error(result, 2)


@pytest.fixture(scope="module")
def growing(classes_dir, tmp_path_factory) -> object:
    """A ProGAN run stopped at 8×8 while 16×16 is still to come."""
    run = tmp_path_factory.mktemp("progan") / "run"
    ok(CliRunner().invoke(app, ["train", "progan", "--classes", str(classes_dir), "--out", str(run), "--steps", "3",
                                *TINY_PROGAN]))  # fmt: skip
    return run / "latest.safetensors"


def test_info_and_exports_describe_a_growing_model_at_its_current_size(growing, tmp_path):
    ckpt = load_checkpoint(growing)
    assert ckpt.state["progress"]["resolution"] == 8
    shown = ok(CliRunner().invoke(app, ["info", str(growing)]))
    assert any(re.fullmatch(r"image size: +8x8 \(growing to 16x16\)", line) for line in shown)
    export = tmp_path / "small.safetensors"
    ok(CliRunner().invoke(app, ["export", str(growing), "--out", str(export)]))
    assert load_checkpoint(export).state["progress"] == ckpt.state["progress"]
    assert any(re.fullmatch(r"image size: +8x8 \(growing to 16x16\)", line)
               for line in ok(CliRunner().invoke(app, ["info", str(export)])))  # fmt: skip
    sampled = tmp_path / "s"
    ok(CliRunner().invoke(app, ["sample", str(export), "-n", "1", "--out", str(sampled)]))
    from PIL import Image

    with Image.open(next(sampled.rglob("*.png"))) as image:
        assert image.size == (8, 8)


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_cgan_eval_scores_progan_and_infogan_checkpoints(growing, classes_dir, tmp_path):
    run = tmp_path / "info"
    ok(CliRunner().invoke(app, ["train", "infogan", "--images", str(classes_dir), "--out", str(run), "--steps", "1",
                                *TINY_LATENT]))  # fmt: skip
    for ckpt in (growing, run / "latest.safetensors"):
        report = evaluate(classes_dir, ckpt, ["fid"], EvalOptions(device="cpu", n=6))
        assert report.settings["fake_count"] == 6 and report.results["fid"] > 0


def test_interp_range_needs_a_walk(growing, tmp_path):
    result = CliRunner().invoke(app, ["interp", str(growing), "--seeds", "1,2", "--range=-2,2", "--out",
                                      str(tmp_path / "f")])  # fmt: skip
    assert "--range is the span of a --walk CODE sweep" in one_line_error(result, 2)


def test_the_look_ahead_takes_ds_whole_step_on_its_copy(classes_dir, monkeypatch):
    """With --unrolled, each look-ahead step is D's own: WGAN's clipping and the historical-average term, which
    must not record the copies' parameters as D's past."""
    import dataclasses

    from cgan_cli.families import create
    from cgan_cli.families import latent as latent_module
    from cgan_cli.nn import unrolled
    from tests.conftest import tiny_family_config

    cfg = dataclasses.replace(tiny_family_config("cgan", classes_dir, classes_dir), loss="wgan", unrolled=3,
                              n_critic=1, historical_averaging=0.1, weight_clip=0.005)  # fmt: skip
    fam = create("cgan", cfg, Runtime(CPU, "fp32"))
    ds = fam.dataset()
    batch = {k: torch.stack([ds[(i, 0)][k] for i in range(4)]) for k in ("image", "label")}
    copies, hist_calls = [], []

    def watched(*args, **kwargs):
        ahead = unrolled.look_ahead(*args, **kwargs)
        copies.append(ahead)
        return ahead

    monkeypatch.setattr(latent_module, "look_ahead", watched)
    history = type(fam.history["D"])
    distance = history.distance
    monkeypatch.setattr(history, "distance", lambda self, m, w: hist_calls.append(m) or distance(self, m, w))
    for step in range(2):
        fam.step = step
        fam.train_step(batch)
    assert int(fam.history["D"].count) == 2  # one record per real D update, none from the 2 × 3 look-ahead steps
    on_copies = [m for m in hist_calls if any(m is c for c in copies)]
    assert len(on_copies) == 2 * 3  # every look-ahead step has the history term
    moved = [p for p in copies[-1].parameters()]
    assert max(float(p.abs().max()) for p in moved) <= 0.005 + 1e-9
    assert any(not torch.equal(a, b) for a, b in zip(moved, fam.D.parameters()))  # the copy stepped ahead of D
