"""CycleGAN against the reference, junyanz/pytorch-CycleGAN-and-pix2pix: `networks.py` (ResnetGenerator,
ResnetBlock, NLayerDiscriminator, GANLoss), `cycle_gan_model.py` (losses, weights, step order),
`util/image_pool.py` and `data/unaligned_dataset.py`; then exact resume, `cgan translate --direction`,
the sample grid, and a small learning check. Toy sizes throughout (8 filters, 32×32 crops).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_images import noise, pixels, write
from PIL import Image
from torch import nn
from typer.testing import CliRunner, Result

from cgan_cli.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from cgan_cli.cli import app
from cgan_cli.config import to_dict, validate
from cgan_cli.config.choices import RESNET_BLOCKS
from cgan_cli.data.io import to_tensor, to_uint8
from cgan_cli.data.unpaired import find_domains
from cgan_cli.device import Runtime
from cgan_cli.errors import DataError, UsageError
from cgan_cli.families import TranslateOptions, create
from cgan_cli.families.cyclegan import CycleGAN, CycleGANConfig
from cgan_cli.nn.pool import ImagePool
from cgan_cli.nn.resnet import ResNetConfig, ResnetGenerator
from cgan_cli.trainer import Trainer
from tests.conftest import tiny_config, tiny_cyclegan_config, unpaired_colour

CPU = torch.device("cpu")
# fp32: these tests hold our steps to a restated reference's fp32 arithmetic; `auto` would be bf16 autocast on
# CPUs with bf16 units (AVX512-BF16 or AMX, as this project's CI CPU), whose 2**-8 rounding is far past their
# tolerances. The bf16 path has its own tests (test_precision.py).
FP32 = Runtime(CPU, "fp32")
TINY = ["--net-g", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--load-size", "36", "--crop-size", "32"]
NETS = ("G_A", "G_B", "D_A", "D_B")


pytestmark = pytest.mark.usefixtures("single_thread")


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def tiny(unpaired_dir: Path, **overrides) -> CycleGAN:
    return create("cyclegan", tiny_cyclegan_config(unpaired_dir, **overrides), FP32)


def fixed_batch(n: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.rand(n, 3, 32, 32, generator=g) * 2 - 1, "B": torch.rand(n, 3, 32, 32, generator=g) * 2 - 1}


def cli(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    return result


def train_cli(out: Path, *extra: str) -> Result:
    return cli("train", "cyclegan", "--out", str(out), "--device", "cpu", "--workers", "0", *TINY, *extra)


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("cgan: error:")]


# --- networks -----------------------------------------------------------------------------------------


def reference_layout(in_nc: int, out_nc: int, ngf: int, n_blocks: int, norm: str, dropout: bool) -> list:
    """The module sequence of the reference `ResnetGenerator` / `ResnetBlock` (padding_type 'reflect'),
    with its rule use_bias = (norm is InstanceNorm2d) and `get_norm_layer`'s choices."""
    bias = norm == "instance"

    def norm_layer(c: int) -> tuple:
        return {
            "instance": ("InstanceNorm2d", c, False, False),
            "batch": ("BatchNorm2d", c, True, True),
            "none": ("Identity",),
        }[norm]

    layers: list = [("ReflectionPad2d", (3, 3, 3, 3)), ("Conv2d", in_nc, ngf, 7, 1, 0, bias), norm_layer(ngf)]
    layers.append(("ReLU", True))
    for i in range(2):
        mult = 2**i
        layers += [("Conv2d", ngf * mult, ngf * mult * 2, 3, 2, 1, bias), norm_layer(ngf * mult * 2), ("ReLU", True)]
    dim = ngf * 4
    block = [("ReflectionPad2d", (1, 1, 1, 1)), ("Conv2d", dim, dim, 3, 1, 0, bias), norm_layer(dim), ("ReLU", True)]
    block += [("Dropout", 0.5)] if dropout else []
    block += [("ReflectionPad2d", (1, 1, 1, 1)), ("Conv2d", dim, dim, 3, 1, 0, bias), norm_layer(dim)]
    layers += [("ResnetBlock", block)] * n_blocks
    for i in range(2):
        mult = 2 ** (2 - i)
        up = ("ConvTranspose2d", ngf * mult, ngf * mult // 2, 3, 2, 1, 1, bias)
        layers += [up, norm_layer(ngf * mult // 2), ("ReLU", True)]
    layers += [("ReflectionPad2d", (3, 3, 3, 3)), ("Conv2d", ngf, out_nc, 7, 1, 0, True), ("Tanh",)]
    return layers


def describe(m: nn.Module) -> tuple:
    if isinstance(m, nn.ReflectionPad2d):
        return ("ReflectionPad2d", tuple(m.padding))
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):  # kind, in, out, kernel, stride, padding, [output_padding,] bias
        shape = (m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0])
        extra = (m.output_padding[0],) if isinstance(m, nn.ConvTranspose2d) else ()
        return (type(m).__name__, *shape, *extra, m.bias is not None)
    if isinstance(m, (nn.InstanceNorm2d, nn.BatchNorm2d)):
        return (type(m).__name__, m.num_features, m.affine, m.track_running_stats)
    if isinstance(m, nn.ReLU):
        return ("ReLU", m.inplace)
    if isinstance(m, nn.Dropout):
        return ("Dropout", m.p)
    if isinstance(m, (nn.Tanh, nn.Identity)):
        return (type(m).__name__,)
    if list(m.children()):  # a residual block: its leaf layers, in order
        return ("ResnetBlock", [describe(c) for c in m.modules() if not list(c.children())])
    raise AssertionError(f"unexpected layer {m}")


@pytest.mark.parametrize("name, expected", [("resnet_9blocks", 11_378_179), ("resnet_6blocks", 7_837_699)])
def test_resnet_generator_has_the_reference_parameter_count(name: str, expected: int) -> None:
    # the reference prints 11.378 M / 7.838 M parameters for netG (ngf 64, instance norm, 3 → 3 channels)
    assert n_params(ResnetGenerator(ResNetConfig(n_blocks=RESNET_BLOCKS[name]))) == expected


@pytest.mark.parametrize(
    "in_nc, out_nc, n_blocks, norm, dropout",
    [(3, 3, 9, "instance", False), (1, 3, 2, "instance", True), (3, 1, 3, "batch", False), (3, 3, 1, "none", False)],
)
def test_resnet_generator_layers_are_the_references(in_nc, out_nc, n_blocks, norm, dropout) -> None:
    """Reflection padding, 7×7 / stride-2 3×3 convs, instance norm without affine or running stats, conv
    biases only before instance norm (always on the last conv), output_padding=1 transposed convs, tanh."""
    net = ResnetGenerator(ResNetConfig(in_nc, out_nc, 8, n_blocks, norm, dropout))
    assert [describe(m) for m in net.model] == reference_layout(in_nc, out_nc, 8, n_blocks, norm, dropout)


def test_resnet_generator_state_dict_names_are_the_references() -> None:
    net = ResnetGenerator(ResNetConfig(ngf=8, n_blocks=2))
    expected = [f"model.{i}.{p}" for i in (1, 4, 7) for p in ("weight", "bias")]
    expected += [f"model.{b}.conv_block.{i}.{p}" for b in (10, 11) for i in (1, 5) for p in ("weight", "bias")]
    expected += [f"model.{i}.{p}" for i in (12, 15, 19) for p in ("weight", "bias")]
    assert list(net.state_dict()) == expected


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 20, 36), (1, 3, 8, 12), (2, 1, 12, 16)])
def test_resnet_output_keeps_sides_that_are_multiples_of_4(shape) -> None:
    net = ResnetGenerator(ResNetConfig(in_channels=shape[1], out_channels=3, ngf=4, n_blocks=2))
    y = net(torch.randn(*shape))
    assert y.shape == (shape[0], 3, *shape[2:]) and y.abs().max() <= 1.0
    assert ResNetConfig().multiple == 4


def test_default_cyclegan_is_the_references_model() -> None:
    family = CycleGAN(CycleGANConfig(domain_a="a", domain_b="b"), FP32)  # data is only read by dataset()
    cfg = family.config
    assert (cfg.net_g, cfg.ngf, cfg.ndf, cfg.norm, cfg.dropout, cfg.loss) == ("resnet_9blocks", 64, 64, "instance",
                                                                             False, "lsgan")  # fmt: skip
    assert (cfg.lambda_a, cfg.lambda_b, cfg.lambda_identity, cfg.pool_size) == (10.0, 10.0, 0.5, 50)
    assert (cfg.load_size, cfg.crop_size, cfg.batch_size, cfg.epochs, cfg.epochs_decay) == (286, 256, 1, 100, 100)
    assert n_params(family.G_A) == n_params(family.G_B) == 11_378_179
    # 70×70 PatchGAN on 3 channels with instance norm (so conv biases): the reference's 2.765 M
    assert n_params(family.D_A) == n_params(family.D_B) == 2_764_737
    # one Adam over both generators, one over both discriminators: lr 2e-4, betas (0.5, 0.999)
    g_params = {id(p) for n in ("G_A", "G_B") for p in family.nets[n].parameters()}
    d_params = {id(p) for n in ("D_A", "D_B") for p in family.nets[n].parameters()}
    for opt, params in ((family.opt_G, g_params), (family.opt_D, d_params)):
        assert {id(p) for group in opt.param_groups for p in group["params"]} == params
        assert opt.param_groups[0]["lr"] == 2e-4 and opt.param_groups[0]["betas"] == (0.5, 0.999)
    assert family.pool_a.size == family.pool_b.size == 50


def test_discriminators_judge_their_own_domain(unpaired_dir) -> None:
    family = tiny(unpaired_dir, input_nc=1, output_nc=3, lambda_identity=0.0)
    first_conv = {n: next(m for m in family.nets[n].modules() if isinstance(m, nn.Conv2d)) for n in NETS}
    assert first_conv["G_A"].in_channels == 1 and first_conv["G_B"].in_channels == 3
    assert first_conv["D_A"].in_channels == 3  # D_A: real B vs G_A(A)
    assert first_conv["D_B"].in_channels == 1  # D_B: real A vs G_B(B)
    assert family.G_A(torch.zeros(1, 1, 32, 32)).shape == (1, 3, 32, 32)
    with pytest.raises(UsageError, match="--lambda-identity"):
        tiny(unpaired_dir, input_nc=1, output_nc=3)  # the reference asserts input_nc == output_nc too


# --- image pool ---------------------------------------------------------------------------------------


class ReferencePool:
    """util/image_pool.py `ImagePool.query`, restated with its random.uniform / random.randint passed in."""

    def __init__(self, pool_size, uniform, randint):
        self.pool_size, self.uniform, self.randint = pool_size, uniform, randint
        self.num_imgs, self.images = 0, []

    def query(self, images):
        if self.pool_size == 0:
            return images
        return_images = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if self.num_imgs < self.pool_size:
                self.num_imgs = self.num_imgs + 1
                self.images.append(image)
                return_images.append(image)
            else:
                p = self.uniform(0, 1)
                if p > 0.5:
                    random_id = self.randint(0, self.pool_size - 1)
                    tmp = self.images[random_id].clone()
                    self.images[random_id] = image
                    return_images.append(tmp)
                else:
                    return_images.append(image)
        return torch.cat(return_images, 0)


def test_pool_is_the_reference_algorithm_given_the_same_draws() -> None:
    ours = ImagePool(4, seed=3)
    g = torch.Generator().manual_seed(3)  # feed the reference the very draws our pool makes
    ref = ReferencePool(
        4,
        uniform=lambda a, b: float(torch.rand((), generator=g)),
        randint=lambda a, b: a + int(torch.randint(b - a + 1, (), generator=g)),
    )
    data = torch.Generator().manual_seed(0)
    seen = fresh = swapped = 0
    for i in range(30):
        images = torch.randn(1 + i % 3, 3, 4, 4, generator=data)  # batches of 1, 2, 3, 1, ...
        out = ours.query(images.clone())
        assert torch.equal(out, ref.query(images.clone())), i
        seen += len(images)
        assert len(ours.images) == min(4, seen)  # fills to its size, then stays there
        if seen <= 4:  # still filling: the images themselves come back
            assert torch.equal(out, images)
        for got, given in zip(out, images):
            fresh, swapped = (fresh + 1, swapped) if torch.equal(got, given) else (fresh, swapped + 1)
    assert all(torch.equal(a, b[0]) for a, b in zip(ours.images, ref.images))
    assert fresh + swapped == 60 and 15 < swapped < 45  # about half of the 56 after filling, as p = 0.5 gives


def test_pool_of_size_0_passes_images_through() -> None:
    pool = ImagePool(0, seed=0)
    images = torch.randn(3, 3, 4, 4)
    assert pool.query(images) is images and pool.images == []


def test_pool_state_round_trip_reproduces_later_queries(tmp_path: Path) -> None:
    batches = [torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(i)) for i in range(12)]
    pool = ImagePool(3, seed=5)
    for b in batches[:6]:  # full and swapping by now
        pool.query(b)
    path = save_checkpoint(tmp_path / "pool.safetensors", Checkpoint(None, "cyclegan", {}, 0, 0, pool.state("pool/A")))
    restored = ImagePool(3, seed=99)
    restored.load(load_checkpoint(path).sub("pool/A"), CPU)
    assert len(restored.images) == 3 and all(torch.equal(a, b) for a, b in zip(pool.images, restored.images))
    for b in batches[6:]:
        assert torch.equal(pool.query(b), restored.query(b))


# --- data ---------------------------------------------------------------------------------------------


def image_index(t: torch.Tensor, domain: str, count: int) -> int:
    """Which file of `unpaired_dir`'s domain an image came from, by its mean colour (crops keep it)."""
    mean = (t.mean((1, 2)) + 1) * 127.5
    return min(range(count), key=lambda i: float((mean - torch.tensor(unpaired_colour(domain, i))).abs().max()))


def test_reference_layout_and_domains_of_different_counts(unpaired_dir) -> None:
    family = tiny(unpaired_dir)
    domains = family.domains()
    assert [p.name for p in domains.a] == [f"A{i}.png" for i in range(5)]
    assert [p.name for p in domains.b] == [f"B{i}.png" for i in range(3)]
    data = family.dataset()
    assert len(data) == 5  # max(|A|, |B|), as UnalignedDataset
    item = data[(4, 0)]
    assert item["A"].shape == item["B"].shape == (3, 32, 32)
    assert image_index(item["A"], "A", 5) == 4
    val = family.validation_batch()  # testA/ and testB/
    assert val["A"].shape == val["B"].shape == (2, 3, 32, 32)


def test_domain_folders_item_takes_a_mod_count_and_b_by_its_seed(unpaired_dir) -> None:
    # three A images and five B: the dataset is five long and wraps around A
    family = tiny("", domain_a=str(unpaired_dir / "trainB"), domain_b=str(unpaired_dir / "trainA"))
    data = family.dataset()
    assert len(data) == 5
    for index in range(5):
        for seed in (0, 1, 2):
            assert image_index(data[(index, seed)]["A"], "B", 3) == index % 3
    first, again = data[(1, 7)], data[(1, 7)]
    assert torch.equal(first["A"], again["A"]) and torch.equal(first["B"], again["B"])  # same key, same tensors
    drawn = {image_index(data[(0, seed)]["B"], "A", 5) for seed in range(40)}
    assert drawn == set(range(5))  # B is drawn at random per item, not tied to the index
    assert len({image_index(data[(i, 3)]["B"], "A", 5) for i in range(5)}) == 1  # ...but by the seed alone
    # the validation batch falls back to the training folders
    assert family.validation_batch()["A"].shape == (3, 3, 32, 32)


def test_layout_errors_are_one_line_data_and_usage_errors(unpaired_dir, tmp_path) -> None:
    only_a = tmp_path / "only_a"
    write(only_a / "trainA" / "a.png", noise(40, 40))
    with pytest.raises(DataError, match=r"no trainB/ folder"):
        find_domains(only_a)
    (only_a / "trainB").mkdir()
    with pytest.raises(DataError, match=r"trainB.*no images"):
        find_domains(only_a)
    with pytest.raises(DataError, match="both --domain-a and --domain-b"):
        find_domains(None, unpaired_dir / "trainA", None)
    with pytest.raises(UsageError, match="--domain-a"):
        validate(CycleGANConfig(domain_a=str(unpaired_dir / "trainA")))
    with pytest.raises(UsageError, match="--unpaired"):
        validate(CycleGANConfig())


@pytest.mark.parametrize(
    "layout, args, code, message",
    [
        ("no trainB", ["--unpaired", "{root}"], 1, "no trainB/ folder"),
        ("empty trainB", ["--unpaired", "{root}"], 1, "no images"),
        ("full", ["--domain-a", "{root}/trainA"], 2, "--domain-b"),
        ("full", [], 2, "--unpaired"),
    ],
)
def test_layout_errors_through_the_cli(unpaired_dir, tmp_path, layout, args, code, message) -> None:
    root = unpaired_dir
    if layout != "full":
        root = tmp_path / "data"
        (root / "trainA").mkdir(parents=True)
        write(root / "trainA" / "a.png", noise(40, 40))
        if layout == "empty trainB":
            (root / "trainB").mkdir()
    result = train_cli(tmp_path / "run", "--steps", "1", *[a.format(root=root) for a in args])
    assert result.exit_code == code, result.output
    assert len(error_lines(result)) == 1 and message in result.stderr
    assert not (tmp_path / "run" / "latest.safetensors").exists()


# --- the training step --------------------------------------------------------------------------------


def lsgan(prediction: torch.Tensor, target: float) -> torch.Tensor:
    return F.mse_loss(prediction, torch.full_like(prediction, target))  # the reference's GANLoss('lsgan')


def test_step_losses_are_the_references(unpaired_dir) -> None:
    """backward_G / backward_D_basic recomputed from the nets as they were before the step: cycle λ_A, λ_B,
    identity λ_B·λ_idt for G_A(B) and λ_A·λ_idt for G_B(A), D's loss halved, D fed G's pre-update fakes."""
    family = tiny(unpaired_dir, lambda_a=10.0, lambda_b=7.0, lambda_identity=0.3)  # distinct: catches swaps
    batch = fixed_batch()
    G_A, G_B, D_A, D_B = (copy.deepcopy(family.nets[n]) for n in NETS)
    losses = family.train_step(batch)
    real_a, real_b = batch["A"], batch["B"]
    with torch.no_grad():
        fake_b, fake_a = G_A(real_a), G_B(real_b)
        expected = {
            "G_A": lsgan(D_A(fake_b), 1.0),
            "G_B": lsgan(D_B(fake_a), 1.0),
            "cycle_A": F.l1_loss(G_B(fake_b), real_a) * 10.0,
            "cycle_B": F.l1_loss(G_A(fake_a), real_b) * 7.0,
            "idt_A": F.l1_loss(G_A(real_b), real_b) * 7.0 * 0.3,
            "idt_B": F.l1_loss(G_B(real_a), real_a) * 10.0 * 0.3,
            "D_A": 0.5 * (lsgan(D_A(real_b), 1.0) + lsgan(D_A(fake_b), 0.0)),  # the pool was empty: fakes pass
            "D_B": 0.5 * (lsgan(D_B(real_a), 1.0) + lsgan(D_B(fake_a), 0.0)),
        }
    assert set(losses) == set(expected)
    for key, value in expected.items():
        assert float(losses[key]) == pytest.approx(float(value), rel=1e-5, abs=1e-7), key


def test_identity_off_drops_its_losses_and_forward_passes(unpaired_dir) -> None:
    calls = {}
    family = tiny(unpaired_dir, lambda_identity=0.0)
    for name in ("G_A", "G_B"):
        family.nets[name].register_forward_hook(lambda m, i, o, name=name: calls.update({name: calls.get(name, 0) + 1}))
    losses = family.train_step(fixed_batch())
    assert set(losses) == {"G_A", "G_B", "cycle_A", "cycle_B", "D_A", "D_B"}
    assert calls == {"G_A": 2, "G_B": 2}  # G_A(A), G_A(G_B(B)); with identity on there would be G_A(B) too
    assert {"idt_A", "idt_B"} <= set(tiny(unpaired_dir).train_step(fixed_batch()))


def test_wgangp_adds_a_gradient_penalty_to_each_discriminator(unpaired_dir, monkeypatch) -> None:
    import cgan_cli.families.cyclegan as module

    real_penalty, calls = module.gradient_penalty, []

    def spy(critic, real, fake, weight):
        with torch.no_grad():
            wgan = 0.5 * (-critic(real).mean() + critic(fake).mean())
        gp = real_penalty(critic, real, fake, weight)
        calls.append((real.clone(), weight, float(wgan), float(gp.detach())))
        return gp

    monkeypatch.setattr(module, "gradient_penalty", spy)
    batch = fixed_batch()
    losses = tiny(unpaired_dir, loss="wgangp", lambda_gp=5.0).train_step(batch)
    assert len(calls) == 2
    (real_1, w_1, wgan_a, gp_a), (real_2, w_2, wgan_b, gp_b) = calls
    assert torch.equal(real_1, batch["B"]) and torch.equal(real_2, batch["A"])  # D_A on B, D_B on A
    assert w_1 == w_2 == 5.0 and gp_a > 0 and gp_b > 0
    assert float(losses["D_A"]) == pytest.approx(wgan_a + gp_a, rel=1e-5)
    assert float(losses["D_B"]) == pytest.approx(wgan_b + gp_b, rel=1e-5)
    calls.clear()
    tiny(unpaired_dir).train_step(batch)
    assert calls == []  # lsgan: no penalty


def test_generators_step_first_with_both_discriminators_frozen(unpaired_dir, monkeypatch) -> None:
    family = tiny(unpaired_dir)
    batch = fixed_batch()
    family.train_step(batch)  # a first full step leaves gradients on the Ds
    d_params = [p for n in ("D_A", "D_B") for p in family.nets[n].parameters()]
    d_grads = [p.grad.clone() for p in d_params]
    order, frozen = [], []
    g_step = family.opt_G.step

    def spy_g_step(*args, **kwargs):
        order.append("G")
        untouched = all(torch.equal(p.grad, g) for p, g in zip(d_params, d_grads))
        frozen.append(untouched and not any(p.requires_grad for p in d_params))
        return g_step(*args, **kwargs)

    monkeypatch.setattr(family.opt_G, "step", spy_g_step)
    monkeypatch.setattr(family.opt_D, "step", lambda *a, **k: order.append("D"))  # no D update at all
    before = {n: copy.deepcopy(family.nets[n].state_dict()) for n in NETS}
    family.train_step(batch)
    assert order == ["G", "D"] and frozen == [True]
    for name in ("D_A", "D_B"):  # G's update moved no D weight
        assert all(torch.equal(v, family.nets[name].state_dict()[k]) for k, v in before[name].items()), name
    for name in ("G_A", "G_B"):
        assert any(not torch.equal(v, family.nets[name].state_dict()[k]) for k, v in before[name].items()), name
    # unfrozen again for their own step, which computed fresh gradients
    assert all(p.requires_grad for p in d_params)
    assert any(not torch.equal(p.grad, g) for p, g in zip(d_params, d_grads))


# --- exact resume, sample grid, translate ------------------------------------------------------------


def test_resume_is_bit_identical_with_full_swapping_pools(unpaired_dir, tmp_path) -> None:
    # 5 items (max of 5 A and 3 B), batch 2 → 3 steps/epoch; 1 + 2 epochs so the lr decays from step 3.
    # A pool of 3 is full during step 2 and draws from then on; the split at step 4 is mid-epoch.
    common = ["--unpaired", str(unpaired_dir), "--batch-size", "2", "--epochs", "1", "--epochs-decay", "2"]
    common += ["--pool-size", "3", "--seed", "3", "--log-every", "2"]
    assert train_cli(tmp_path / "straight", *common, "--steps", "8").exit_code == 0
    assert train_cli(tmp_path / "split", *common, "--steps", "4").exit_code == 0
    mid = load_checkpoint(tmp_path / "split" / "latest.safetensors")
    for side, seed in (("A", 3), ("B", 4)):
        assert sorted(mid.sub(f"pool/{side}")) == ["0000", "0001", "0002", "rng"]
        fresh = torch.Generator().manual_seed(seed).get_state()
        assert not torch.equal(mid.tensors[f"pool/{side}/rng"], fresh)  # the pool has been drawing
    resumed = cli("train", "--resume", str(tmp_path / "split" / "latest.safetensors"), "--steps", "8",
                  "--workers", "1", "--device", "cpu")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    a, b = (load_checkpoint(tmp_path / run / "latest.safetensors") for run in ("straight", "split"))
    assert a.step == b.step == 8 and a.epoch == b.epoch == 2
    kept = ("net/", "optim/", "pool/", "rng/")
    ta = {k: v for k, v in a.tensors.items() if k.startswith(kept)}
    tb = {k: v for k, v in b.tensors.items() if k.startswith(kept)}
    assert ta.keys() == tb.keys() and {k.split("/")[0] for k in ta} == {"net", "optim", "pool", "rng"}
    assert {k.split("/")[1] for k in ta if k.startswith("net/")} == set(NETS)
    assert all(torch.equal(ta[k], tb[k]) for k in ta), [k for k in ta if not torch.equal(ta[k], tb[k])][:5]
    assert not all(torch.equal(mid.tensors[k], ta[k]) for k in ta if k.startswith("net/G_A"))  # it trained
    steps = [json.loads(line)["step"] for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6, 8]


def test_run_logs_every_loss_and_samples_six_columns(unpaired_dir, tmp_path) -> None:
    run = tmp_path / "run"
    result = train_cli(run, "--unpaired", str(unpaired_dir), "--steps", "2", "--sample-every", "2")
    assert result.exit_code == 0, result.output
    record = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert {"G_A", "G_B", "cycle_A", "cycle_B", "idt_A", "idt_B", "D_A", "D_B"} <= set(record)
    # 2 validation pairs (testA/testB): rows of A, G_A(A), G_B(G_A(A)), B, G_B(B), G_A(G_B(B)), 2 px gutters
    assert Image.open(run / "samples" / "step-0000002.png").size == (6 * 32 + 5 * 2, 2 * 32 + 2)
    assert json.loads((run / "config.json").read_text())["family"] == "cyclegan"


def test_sample_grid_columns(unpaired_dir) -> None:
    family = tiny(unpaired_dir)
    batch = family.validation_batch()
    sheet = family.sample_grid(batch)
    assert sheet.shape == (3, 2 * 32 + 2, 6 * 32 + 5 * 2)
    with torch.no_grad():
        a, b = batch["A"], batch["B"]
        columns = [a, family.G_A(a), family.G_B(family.G_A(a)), b, family.G_B(b), family.G_A(family.G_B(b))]
    for row in range(2):
        for col, images in enumerate(columns):
            cell = sheet[:, row * 34 : row * 34 + 32, col * 34 : col * 34 + 32]
            assert torch.allclose(cell, images[row], atol=1e-6), (row, col)


@pytest.fixture(scope="module")
def cyclegan_checkpoint(tmp_path_factory: pytest.TempPathFactory, unpaired_dir: Path) -> Path:
    """An untrained tiny CycleGAN with PyTorch's default conv init, so each generator visibly depends on
    its input and G_A differs from G_B (N(0, 0.02) gives an almost constant grey)."""
    family = tiny(unpaired_dir)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        for name in ("G_A", "G_B"):
            for m in family.nets[name].modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    m.reset_parameters()
    run = tmp_path_factory.mktemp("cyclegan_run")
    return Trainer(family, run).save()


def translate(checkpoint: Path, *args: str) -> Result:
    return cli("translate", str(checkpoint), *args, "--device", "cpu", "--workers", "1", "--precision", "fp32")


def test_translate_direction_runs_g_a_or_g_b(cyclegan_checkpoint, tmp_path) -> None:
    src = write(tmp_path / "in" / "x.png", noise(32, 32, 4))
    got = {}
    for direction in (None, "AtoB", "BtoA"):
        out = tmp_path / f"out-{direction}"
        chosen = ["--direction", direction] if direction else []
        result = translate(cyclegan_checkpoint, str(src), "--out", str(out), *chosen)
        assert result.exit_code == 0, result.stderr
        assert result.stdout.splitlines() == [str(out / "x.png")]
        got[direction] = pixels(out / "x.png")
    ckpt = load_checkpoint(cyclegan_checkpoint)
    x = to_tensor(Image.open(src).convert("RGB"))[None]
    for name, direction in (("G_A", "AtoB"), ("G_B", "BtoA")):
        net = ResnetGenerator(ResNetConfig(3, 3, ngf=8, n_blocks=6)).eval()
        net.load_state_dict(ckpt.sub(f"net/{name}"), strict=True)
        with torch.no_grad():
            expected = to_uint8(net(x)[0]).astype(np.int16)
        assert np.abs(got[direction] - expected).max() <= 1, direction
    assert np.array_equal(got[None], got["AtoB"])  # AtoB is the default
    assert np.abs(got["AtoB"] - got["BtoA"]).mean() > 2


def test_translate_survives_inputs_smaller_than_the_resnet_bottleneck(cyclegan_checkpoint, tmp_path) -> None:
    small = write(tmp_path / "in" / "small.png", noise(3, 3))
    thin = write(tmp_path / "in" / "thin.png", noise(4, 20))
    fine = write(tmp_path / "in" / "fine.png", noise(8, 8))
    out = tmp_path / "out"
    result = translate(cyclegan_checkpoint, str(small), str(thin), str(fine), "--out", str(out))
    assert (out / "fine.png").is_file()
    # like pix2pix, which keeps even 1×1 inputs: translated at their own size, or else one error line each
    if result.exit_code == 0:
        assert Image.open(out / "small.png").size == (3, 3) and Image.open(out / "thin.png").size == (4, 20)
    else:
        assert result.exit_code == 1 and len(error_lines(result)) == 2


def test_translator_channels_and_aligned_half_follow_the_direction(unpaired_dir) -> None:
    family = tiny(unpaired_dir, input_nc=1, output_nc=3, lambda_identity=0.0)
    ckpt = Checkpoint(None, "cyclegan", to_dict(family.config), 0, 0, family.state_tensors())
    a_to_b = CycleGAN.translator(ckpt, CPU, TranslateOptions())
    b_to_a = CycleGAN.translator(ckpt, CPU, TranslateOptions(direction="BtoA"))
    assert (a_to_b.in_channels, a_to_b.out_channels, a_to_b.aligned_half) == (1, 3, "left")
    assert (b_to_a.in_channels, b_to_a.out_channels, b_to_a.aligned_half) == (3, 1, "right")
    assert a_to_b.multiple == b_to_a.multiple == 4
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(b_to_a.net(x), family.G_B.eval()(x))


def test_bad_direction_is_a_usage_error(cyclegan_checkpoint, tmp_path) -> None:
    src = write(tmp_path / "x.png", noise(32, 32))
    result = translate(cyclegan_checkpoint, str(src), "--out", str(tmp_path / "o"), "--direction", "AtoA")
    assert result.exit_code == 2 and len(error_lines(result)) == 1 and "--direction" in result.stderr
    assert result.stdout == "" and not (tmp_path / "o").exists()


def test_btoa_on_a_pix2pix_atob_checkpoint_is_a_usage_error(demo_dir, tmp_path) -> None:
    family = create("pix2pix", tiny_config(demo_dir), FP32)
    path = Trainer(family, tmp_path / "run").save()
    src = write(tmp_path / "x.png", noise(32, 32))
    result = translate(path, str(src), "--out", str(tmp_path / "o"), "--direction", "BtoA")
    assert result.exit_code == 2 and len(error_lines(result)) == 1 and "AtoB" in result.stderr
    assert not (tmp_path / "o").exists()
    assert translate(path, str(src), "--out", str(tmp_path / "o"), "--direction", "AtoB").exit_code == 0


# --- it learns ----------------------------------------------------------------------------------------


def made_domain(n: int, seed: int, inverted: bool) -> torch.Tensor:
    """Smooth random colour fields, red-heavy (A); B is the same kind of image with inverted colours."""
    g = torch.Generator().manual_seed(seed)
    field = F.interpolate(torch.rand(n, 3, 4, 4, generator=g), size=32, mode="bilinear", align_corners=False)
    x = torch.tensor([0.6, 0.0, 0.3]).view(1, 3, 1, 1) + 0.4 * field  # in [0, 1]
    x = 1 - x if inverted else x
    return x * 2 - 1


def colour_stats(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean((0, 2, 3)), x.std((2, 3)).mean(0)])  # per-channel mean and spatial spread


def check_learned(G_A: nn.Module, G_B: nn.Module, test_a: torch.Tensor, test_b: torch.Tensor) -> dict:
    with torch.no_grad():
        fake_b, fake_a = G_A(test_a), G_B(test_b)
        return {
            "cycle": float((G_B(fake_b) - test_a).abs().mean()),
            "to_B": float((colour_stats(fake_b) - colour_stats(test_b)).norm()),  # G_A(A) vs real B
            "to_A": float((colour_stats(fake_a) - colour_stats(test_a)).norm()),  # G_B(B) vs real A
        }


def test_learns_an_invertible_colour_mapping_quickly(unpaired_dir) -> None:
    """In memory, 40 steps: the cycle error halves and G_A(A)'s colours move to B's (and G_B(B)'s to A's)."""
    train_a, train_b = made_domain(64, 0, False), made_domain(64, 1, True)
    test_a, test_b = made_domain(16, 2, False), made_domain(16, 3, True)
    family = tiny(unpaired_dir, batch_size=2, seed=0)
    gap = float((colour_stats(test_a) - colour_stats(test_b)).norm())  # how far apart the domains are
    start = check_learned(family.G_A, family.G_B, test_a, test_b)
    g = torch.Generator().manual_seed(5)
    for _ in range(40):
        family.train_step({"A": train_a[torch.randint(64, (2,), generator=g)],
                           "B": train_b[torch.randint(64, (2,), generator=g)]})  # fmt: skip
    end = check_learned(family.G_A, family.G_B, test_a, test_b)
    assert end["cycle"] < 0.5 * start["cycle"], (start, end)
    assert end["to_B"] < 0.25 * gap and end["to_B"] < 0.5 * start["to_B"], (gap, start, end)
    assert end["to_A"] < 0.25 * gap and end["to_A"] < 0.5 * start["to_A"], (gap, start, end)


@pytest.mark.slow
def test_learns_an_invertible_colour_mapping_through_the_cli(tmp_path) -> None:
    """`cgan train cyclegan` on two folders of PNGs for 300 steps, then the saved generators on held-out
    images: the cycle error falls far below its start and each translation takes the other domain's colours."""
    from cgan_cli.data.io import save_image

    for name, (n, seed, inverted) in {"A": (64, 0, False), "B": (64, 1, True)}.items():
        for i, img in enumerate(made_domain(n, seed, inverted)):
            save_image(img, tmp_path / name / f"{i:03d}.png")
    test_a, test_b = made_domain(16, 2, False), made_domain(16, 3, True)
    args = ["--domain-a", str(tmp_path / "A"), "--domain-b", str(tmp_path / "B"), "--load-size", "32"]
    result = train_cli(tmp_path / "run", *args, "--batch-size", "2", "--steps", "300", "--log-every", "50")
    assert result.exit_code == 0, result.output
    cfg = tiny_cyclegan_config("", domain_a=str(tmp_path / "A"), domain_b=str(tmp_path / "B"))
    fresh = create("cyclegan", cfg, FP32)  # the same seed: the run's step-0 weights
    start = check_learned(fresh.G_A, fresh.G_B, test_a, test_b)
    ckpt = load_checkpoint(tmp_path / "run" / "latest.safetensors")
    nets = [CycleGAN.translator(ckpt, CPU, TranslateOptions(direction=d)).net for d in ("AtoB", "BtoA")]
    end = check_learned(*nets, test_a, test_b)
    gap = float((colour_stats(test_a) - colour_stats(test_b)).norm())
    assert end["cycle"] < 0.3 * start["cycle"], (start, end)
    assert end["to_B"] < 0.15 * gap and end["to_A"] < 0.15 * gap, (gap, start, end)
