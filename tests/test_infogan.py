"""infogan: the information term (restated here), its place in D's and G's losses, Q on D's trunk, the codes in
G's input, the paper's MNIST networks (`--net paper`) beside DCGAN's, `cgan sample --code`, `cgan interp --walk`,
the export graphs, checkpoints from before `--net`, exact resume, and that the categorical code is learned."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_cli import ok, one_line_error, pixels
from PIL import Image
from torch import nn
from torch.utils.data import default_collate
from typer.testing import CliRunner

from cgan_cli.checkpoint import load_checkpoint, save_checkpoint
from cgan_cli.cli import app
from cgan_cli.config.infogan import Code, code_layout
from cgan_cli.data.grid import grid
from cgan_cli.families.base import Sampler
from cgan_cli.families.infogan import InfoGAN, InfoGANConfig, info_loss, q_dim
from cgan_cli.generation import latent, latents, parse_codes
from cgan_cli.nn.codes import code_vector
from cgan_cli.nn.dcgan import DCGANDiscriminator, DCGANGenerator, DCGANNetConfig
from cgan_cli.nn.infogan import InfoGANDiscriminator, InfoGANGenerator
from tests.conftest import one_thread

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")
SIZE = 32
GAIN = 6.0  # as tests/test_sample_interp_cli.py: spreads a 3-step G's near-constant grey over the range


def tiny(root: Path, **overrides) -> InfoGANConfig:
    values = {"images": str(root), "image_size": SIZE, "ngf": 8, "ndf": 8, "batch_size": 6, "cat_codes": "4",
              "cont_codes": 2, "net": "dcgan"}  # fmt: skip
    values.update(overrides)
    return InfoGANConfig(**values)


def batch_of(fam: InfoGAN, n: int = 6) -> dict[str, torch.Tensor]:
    ds = fam.dataset()
    return default_collate([ds[(i, 0)] for i in range(n)])


def cgan(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c"):
        (root / name).mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)).save(root / name / f"{i}.png")
    return root


def trained(run: Path, images: Path, *args: str) -> Path:
    """`cgan train infogan` for 3 steps (codes c0: 4 categories, c1, c2 continuous), its G woken by GAIN."""
    argv = ["train", "infogan", "--images", str(images), "--out", str(run), "--ngf", "8", "--ndf", "8",
            "--batch-size", "6", "--steps", "3", "--cat-codes", "4", "--cont-codes", "2", "--device", "cpu",
            "--workers", "0", *args]  # fmt: skip
    with torch.random.fork_rng(), one_thread():
        ok(cgan(*argv))
    ckpt = load_checkpoint(run / "latest.safetensors")
    for key, value in ckpt.tensors.items():
        if key.startswith("net/G/") and value.ndim >= 2:
            ckpt.tensors[key] = value * GAIN
    return save_checkpoint(run / "woken.safetensors", ckpt)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, images) -> Path:
    """On DCGAN's networks at 32×32."""
    return trained(tmp_path_factory.mktemp("run"), images, "--image-size", "32", "--net", "dcgan")


@pytest.fixture(scope="module")
def paper_checkpoint(tmp_path_factory, images) -> Path:
    """On the paper's networks at the paper's 28×28."""
    return trained(tmp_path_factory.mktemp("paper"), images, "--image-size", "28", "--net", "paper")


# --- the information term ----------------------------------------------------------------------------------


def test_the_code_loss_is_cross_entropy_plus_the_continuous_nll():
    codes = code_layout((3, 2), 2)  # c0: 3 categories, c1: 2, c2 and c3 continuous
    assert [(c.name, c.kind) for c in codes] == [("c0", "categorical"), ("c1", "categorical"),
                                                 ("c2", "continuous"), ("c3", "continuous")]  # fmt: skip
    assert q_dim(codes, "gaussian") == 3 + 2 + 2 * 2 and q_dim(codes, "mse") == q_dim(codes, "fixed") == 3 + 2 + 2
    g = torch.Generator().manual_seed(0)
    q = torch.randn(5, 9, generator=g)
    c0, c1 = torch.tensor([0, 2, 1, 1, 0]), torch.tensor([1, 0, 0, 1, 1])
    cont = torch.rand(5, 2, generator=g) * 2 - 1
    values = [c0, c1, cont[:, 0], cont[:, 1]]
    # restated: −log softmax at the drawn category, averaged; Gaussian −log N(c; μ, σ²) summed over codes
    rows = torch.arange(5)
    ce = -(F.log_softmax(q[:, :3], 1)[rows, c0]).mean() - (F.log_softmax(q[:, 3:5], 1)[rows, c1]).mean()
    mu, log_sigma = q[:, 5:7], q[:, 7:9]
    sigma = torch.exp(log_sigma)
    density = torch.exp(-((cont - mu) ** 2) / (2 * sigma**2)) / (math.sqrt(2 * math.pi) * sigma)
    nll = -torch.log(density).sum(1).mean()
    got = info_loss(q, codes, values, "gaussian", lambda_info=1.5, lambda_cont=0.25)
    torch.testing.assert_close(got, 1.5 * ce + 0.25 * nll)
    fixed = (0.5 * math.log(2 * math.pi) + 0.5 * (cont - mu) ** 2).sum(1).mean()  # std 1, as openai/InfoGAN
    torch.testing.assert_close(info_loss(q[:, :7], codes, values, "fixed", 1.5, 0.25), 1.5 * ce + 0.25 * fixed)
    mse = ((cont - q[:, 5:7]) ** 2).sum(1).mean()
    torch.testing.assert_close(info_loss(q[:, :7], codes, values, "mse", 1.0, 2.0), ce + 2 * mse)
    # the right category scores a lower loss than a wrong one
    confident = torch.zeros(1, 3)
    confident[0, 2] = 5.0
    one = code_layout((3,), 0)
    right, wrong = (info_loss(confident, one, [torch.tensor([k])], "mse", 1, 1) for k in (2, 0))
    assert right < wrong


def test_d_and_g_losses_both_include_the_information_term(images):
    fam = InfoGAN(tiny(images, lambda_info=2.0), CPU)
    fam.D.eval()  # batch statistics aside, D is a function of its input: the terms can be recomputed
    batch = batch_of(fam)
    z, values = fam.draw(batch["label"])
    with torch.no_grad():
        fake = fam.G(z)
        expected = info_loss(fam.D(fake).codes, fam.codes, values, "fixed", 2.0, 1.0)
        loss_d, d_terms = fam.d_loss(fam.D, fam.D, batch["image"], fake, batch["label"], values)
        loss_g, g_terms = fam.g_loss(fam.D, batch["image"], fake, batch["label"], values)
    torch.testing.assert_close(d_terms["D_info"], expected)
    torch.testing.assert_close(g_terms["G_info"], expected)
    torch.testing.assert_close(loss_d, d_terms["D_real"] + d_terms["D_fake"] + expected)
    torch.testing.assert_close(loss_g, g_terms["G"] + expected)
    # and a training step logs both, with G's gradient flowing through the codes' term
    fam.D.train()
    losses = fam.train_step(batch)
    assert {"D_info", "G_info"} <= losses.keys() and all(torch.isfinite(v) for v in losses.values())


def test_q_is_a_head_on_ds_trunk_trained_with_d_at_ds_learning_rate(images):
    fam = InfoGAN(tiny(images), CPU)
    D = fam.D.eval()
    x = torch.randn(3, 3, SIZE, SIZE)
    torch.testing.assert_close(D(x).codes, D.q(D.features(x)).flatten(1))
    assert D(x).codes.shape == (3, 4 + 2)  # c0's logits, c1's and c2's means (--cont-loss fixed)
    assert InfoGAN(tiny(images, cont_loss="gaussian"), CPU).D.eval()(x).codes.shape == (3, 4 + 2 * 2)  # log-stds
    before = D(x).codes.clone()
    with torch.no_grad():
        D.features[0].weight.mul_(1.5)  # the shared trunk moves Q's output too
    assert not torch.allclose(D(x).codes, before)
    q_params = {id(p) for p in D.q.parameters()}
    d_group = fam.opt_D.param_groups[0]
    assert q_params <= {id(p) for p in d_group["params"]} and "Q" not in fam.nets
    assert d_group["lr"] == pytest.approx(2e-4) and fam.opt_G.param_groups[0]["lr"] == pytest.approx(1e-3)
    assert d_group["betas"] == (0.5, 0.999)
    other = InfoGAN(tiny(images, lr=3e-4, d_lr=1e-4), CPU)
    assert (other.opt_G.param_groups[0]["lr"], other.opt_D.param_groups[0]["lr"]) == (3e-4, 1e-4)
    wgan = InfoGAN(tiny(images, loss="wgan"), CPU)
    assert isinstance(wgan.opt_D, torch.optim.RMSprop) and wgan.opt_D.param_groups[0]["lr"] == 5e-5


def test_g_takes_the_noise_then_the_one_hot_and_continuous_codes(images):
    fam = InfoGAN(tiny(images, cat_codes="4,3", cont_codes=1, z_dim=10), CPU)
    assert fam.G.main[0].in_channels == 10 + 4 + 3 + 1
    z, values = fam.draw(torch.zeros(50, dtype=torch.long))
    assert z.shape == (50, 18)
    torch.testing.assert_close(z[:, 10:14], F.one_hot(values[0], 4).float())
    torch.testing.assert_close(z[:, 14:17], F.one_hot(values[1], 3).float())
    torch.testing.assert_close(z[:, 17], values[2])
    assert values[2].min() >= -1 and values[2].max() <= 1 and values[2].std() > 0.3  # U(-1, 1)
    assert set(values[0].tolist()) == {0, 1, 2, 3}


# --- the paper's networks (--net paper) ---------------------------------------------------------------------


def paper_net(size: int, **overrides) -> DCGANNetConfig:
    """The paper's MNIST run: z 62, codes Categorical(10) + 2 continuous (Q: 10 logits, 2 means; fixed std)."""
    return DCGANNetConfig(**{"image_size": size, "channels": 1, "z_dim": 62, "ngf": 128, "ndf": 128,
                             "code_dim": 12, "q_dim": 12, **overrides})  # fmt: skip


def layers(net: nn.Module) -> list[tuple]:
    """(kind, in, out, kernel, stride) of each weight layer, in order."""
    out = []
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            out.append((type(m).__name__, m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0]))
        elif isinstance(m, nn.Linear):
            out.append(("Linear", m.in_features, m.out_features))
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            out.append((type(m).__name__, m.num_features))
    return out


@pytest.mark.parametrize("size", [28, 32, 64])
def test_the_paper_nets_are_table_1s_from_a_quarter_of_the_side(size):
    G, D = InfoGANGenerator(paper_net(size)), InfoGANDiscriminator(paper_net(size))
    q = (size // 4) ** 2  # the s/4 × s/4 map: 7×7 at the paper's 28
    assert layers(G) == [("Linear", 74, 1024), ("BatchNorm1d", 1024), ("Linear", 1024, 128 * q),
                         ("BatchNorm1d", 128 * q), ("ConvTranspose2d", 128, 64, 4, 2), ("BatchNorm2d", 64),
                         ("ConvTranspose2d", 64, 1, 4, 2)]  # fmt: skip
    assert layers(D) == [("Conv2d", 1, 64, 4, 2), ("Conv2d", 64, 128, 4, 2), ("BatchNorm2d", 128),
                         ("Linear", 128 * q, 1024), ("BatchNorm1d", 1024), ("Linear", 1024, 1),
                         ("Linear", 1024, 128), ("BatchNorm1d", 128), ("Linear", 128, 12)]  # fmt: skip
    assert {m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}
    assert sum(isinstance(m, nn.LeakyReLU) for m in D.modules()) == 4  # 3 in the trunk, 1 in Q
    with torch.no_grad():
        x = G(torch.randn(5, 74))
        out = D(x)
    assert x.shape == (5, 1, size, size) and x.abs().max() <= 1  # tanh
    assert out.logits.shape == (5,) and out.codes.shape == (5, 12) and out.features.shape == (5, 1024)
    assert out.classes is None


def test_the_paper_nets_parameters_at_28_counted_by_hand():
    G, D = InfoGANGenerator(paper_net(28)), InfoGANDiscriminator(paper_net(28))
    # no bias before a batch norm (it cancels); batch norms have a scale and a shift per feature
    g = (74 * 1024 + 2 * 1024  # FC 1024, BN
         + 1024 * 7 * 7 * 128 + 2 * 7 * 7 * 128  # FC 7·7·128, BN
         + 128 * 64 * 4 * 4 + 2 * 64  # upconv 64, BN
         + 64 * 1 * 4 * 4 + 1)  # upconv 1, its bias
    d = (1 * 64 * 4 * 4 + 64  # conv 64 with bias
         + 64 * 128 * 4 * 4 + 2 * 128  # conv 128, BN
         + 7 * 7 * 128 * 1024 + 2 * 1024  # FC 1024, BN
         + 1024 + 1)  # FC 1: real/fake
    q = 1024 * 128 + 2 * 128 + 128 * 12 + 12  # FC 128, BN, FC 12
    assert (g, d, q) == (6_645_121, 6_558_017, 132_876)  # 13,336,014 in all
    assert sum(p.numel() for p in G.parameters()) == g
    assert sum(p.numel() for p in D.q.parameters()) == q
    assert sum(p.numel() for p in D.parameters()) == d + q


def test_the_paper_nets_q_is_a_head_on_ds_trunk_and_g_takes_the_codes(images):
    fam = InfoGAN(tiny(images, net="paper", image_size=28, cat_codes="4,3", cont_codes=1, z_dim=10), CPU)
    assert isinstance(fam.G, InfoGANGenerator) and isinstance(fam.D, InfoGANDiscriminator)
    assert fam.G.fc[0].in_features == 10 + 4 + 3 + 1
    D = fam.D.eval()
    x = torch.randn(3, 3, 28, 28)
    torch.testing.assert_close(D(x).codes, D.q(D.features(x)))
    assert D(x).codes.shape == (3, 4 + 3 + 1)
    before = D(x).codes.clone()
    with torch.no_grad():
        D.features[0].weight.mul_(1.5)  # the shared trunk moves Q's output too
    assert not torch.allclose(D(x).codes, before)
    assert {id(p) for p in D.q.parameters()} <= {id(p) for p in fam.opt_D.param_groups[0]["params"]}
    assert "Q" not in fam.nets
    # one-hot codes into G: G's output depends on c0 with the noise fixed
    fam.D.train()
    z, values = fam.draw(torch.zeros(6, dtype=torch.long))
    torch.testing.assert_close(z[:, 10:14], F.one_hot(values[0], 4).float())
    losses = fam.train_step(batch_of(fam))
    assert {"D_info", "G_info"} <= losses.keys() and all(torch.isfinite(v) for v in losses.values())


def test_net_auto_is_the_paper_net_up_to_64_and_is_stored_as_chosen(images):
    assert [tiny(images, net="auto", image_size=s).resolved_net() for s in (28, 32, 64, 128)] == [
        "paper", "paper", "paper", "dcgan"]  # fmt: skip
    assert InfoGANConfig(images=str(images)).net == "auto"  # the default: the paper's net up to 64 px
    fam = InfoGAN(tiny(images, net="auto"), CPU)
    assert fam.config.net == "paper" and isinstance(fam.G, InfoGANGenerator)
    dcgan = InfoGAN(tiny(images, net="auto", image_size=128, batch_size=2), CPU)
    assert dcgan.config.net == "dcgan" and isinstance(dcgan.G, DCGANGenerator)
    assert isinstance(dcgan.D, DCGANDiscriminator)


def test_the_paper_net_takes_the_latent_families_options(images):
    for extra in ({"minibatch_disc": 3}, {"minibatch_stddev": 2}, {"spectral_norm": True}, {"loss": "wgangp"}):
        fam = InfoGAN(tiny(images, net="paper", **extra), CPU)
        losses = fam.train_step(batch_of(fam))
        assert all(torch.isfinite(v) for v in losses.values()), extra
    layer = InfoGAN(tiny(images, net="paper", loss="wgangp"), CPU).D
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in layer.features)
    conditional = InfoGAN(dataclasses.replace(tiny(images, net="paper"), images="", classes=str(images)), CPU)
    assert conditional.G.fc[0].in_features == 62 + 4 + 2 + 3 and conditional.D.embed.weight.shape == (3, 8 * 8)
    losses = conditional.train_step(batch_of(conditional))
    assert all(torch.isfinite(v) for v in losses.values())


def test_a_checkpoint_from_before_net_rebuilds_dcgans_networks(checkpoint, tmp_path):
    ckpt = load_checkpoint(checkpoint)
    del ckpt.config["net"]  # as infogan wrote them before --net
    old = save_checkpoint(tmp_path / "old.safetensors", ckpt)
    assert InfoGAN.config_from(load_checkpoint(old)).net == "dcgan"
    new, before = (ok(cgan("sample", str(c), "--out", str(tmp_path / name), "--seeds", "0-1", "--code", "c0=1",
                           "--device", "cpu")) for name, c in (("new", checkpoint), ("old", old)))  # fmt: skip
    for a, b in zip(new, before, strict=True):
        np.testing.assert_array_equal(pixels(a), pixels(b))


def test_sample_and_interp_take_the_codes_with_the_paper_net(paper_checkpoint, tmp_path):
    def sample(out: str, *args: str) -> list[np.ndarray]:
        return [pixels(path) for path in ok(cgan("sample", str(paper_checkpoint), "--out", str(tmp_path / out),
                                                 "--seeds", "0-2", "--device", "cpu", *args))]  # fmt: skip

    one, other = sample("a", "--code", "c0=1"), sample("b", "--code", "c0=3")
    assert one[0].shape == (28, 28, 3)  # the training images were RGB
    assert all(np.abs(a - b).max() > 10 for a, b in zip(one, other))  # the code changes the image
    ok(cgan("interp", str(paper_checkpoint), "--walk", "c0", "--seeds", "0-1", "--grid", str(tmp_path / "c0.png"),
            "--device", "cpu"))  # fmt: skip
    assert pixels(tmp_path / "c0.png").shape[:2] == tuple(grid([[torch.zeros(3, 28, 28)] * 4] * 2).shape[1:])


def test_the_sample_grid_has_a_row_per_category_of_c0_and_a_column_per_noise(images):
    fam = InfoGAN(tiny(images, cat_codes="5"), CPU)
    z = fam.validation_batch()["z"].reshape(5, 8, -1)  # rows × columns
    rows = z[:, :, 62:67].argmax(2)
    assert torch.equal(rows, torch.arange(5)[:, None].expand(5, 8))
    torch.testing.assert_close(z[:, :, :62], z[:1, :, :62].expand(5, -1, -1))  # a column keeps its noise
    torch.testing.assert_close(z[:, :, 67:], z[:1, :, 67:].expand(5, -1, -1))  # and its continuous codes
    assert not torch.allclose(z[0, 0, :62], z[0, 1, :62])
    want = grid([[torch.zeros(3, SIZE, SIZE)] * 8] * 5)
    assert fam.sample_grid(fam.validation_batch()).shape == want.shape


# --- the options --------------------------------------------------------------------------------------------


def test_usage_errors_are_one_line(images, tmp_path):
    out = ["--out", str(tmp_path / "r"), "--device", "cpu"]
    for args, words in [
        ([], "--images DIR"),
        (["--images", str(images), "--classes", str(images)], "one of them"),
        (["--images", str(images), "--cat-codes", "1"], "at least 2"),
        (["--images", str(images), "--cat-codes", "ten"], "--cat-codes"),
        (["--images", str(images), "--cat-codes", "", "--cont-codes", "0"], "at least one code"),
        (["--images", str(images), "--net", "paper", "--image-size", "128"], "with --net paper"),
        (["--images", str(images), "--net", "dcgan", "--image-size", "28"], "28 with --net paper"),
        (["--images", str(images), "--batch-size", "1"], "--batch-size must be at least 2"),
        (["--images", str(images), "--cont-codes", "0", "--lambda-cont", "0.5"], "--lambda-cont applies to cont"),
        (["--images", str(images), "--cont-codes", "0", "--cont-loss", "mse"], "--cont-loss applies to continuous"),
        (["--images", str(images), "--cat-codes", "", "--lambda-info", "2"], "--lambda-info applies to categ"),
    ]:
        assert words in one_line_error(cgan("train", "infogan", *args, *out), 2), args
    assert not (tmp_path / "r").exists()


def test_classes_make_it_class_conditional_like_cgan(images, tmp_path):
    fam = InfoGAN(dataclasses.replace(tiny(images), images="", classes=str(images)), CPU)
    assert fam.config.class_names == ("a", "b", "c") and fam.uses_classes()
    assert (fam.G.cfg.g_cond, fam.G.cfg.d_cond, fam.G.cfg.num_classes) == ("embed", "projection", 3)
    assert fam.G.main[0].in_channels == 62 + 4 + 2 + 3
    assert set(batch_of(fam, 12)["label"].tolist()) == {0, 1, 2}
    unsupervised = InfoGAN(tiny(images), CPU)
    assert not unsupervised.uses_classes() and unsupervised.G.cfg.num_classes == 0
    assert unsupervised.config.class_names == ()  # any folder: subfolders are not classes


# --- codes at inference -------------------------------------------------------------------------------------


def sampler_of(codes: tuple[Code, ...], z_dim: int = 5) -> Sampler:
    return Sampler(lambda z, c: z, z_dim, (), lambda y: y, 3, 32, False, codes)


def test_a_seed_fixes_noise_and_codes_and_fixing_one_code_leaves_the_others():
    s = sampler_of(code_layout((4,), 2))
    free = latents(s, [7, 8])
    again = latents(s, [8, 7])
    torch.testing.assert_close(free, again.flip(0))  # a seed's latent does not depend on its batch
    torch.testing.assert_close(free[:, :5], torch.stack([latent(7, 5), latent(8, 5)]))  # dcgan's noise, then codes
    fixed = latents(s, [7, 8], parse_codes(["c0=3", "c2=-1.5"], s))
    torch.testing.assert_close(fixed[:, 5:9], F.one_hot(torch.tensor([3, 3]), 4).float())
    torch.testing.assert_close(fixed[:, 10], torch.tensor([-1.5, -1.5]))
    torch.testing.assert_close(fixed[:, :5], free[:, :5])  # the noise of each seed, unchanged
    torch.testing.assert_close(fixed[:, 9], free[:, 9])  # c1, not fixed: each seed's own draw
    assert not torch.allclose(fixed[0, :5], fixed[1, :5])  # two seeds with the same codes differ in noise
    assert torch.equal(latents(sampler_of(()), [3], None, 0.5), latent(3, 5)[None] * 0.5)  # no codes: as before


@pytest.mark.parametrize(
    ("texts", "words"),
    [(["c0=4"], "0 … 3"), (["c0=1.5"], "0 … 3"), (["c1=abc"], "a number"), (["c1=nan"], "a number"),
     (["c9=1"], "c0, c1, c2"), (["c0"], "NAME=VALUE"), (["c0=1", "c0=2"], "twice")],
)  # fmt: skip
def test_code_values_are_checked(texts, words):
    from cgan_cli.errors import UsageError

    with pytest.raises(UsageError, match=words):
        parse_codes(texts, sampler_of(code_layout((4,), 2)))
    with pytest.raises(UsageError, match="no latent codes"):
        parse_codes(["c0=1"], sampler_of(()))


def test_sample_code_fixes_the_code_through_the_cli(checkpoint, tmp_path):
    def sample(out: str, *args: str) -> list[dict]:
        return [json.loads(line) for line in ok(cgan("sample", str(checkpoint), "--out", str(tmp_path / out),
                                                     "--device", "cpu", "--json", *args))]  # fmt: skip

    fixed = sample("a", "--seeds", "0-3", "--code", "c0=3", "--code", "c1=0.5")
    assert [r["codes"] for r in fixed] == [{"c0": 3, "c1": 0.5}] * 4
    one_by_one = sample("b", "--seeds", "3,1", "--code", "c1=0.5", "--code", "c0=3", "--batch-size", "1")
    other = sample("c", "--seeds", "0-3", "--code", "c0=1", "--code", "c1=0.5")
    free = sample("d", "--seeds", "0-3")
    px = {k: [pixels(r["path"]) for r in rs] for k, rs in {"a": fixed, "c": other, "d": free}.items()}
    np.testing.assert_array_equal(pixels(one_by_one[0]["path"]), px["a"][3])  # seed 3, any batch, any order
    np.testing.assert_array_equal(pixels(one_by_one[1]["path"]), px["a"][1])
    assert all(np.abs(a - c).max() > 10 for a, c in zip(px["a"], px["c"]))  # the code changes the image
    assert np.abs(px["a"][0] - px["a"][1]).max() > 10  # the noise too
    assert any(np.abs(a - d).max() > 10 for a, d in zip(px["a"], px["d"]))
    error = one_line_error(cgan("sample", str(checkpoint), "--out", str(tmp_path / "e"), "--code", "c0=4"), 2)
    assert "c0 is a category 0 … 3" in error and not (tmp_path / "e").exists()


def test_interp_walk_sweeps_a_code_in_columns_with_a_row_per_seed(checkpoint, tmp_path):
    out = tmp_path / "frames"
    lines = ok(cgan("interp", str(checkpoint), "--walk", "c1", "--range", "-2,2", "--steps", "5", "--seeds", "4,9",
                    "--code", "c0=2", "--out", str(out), "--grid", str(tmp_path / "sheet.png"),
                    "--device", "cpu"))  # fmt: skip
    assert len(lines) == 2 * 5 + 1
    frames = [pixels(out / f"frame-{i:05d}.png") for i in range(10)]
    sheet = pixels(tmp_path / "sheet.png")
    want = grid([[torch.zeros(3, SIZE, SIZE)] * 5] * 2)
    assert sheet.shape[:2] == tuple(want.shape[1:])  # 2 rows × 5 columns of tiles
    for row, seed in enumerate((4, 9)):
        for col, value in enumerate((-2.0, -1.0, 0.0, 1.0, 2.0)):
            [path] = ok(cgan("sample", str(checkpoint), "--out", str(tmp_path / f"s{seed}{col}"), "--seeds",
                             str(seed), "--code", "c0=2", "--code", f"c1={value}", "--device", "cpu"))  # fmt: skip
            assert np.abs(pixels(path) - frames[row * 5 + col]).max() <= 1, (seed, value)
    assert np.abs(frames[0] - frames[4]).max() > 10
    # a categorical code steps through its categories: one column each
    cat = ok(cgan("interp", str(checkpoint), "--walk", "c0", "--seeds", "1-3", "--grid", str(tmp_path / "c0.png"),
                  "--device", "cpu"))  # fmt: skip
    assert len(cat) == 1
    assert pixels(tmp_path / "c0.png").shape[:2] == tuple(grid([[torch.zeros(3, SIZE, SIZE)] * 4] * 3).shape[1:])
    for args, words in [
        (["--walk", "c0", "--range", "0,1"], "categorical"),
        (["--walk", "c7"], "c0, c1, c2"),
        (["--walk", "c1", "--code", "c1=0"], "also fixed"),
        (["--walk", "c1", "--range", "1"], "LO,HI"),
    ]:
        assert words in one_line_error(cgan("interp", str(checkpoint), *args, "--grid", str(tmp_path / "x.png")), 2)


@pytest.mark.parametrize("net", ["dcgan", "paper"])
@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_an_exported_infogan_takes_named_codes_and_samples_like_cgan_sample(request, tmp_path, fmt, net):
    if fmt == "onnx":
        pytest.importorskip("onnxscript", reason="the onnx extra is not installed")
    checkpoint = request.getfixturevalue("checkpoint" if net == "dcgan" else "paper_checkpoint")
    out = tmp_path / ("g.pt" if fmt == "torchscript" else "g.onnx")
    [line] = ok(cgan("export", str(checkpoint), "--out", str(out), "--json"))
    assert json.loads(line)["family"] == "infogan"
    seed, codes = 5, {"c0": 1, "c1": -0.75, "c2": 0.3}
    [path] = ok(cgan("sample", str(checkpoint), "--out", str(tmp_path / "s"), "--seeds", str(seed), "--device", "cpu",
                     *[a for k, v in codes.items() for a in ("--code", f"{k}={v}")]))  # fmt: skip
    inputs = (latent(seed, 62)[None], torch.tensor([1]), torch.tensor([-0.75]), torch.tensor([0.3]), torch.ones(1))
    if fmt == "torchscript":
        image = torch.jit.load(str(out))(*inputs)
    else:
        import onnxruntime as ort

        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["z", "c0", "c1", "c2", "truncation"]
        feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
        image = torch.from_numpy(session.run(None, feed)[0])
    ours = ((image[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().numpy().astype(np.int16)
    assert ours.shape == pixels(path).shape == ((32, 32, 3) if net == "dcgan" else (28, 28, 3))
    assert np.abs(ours - pixels(path)).max() <= 1


# --- training -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("net", ["dcgan", "paper"])
def test_resume_is_bit_identical(images, tmp_path, net):
    common = ["--images", str(images), "--image-size", "32", "--ngf", "8", "--ndf", "8", "--batch-size", "5",
              "--seed", "3", "--cat-codes", "3,2", "--cont-codes", "1", "--ema", "0.9", "--log-every", "2",
              "--device", "cpu", "--workers", "0", "--net", net]  # fmt: skip
    ok(cgan("train", "infogan", "--out", str(tmp_path / "straight"), *common, "--steps", "6"))
    ok(cgan("train", "infogan", "--out", str(tmp_path / "split"), *common, "--steps", "3"))
    ok(cgan("train", "--resume", str(tmp_path / "split" / "latest.safetensors"), "--steps", "6"))
    straight, split = (load_checkpoint(tmp_path / run / "latest.safetensors") for run in ("straight", "split"))
    assert straight.step == split.step == 6
    a, b = straight.tensors, split.tensors
    assert a.keys() == b.keys() and any(k.startswith("net/D/q.") for k in a)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]


@pytest.mark.parametrize("net", ["dcgan", "paper"])
def test_an_epochs_last_batch_of_one_is_filled(images, tmp_path, net):
    """12 images at batch 11 leave one for the epoch's second step: BatchNorm1d (Q's, the paper net's FC layers)
    cannot train on a single vector, so that batch is filled from the epoch's start, as under DDP."""
    run = tmp_path / "run"
    ok(cgan("train", "infogan", "--images", str(images), "--out", str(run), "--image-size", "32", "--ngf", "8",
            "--ndf", "8", "--batch-size", "11", "--steps", "3", "--cat-codes", "3", "--cont-codes", "1",
            "--device", "cpu", "--workers", "0", "--net", net, "--log-every", "1"))  # fmt: skip
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log if "G" in r] == [0, 0, 1]
    assert load_checkpoint(run / "latest.safetensors").step == 3


def shapes(root: Path) -> Path:
    """Three visually distinct kinds of grey image: horizontal bars, vertical bars, a square."""
    for k, name in enumerate(("h", "v", "s")):
        (root / name).mkdir(parents=True)
        for i in range(16):
            a = np.zeros((SIZE, SIZE), np.uint8)
            o = i % 4
            if k == 0:
                a[o::4, :] = 255
            elif k == 1:
                a[:, o::4] = 255
            else:
                a[8 + o : 20 + o, 8:20] = 255
            Image.fromarray(a, "L").save(root / name / f"{i}.png")
    return root


@pytest.mark.parametrize(("net", "lambda_info"), [("dcgan", 1.0), ("dcgan", 0.0), ("paper", 1.0), ("paper", 0.0)])
def test_the_categorical_code_is_used(tmp_path, net, lambda_info):
    """After 60 steps Q tells c0 from fresh fakes almost always, which it can only if G's images carry c0;
    without the information term (λ 0) it stays near chance (1/3)."""
    cfg = InfoGANConfig(images=str(shapes(tmp_path)), image_size=SIZE, ngf=8, ndf=8, batch_size=16, cat_codes="3",
                        cont_codes=0, lambda_info=lambda_info, net=net)  # fmt: skip
    fam = InfoGAN(cfg, CPU)
    ds = fam.dataset()
    g = torch.Generator().manual_seed(0)
    for step in range(60):
        fam.step = step
        fam.train_step(default_collate([ds[(i, step)] for i in torch.randint(len(ds), (16,), generator=g).tolist()]))
    with torch.no_grad():
        z, values = fam.draw(torch.zeros(300, dtype=torch.long))
        accuracy = (fam.D(fam.G(z)).codes.argmax(1) == values[0]).float().mean().item()
    assert accuracy > 0.8 if lambda_info else accuracy < 0.6, accuracy


def test_code_vector_matches_the_training_layout():
    codes = code_layout((2,), 1)
    v = code_vector(codes, [torch.tensor([1, 0]), torch.tensor([0.25, -0.5])], torch.float32)
    torch.testing.assert_close(v, torch.tensor([[0.0, 1.0, 0.25], [1.0, 0.0, -0.5]]))


def test_the_benchmarks_purity_is_the_best_matching_and_the_majority():
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "infogan_purity.py"
    spec = importlib.util.spec_from_file_location("bench_infogan_purity", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # code values 0 and 1 both mostly make class 2; one-to-one, value 1 is best matched to class 0
    counts = np.array([[0, 1, 9], [4, 0, 6], [1, 8, 1]])
    scores = bench.purity(counts)
    assert scores["majority"] == pytest.approx((9 + 6 + 8) / 30) and scores["majority_class"] == [2, 2, 1]
    assert scores["hungarian"] == pytest.approx((9 + 4 + 8) / 30) and scores["matching"] == {0: 2, 1: 0, 2: 1}
    assert bench.purity(np.full((10, 10), 3))["hungarian"] == pytest.approx(0.1)  # a code G ignores: chance
