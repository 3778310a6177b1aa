"""progan: equalized learning rate, pixel norm, the fade-in blend, the growing schedule, the losses, the class head,
exact resume in the middle of a fade, and sample/export of a checkpoint through the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch
import torch.nn.functional as F
from helpers_cli import one_line_error
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.device import Runtime
from cgan_cli.families.progan import ProGAN, ProGANConfig
from cgan_cli.nn.progan import (
    EqualizedConv2d,
    EqualizedLinear,
    ProGANDiscriminator,
    ProGANGenerator,
    ProGANNetConfig,
    fade_reals,
    pixel_norm,
)

pytestmark = pytest.mark.usefixtures("single_thread")

CPU = torch.device("cpu")
FP32 = Runtime(CPU, "fp32")  # the loss checks compare against fp32 forwards (auto is bf16 on CPUs with bf16 units)
TINY_NET = ProGANNetConfig(image_size=32, channels=3, z_dim=8, fmap_base=64, fmap_max=16)
TINY = ["--image-size", "16", "--fmap-base", "64", "--fmap-max", "16", "--z-dim", "8", "--device", "cpu"]


def family(classes_dir, **overrides) -> ProGAN:
    values = {"classes": str(classes_dir), "image_size": 16, "fmap_base": 64, "fmap_max": 16, "z_dim": 8,
              "batch_size": 4, "stable_images": 8, "fade_images": 8, "log_every": 1}  # fmt: skip
    values.update(overrides)
    return ProGAN(ProGANConfig(**values), FP32)


def batch_of(fam: ProGAN, n: int = 4) -> dict[str, torch.Tensor]:
    ds = fam.dataset()
    return {k: torch.stack([ds[(i * 3, 0)][k] for i in range(n)]) for k in ("image", "label")}


# --- layers ----------------------------------------------------------------------------------


def test_equalized_learning_rate_scales_n01_weights_by_he_constant_at_run_time():
    torch.manual_seed(0)
    conv = EqualizedConv2d(5, 7, 3)
    x = torch.randn(2, 5, 6, 6)
    # the paper: ŵ = w · c with c = √2 / √fan_in, fan_in = 5·3·3, applied in the forward pass
    want = F.conv2d(x, conv.weight * math.sqrt(2 / 45), conv.bias, padding=1)
    torch.testing.assert_close(conv(x), want)
    assert torch.equal(conv.bias, torch.zeros(7))
    big = EqualizedConv2d(64, 64, 3)
    assert big.weight.std().item() == pytest.approx(1.0, abs=0.02)  # stored N(0, 1), not He-initialised
    dense = EqualizedLinear(10, 4, gain=1.0)
    v = torch.randn(3, 10)
    torch.testing.assert_close(dense(v), v @ (dense.weight / math.sqrt(10)).T)
    G = ProGANGenerator(TINY_NET)
    assert G.dense.scale == pytest.approx(math.sqrt(2) / 4 / math.sqrt(8))  # G_paper's dense gain √2/4
    assert G.to_rgb[0].scale == pytest.approx(1 / math.sqrt(16))  # toRGB: gain 1, 1×1


def test_pixel_norm_is_the_papers_formula():
    x = torch.randn(3, 6, 4, 5) * 3
    want = x / torch.sqrt((x**2).mean(dim=1, keepdim=True) + 1e-8)
    torch.testing.assert_close(pixel_norm(x), want)
    assert pixel_norm(x).pow(2).mean(1).sub(1).abs().max() < 1e-4


def test_widths_follow_fmap_base_and_fmap_max():
    paper = ProGANNetConfig()
    assert [paper.nf(lv - 1) for lv in range(2, 11)] == [512, 512, 512, 512, 256, 128, 64, 32, 16]
    G, D = ProGANGenerator(TINY_NET), ProGANDiscriminator(TINY_NET)
    assert [m.weight.shape[1] for m in G.to_rgb] == [16, 16, 8, 4]  # 64 / 2^stage, at most 16
    assert [m.weight.shape[0] for m in D.from_rgb] == [16, 16, 8, 4]


# --- networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [4, 8, 16, 32])
@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_shapes_at_every_resolution(resolution, alpha):
    cfg = ProGANNetConfig(**{**TINY_NET.__dict__, "num_classes": 3, "channels": 1})
    G, D = ProGANGenerator(cfg), ProGANDiscriminator(cfg)
    G.set_stage(resolution, alpha)
    D.set_stage(resolution, alpha)
    labels = torch.tensor([0, 2, 1, 1])
    fake = G(torch.randn(4, 8), G.class_vector(labels))
    assert fake.shape == (4, 1, resolution, resolution)
    scores, logits = D(fake)
    assert scores.shape == (4,) and logits.shape == (4, 3)


@pytest.mark.parametrize("size", [256, 1024])
def test_the_nets_grow_to_the_papers_sides(size):
    """The same layer stack up to 256 (CPU-sized) and 1024 (the paper's), narrow: mid-fade at the final side."""
    cfg = ProGANNetConfig(image_size=size, channels=3, z_dim=8, fmap_base=16, fmap_max=4)
    G, D = ProGANGenerator(cfg), ProGANDiscriminator(cfg)
    assert len(G.blocks) == len(D.blocks) == int(math.log2(size)) - 2  # one block per doubling past 4×4
    G.set_stage(size, 0.5)
    D.set_stage(size, 0.5)
    fake = G(torch.randn(2, 8), None)
    assert fake.shape == (2, 3, size, size) and torch.isfinite(fake).all()
    assert D(fake).shape == (2,)


def test_the_fade_in_blend_is_the_old_path_at_alpha_0_and_the_new_at_1():
    torch.manual_seed(1)
    G, D = ProGANGenerator(TINY_NET).eval(), ProGANDiscriminator(TINY_NET).eval()
    z = torch.randn(4, 8)
    old, new = G.synthesize(z, None, 8), G.synthesize(z, None, 16)
    assert torch.equal(G.synthesize(z, None, 16, torch.tensor(0.0)), F.interpolate(old, scale_factor=2))
    assert torch.equal(G.synthesize(z, None, 16, torch.tensor(1.0)), new)
    half = G.synthesize(z, None, 16, 0.25)
    torch.testing.assert_close(half, F.interpolate(old, scale_factor=2) * 0.75 + new * 0.25)
    G.set_stage(16, 0.0)  # what training sets: the buffer α, the same result
    assert torch.equal(G(z), F.interpolate(old, scale_factor=2))

    x = torch.randn(4, 3, 16, 16)
    assert torch.equal(D.score(x, 16, torch.tensor(0.0)), D.score(F.avg_pool2d(x, 2), 8))
    assert torch.equal(D.score(x, 16, torch.tensor(1.0)), D.score(x, 16))
    assert not torch.allclose(D.score(x, 16, 0.5), D.score(x, 16))

    # the reals: box-downsampled, then blended with their half-resolution copy during a fade
    reals = torch.randn(2, 3, 32, 32)
    at16 = F.avg_pool2d(reals, 2)
    torch.testing.assert_close(fade_reals(reals, 32, 16, 1.0), at16)
    coarse = F.interpolate(F.avg_pool2d(at16, 2), scale_factor=2)
    torch.testing.assert_close(fade_reals(reals, 32, 16, torch.tensor(0.0)), coarse)
    torch.testing.assert_close(fade_reals(reals, 32, 16, 0.5), (coarse + at16) / 2)


def test_the_conditional_generator_takes_the_one_hot_class_and_d_has_a_class_head():
    cfg = ProGANNetConfig(**{**TINY_NET.__dict__, "num_classes": 3})
    G, D = ProGANGenerator(cfg).eval(), ProGANDiscriminator(cfg).eval()
    torch.testing.assert_close(G.class_vector(torch.tensor([2])), torch.tensor([[0.0, 0.0, 1.0]]))
    assert G.dense.weight.shape[1] == 8 + 3 and D.dense1.weight.shape[0] == 1 + 3
    z = torch.randn(1, 8).expand(2, -1)
    out = G(z, G.class_vector(torch.tensor([0, 2])))
    assert not torch.allclose(out[0], out[1])
    uncond = ProGANDiscriminator(TINY_NET)
    assert uncond(torch.randn(2, 3, 32, 32)).shape == (2,)


# --- schedule and losses ------------------------------------------------------------------------


def test_resolution_doubles_and_alpha_rises_linearly_with_the_images_shown():
    cfg = ProGANConfig(images="x", image_size=16, batch_size=4, stable_images=8, fade_images=12)
    stages = [cfg.stage(s) for s in range(12)]
    # images 0–7 stable at 4, 8–19 fade 8 in, 20–27 stable at 8, 28–39 fade 16 in, then 16 for good
    assert [r for r, _ in stages] == [4, 4, 8, 8, 8, 8, 8, 16, 16, 16, 16, 16]
    assert [a for _, a in stages] == pytest.approx([1, 1, 0, 1 / 3, 2 / 3, 1, 1, 0, 1 / 3, 2 / 3, 1, 1])
    assert cfg.stage(10_000) == (16, 1.0)
    paper = ProGANConfig(images="x", image_size=1024)
    assert paper.stage(600_000 // 128 - 1) == (4, 1.0) and paper.stage(600_000 // 128 + 1)[0] == 8
    assert ProGANConfig(images="x", image_size=64, stable_images=0, fade_images=0).stage(0) == (64, 1.0)


def test_the_batch_schedule_chunks_a_step(classes_dir):
    fam = family(classes_dir, batch_size=4, batch_schedule="4:4,8:2,16:1")
    assert fam.batches == {4: 4, 8: 2, 16: 1}
    calls = []
    real_update = fam.update
    fam.update = lambda real, labels: calls.append(real.shape) or real_update(real, labels)
    batch = batch_of(fam)
    for step in (0, 2, 6):  # 4×4, the fade to 8, the fade to 16
        calls.clear()
        fam.step = step
        fam.train_step(batch)
        r = fam.config.stage(step)[0]
        assert calls == [(fam.batches[r], 3, r, r)] * (4 // fam.batches[r])


def test_the_drift_term_and_the_wgan_gp_terms_are_in_the_d_loss(classes_dir):
    fam = family(classes_dir, drift=0.25)
    fam.set_stage(4, 1.0)
    real = F.avg_pool2d(batch_of(fam)["image"], 4)
    fake = torch.randn_like(real)
    labels = torch.tensor([0, 1, 2, 0])
    terms = fam.d_losses(real, fake, labels)
    scores, cls = fam.D(real)
    torch.testing.assert_close(terms["D_drift"], 0.25 * scores.pow(2).mean())
    torch.testing.assert_close(terms["D_real"], -scores.mean())
    fake_scores, fake_cls = fam.D(fake)
    torch.testing.assert_close(terms["D_fake"], fake_scores.mean())
    torch.testing.assert_close(terms["D_cls"], F.cross_entropy(cls, labels) + F.cross_entropy(fake_cls, labels))
    assert float(terms["D_gp"].detach()) > 0 and float(terms["D_drift"].detach()) > 0
    assert set(terms) == {"D_real", "D_fake", "D_gp", "D_drift", "D_cls"}  # all of them are summed and stepped


def test_adam_restarts_when_a_fade_starts_and_the_ema_follows_g(classes_dir):
    fam = family(classes_dir, batch_size=4, batch_schedule="8:2", ema=0.5)
    batch = batch_of(fam)
    before = [p.detach().clone() for p in fam.ema.model.parameters()]
    fam.step = 0
    fam.train_step(batch)
    for old, new, live in zip(before, fam.ema.model.parameters(), fam.G.parameters()):
        torch.testing.assert_close(new, 0.5 * old + 0.5 * live.detach())  # no warm-up, as G_smoothing
    for step in (1, 2):  # step 1 at 4×4; step 2 starts fading 8×8 in, in two chunks of 2
        fam.step = step
        fam.train_step(batch)
    assert int(fam.opt_G.state[fam.G.dense.weight]["step"]) == 2  # not 4: the moments were cleared at step 2
    kept = ProGAN(dataclasses.replace(fam.config, reset_optimizer=False), FP32)
    for step in range(3):
        kept.step = step
        kept.train_step(batch)
    assert int(kept.opt_G.state[kept.G.dense.weight]["step"]) == 4


# --- the CLI ----------------------------------------------------------------------------------


def train(out, *args):
    result = CliRunner().invoke(app, ["train", "progan", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return out / "latest.safetensors"


@pytest.fixture(scope="module")
def runs(classes_dir, tmp_path_factory):
    """Straight 9 steps and 4 + resume to 9: batch 4, stable 8 and fade 16 images, so 4×4 for steps 0–1, 8×8
    fading in over steps 2–5 (split at step 4, α 0.5), stable 6–7, 16×16 fading in from step 8."""
    root = tmp_path_factory.mktemp("progan")
    common = ["--classes", str(classes_dir), *TINY, "--batch-size", "4", "--batch-schedule", "8:2,16:2",
              "--stable-images", "8", "--fade-images", "16", "--seed", "3", "--ema", "0.9", "--flip",
              "--log-every", "2", "--workers", "0"]  # fmt: skip
    straight = train(root / "straight", *common, "--steps", "9")
    split = train(root / "split", *common, "--steps", "4")
    middle = load_checkpoint(split)
    resumed = CliRunner().invoke(app, ["train", "--resume", str(split), "--steps", "9"])
    assert resumed.exit_code == 0, resumed.output
    return straight, root / "split" / "latest.safetensors", middle


def test_resume_in_the_middle_of_a_fade_is_bit_identical(runs):
    straight, split, middle = runs
    assert middle.step == 4 and middle.state["progress"] == {"resolution": 8, "alpha": 0.5}
    a, b = load_checkpoint(straight), load_checkpoint(split)
    assert a.state["progress"] == {"resolution": 16, "alpha": 0.25}
    shown = CliRunner().invoke(app, ["info", str(straight)])
    assert shown.exit_code == 0 and re.search(r"\nprogress: +alpha 0.25, resolution 16\n", shown.stdout)
    assert a.tensors.keys() == b.tensors.keys()
    assert any(k.startswith("net/G_ema/") for k in a.tensors) and any(k.startswith("optim/D/") for k in a.tensors)
    assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors), [
        k for k in a.tensors if not torch.equal(a.tensors[k], b.tensors[k])
    ][:5]


def test_sample_makes_images_at_the_checkpoints_resolution(runs, tmp_path):
    straight, _, middle = runs
    result = CliRunner().invoke(app, ["sample", str(straight), "--out", str(tmp_path / "s"), "--seeds", "0-1",
                                      "--class", "all", "--device", "cpu"])  # fmt: skip
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "s").rglob("*.png"))
    assert len(files) == 6  # 2 seeds × 3 classes
    assert all(Image.open(f).size == (16, 16) for f in files)  # 16×16 fading in at step 9


def test_interp_walks_between_seeds_and_classes(runs, tmp_path):
    straight, _, _ = runs
    for args in (["--seeds", "1,2"], ["--classes", "red,blue"]):
        out = tmp_path / args[0].strip("-")
        result = CliRunner().invoke(app, ["interp", str(straight), *args, "--steps", "2", "--out", str(out),
                                          "--device", "cpu"])  # fmt: skip
        assert result.exit_code == 0, result.output
        frames = sorted(out.glob("*.png"))
        assert len(frames) == 3 and Image.open(frames[0]).size == (16, 16)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_export_reproduces_the_generator(runs, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnx")
        pytest.importorskip("onnxruntime")
    straight, _, _ = runs
    out = tmp_path / ("g.pt" if fmt == "torchscript" else "g.onnx")
    result = CliRunner().invoke(app, ["export", str(straight), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[-1])
    assert record["format"] == fmt and record["family"] == "progan" and record["weights"] == "G_ema"
    assert record["max_error"] <= 1e-3 and out.is_file()
    if fmt == "torchscript":
        module = torch.jit.load(str(out))
        images = module(torch.randn(2, 8), torch.tensor([0, 2]), torch.tensor([1.0]))
        assert images.shape == (2, 3, 16, 16)


def test_usage_errors_name_the_flag(classes_dir, tmp_path):
    def run(*args):
        return CliRunner().invoke(app, ["train", "progan", "--out", str(tmp_path / "r"), *TINY, *args])

    data = ["--classes", str(classes_dir)]
    for args, flag in [
        ([*data, "--batch-schedule", "8:3"], "--batch-schedule"),  # 3 does not divide 128
        ([*data, "--batch-schedule", "8-64"], "--batch-schedule"),
        ([*data, "--batch-schedule", "12:4"], "--batch-schedule"),
        ([*data, "--batch-schedule", "8:4,8:2"], "--batch-schedule"),
        ([*data, "--image-size", "48"], "--image-size"),
        ([*data, "--image-size", "2048"], "--image-size"),
        ([], "--images"),
        ([*data, "--images", str(classes_dir)], "--classes"),
    ]:
        line = one_line_error(run(*args), 2)
        assert flag in line, (args, line)
    assert not (tmp_path / "r").exists()
