"""dcgan, cgan and acgan: network shapes, conditioning, the training step's pieces, exact resume."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from helpers_classes import write_classes
from PIL import Image
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.families.acgan import ACGAN, ACGANConfig
from cgan_cli.families.cgan import CGAN, CGANConfig
from cgan_cli.families.dcgan import DCGAN, DCGANConfig
from cgan_cli.nn import dcgan as dcgan_nets
from cgan_cli.nn.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANNetConfig

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def classes_dir(tmp_path_factory):
    return write_classes(tmp_path_factory.mktemp("classes"))


def tiny(cls_config, root, **overrides):
    key = "images" if cls_config is DCGANConfig else "classes"
    values = {key: str(root), "image_size": 32, "ngf": 8, "ndf": 8, "batch_size": 6, "log_every": 1}
    values.update(overrides)
    return cls_config(**values)


# --- networks -------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("d_cond", ["none", "concat", "projection", "acgan"])
def test_shapes_for_every_size_and_conditioning(size, channels, d_cond):
    k = 0 if d_cond == "none" else 4
    g_cond = "none" if d_cond == "none" else "embed"
    cfg = DCGANNetConfig(size, channels, 100, 8, 8, k, g_cond, 5, d_cond)
    G, D = DCGANGenerator(cfg), DCGANDiscriminator(cfg)
    labels = torch.tensor([0, 3])
    fake = G(torch.randn(2, 100), G.class_vector(labels))
    assert fake.shape == (2, channels, size, size)
    assert fake.abs().max() <= 1  # tanh
    out = D(fake, labels)
    assert out.logits.shape == (2,)
    assert out.classes is None if d_cond != "acgan" else out.classes.shape == (2, 4)
    # one stride-2 layer per doubling from 4×4
    strided = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d) and m.stride == (2, 2)]
    assert len(strided) == {32: 3, 64: 4, 128: 5}[size]


def test_the_64px_generator_is_radfords():
    """z 100 → 4×4×1024 → 8×8×512 → 16×16×256 → 32×32×128 → 64×64×3, BN + ReLU, tanh, no biases."""
    G = DCGANGenerator(DCGANNetConfig())
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (100, 1024), (1024, 512), (512, 256), (256, 128), (128, 3)
    ]  # fmt: skip
    assert all(c.bias is None and c.kernel_size == (4, 4) for c in convs)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules()) == 4
    assert isinstance(G.main[-1], torch.nn.Tanh)
    shapes = []
    h = torch.randn(1, 100, 1, 1)
    for m in G.main:
        h = m(h) if not isinstance(m, torch.nn.BatchNorm2d) else h
        if isinstance(m, torch.nn.ConvTranspose2d):
            shapes.append(tuple(h.shape[1:]))
    assert shapes == [(1024, 4, 4), (512, 8, 8), (256, 16, 16), (128, 32, 32), (3, 64, 64)]


def test_the_discriminator_has_no_norm_on_its_first_layer_and_leaky_relu():
    D = DCGANDiscriminator(DCGANNetConfig())
    layers = list(D.features)
    assert isinstance(layers[0], torch.nn.Conv2d) and isinstance(layers[1], torch.nn.LeakyReLU)
    assert layers[1].negative_slope == 0.2
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules()) == 3
    assert [m.out_channels for m in D.modules() if isinstance(m, torch.nn.Conv2d)] == [128, 256, 512, 1024, 1]


@pytest.mark.parametrize(
    ("overrides", "norm"),
    [({}, "batch"), ({"spectral_norm": True}, "none"), ({"loss": "wgangp"}, "layer"), ({"loss": "r3gan"}, "none"),
     ({"loss": "wgan"}, "batch"), ({"d_norm": "none"}, "none")],  # fmt: skip
)
def test_discriminator_norm_follows_the_papers(classes_dir, overrides, norm):
    cfg = tiny(CGANConfig, classes_dir, **overrides)
    assert cfg.resolved_d_norm() == norm
    D = CGAN(cfg, CPU).D
    kinds = {type(m) for m in D.modules()}
    assert (torch.nn.BatchNorm2d in kinds) == (norm == "batch")
    assert (torch.nn.GroupNorm in kinds) == (norm == "layer")


def test_spectral_norm_bounds_every_discriminator_layer():
    cfg = DCGANNetConfig(32, 3, 10, 8, 8, 3, "embed", 3, "projection", "none", True)
    D = DCGANDiscriminator(cfg)
    for _ in range(30):  # power iterations converge in train mode
        D(torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 0]))
    D.eval()
    for m in D.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Embedding)):
            w = m.weight.reshape(m.weight.shape[0], -1)
            assert float(torch.linalg.matrix_norm(w.detach(), 2)) == pytest.approx(1.0, rel=0.05)


def test_projection_adds_the_class_embedding_inner_product():
    cfg = DCGANNetConfig(32, 3, 10, 8, 8, 3, "embed", 3, "projection")
    D = DCGANDiscriminator(cfg).eval()
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([2, 0])
    h = D.features(x)
    want = D.head(h).flatten() + (D.embed(y) * h.sum((2, 3))).sum(1)
    torch.testing.assert_close(D(x, y).logits, want)
    assert not torch.allclose(D(x, torch.tensor([0, 2])).logits, D(x, y).logits)  # the class changes the score


def test_concat_discriminator_sees_one_hot_label_maps():
    cfg = DCGANNetConfig(32, 1, 10, 8, 8, 3, "embed", 3, "concat")
    D = DCGANDiscriminator(cfg).eval()
    assert D.features[0].in_channels == 1 + 3
    x = torch.randn(1, 1, 32, 32)
    maps = torch.zeros(1, 3, 32, 32)
    maps[:, 1] = 1
    torch.testing.assert_close(D(x, torch.tensor([1])).logits, D.head(D.features(torch.cat([x, maps], 1))).flatten())


def test_generator_conditioning_onehot_and_embedding():
    onehot = DCGANGenerator(DCGANNetConfig(32, 3, 10, 8, 8, 4, "onehot", 0, "acgan"))
    torch.testing.assert_close(onehot.class_vector(torch.tensor([2])), torch.tensor([[0.0, 0, 1, 0]]))
    assert onehot.main[0].in_channels == 10 + 4  # the ACGAN paper's z ⊕ one-hot input
    embed = DCGANGenerator(DCGANNetConfig(32, 3, 10, 8, 8, 4, "embed", 6, "projection"))
    assert embed.class_vector(torch.tensor([1, 3])).shape == (2, 6)
    z = torch.randn(1, 10).expand(2, -1)
    out = embed.eval()(z, embed.class_vector(torch.tensor([0, 3])))
    assert not torch.allclose(out[0], out[1])  # same z, different class → different image


# --- families -------------------------------------------------------------------------------


def test_class_names_and_channels_come_from_the_data_and_round_trip(classes_dir, tmp_path):
    result = CliRunner().invoke(
        app,
        ["train", "cgan", "--classes", str(classes_dir), "--out", str(tmp_path / "run"), "--image-size", "32",
         "--ngf", "8", "--ndf", "8", "--batch-size", "6", "--steps", "2", "--device", "cpu"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    ckpt = load_checkpoint(tmp_path / "run" / "latest.safetensors")
    assert ckpt.family == "cgan"
    assert tuple(ckpt.config["class_names"]) == ("blue", "green", "red") and ckpt.config["channels"] == 3
    cfg = CGAN.config_from(ckpt)
    assert cfg.class_names == ("blue", "green", "red")
    sampler = CGAN.sampler(ckpt, CPU, __import__("cgan_cli.families", fromlist=["SampleOptions"]).SampleOptions())
    assert sampler.class_names == ("blue", "green", "red") and sampler.image_size == 32


def test_grayscale_data_gives_a_one_channel_model(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("L", (32, 32), 40 * i + (100 if name == "b" else 0)).save(tmp_path / name / f"{i}.png")
    fam = ACGAN(tiny(ACGANConfig, tmp_path), CPU)
    assert fam.config.channels == 1 and fam.G.main[-2].out_channels == 1
    assert fam.dataset()[(0, 0)]["image"].shape == (1, 32, 32)


def test_resume_refuses_data_whose_classes_changed(classes_dir, tmp_path):
    from cgan_cli.errors import DataError

    cfg = tiny(CGANConfig, classes_dir)
    fam = CGAN(cfg, CPU)
    moved = tmp_path / "changed"
    write_classes(moved)
    (moved / "yellow").mkdir()
    Image.new("RGB", (8, 8), (255, 255, 0)).save(moved / "yellow" / "0.png")
    import dataclasses

    with pytest.raises(DataError, match="differ"):
        CGAN(dataclasses.replace(fam.config, classes=str(moved)), CPU).dataset()


def test_acgan_classifier_is_trained_with_cross_entropy_on_logits(classes_dir):
    fam = ACGAN(tiny(ACGANConfig, classes_dir, lambda_cls=2.0), CPU)
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    labels = torch.tensor([0, 2])
    want = 2.0 * -(F.log_softmax(logits, 1)[[0, 1], [0, 2]]).mean()
    torch.testing.assert_close(fam.class_loss(logits, labels), want)
    # D's class head returns raw scores (no softmax inside the network)
    x = torch.randn(4, 3, 32, 32)
    cls = fam.D.eval()(x, torch.zeros(4, dtype=torch.long)).classes
    assert not torch.allclose(cls.sum(1), torch.ones(4))
    # D steps alone teach the head the classes of a fixed real batch
    ds = fam.dataset()
    batch = [ds[(i, 0)] for i in range(0, 24, 3)]
    images, y = torch.stack([b["image"] for b in batch]), torch.stack([b["label"] for b in batch])
    fam.D.train()
    first = None
    for _ in range(25):
        fam.opt_D.zero_grad()
        cls = fam.D(images, y).classes
        loss = fam.class_loss(cls, y)
        first = float(loss.detach()) if first is None else first
        loss.backward()
        fam.opt_D.step()
    assert float(loss.detach()) < 0.5 * first


def test_a_training_step_updates_d_every_step_and_g_every_n_critic(classes_dir):
    fam = CGAN(tiny(CGANConfig, classes_dir, n_critic=3), CPU)
    ds = fam.dataset()
    batch = {k: torch.stack([ds[(i, 0)][k] for i in range(6)]) for k in ("image", "label")}
    for step in range(4):
        fam.step = step
        g0 = [p.detach().clone() for p in fam.G.parameters()]
        d0 = [p.detach().clone() for p in fam.D.parameters()]
        losses = fam.train_step(batch)
        g_moved = any(not torch.equal(a, b) for a, b in zip(g0, fam.G.parameters()))
        d_moved = any(not torch.equal(a, b) for a, b in zip(d0, fam.D.parameters()))
        assert d_moved
        assert g_moved == (step % 3 == 0) == ("G" in losses)


def test_ema_generator_follows_the_update_rule(classes_dir):
    fam = DCGAN(tiny(DCGANConfig, classes_dir, ema=0.9), CPU)
    ds = fam.dataset()
    batch = {k: torch.stack([ds[(i, 0)][k] for i in range(6)]) for k in ("image", "label")}
    before = [p.detach().clone() for p in fam.ema.model.parameters()]
    fam.step = 100  # past the warm-up, (1 + t) / (10 + t) > 0.9
    fam.train_step(batch)
    for old, new, live in zip(before, fam.ema.model.parameters(), fam.G.parameters()):
        torch.testing.assert_close(new, 0.9 * old + 0.1 * live.detach())
    fam.step = 0  # the first update: decay 0.1, the average follows the live weights closely
    before = [p.detach().clone() for p in fam.ema.model.parameters()]
    fam.train_step(batch)
    for old, new, live in zip(before, fam.ema.model.parameters(), fam.G.parameters()):
        torch.testing.assert_close(new, 0.1 * old + 0.9 * live.detach())
    assert "G_ema" in fam.nets and all(not p.requires_grad for p in fam.ema.model.parameters())


def test_diffaugment_is_applied_to_real_and_fake_alike(classes_dir, monkeypatch):
    seen = []

    def spy(x, policy, generator=None):
        seen.append((x.shape, policy, x.requires_grad))
        return x.flip(3)

    monkeypatch.setattr("cgan_cli.families.latent.diff_augment", spy)
    fam = CGAN(tiny(CGANConfig, classes_dir, diffaug="color,cutout"), CPU)
    ds = fam.dataset()
    batch = {k: torch.stack([ds[(i, 0)][k] for i in range(6)]) for k in ("image", "label")}
    fam.train_step(batch)
    # D's step: reals, then fakes; G's step: fakes (with the graph to G)
    assert [s[1] for s in seen] == [("color", "cutout")] * 3
    assert [s[0] for s in seen] == [(6, 3, 32, 32)] * 3
    assert seen[2][2] and not seen[1][2]


def test_r1_penalises_the_gradient_on_reals(classes_dir):
    fam = CGAN(tiny(CGANConfig, classes_dir, r1=10.0), CPU)
    ds = fam.dataset()
    batch = {k: torch.stack([ds[(i, 0)][k] for i in range(6)]) for k in ("image", "label")}
    losses = fam.train_step(batch)
    assert float(losses["D_r1"]) > 0


@pytest.mark.parametrize("family", ["dcgan", "cgan", "acgan"])
def test_resume_is_bit_identical(family, classes_dir, tmp_path):
    data = ["--images" if family == "dcgan" else "--classes", str(classes_dir)]
    common = [*data, "--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "5", "--seed", "3",
              "--ema", "0.9", "--diffaug", "color,translation,cutout", "--n-critic", "2", "--flip",
              "--log-every", "2", "--device", "cpu", "--workers", "0"]  # fmt: skip

    def train(out, *extra):
        result = CliRunner().invoke(app, ["train", family, "--out", str(out), *common, *extra])
        assert result.exit_code == 0, result.output

    train(tmp_path / "straight", "--steps", "7")
    train(tmp_path / "split", "--steps", "3")
    resumed = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "split" / "latest.safetensors"),
                                       "--steps", "7", "--workers", "1"])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    a = load_checkpoint(tmp_path / "straight" / "latest.safetensors").tensors
    b = load_checkpoint(tmp_path / "split" / "latest.safetensors").tensors
    assert a.keys() == b.keys() and any(k.startswith("net/G_ema/") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]
    log = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "lr" in r] == [2, 3, 4, 6, 7]  # losses
    assert [r["step"] for r in log if "diversity" in r] == [3, 7]  # beside each sample grid (the last step's)


def test_usage_errors_name_the_flag(classes_dir, tmp_path):
    def run(*args):
        return CliRunner().invoke(app, ["train", "cgan", "--classes", str(classes_dir), "--out", str(tmp_path / "r"),
                                        "--device", "cpu", *args])  # fmt: skip

    for args, flag in [
        (["--image-size", "48"], "--image-size"),
        (["--diffaug", "color,blur"], "--diffaug"),
        (["--loss", "hinge", "--label-smoothing", "0.9"], "--label-smoothing"),
        (["--channels", "2"], "--channels"),
        (["--ema", "1.5"], "--ema"),
    ]:
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert flag in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "r" / "latest.safetensors").exists()


def test_conditional_families_need_class_folders(tmp_path):
    for i in range(3):
        Image.new("RGB", (8, 8)).save(tmp_path / f"{i}.png")
    result = CliRunner().invoke(
        app, ["train", "acgan", "--classes", str(tmp_path), "--out", str(tmp_path / "r"), "--device", "cpu"]
    )
    assert result.exit_code == 1 and "dcgan" in result.stderr and "Traceback" not in result.output
    # dcgan takes the same flat folder
    fam = DCGAN(tiny(DCGANConfig, tmp_path), CPU)
    assert len(fam.dataset()) == 3 and fam.config.class_names == ()


def test_widths_are_capped_at_eight_times_the_base():
    assert dcgan_nets._widths(16, 5) == [128, 128, 64, 32, 16]


@pytest.mark.parametrize("loss", ["vanilla", "nonsat", "lsgan", "hinge", "wgangp"])
@pytest.mark.parametrize(
    "family", [("dcgan", DCGAN, DCGANConfig), ("cgan", CGAN, CGANConfig), ("acgan", ACGAN, ACGANConfig)]
)
def test_every_loss_trains_every_family(family, loss, classes_dir):
    _, cls, cfg_cls = family
    fam = cls(tiny(cfg_cls, classes_dir, loss=loss, r1=1.0 if loss == "hinge" else 0.0), CPU)
    ds = fam.dataset()
    batch = {k: torch.stack([ds[(i, 0)][k] for i in range(6)]) for k in ("image", "label")}
    losses = fam.train_step(batch)
    assert ("D_gp" in losses) == (loss == "wgangp") and ("D_cls" in losses) == (cls is ACGAN)
    assert all(torch.isfinite(v) for v in losses.values())
