"""StarGAN: the networks against yunjey/stargan's `model.py`, the training step against its `solver.py`,
data layouts and their errors, exact resume, `translate`/`interp` round trips, and learning.

Checkpoints for the CLI tests are trained once per session through `cgan train stargan` (2 steps, 8-filter
networks, one residual block, 32×32): the generator is then still close to PyTorch's default init, whose
output visibly depends on both the image and the label, which is all a round trip needs.
"""

from __future__ import annotations

import copy
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_classes import write_classes
from helpers_cli import ok, one_line_error, pixels
from helpers_images import noise, write
from PIL import Image
from torch import nn
from typer.testing import CliRunner, Result

from cgan_cli.checkpoint import load_checkpoint
from cgan_cli.cli import app
from cgan_cli.data.classes import resize_and_centre_crop
from cgan_cli.data.io import read_image, to_tensor, to_uint8
from cgan_cli.device import Runtime
from cgan_cli.families.stargan import StarGAN, StarGANConfig
from cgan_cli.nn.losses import gradient_penalty
from cgan_cli.nn.stargan import StarGANDiscriminator, StarGANGenerator, StarGANNetConfig, use_image_statistics

CPU = torch.device("cpu")
# fp32: these tests hold our steps to a restated reference's fp32 arithmetic; `auto` would be bf16 autocast on
# CPUs with bf16 units (AVX512-BF16 or AMX, as this project's CI CPU), whose 2**-8 rounding is far past their
# tolerances. The bf16 path has its own tests (test_precision.py).
FP32 = Runtime(CPU, "fp32")
DOMAINS = ("blue", "green", "red")  # helpers_classes' disc colours, in sorted (label) order
ATTRS = ("Odd", "Warm", "Cool")  # --select-attrs of the multi-label model: not the CSV's column order
TINY = ["--image-size", "32", "--g-conv-dim", "8", "--d-conv-dim", "8", "--g-repeat-num", "1"]
RUN = ["--device", "cpu", "--workers", "0", "--log-every", "2", "--sample-every", "1000"]


pytestmark = pytest.mark.usefixtures("single_thread")


# --- helpers ----------------------------------------------------------------------------------------


def cgan(*args: object) -> Result:
    result = CliRunner().invoke(app, [str(a) for a in args])
    # never an unhandled exception, never a traceback: only clean exits
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def assert_image(path: Path | str, expected: torch.Tensor) -> None:
    """The PNG at `path` is `expected` (C, H, W in [-1, 1]) up to one level of rounding."""
    want = to_uint8(expected).astype(np.int16)
    got = pixels(path)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1, np.abs(got - want).max()


def image_tensor(path: Path) -> torch.Tensor:
    return to_tensor(read_image(path, 3))[None]


def one_hot(index: int, k: int = 3) -> torch.Tensor:
    return F.one_hot(torch.tensor([index]), k).float()


def nets_of(ckpt_path: Path) -> tuple[nn.Module, nn.Module]:
    """G and D rebuilt from a checkpoint by hand; G in train mode, i.e. instance norm from each image's own
    statistics, as the reference's generator at test time (it never switches to eval)."""
    ckpt = load_checkpoint(ckpt_path)
    c = ckpt.config
    cfg = StarGANNetConfig(len(c["domain_names"]), c["image_size"], c["channels"], c["g_conv_dim"],
                           c["d_conv_dim"], c["g_repeat_num"])  # fmt: skip
    G, D = StarGANGenerator(cfg), StarGANDiscriminator(cfg)
    G.load_state_dict(ckpt.sub("net/G"))
    D.load_state_dict(ckpt.sub("net/D"))
    return G.train().requires_grad_(False), D.eval().requires_grad_(False)


def batch_of(family: StarGAN, indices: tuple[int, ...] = (0, 3, 5, 6, 9, 11)) -> dict[str, torch.Tensor]:
    """Two images of each domain; in the attribute table they hold none, one or two attributes."""
    data = family.dataset()
    items = [data[(i, seed)] for seed, i in enumerate(indices)]
    return {k: torch.stack([item[k] for item in items]) for k in ("image", "label")}


# --- data fixtures ----------------------------------------------------------------------------------


def attribute_rows(classes_dir: Path) -> list[list[str]]:
    """A CelebA-style table over classes_dir's 12 discs: Warm = red, Cool = blue, Odd = odd file number;
    Spare is a column the model does not select."""
    rows = [["image", "Warm", "Spare", "Cool", "Odd"]]
    for path in sorted(classes_dir.rglob("*.png")):
        colour, number = path.parent.name, int(path.stem)
        rows.append([path.relative_to(classes_dir).as_posix(), str(int(colour == "red")), "1",
                     str(int(colour == "blue")), str(number % 2)])  # fmt: skip
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


@pytest.fixture(scope="session")
def attrs_csv(tmp_path_factory: pytest.TempPathFactory, classes_dir: Path) -> Path:
    """Kept apart from the images: runs read it with --images classes_dir."""
    return write_csv(tmp_path_factory.mktemp("attrs") / "attrs.csv", attribute_rows(classes_dir))


def _train(run: Path, *args: object) -> Path:
    with torch.random.fork_rng():
        result = cgan("train", "stargan", *args, "--out", run, *TINY, *RUN, "--batch-size", "4", "--steps", "2")
    assert result.exit_code == 0, result.stderr
    return run / "latest.safetensors"


@pytest.fixture(scope="session")
def single(tmp_path_factory: pytest.TempPathFactory, classes_dir: Path) -> Path:
    return _train(tmp_path_factory.mktemp("stargan_single") / "run", "--domains", classes_dir)


@pytest.fixture(scope="session")
def multi(tmp_path_factory: pytest.TempPathFactory, classes_dir: Path, attrs_csv: Path) -> Path:
    run = tmp_path_factory.mktemp("stargan_multi") / "run"
    return _train(run, "--attrs", attrs_csv, "--images", classes_dir, "--select-attrs", ",".join(ATTRS))


def tiny_family(data: Path, attrs: Path | None = None, **overrides: object) -> StarGAN:
    source = {"attrs": str(attrs), "images": str(data), "select_attrs": ",".join(ATTRS)} if attrs else {
        "domains": str(data)}  # fmt: skip
    values = dict(image_size=32, g_conv_dim=8, d_conv_dim=8, g_repeat_num=1, batch_size=6, **source)
    values.update(overrides)
    return StarGAN(StarGANConfig(**values), FP32)


# --- networks: yunjey/stargan model.py, restated ----------------------------------------------------


def _in(dim: int) -> nn.InstanceNorm2d:
    return nn.InstanceNorm2d(dim, affine=True, track_running_stats=True)


class _RefResidual(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        conv = [nn.Conv2d(dim, dim, 3, 1, 1, bias=False) for _ in range(2)]
        self.main = nn.Sequential(conv[0], _in(dim), nn.ReLU(inplace=True), conv[1], _in(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class _RefGenerator(nn.Module):
    """model.py's Generator: 7×7 conv from 3 + c_dim channels, two 4×4 stride-2 downsamplings, residual
    blocks, two 4×4 stride-2 transposed convs, 7×7 conv to 3 channels and tanh; no conv biases."""

    def __init__(self, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6) -> None:
        super().__init__()
        d = conv_dim
        layers: list[nn.Module] = [nn.Conv2d(3 + c_dim, d, 7, 1, 3, bias=False), _in(d), nn.ReLU(inplace=True)]
        for _ in range(2):
            layers += [nn.Conv2d(d, 2 * d, 4, 2, 1, bias=False), _in(2 * d), nn.ReLU(inplace=True)]
            d *= 2
        layers += [_RefResidual(d) for _ in range(repeat_num)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(d, d // 2, 4, 2, 1, bias=False), _in(d // 2), nn.ReLU(inplace=True)]
            d //= 2
        layers += [nn.Conv2d(d, 3, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        c = c.view(c.size(0), c.size(1), 1, 1).repeat(1, 1, x.size(2), x.size(3))
        return self.main(torch.cat([x, c], dim=1))


class _RefDiscriminator(nn.Module):
    """model.py's Discriminator: 4×4 stride-2 convs with biases and LeakyReLU(0.01), doubling from
    conv_dim; a 3×3 real/fake head and a classifier whose kernel is image_size / 2**repeat_num."""

    def __init__(self, image_size: int = 128, conv_dim: int = 64, c_dim: int = 5, repeat_num: int = 6) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, conv_dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        d = conv_dim
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(d, 2 * d, 4, 2, 1), nn.LeakyReLU(0.01)]
            d *= 2
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(d, 1, 3, 1, 1, bias=False)
        self.conv2 = nn.Conv2d(d, c_dim, int(image_size / 2**repeat_num), bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.main(x)
        out_cls = self.conv2(h)
        return self.conv1(h), out_cls.view(out_cls.size(0), out_cls.size(1))


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_parameter_counts_and_layers_are_the_references_at_128():
    """yunjey/stargan prints 8,430,528 (G) and 44,762,048 (D) for CelebA: 128×128, c_dim 5, 64 filters,
    6 residual blocks, 6 strided D convs. Every tensor lines up with the restated model.py, in order."""
    ours_g, ours_d = StarGANGenerator(StarGANNetConfig()), StarGANDiscriminator(StarGANNetConfig())
    ref_g, ref_d = _RefGenerator(), _RefDiscriminator()
    assert n_params(ours_g) == n_params(ref_g) == 8_430_528
    assert n_params(ours_d) == n_params(ref_d) == 44_762_048
    assert StarGANNetConfig().d_repeat_num == 6
    for ours, ref in ((ours_g, ref_g), (ours_d, ref_d)):
        assert [v.shape for v in ours.state_dict().values()] == [v.shape for v in ref.state_dict().values()]


@pytest.mark.parametrize("size, repeat", [(32, 4), (64, 5)])
def test_same_weights_give_the_references_outputs(size, repeat):
    """At toy widths: the restated reference and ours, loaded with the same tensors, compute the same."""
    cfg = StarGANNetConfig(c_dim=4, image_size=size, g_conv_dim=8, d_conv_dim=8, g_repeat_num=2)
    assert cfg.d_repeat_num == repeat
    pairs = [(StarGANGenerator(cfg), _RefGenerator(8, 4, 2)),
             (StarGANDiscriminator(cfg), _RefDiscriminator(size, 8, 4, repeat))]  # fmt: skip
    for ours, ref in pairs:
        ours.load_state_dict(dict(zip(ours.state_dict(), ref.state_dict().values())))
    (G, ref_G), (D, ref_D) = pairs
    x, c = torch.randn(3, 3, size, size), torch.tensor([[1.0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 0, 0]])
    with torch.no_grad():
        torch.testing.assert_close(G.train()(x, c), ref_G.train()(x, c))
        for got, want in zip(D(x), ref_D(x)):
            torch.testing.assert_close(got, want)


def test_the_label_is_tiled_over_the_image_as_extra_input_channels():
    cfg = StarGANNetConfig(c_dim=3, image_size=32, g_conv_dim=8, g_repeat_num=1)
    G = StarGANGenerator(cfg).train()
    assert G.main[0].in_channels == 3 + 3 and G.main[0].kernel_size == (7, 7)
    x = torch.randn(2, 3, 32, 32)
    c = torch.tensor([[0.0, 1, 0], [1, 0, 1]])
    with torch.no_grad():
        maps = c[:, :, None, None].expand(-1, -1, 32, 32)
        torch.testing.assert_close(G(x, c), G.main(torch.cat([x, maps], 1)))
        same_image = x[:1].expand(3, -1, -1, -1)
        out = G(same_image, torch.eye(3))
        assert out.shape == (3, 3, 32, 32) and out.abs().max() <= 1  # tanh
        assert (out[0] - out[1]).abs().mean() > 1e-3 and (out[1] - out[2]).abs().mean() > 1e-3
        torch.testing.assert_close(G(x[1:], c[1:]), G(x, c)[1:])  # each image with its own label


@pytest.mark.parametrize("size", [8, 12, 20, 32, 48, 64, 128])
def test_output_shapes_at_any_multiple_of_four(size):
    cfg = StarGANNetConfig(c_dim=5, image_size=size, g_conv_dim=4, d_conv_dim=4, g_repeat_num=1)
    G, D = StarGANGenerator(cfg), StarGANDiscriminator(cfg)
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        assert G(x, torch.zeros(2, 5)).shape == (2, 3, size, size)
        src, cls = D(x)
    side = size // 2**cfg.d_repeat_num
    assert src.shape == (2, 1, side, side) and cls.shape == (2, 5)
    if size == 128:
        assert src.shape == (2, 1, 2, 2)  # the reference's 2×2 PatchGAN map
    strided = [m for m in D.main if isinstance(m, nn.Conv2d)]
    assert len(strided) == cfg.d_repeat_num and all(m.stride == (2, 2) for m in strided)
    assert D.conv_cls.kernel_size == (side, side)


def test_norms_activations_and_biases_follow_the_reference():
    cfg = StarGANNetConfig(c_dim=5, image_size=32, g_conv_dim=8, d_conv_dim=8, g_repeat_num=2)
    G, D = StarGANGenerator(cfg), StarGANDiscriminator(cfg)
    norms = [m for m in G.modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 1 + 2 + 2 * 2 + 2
    assert all(m.affine and m.track_running_stats for m in norms)
    assert all(m.bias is None for m in G.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d)) for m in D.modules())  # no norm in D
    slopes = [m.negative_slope for m in D.modules() if isinstance(m, nn.LeakyReLU)]
    assert slopes == [0.01] * cfg.d_repeat_num
    assert all(m.bias is not None for m in D.main if isinstance(m, nn.Conv2d))
    assert D.conv_src.bias is None and D.conv_cls.bias is None and D.conv_src.kernel_size == (3, 3)
    assert isinstance(G.main[-1], nn.Tanh)


def _generator_with_running_stats() -> StarGANGenerator:
    G = StarGANGenerator(StarGANNetConfig(c_dim=3, image_size=32, g_conv_dim=8, g_repeat_num=1))
    with torch.no_grad():
        for _ in range(2):
            G.train()(torch.randn(4, 3, 32, 32) * 2 + 1, torch.eye(3)[[0, 1, 2, 0]])  # running stats move
    return G


def test_image_statistics_mode_is_the_train_mode_forward():
    G = _generator_with_running_stats()
    x, c = torch.randn(2, 3, 32, 32), torch.eye(3)[:2]
    with torch.no_grad():
        want = copy.deepcopy(G).train()(x, c)
        use_image_statistics(G.eval())
        torch.testing.assert_close(G(x, c), want)
        torch.testing.assert_close(G(x[1:], c[1:]), want[1:])  # per image, whatever the batch
        use_image_statistics(G, False)
        assert not torch.allclose(G(x, c), want, atol=1e-3)  # plain eval: the running statistics


def test_image_statistics_mode_leaves_the_running_statistics_alone():
    G = _generator_with_running_stats()
    stats = {k: v.clone() for k, v in G.state_dict().items() if "running" in k}
    with torch.no_grad():
        use_image_statistics(G.eval())(torch.randn(2, 3, 32, 32) * 3 - 1, torch.eye(3)[:2])
    changed = [k for k, v in G.state_dict().items() if "running" in k and not torch.equal(stats[k], v)]
    assert changed == []


# --- losses: yunjey/stargan solver.py, restated -----------------------------------------------------


def reference_cls_loss(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    if multi_label:  # CelebA: BCE summed over attributes and images, divided by the batch size
        return F.binary_cross_entropy_with_logits(logits, labels, reduction="sum") / logits.size(0)
    return F.cross_entropy(logits, labels.argmax(1))  # RaFD


def reference_gp(D: nn.Module, x_hat: torch.Tensor) -> torch.Tensor:
    out = D(x_hat)[0]
    (dydx,) = torch.autograd.grad(out, x_hat, torch.ones_like(out), retain_graph=True, create_graph=True)
    return torch.mean((torch.sqrt(torch.sum(dydx.view(dydx.size(0), -1) ** 2, dim=1)) - 1) ** 2)


@pytest.mark.parametrize("multi_label", [False, True], ids=["domains", "attrs"])
def test_train_step_is_the_references_d_and_g_update(classes_dir, attrs_csv, multi_label):
    """One step with n_critic 1 and unusual λs: the reported losses and the gradients each network is
    stepped with are those of solver.py's d_loss and g_loss, recomputed from copies of the networks."""
    lam = dict(lambda_cls=1.5, lambda_rec=7.0, lambda_gp=3.0)
    family = tiny_family(classes_dir, attrs_csv if multi_label else None, n_critic=1, **lam)
    assert family.config.multi_label is multi_label
    batch = batch_of(family)
    x, label_org = batch["image"], batch["label"]
    if multi_label:
        assert set(label_org.unique().tolist()) == {0.0, 1.0} and label_org.sum(1).max() > 1
    G0, D0 = copy.deepcopy(family.G), copy.deepcopy(family.D)

    torch.manual_seed(11)
    losses = family.train_step(batch)

    torch.manual_seed(11)  # the same draws, in the reference's order: target labels, then GP's alpha
    label_trg = label_org[torch.randperm(x.size(0))]
    alpha = torch.rand(x.size(0), 1, 1, 1)
    out_src, out_cls = D0(x)
    d_loss_real = -torch.mean(out_src)
    d_loss_cls = reference_cls_loss(out_cls, label_org, multi_label)
    x_fake = G0(x, label_trg)
    d_loss_fake = torch.mean(D0(x_fake.detach())[0])
    x_hat = (alpha * x.data + (1 - alpha) * x_fake.data).requires_grad_(True)
    d_loss_gp = reference_gp(D0, x_hat)
    d_loss = d_loss_real + d_loss_fake + lam["lambda_cls"] * d_loss_cls + lam["lambda_gp"] * d_loss_gp
    d_loss.backward()

    close = dict(rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(losses["D_real"], d_loss_real.detach(), **close)
    torch.testing.assert_close(losses["D_fake"], d_loss_fake.detach(), **close)
    torch.testing.assert_close(losses["D_cls"], d_loss_cls.detach(), **close)
    torch.testing.assert_close(losses["D_gp"], lam["lambda_gp"] * d_loss_gp.detach(), **close)  # logged weighted
    for (name, p), p0 in zip(family.D.named_parameters(), D0.parameters()):
        torch.testing.assert_close(p.grad, p0.grad, rtol=1e-4, atol=1e-7, msg=f"D {name}")

    # G: against the D just updated, as in the reference (G's step follows D's in the same iteration)
    D1 = copy.deepcopy(family.D).requires_grad_(False)
    x_fake = G0(x, label_trg)
    out_src, out_cls = D1(x_fake)
    g_loss_fake = -torch.mean(out_src)
    g_loss_cls = reference_cls_loss(out_cls, label_trg, multi_label)
    x_reconst = G0(x_fake, label_org)
    g_loss_rec = torch.mean(torch.abs(x - x_reconst))
    (g_loss_fake + lam["lambda_rec"] * g_loss_rec + lam["lambda_cls"] * g_loss_cls).backward()

    torch.testing.assert_close(losses["G_fake"], g_loss_fake.detach(), **close)
    torch.testing.assert_close(losses["G_rec"], g_loss_rec.detach(), **close)
    torch.testing.assert_close(losses["G_cls"], g_loss_cls.detach(), **close)
    for (name, p), p0 in zip(family.G.named_parameters(), G0.parameters()):
        torch.testing.assert_close(p.grad, p0.grad, rtol=1e-4, atol=1e-7, msg=f"G {name}")
    # and both were stepped: Adam's first step moves every parameter with a gradient by about lr
    moved = [float((p - p0).detach().abs().max()) for p, p0 in zip(family.G.parameters(), G0.parameters())]
    assert max(moved) == pytest.approx(family.config.lr, rel=0.01)


def test_classification_losses_cross_entropy_and_summed_bce(classes_dir, attrs_csv):
    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    single = tiny_family(classes_dir)
    want = -(F.log_softmax(logits, 1)[[0, 1], [0, 2]]).mean()
    torch.testing.assert_close(single.classification_loss(logits, torch.tensor([[1.0, 0, 0], [0, 0, 1]])), want)
    multi = tiny_family(classes_dir, attrs_csv)
    labels = torch.tensor([[1.0, 0, 1], [0, 0, 1]])
    p = torch.sigmoid(logits)
    want = -(labels * p.log() + (1 - labels) * (1 - p).log()).sum() / 2  # summed over attributes, per image
    torch.testing.assert_close(multi.classification_loss(logits, labels), want)


def test_gradient_penalty_on_critics_with_known_gradients():
    real, fake = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    # linear critic: the gradient is w everywhere, whatever the interpolate
    w = torch.randn(3, 8, 8) * 0.05
    got = gradient_penalty(lambda x: (x * w).sum((1, 2, 3)), real, fake, 7.0)
    torch.testing.assert_close(got, 7.0 * (w.norm() - 1) ** 2)
    # D(x) = ½‖x‖²: the gradient is the interpolate itself, x̂ = α·real + (1 − α)·fake, α ~ U(0, 1) per image
    torch.manual_seed(3)
    got = gradient_penalty(lambda x: 0.5 * x.pow(2).sum((1, 2, 3)), real, fake, 10.0)
    torch.manual_seed(3)
    alpha = torch.rand(4, 1, 1, 1)
    x_hat = alpha * real + (1 - alpha) * fake
    torch.testing.assert_close(got, 10.0 * ((x_hat.flatten(1).norm(dim=1) - 1) ** 2).mean())
    # a PatchGAN-shaped critic: its scores are summed (the reference's grad_outputs of ones)
    patch = lambda x: F.avg_pool2d(x.sum(1, keepdim=True), 4)  # noqa: E731  (N, 1, 2, 2); ∂/∂x = 1/16
    torch.testing.assert_close(gradient_penalty(patch, real, fake, 1.0), (torch.tensor(192.0).sqrt() / 16 - 1) ** 2)
    # the penalty is differentiable in the critic's parameters (create_graph): d/da λ(a√n − 1)² = 2λ(a√n − 1)√n
    a = torch.tensor(0.3, requires_grad=True)
    penalty = gradient_penalty(lambda x: a * x.sum((1, 2, 3)), real, fake, 10.0)
    (grad,) = torch.autograd.grad(penalty, a)
    root_n = torch.tensor(192.0).sqrt()
    torch.testing.assert_close(grad, 2 * 10.0 * (0.3 * root_n - 1) * root_n)


def test_d_updates_every_step_and_g_every_n_critic(classes_dir):
    family = tiny_family(classes_dir, n_critic=3)
    batch = batch_of(family)
    for step in range(6):
        family.step = step
        g0 = [p.detach().clone() for p in family.G.parameters()]
        d0 = [p.detach().clone() for p in family.D.parameters()]
        losses = family.train_step(batch)
        g_moved = any(not torch.equal(a, b) for a, b in zip(g0, family.G.parameters()))
        d_moved = any(not torch.equal(a, b) for a, b in zip(d0, family.D.parameters()))
        assert d_moved and {"D_real", "D_fake", "D_cls", "D_gp"} <= losses.keys()
        assert g_moved == ((step + 1) % 3 == 0) == ({"G_fake", "G_rec", "G_cls"} <= losses.keys()), step


# --- data layouts and their errors ------------------------------------------------------------------


def _bad_layout(case: str, root: Path, classes_dir: Path) -> list[object]:
    """Arguments for `cgan train stargan` on a broken layout built under `root`."""
    rows = attribute_rows(classes_dir)
    table = root / "attrs.csv"
    select = ["--images", classes_dir, "--select-attrs", "Warm,Cool"]
    if case == "empty domain folder":
        shutil.copytree(classes_dir / "red", root / "d" / "red")
        (root / "d" / "blue").mkdir()
        return ["--domains", root / "d"]
    if case == "a single domain":
        shutil.copytree(classes_dir / "red", root / "d" / "red")
        return ["--domains", root / "d"]
    if case == "missing domains folder":
        return ["--domains", root / "nowhere"]
    if case == "unknown attribute":
        return ["--attrs", write_csv(table, rows), "--images", classes_dir, "--select-attrs", "Warm,Blond_Hair"]
    if case == "missing image":
        rows[2][0] = "blue/nope.png"
    elif case == "value not 0/1":
        rows[3][3] = "-1"  # CelebA's own list_attr_celeba.txt says -1 for "no"
    elif case == "wrong field count":
        rows[2] = rows[2][:3]
    elif case == "header only":
        rows = rows[:1]
    elif case == "missing csv":
        return ["--attrs", table, *select]
    return ["--attrs", write_csv(table, rows), *select]


@pytest.mark.parametrize(
    "case, code, message",
    [
        ("empty domain folder", 1, "class folder holds no images"),
        ("a single domain", 1, "only one class subfolder (red)"),
        ("missing domains folder", 1, "no such folder"),
        ("unknown attribute", 1, "no attribute Blond_Hair (columns: Warm, Spare, Cool, Odd)"),
        ("missing image", 1, "attrs.csv:3: image "),
        ("value not 0/1", 1, "attrs.csv:4: Cool is '-1'; attribute values must be 0 or 1"),
        ("wrong field count", 1, "attrs.csv:3: 3 fields, but the header has 5"),
        ("header only", 1, "needs a header row and at least one image row"),
        ("missing csv", 1, "no such attribute file"),
    ],
)
def test_bad_data_is_a_one_line_error(classes_dir, tmp_path, case, code, message):
    args = _bad_layout(case, tmp_path, classes_dir)
    result = cgan("train", "stargan", *args, "--out", tmp_path / "run", *TINY, *RUN, "--steps", "1")
    assert message in one_line_error(result, code)
    assert not (tmp_path / "run" / "latest.safetensors").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "--domains DIR"),
        (["--domains", "{classes}", "--attrs", "{csv}", "--select-attrs", "Warm"], "one of them"),
        (["--attrs", "{csv}", "--images", "{classes}"], "--select-attrs"),
        (["--domains", "{classes}", "--image-size", "30"], "--image-size"),
    ],
    ids=["neither", "both", "attrs without select-attrs", "image size"],
)
def test_option_mistakes_are_usage_errors(classes_dir, attrs_csv, tmp_path, args, message):
    args = [a.format(classes=classes_dir, csv=attrs_csv) for a in args]
    result = cgan("train", "stargan", *args, "--out", tmp_path / "run", *RUN, "--steps", "1")
    assert message in one_line_error(result, 2)
    assert not (tmp_path / "run").exists()


def test_an_image_size_too_small_for_the_generator_is_a_usage_error(classes_dir, tmp_path):
    result = CliRunner().invoke(app, ["train", "stargan", "--domains", str(classes_dir), "--out", str(tmp_path / "r"),
                                      "--image-size", "4", "--g-conv-dim", "4", "--d-conv-dim", "4", *RUN,
                                      "--steps", "1"])  # fmt: skip
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output, repr(result.exception)
    assert "--image-size" in one_line_error(result, 2)


def test_a_repeated_attribute_is_refused(classes_dir, attrs_csv, tmp_path):
    result = cgan("train", "stargan", "--attrs", attrs_csv, "--images", classes_dir, "--select-attrs", "Warm,Warm",
                  "--out", tmp_path / "run", *TINY, *RUN, "--steps", "1")  # fmt: skip
    assert result.exit_code in (1, 2) and "Warm" in one_line_error(result, result.exit_code)


def test_names_and_label_kind_are_stored_in_the_checkpoint(single, multi, classes_dir):
    config = load_checkpoint(single, groups=()).config
    assert tuple(config["domain_names"]) == DOMAINS and config["multi_label"] is False and config["channels"] == 3
    assert config["domains"] == str(classes_dir.resolve())
    config = load_checkpoint(multi, groups=()).config
    assert tuple(config["domain_names"]) == ATTRS and config["multi_label"] is True
    # the labels follow --select-attrs order, not the CSV's: red/1.png is Odd, Warm, not Cool
    family = StarGAN(StarGAN.config_from(load_checkpoint(multi, groups=())), FP32)
    labels = {p.relative_to(classes_dir).as_posix(): tuple(v) for p, v in family.items()}
    assert labels["red/1.png"] == (1.0, 1.0, 0.0) and labels["blue/2.png"] == (0.0, 0.0, 1.0)
    assert len(labels) == 12
    item = family.dataset()[(list(labels).index("red/1.png"), 0)]
    assert item["label"].tolist() == [1.0, 1.0, 0.0] and item["image"].shape == (3, 32, 32)


def test_csv_paths_are_relative_to_the_csv_by_default_and_the_sample_grid(classes_dir, tmp_path):
    data = tmp_path / "celeb"
    shutil.copytree(classes_dir, data / "images")
    rows = attribute_rows(classes_dir)
    rows[1:] = [["images/" + r[0], *r[1:]] for r in rows[1:]]
    run = tmp_path / "run"
    table = write_csv(data / "list.csv", rows)
    result = cgan("train", "stargan", "--attrs", table, "--select-attrs", "Cool,Warm", "--out", run, *TINY, *RUN,
                  "--batch-size", "4", "--steps", "1")  # fmt: skip
    ok(result)
    # the validation grid: 4 images, each with its input and then one attribute flipped per column
    with Image.open(run / "samples" / "step-0000001.png") as grid:
        assert grid.size == (3 * 32 + 2 * 2, 4 * 32 + 3 * 2)


# --- exact resume -----------------------------------------------------------------------------------


def _straight_and_split(classes_dir: Path, attrs_csv: Path, run: Path, layout: str, split: int, *extra: object):
    """7 steps straight, and `split` steps then `cgan train --resume` to 7 (in a loader worker process)."""
    data = ["--domains", classes_dir] if layout == "domains" else [
        "--attrs", attrs_csv, "--images", classes_dir, "--select-attrs", ",".join(ATTRS)]  # fmt: skip
    common = [*data, *TINY, *RUN, "--batch-size", "5", "--seed", "3", "--n-critic", "2", "--epochs", "1",
              "--epochs-decay", "2", *extra]  # fmt: skip
    ok(cgan("train", "stargan", "--out", run / "straight", *common, "--steps", "7"))
    ok(cgan("train", "stargan", "--out", run / "split", *common, "--steps", str(split)))
    ok(cgan("train", "--resume", run / "split" / "latest.safetensors", "--steps", "7", "--workers", "1"))
    a = load_checkpoint(run / "straight" / "latest.safetensors")
    b = load_checkpoint(run / "split" / "latest.safetensors")
    assert a.step == b.step == 7 and a.epoch == b.epoch == 2
    assert a.tensors.keys() == b.tensors.keys()
    assert any(k.startswith("optim/G/") for k in a.tensors) and any(k.startswith("optim/D/") for k in a.tensors)
    assert a.state["optimizers"] == b.state["optimizers"]
    log = [json.loads(line) for line in (run / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == sorted({2, 4, 6, 7, split})
    early = load_checkpoint(run / "split" / f"step-{split:07d}.safetensors").tensors
    assert not all(torch.equal(early[k], a.tensors[k]) for k in a.tensors if k.startswith("net/G/"))
    return a.tensors, b.tensors


def differing(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in a if not torch.equal(a[k], b[k])]


@pytest.fixture(scope="module", params=[("domains", 3), ("attrs", 4)], ids=["domains-split3", "attrs-split4"])
def resumed(request, tmp_path_factory, classes_dir, attrs_csv):
    """12 images, batch 5: 3 steps per epoch and the rate changes at steps 3 and 6; n_critic 2 puts G steps at
    steps 2, 4, 6 (1-based), so one split resumes into a G step and the other into a D-only step."""
    layout, split = request.param
    return _straight_and_split(classes_dir, attrs_csv, tmp_path_factory.mktemp("resume"), layout, split)


def test_resume_is_bit_identical_apart_from_gs_running_statistics(resumed):
    """Weights, Adam moments and step counts, D entirely, the RNG: all exact through a resume."""
    a, b = resumed
    assert [k for k in differing(a, b) if ".running_" not in k] == []


def test_resume_is_bit_identical(resumed):
    a, b = resumed
    assert differing(a, b) == []


def test_resume_is_exact_when_both_runs_sample_at_the_same_steps(classes_dir, attrs_csv, tmp_path):
    """With a sample grid after every step in both runs too, everything matches."""
    a, b = _straight_and_split(classes_dir, attrs_csv, tmp_path, "domains", 3, "--sample-every", "1")
    assert differing(a, b) == []


# --- cgan translate -------------------------------------------------------------------------------


def translate(ckpt: Path, *args: object) -> Result:
    return cgan("translate", ckpt, *args, "--device", "cpu", "--workers", "1", "--precision", "fp32")


def test_translate_to_a_domain_is_g_with_that_one_hot_label(single, tmp_path):
    G, _ = nets_of(single)
    square = write(tmp_path / "in" / "square.png", noise(32, 32, seed=1))
    odd = write(tmp_path / "in" / "odd.png", noise(30, 26, seed=2))  # padded (reflect) to 32×28, cropped back
    outputs = {}
    for k, name in enumerate(DOMAINS):
        out = tmp_path / name
        written = ok(translate(single, tmp_path / "in", "--to", name, "--out", out))
        assert written == [str(out / "odd.png"), str(out / "square.png")]
        with torch.no_grad():
            assert_image(out / "square.png", G(image_tensor(square), one_hot(k))[0])
            padded = F.pad(image_tensor(odd), (0, 2, 0, 2), mode="reflect")
            assert_image(out / "odd.png", G(padded, one_hot(k))[0, :, :26, :30])
        outputs[name] = pixels(out / "square.png")
    assert np.abs(outputs["red"] - outputs["blue"]).mean() > 1  # the label matters


def test_translate_to_all_writes_one_folder_per_domain(single, tmp_path):
    src = write(tmp_path / "in" / "a.png", noise(32, 32, seed=3))
    out = tmp_path / "all"
    written = ok(translate(single, src, "--to", "all", "--out", out))
    assert written == [str(out / name / "a.png") for name in DOMAINS]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        f"{name}/a.png" for name in DOMAINS]  # fmt: skip
    ok(translate(single, src, "--to", "green", "--out", tmp_path / "one"))
    assert np.array_equal(pixels(out / "green" / "a.png"), pixels(tmp_path / "one" / "a.png"))


def test_translate_set_with_from_is_g_with_those_attributes(multi, tmp_path):
    G, _ = nets_of(multi)
    src = write(tmp_path / "a.png", noise(32, 32, seed=4))
    cases = [
        (["--set", "Warm=1", "--from", "Odd"], [1.0, 1.0, 0.0]),
        (["--set", "Odd=0", "--set", "Cool=1", "--from", "Odd,Warm"], [0.0, 1.0, 1.0]),
        (["--set", "Warm=0", "--from", ""], [0.0, 0.0, 0.0]),
    ]
    for i, (args, labels) in enumerate(cases):
        ok(translate(multi, src, *args, "--out", tmp_path / f"o{i}"))
        with torch.no_grad():
            assert_image(tmp_path / f"o{i}" / "a.png", G(image_tensor(src), torch.tensor([labels]))[0])


def test_translate_set_without_from_starts_from_ds_prediction(multi, tmp_path):
    """D's classifier head, on the input resized to the training size, supplies the attributes not set."""
    G, D = nets_of(multi)
    predicted_any = False
    for seed in range(4):
        src = write(tmp_path / "in" / f"{seed}.png", noise(40, 40, seed=10 + seed))  # 40: D sees it at 32
        x = image_tensor(src)
        with torch.no_grad():
            small = F.interpolate(x, size=(32, 32), mode="bilinear", antialias=True)
            labels = (D(small)[1] > 0).float()
            predicted_any |= bool(labels[0, [0, 2]].any())
            labels[0, 1] = 1.0
            expected = G(x, labels)[0]
        out = tmp_path / f"out{seed}"
        ok(translate(multi, src, "--set", "Warm=1", "--out", out))
        assert_image(out / f"{seed}.png", expected)
    assert predicted_any  # D's guess really entered some label


@pytest.mark.parametrize(
    "which, args, message",
    [
        ("single", ["--to", "purple"], "unknown domain or attribute 'purple'; this model knows: blue, green, red"),
        ("single", [], "--to NAME"),
        ("single", ["--set", "red=1"], "--set and --from are for multi-label"),
        ("single", ["--to", "red", "--from", "blue"], "--set and --from are for multi-label"),
        ("multi", ["--to", "Warm"], "--to is for single-label"),
        ("multi", ["--to", "all"], "--to is for single-label"),
        ("multi", [], "--set ATTR=0|1"),
        ("multi", ["--set", "Blond=1"], "unknown domain or attribute 'Blond'"),
        ("multi", ["--set", "Warm=1", "--from", "Odd,Nope"], "'Nope'"),
        ("multi", ["--set", "Warm"], "expected ATTR=0 or ATTR=1"),
        ("multi", ["--set", "Warm=2"], "expected ATTR=0 or ATTR=1"),
        ("multi", ["--set", "=1"], "expected ATTR=0 or ATTR=1"),
    ],
)
def test_translate_label_mistakes_are_usage_errors(request, tmp_path, which, args, message):
    src = write(tmp_path / "a.png", noise(32, 32))
    result = translate(request.getfixturevalue(which), src, *args, "--out", tmp_path / "o")
    assert message in one_line_error(result, 2)
    assert not (tmp_path / "o").exists()


# --- cgan interp ----------------------------------------------------------------------------------


def interp(ckpt: Path, *args: object) -> Result:
    return cgan("interp", ckpt, *args, "--device", "cpu")


def test_interp_walks_from_one_domain_to_another(single, tmp_path):
    """The walk resizes its input to the training size (shorter side, then a centre crop): its first and
    last frames are `translate --to` of that resized image, and the frames between blend the labels."""
    src = write(tmp_path / "wide.png", noise(48, 40, seed=5))
    resized = write(tmp_path / "in" / "wide.png", resize_and_centre_crop(read_image(src, 3), 32))
    frames = tmp_path / "frames"
    written = ok(interp(single, src, "--from", "blue", "--to", "red", "--steps", "4", "--out", frames))
    assert written == [str(frames / f"frame-{i:05d}.png") for i in range(5)]
    for name in ("blue", "red"):
        ok(translate(single, resized, "--to", name, "--out", tmp_path / name))
    assert np.abs(pixels(written[0]) - pixels(tmp_path / "blue" / "wide.png")).max() <= 1
    assert np.abs(pixels(written[-1]) - pixels(tmp_path / "red" / "wide.png")).max() <= 1
    G, _ = nets_of(single)
    with torch.no_grad():
        assert_image(written[2], G(image_tensor(resized), torch.tensor([[0.5, 0.0, 0.5]]))[0])
    assert np.abs(pixels(written[0]) - pixels(written[-1])).mean() > 1


def test_interp_walks_between_attribute_sets(multi, tmp_path):
    src = write(tmp_path / "in" / "a.png", noise(32, 32, seed=6))
    frames = tmp_path / "frames"
    written = ok(interp(multi, src, "--from", "Odd", "--to", "Warm,Cool", "--steps", "2", "--out", frames))
    assert len(written) == 3
    ok(translate(multi, src, "--from", "Odd", "--set", "Odd=1", "--out", tmp_path / "first"))
    ok(translate(multi, src, "--from", "Warm", "--set", "Cool=1", "--out", tmp_path / "last"))
    assert np.abs(pixels(written[0]) - pixels(tmp_path / "first" / "a.png")).max() <= 1
    assert np.abs(pixels(written[-1]) - pixels(tmp_path / "last" / "a.png")).max() <= 1


def test_interp_gif_has_steps_plus_one_frames(single, tmp_path):
    src = write(tmp_path / "a.png", noise(32, 32, seed=7))
    gif = tmp_path / "walk.gif"
    assert ok(interp(single, src, "--from", "green", "--to", "blue", "--steps", "3", "--gif", gif)) == [str(gif)]
    with Image.open(gif) as img:
        assert img.format == "GIF" and img.size == (32, 32) and img.n_frames == 4


@pytest.fixture(scope="module")
def other_families(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path, classes_dir: Path) -> dict[str, Path]:
    from cgan_cli.families import create
    from cgan_cli.trainer import Trainer
    from tests.conftest import tiny_family_config

    paths = {}
    for name in ("dcgan", "pix2pix"):
        run = tmp_path_factory.mktemp(f"stargan_other_{name}")
        with torch.random.fork_rng():
            Trainer(create(name, tiny_family_config(name, demo_dir, classes_dir), CPU), run).save()
        paths[name] = run / "latest.safetensors"
    return paths


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from", "blue"], "CKPT IMAGE --from LABEL --to LABEL"),
        (["--to", "red"], "CKPT IMAGE --from LABEL --to LABEL"),
        (["--from", "blue", "--to", "red", "--seeds", "1,2"], "not --seeds"),
        (["--from", "blue", "--to", "purple"], "unknown domain or attribute 'purple'"),
        (["--from", "blue,red", "--to", "red"], "name one domain"),
    ],
)
def test_interp_usage_errors(single, tmp_path, args, message):
    src = write(tmp_path / "a.png", noise(32, 32))
    result = interp(single, src, *args, "--out", tmp_path / "f")
    assert message in one_line_error(result, 2)
    assert not (tmp_path / "f").exists()


def test_interp_label_walk_needs_a_stargan_checkpoint(other_families, tmp_path):
    src = write(tmp_path / "a.png", noise(32, 32))
    for name, ckpt in other_families.items():
        result = interp(ckpt, src, "--from", "a", "--to", "b", "--out", tmp_path / "f")
        assert f"a {name} checkpoint has no domain labels to interpolate" in one_line_error(result, 1)
    assert not (tmp_path / "f").exists()


# --- learning ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_stargan_learns_to_recolour_discs_between_three_domains(tmp_path):
    """Red, green and blue discs on black (48 images, 32×32): after 200 steps of tiny networks, a linear
    classifier trained on real discs names the requested domain for held-out discs translated to the
    other two domains far above chance (1/3)."""
    train = write_classes(tmp_path / "train", per_class=16, seed=1)
    held_out = write_classes(tmp_path / "held_out", per_class=8, seed=99)
    run = tmp_path / "run"
    flags = ["--image-size", "32", "--g-conv-dim", "8", "--d-conv-dim", "16", "--g-repeat-num", "1",
             "--batch-size", "8", "--steps", "200", "--epochs", "1000", "--epochs-decay", "0", "--n-critic", "1",
             "--lr", "5e-4", "--seed", "0"]  # fmt: skip
    ok(cgan("train", "stargan", "--domains", train, "--out", run, *flags, *RUN[:4], "--log-every", "50",
            "--sample-every", "1000"))  # fmt: skip

    def load(root: Path) -> tuple[torch.Tensor, torch.Tensor]:
        items = [(p, DOMAINS.index(p.parent.name)) for p in sorted(root.rglob("*.png"))]
        images = [to_tensor(resize_and_centre_crop(read_image(p, 3), 32)) for p, _ in items]
        return torch.stack(images), torch.tensor([k for _, k in items])

    def features(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 4).flatten(1)  # 8×8×3

    x, y = load(train)
    x_test, y_test = load(held_out)
    torch.manual_seed(0)
    classifier = nn.Linear(192, 3)
    opt = torch.optim.Adam(classifier.parameters(), 0.05)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(classifier(features(x)), y).backward()
        opt.step()
    with torch.no_grad():
        assert (classifier(features(x_test)).argmax(1) == y_test).float().mean() == 1.0  # a sound judge

        G, _ = nets_of(run / "latest.safetensors")
        hits = []
        for k in range(3):
            moved = y_test != k
            predicted = classifier(features(G(x_test[moved], one_hot(k).expand(int(moved.sum()), -1)))).argmax(1)
            hits.append(predicted == k)
    agreement = torch.cat(hits).float().mean().item()
    assert agreement >= 0.7, agreement
