"""SPADE's VAE (--use-vae) and instance maps (--instances): the encoder, KL and edge map against restatements of
NVlabs/SPADE's formulas, the reference's step order, and seeds, style photos, instance folders, resume and
export through the CLI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_cli import one_line_error, pixels
from helpers_labels import label_array, write_labels
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.config.spade import SPADEConfig as Config
from cgan_cli.families.spade import SPADE as SPADEFamily
from cgan_cli.nn.spade import ConvEncoder, SPADEConfig, SPADEGenerator, instance_edges, kld

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")
TINY = ("--ngf", "2", "--ndf", "4", "--spade-hidden", "8", "--n-layers-d", "3", "--load-size", "64",
        "--crop-size", "64", "--no-vgg", "--save-every", "1000", "--sample-every", "1000", "--log-every", "1",
        "--workers", "0")  # fmt: skip
VAE = ("--use-vae", "--z-dim", "8")


def cgan(*args: str):
    return CliRunner().invoke(app, list(args))


def write_instances(root: Path, labels: Path, split: bool = True) -> Path:
    """An instance map per label map: the class-2 box's pixels split in two instances when `split`."""
    root.mkdir(parents=True)
    for f in sorted((labels / "labels").glob("*.png")):
        lab = np.asarray(Image.open(f)).astype(np.int32)
        ids = lab * 1000
        if split:
            ids[:, : lab.shape[1] // 4] += 1  # a second instance of each class on the left quarter
        Image.fromarray(ids.astype(np.uint16)).save(root / f.name)  # 16-bit PNG, as cityscapes
    return root


@pytest.fixture(scope="module")
def labels_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_labels(tmp_path_factory.mktemp("labels"))


@pytest.fixture(scope="module")
def vae_run(labels_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vae") / "run"
    result = cgan("train", "spade", "--labels", str(labels_dir), "--out", str(out), "--device", "cpu", *TINY, *VAE,
                  "--steps", "2", "--batch-size", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    return out / "latest.safetensors"


# --- the pieces against the reference's formulas -------------------------------------------------------------


def test_kld_is_the_closed_form_gaussian_kl_summed():
    mu, logvar = torch.randn(3, 5), torch.randn(3, 5)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(3, 5), torch.ones(3, 5))
    assert torch.allclose(kld(mu, logvar), torch.distributions.kl_divergence(q, p).sum(), atol=1e-5)
    assert float(kld(torch.zeros(2, 4), torch.zeros(2, 4))) == 0.0


def test_encoder_sees_every_size_at_256_and_gives_mean_and_log_variance():
    torch.manual_seed(0)
    enc = ConvEncoder(ngf=2, z_dim=7).eval()  # eval: spectral norm does no power iteration per call
    assert [m.weight.shape[0] for m in enc.modules() if isinstance(m, torch.nn.Conv2d)] == [2, 4, 8, 16, 16, 16]
    assert enc.fc_mu.in_features == 16 * 4 * 4
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    mu, logvar = enc(x)
    assert mu.shape == logvar.shape == (2, 7) and not torch.equal(mu, logvar)
    big = torch.nn.functional.interpolate(x, size=(256, 256), mode="bilinear")
    assert torch.allclose(enc(big)[0], mu, atol=1e-6)  # a 64×96 input is the 256² bilinear resize of it


def test_instance_edges_mark_every_pixel_with_a_different_neighbour():
    ids = torch.from_numpy(np.random.default_rng(0).integers(0, 3, (7, 9)))
    want = np.zeros((7, 9), np.float32)
    for y in range(7):
        for x in range(9):
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                if 0 <= y + dy < 7 and 0 <= x + dx < 9 and ids[y + dy, x + dx] != ids[y, x]:
                    want[y, x] = 1
    assert np.array_equal(instance_edges(ids).numpy(), want)
    assert instance_edges(torch.zeros(4, 4, dtype=torch.long)).sum() == 0


def test_a_vae_generator_starts_from_z_and_its_output_follows_z():
    torch.manual_seed(0)
    G = SPADEGenerator(SPADEConfig(3, 3, ngf=2, hidden=8, z_dim=8, z_grid=2)).eval()
    seg = torch.nn.functional.one_hot(torch.from_numpy(label_array(1, 64)).long(), 3).permute(2, 0, 1)[None].float()
    a, b = G(seg, torch.randn(1, 8)), G(seg, torch.randn(1, 8))
    assert a.shape == (1, 3, 64, 64) and (a - b).abs().mean() > 1e-3
    assert G(torch.cat([seg, seg], 3), torch.randn(1, 8)).shape == (1, 3, 64, 128)  # the start grid is resized
    with pytest.raises(ValueError, match="give z"):
        G(seg)


def test_the_step_runs_g_and_e_first_then_d_and_trains_e(labels_dir):
    cfg = Config(labels=str(labels_dir), ngf=2, ndf=4, spade_hidden=8, n_layers_d=3, load_size=64, crop_size=64,
                 vgg=False, batch_size=2, use_vae=True, z_dim=8)  # fmt: skip
    family = SPADEFamily(cfg, CPU)
    order = []
    for name, opt in (("G", family.opt_G), ("D", family.opt_D)):
        opt.register_step_pre_hook(lambda *_, name=name: order.append(name))
    before = {k: v.clone() for k, v in family.E.state_dict().items()}
    batch = family.validation_batch()
    losses = family.train_step(batch)
    assert order == ["G", "D"]
    assert any(not torch.equal(before[k], v) for k, v in family.E.state_dict().items())
    assert float(losses["KLD"]) > 0 and {"G_GAN", "G_feat", "D_real", "D_fake"} <= losses.keys()
    # the KL term is λ_kld times the KL of E's posterior for the targets, whatever z is drawn from it
    mu, logvar = family.E(batch["target"])
    _, term = family.generate(family.semantics(batch), batch["target"])
    assert torch.allclose(term, 0.05 * kld(mu, logvar), rtol=1e-5)


# --- through the CLI --------------------------------------------------------------------------------------------


def test_seeds_give_different_outputs_and_the_same_seed_the_same(vae_run, labels_dir, tmp_path):
    src = labels_dir / "labels"
    out = tmp_path / "out"
    result = cgan("translate", str(vae_run), str(src / "0.png"), "--seeds", "0-2", "--out", str(out), "--device",
                  "cpu", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["seed"] for r in records] == [0, 1, 2]
    images = [pixels(out / "0" / f"seed{s:06d}.png").astype(np.float32) for s in range(3)]
    assert min(np.abs(a - b).mean() for a, b in ((images[0], images[1]), (images[1], images[2]))) > 0.5
    again = cgan("translate", str(vae_run), str(src / "0.png"), "--seeds", "1", "--out", str(tmp_path / "again"),
                 "--device", "cpu")  # fmt: skip
    assert again.exit_code == 0 and np.array_equal(pixels(tmp_path / "again" / "0" / "seed000001.png"), images[1])


def test_a_style_photo_sets_z(vae_run, labels_dir, tmp_path):
    src = labels_dir / "labels" / "0.png"
    outs = {}
    for photo in ("1", "4"):
        out = tmp_path / photo
        result = cgan("translate", str(vae_run), str(src), "--style", str(labels_dir / "images" / f"{photo}.png"),
                      "--out", str(out), "--device", "cpu")  # fmt: skip
        assert result.exit_code == 0, result.output
        outs[photo] = pixels(out / "0.png").astype(np.float32)
    assert np.abs(outs["1"] - outs["4"]).mean() > 0.1
    both = cgan("translate", str(vae_run), str(src), "--style", str(src), "--seeds", "1", "--out",
                str(tmp_path / "x"), "--device", "cpu")  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.stderr


def test_a_model_without_the_vae_refuses_seeds(labels_dir, tmp_path):
    run = cgan("train", "spade", "--labels", str(labels_dir), "--out", str(tmp_path / "r"), "--device", "cpu",
               *TINY, "--steps", "1")  # fmt: skip
    assert run.exit_code == 0
    result = cgan("translate", str(tmp_path / "r" / "latest.safetensors"), str(labels_dir / "labels"), "--seeds",
                  "0-1", "--out", str(tmp_path / "o"), "--device", "cpu")  # fmt: skip
    assert "spade --use-vae" in one_line_error(result, 2)
    walk = cgan("interp", str(tmp_path / "r" / "latest.safetensors"), str(labels_dir / "labels" / "0.png"),
                "--seeds", "1,2", "--out", str(tmp_path / "f"), "--device", "cpu")  # fmt: skip
    assert "takes no latent z to walk" in one_line_error(walk, 2) and not (tmp_path / "f").exists()


def test_interp_walks_z_of_one_label_map(vae_run, labels_dir, tmp_path):
    result = cgan("interp", str(vae_run), str(labels_dir / "labels" / "2.png"), "--seeds", "1,2", "--steps", "3",
                  "--out", str(tmp_path / "frames"), "--device", "cpu")  # fmt: skip
    assert result.exit_code == 0, result.output
    frames = [pixels(Path(p)) for p in result.stdout.split()]
    assert len(frames) == 4 and frames[0].shape == (64, 64, 3)  # 3 steps between the two keyframes
    seeds = cgan("translate", str(vae_run), str(labels_dir / "labels" / "2.png"), "--seeds", "1,2", "--out",
                 str(tmp_path / "t"), "--device", "cpu")  # fmt: skip
    assert seeds.exit_code == 0, seeds.output
    for frame, seed in ((frames[0], 1), (frames[-1], 2)):  # a seed's frame is what translate makes of it
        assert np.abs(frame - pixels(tmp_path / "t" / "2" / f"seed{seed:06d}.png")).max() <= 1
    assert np.abs(frames[0] - frames[-1]).mean() > 0.5


def test_resume_with_the_vae_is_exact(labels_dir, tmp_path):
    common = ("--labels", str(labels_dir), "--device", "cpu", *TINY, *VAE, "--seed", "3", "--batch-size", "2")
    assert cgan("train", "spade", *common, "--out", str(tmp_path / "a"), "--steps", "3").exit_code == 0
    assert cgan("train", "spade", *common, "--out", str(tmp_path / "b"), "--steps", "1").exit_code == 0
    resumed = cgan("train", "--resume", str(tmp_path / "b" / "latest.safetensors"), "--steps", "3", "--workers", "0")
    assert resumed.exit_code == 0, resumed.output
    a, b = (load_checkpoint(tmp_path / r / "latest.safetensors") for r in ("a", "b"))
    keys = [k for k in a.tensors if k.startswith(("net/E/", "net/G/", "optim/G"))]
    assert any(k.startswith("net/E/") for k in keys) and all(torch.equal(a.tensors[k], b.tensors[k]) for k in keys)


@pytest.mark.slow  # among the longest: the default suite stays under 10 minutes
def test_export_takes_the_label_map_and_z(vae_run, tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    onnx_path = tmp_path / "g.onnx"
    exported = cgan("export", str(vae_run), "--out", str(onnx_path))
    assert exported.exit_code == 0, exported.output + exported.stderr
    session = ort.InferenceSession(str(onnx_path))
    assert [i.name for i in session.get_inputs()] == ["label_map", "z"]
    seg = torch.nn.functional.one_hot(torch.from_numpy(label_array(2, 64)).long(), 3).permute(2, 0, 1)[None].float()
    z = torch.randn(1, 8)
    (got,) = session.run(None, {"label_map": seg.numpy(), "z": z.numpy()})
    G = SPADEGenerator(SPADEConfig(3, 3, ngf=2, hidden=8, z_dim=8, z_grid=2))
    G.load_state_dict(load_checkpoint(vae_run).sub("net/G"))
    assert np.abs(got - G.eval()(seg, z).detach().numpy()).max() < 1e-4


# --- instance maps ---------------------------------------------------------------------------------------------


def test_instance_edges_follow_the_crop_and_flip_of_the_label_map(labels_dir, tmp_path):
    inst = write_instances(tmp_path / "inst", labels_dir)
    cfg = Config(labels=str(labels_dir), instances=str(inst), ngf=2, ndf=4, spade_hidden=8, n_layers_d=3,
                 load_size=80, crop_size=64, vgg=False)  # fmt: skip
    family = SPADEFamily(cfg, CPU)
    ds = family.dataset()
    for seed in range(6):
        item = ds[(1, seed)]
        # the edges are those of the instance map resized, cropped and flipped exactly as the label map was
        ids = np.asarray(Image.open(inst / "1.png")).astype(np.int64)
        img = Image.fromarray(ids.astype(np.int32), mode="I")
        params = family.preprocess().draw(img.size, random.Random(seed))
        moved = np.asarray(family.preprocess().apply(img, params, Image.Resampling.NEAREST)).astype(np.int64)
        assert torch.equal(item["edges"][0], instance_edges(torch.from_numpy(moved)))
        lab = item["label"][0].numpy()
        assert (item["edges"][0].numpy()[:, :-1][lab[:, :-1] != lab[:, 1:]] == 1).all()  # class edges are edges
    assert family.G.config.label_nc == 4 and family.semantics(family.validation_batch()).shape[1] == 4


def test_instances_train_translate_and_are_required_at_translate(labels_dir, tmp_path):
    inst = write_instances(tmp_path / "inst", labels_dir)
    run = cgan("train", "spade", "--labels", str(labels_dir), "--instances", str(inst), "--out", str(tmp_path / "r"),
               "--device", "cpu", *TINY, "--steps", "2")  # fmt: skip
    assert run.exit_code == 0, run.output
    ckpt = str(tmp_path / "r" / "latest.safetensors")
    src = str(labels_dir / "labels" / "3.png")
    missing = cgan("translate", ckpt, src, "--out", str(tmp_path / "o"), "--device", "cpu")
    assert "--instances DIR" in one_line_error(missing, 2)
    outs = {}
    for name, split in (("split", True), ("whole", False)):
        folder = inst if split else write_instances(tmp_path / "inst-whole", labels_dir, split=False)
        ok = cgan("translate", ckpt, src, "--instances", str(folder), "--out", str(tmp_path / name), "--device",
                  "cpu")  # fmt: skip
        assert ok.exit_code == 0, ok.output
        outs[name] = pixels(tmp_path / name / "3.png").astype(np.float32)
    assert np.abs(outs["split"] - outs["whole"]).max() > 0  # the edge channel reaches G
    (tmp_path / "small").mkdir()
    Image.fromarray(np.zeros((32, 32), np.uint16)).save(tmp_path / "small" / "3.png")
    mismatch = cgan("translate", ckpt, src, "--instances", str(tmp_path / "small"), "--out", str(tmp_path / "m"),
                    "--device", "cpu")  # fmt: skip
    assert mismatch.exit_code == 1 and "size mismatch" in mismatch.stderr and "small/3.png is 32×32" in mismatch.stderr
    resized = cgan("translate", ckpt, src, "--instances", str(inst), "--size", "96", "--out", str(tmp_path / "s"),
                   "--device", "cpu")  # fmt: skip
    assert resized.exit_code == 0, resized.output
    assert pixels(tmp_path / "s" / "3.png").shape == (96, 96, 3)
    (tmp_path / "lonely").mkdir()
    Image.fromarray(np.zeros((64, 64), np.uint16)).save(tmp_path / "lonely" / "other.png")
    nameless = cgan("translate", ckpt, src, "--instances", str(tmp_path / "lonely"), "--out", str(tmp_path / "n"),
                    "--device", "cpu")  # fmt: skip
    assert nameless.exit_code == 1 and "no instance map named 3.*" in nameless.stderr


def test_a_missing_instance_map_stops_training_with_one_line(labels_dir, tmp_path):
    inst = write_instances(tmp_path / "inst", labels_dir)
    (inst / "2.png").unlink()
    run = cgan("train", "spade", "--labels", str(labels_dir), "--instances", str(inst), "--out", str(tmp_path / "r"),
               "--device", "cpu", *TINY, "--steps", "1")  # fmt: skip
    assert "no instance map named 2.*" in one_line_error(run, 1)
    assert not (tmp_path / "r" / "latest.safetensors").exists()
