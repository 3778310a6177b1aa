"""BicycleGAN against the reference, junyanz/BicycleGAN: `networks.py` (G_Unet_add_all / G_Unet_add_input,
E_ResNet, D_NLayersMulti) restated, `bicycle_gan_model.py`'s losses recomputed from the paper's formulas for the
same draws, which net each loss trains; then a learning check, exact resume through the CLI, `translate --seeds`
/ `--style`, `interp` of one image, TorchScript export, and bad input. Toy sizes throughout (8 filters, 32×32).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers_cli import ok, one_line_error, pixels
from PIL import Image
from typer.testing import CliRunner, Result

from cgan_cli.checkpoint import load_checkpoint, save_checkpoint
from cgan_cli.cli import app
from cgan_cli.data.io import read_image, to_tensor, to_uint8
from cgan_cli.device import Runtime
from cgan_cli.families import TranslateOptions, create
from cgan_cli.families.bicyclegan import BicycleGAN, kl_divergence, sample_posterior
from cgan_cli.generation import latent
from cgan_cli.nn.bicyclegan import (
    EncoderConfig,
    MultiscaleConfig,
    MultiscalePatchGAN,
    ResNetEncoder,
    ZUNet,
    ZUNetConfig,
)
from cgan_cli.trainer import Trainer
from tests.conftest import tiny_bicyclegan_config

pytestmark = pytest.mark.usefixtures("single_thread")
CPU = torch.device("cpu")
FP32 = Runtime(CPU, "fp32")  # the restated references are fp32; `auto` may be bf16 autocast on this CPU
TINY = ["--net-g", "unet_32", "--ngf", "8", "--ndf", "8", "--nef", "8", "--net-d", "basic_128_multi",
        "--net-d2", "basic_128_multi", "--load-size", "36", "--crop-size", "32"]  # fmt: skip
WAKE = 10.0  # Xavier init with gain 0.02 leaves an untrained G's output near 0: scaled, every z shows


def cli(*args: str) -> Result:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.stderr
    return result


def train_cli(out: Path, paired: Path, *extra: str) -> Result:
    return cli("train", "bicyclegan", "--paired", str(paired), "--out", str(out), "--device", "cpu",
               "--workers", "0", *TINY, *extra)  # fmt: skip


def tiny(paired: Path, **overrides) -> BicycleGAN:
    return create("bicyclegan", tiny_bicyclegan_config(paired, **overrides), FP32)


# --- networks: the reference's, restated ----------------------------------------------------------------------


def reference_unet_with_z(levels: list[dict], x: torch.Tensor, z: torch.Tensor, depth: int = 0) -> torch.Tensor:
    """`UnetBlock_with_z.forward` restated: z tiled and concatenated onto the block's input (where it has nz),
    LeakyReLU 0.2 (not outermost), 4×4/2 conv, instance norm (neither outer- nor innermost), the level below,
    ReLU, 4×4/2 transposed conv, instance norm (not outermost) or tanh (outermost), then cat([up, x])."""
    level = levels[depth]
    outermost, innermost = depth == 0, depth == len(levels) - 1
    h = torch.cat([x, z[:, :, None, None].expand(-1, -1, *x.shape[-2:])], 1) if level["nz"] else x
    if not outermost:
        h = F.leaky_relu(h, 0.2)
    h = F.conv2d(h, level["down_w"], level["down_b"], stride=2, padding=1)
    if not outermost and not innermost:
        h = F.instance_norm(h)
    if not innermost:
        h = reference_unet_with_z(levels, h, z, depth + 1)
    h = F.conv_transpose2d(F.relu(h), level["up_w"], level["up_b"], stride=2, padding=1)
    if outermost:
        return torch.tanh(h)
    return torch.cat([F.instance_norm(h), x], 1)


def levels_of(net: ZUNet) -> list[dict]:
    levels, block = [], net.model
    while block is not None:
        up = next(m for m in block.up if isinstance(m, torch.nn.ConvTranspose2d))
        levels.append({"nz": block.nz, "down_w": block.down_conv.weight, "down_b": block.down_conv.bias,
                       "up_w": up.weight, "up_b": up.bias})  # fmt: skip
        block = block.submodule
    return levels


@pytest.mark.parametrize("num_downs", [5, 6])
def test_z_at_every_block_is_the_references_g_unet_add_all(num_downs: int) -> None:
    torch.manual_seed(0)
    net = ZUNet(ZUNetConfig(ngf=4, num_downs=num_downs, nz=3, dropout=False)).eval()
    for p in net.parameters():  # Xavier's gain 0.02 would hide wrong wiring under tanh's flat middle
        torch.nn.init.normal_(p, 0.0, 0.3)
    levels = levels_of(net)
    assert len(levels) == num_downs and all(level["nz"] == 3 for level in levels)
    widths = [3 + 3, 4 + 3, 8 + 3, 16 + 3] + [32 + 3] * (num_downs - 4)  # every down conv sees z beside its input
    assert [level["down_w"].shape[1] for level in levels] == widths
    x, z = torch.rand(2, 3, 2**num_downs, 2**num_downs) * 2 - 1, torch.randn(2, 3)
    with torch.no_grad():
        ours, ref = net(x, z), reference_unet_with_z(levels, x, z)
        other = net(x, torch.randn(2, 3))
    assert ours.shape == (2, 3, 2**num_downs, 2**num_downs)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    assert (other - ours).abs().max() > 0.05  # z matters


def test_z_at_the_input_only_is_the_references_g_unet_add_input() -> None:
    torch.manual_seed(1)
    net = ZUNet(ZUNetConfig(ngf=4, num_downs=5, nz=3, dropout=False, where_add="input")).eval()
    for p in net.parameters():
        torch.nn.init.normal_(p, 0.0, 0.3)
    levels = levels_of(net)
    assert [level["nz"] for level in levels] == [3, 0, 0, 0, 0]
    x, z = torch.rand(1, 3, 32, 32) * 2 - 1, torch.randn(1, 3)
    with torch.no_grad():
        torch.testing.assert_close(net(x, z), reference_unet_with_z(levels, x, z), rtol=1e-5, atol=1e-5)


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_default_networks_have_the_references_parameter_counts() -> None:
    """Counted by hand from the reference's layer lists (4×4 convs with biases, nz 8 beside every down conv's
    input; instance norm has no parameters). G unet_256: outermost 11→64 and 128→3, then 72→128 / 256→64,
    136→256 / 512→128, 264→512 / 1024→256, three of 520→512 / 1024→512, innermost 520→512 / 512→512.
    E resnet_256: 3→64, blocks 64→128→192→256→256 (two 3×3 convs and a 1×1 shortcut each), two 256→8 heads.
    D basic_256_multi: PatchGANs of ndf 64 and 32, 3 layers each."""
    assert n_params(ZUNet(ZUNetConfig())) == 54_794_627
    assert n_params(ResNetEncoder(EncoderConfig())) == 2_590_032
    assert n_params(MultiscalePatchGAN(MultiscaleConfig())) == 2_764_737 + 694_241


def test_dropout_sits_in_the_eight_ngf_decoder_blocks_only() -> None:
    net = ZUNet(ZUNetConfig(ngf=4, num_downs=8))
    blocks, block = [], net.model
    while block is not None:
        blocks.append(any(isinstance(m, torch.nn.Dropout) for m in block.up))
        block = block.submodule
    assert blocks == [False, False, False, False, True, True, True, False]  # outermost … innermost


def test_encoder_is_the_references_e_resnet() -> None:
    """resnet_256: a 4×4/2 conv then 4 halving blocks, widths nef·(1, 2, 3, 4, 4); an 8×8 map before the pool at
    256 (the reference's AvgPool2d(8)); two linear heads of nz."""
    enc = ResNetEncoder(EncoderConfig(nef=4, nz=5, n_blocks=5))
    widths = [m.out_channels for m in enc.conv if isinstance(m, torch.nn.Conv2d)]
    widths += [b.shortcut[1].out_channels for b in enc.conv if hasattr(b, "shortcut")]
    assert widths == [4, 8, 12, 16, 16]
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        before_pool = enc.conv[:-2](x)
        mu, logvar = enc(x)
    assert before_pool.shape == (2, 16, 8, 8)
    torch.testing.assert_close(mu, enc.fc(F.avg_pool2d(before_pool, 8).flatten(1)))
    assert mu.shape == logvar.shape == (2, 5) and not torch.allclose(mu, logvar)


def test_multiscale_discriminator_is_the_references_d_nlayers_multi() -> None:
    d = MultiscalePatchGAN(MultiscaleConfig(3, ndf=8, n_layers=3, num_d=2))
    assert [s.model[0].out_channels for s in d.scales] == [8, 4]  # ndf, then round(ndf / 2)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        out = d(x)
        second = d.scales[1](F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))
    assert [o.shape[-1] for o in out] == [6, 2]
    torch.testing.assert_close(out[1], second)


# --- losses and step order: the paper's formulas for the same draws -------------------------------------------


def test_the_familys_seed_latent_is_generations() -> None:
    from cgan_cli.families import bicyclegan

    assert all(torch.equal(bicyclegan.latent(s, 8), latent(s, 8)) for s in (0, 1, 12345))


def test_kl_and_reparameterisation_are_the_papers() -> None:
    mu, logvar = torch.randn(3, 8), torch.randn(3, 8)
    normal = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    prior = torch.distributions.Normal(torch.zeros(8), torch.ones(8))
    torch.testing.assert_close(kl_divergence(mu, logvar), torch.distributions.kl_divergence(normal, prior).sum())
    assert kl_divergence(torch.zeros(2, 4), torch.zeros(2, 4)).item() == 0.0
    torch.manual_seed(3)
    z = sample_posterior(mu.expand(20000, -1, -1), logvar.expand(20000, -1, -1))
    torch.testing.assert_close(z.mean(0), mu, atol=0.05, rtol=0)
    torch.testing.assert_close(z.std(0), torch.exp(0.5 * logvar), atol=0.05, rtol=0.05)


def batch_of(demo_dir: Path, family: BicycleGAN, n: int = 2) -> dict[str, torch.Tensor]:
    from torch.utils.data import default_collate

    data = family.dataset()
    return default_collate([data[(i, i)] for i in range(n)])


def lsgan(outputs: list[torch.Tensor], target: float) -> torch.Tensor:
    return sum(((o - target) ** 2).mean() for o in outputs)


def test_step_losses_are_the_references(demo_dir: Path) -> None:
    """Replaying the step's draws (ε for z = μ + σε, then z ~ N(0, I)) on a copy of the nets before the step:
    every logged loss is bicycle_gan_model.py's, with A₁ in both branches and B₂ as D2's real image."""
    family = tiny(demo_dir, dropout=False, batch_size=2)
    before = copy.deepcopy(family)
    batch = batch_of(demo_dir, family)
    torch.manual_seed(11)
    losses = family.train_step(batch)
    torch.manual_seed(11)
    a1, b1, b2 = batch["input"][:1], batch["target"][:1], batch["target"][1:]
    G, E, D, D2 = before.G, before.E, before.D, before.D2
    with torch.no_grad():
        mu, logvar = E(b1)
        z_encoded = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        z_random = torch.randn(1, 8)
        fake_encoded, fake_random = G(a1, z_encoded), G(a1, z_random)
        expected = {
            "G_GAN": 1.0 * lsgan(D(fake_encoded), 1.0),
            "G_GAN2": 1.0 * lsgan(D2(fake_random), 1.0),
            "G_L1": 10.0 * (fake_encoded - b1).abs().mean(),
            "kl": 0.01 * -0.5 * torch.sum(1 + logvar - mu**2 - logvar.exp()),
            "z_L1": 0.5 * (E(fake_random)[0] - z_random).abs().mean(),
            "D": lsgan(D(fake_encoded), 0.0) + lsgan(D(b1), 1.0),
            "D2": lsgan(D2(fake_random), 0.0) + lsgan(D2(b2), 1.0),
        }
    assert set(losses) == set(expected)
    for name, value in expected.items():
        torch.testing.assert_close(losses[name], value, rtol=1e-4, atol=1e-6, msg=name)


def changed_nets(family: BicycleGAN, batch: dict[str, torch.Tensor]) -> set[str]:
    before = {n: copy.deepcopy(net.state_dict()) for n, net in family.nets.items()}
    family.train_step(batch)
    return {n for n, net in family.nets.items()
            if any(not torch.equal(before[n][k], v) for k, v in net.state_dict().items())}  # fmt: skip


@pytest.mark.parametrize(
    "weights,trained",
    [
        ({"lambda_z": 0.5}, {"G", "D", "D2"}),  # E(G(A, z)) ≈ z trains G alone, as backward_G_alone
        ({"lambda_kl": 0.01}, {"E", "D", "D2"}),  # the KL term reaches E only
        ({"lambda_l1": 10.0}, {"G", "E", "D", "D2"}),  # L1 through z = E(B) trains both
        ({"lambda_gan2": 1.0}, {"G", "D", "D2"}),  # the random branch's z does not come from E
    ],
)
def test_each_loss_trains_the_references_networks(demo_dir: Path, weights: dict, trained: set) -> None:
    off = {"lambda_z": 0.0, "lambda_kl": 0.0, "lambda_l1": 0.0, "lambda_gan": 0.0, "lambda_gan2": 0.0}
    family = tiny(demo_dir, **{**off, **weights})
    assert changed_nets(family, batch_of(demo_dir, family)) == trained


def test_gan_and_discriminators_see_b_alone_unless_conditional(demo_dir: Path) -> None:
    assert tiny(demo_dir).D.scales[0].model[0].in_channels == 3
    assert tiny(demo_dir, conditional_d=True).D2.scales[1].model[0].in_channels == 6


def test_defaults_are_the_references() -> None:
    from cgan_cli.families.bicyclegan import BicycleGANConfig

    cfg = BicycleGANConfig(paired="x")
    assert (cfg.nz, cfg.ngf, cfg.ndf, cfg.nef, cfg.batch_size, cfg.lr, cfg.beta1) == (8, 64, 64, 64, 2, 2e-4, 0.5)
    assert (cfg.lambda_l1, cfg.lambda_gan, cfg.lambda_gan2, cfg.lambda_z, cfg.lambda_kl) == (10, 1, 1, 0.5, 0.01)
    assert (cfg.net_g, cfg.net_e, cfg.net_d, cfg.net_d2) == ("unet_256", "resnet_256", "basic_256_multi",
                                                             "basic_256_multi")  # fmt: skip
    assert (cfg.loss, cfg.where_add, cfg.norm, cfg.dropout, cfg.conditional_d) == ("lsgan", "all", "instance",
                                                                                    True, False)  # fmt: skip


def test_sample_grid_shows_input_encoded_three_seeds_and_target(demo_dir: Path) -> None:
    family = tiny(demo_dir, dropout=False)
    batch = family.validation_batch()
    sheet = family.sample_grid(batch)
    assert family.G.training and family.E.training  # back in training mode after the grid
    n = len(batch["input"])
    assert sheet.shape == (3, n * 34 - 2, 6 * 34 - 2)
    cell = [sheet[:, 34 : 34 + 32, c * 34 : c * 34 + 32] for c in range(6)]  # the second row
    torch.testing.assert_close(cell[0], batch["input"][1])
    torch.testing.assert_close(cell[5], batch["target"][1])
    with torch.no_grad():
        family.G.eval()
        family.E.eval()
        encoded = family.G(batch["input"][1:2], family.E(batch["target"][1:2])[0])[0]
        seed2 = family.G(batch["input"][1:2], latent(2, 8)[None])[0]
    torch.testing.assert_close(cell[1], encoded, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(cell[3], seed2, rtol=1e-4, atol=1e-5)


# --- learning -----------------------------------------------------------------------------------------------


def test_learns_to_reconstruct_b_through_its_encoding(demo_dir: Path) -> None:
    """In memory, 80 steps on the demo pairs: G(A, E(B)) moves to B (L1 well under two thirds of step 0's)."""
    family = tiny(demo_dir, seed=0)
    data = family.dataset()
    from torch.utils.data import default_collate

    def l1() -> float:
        family.G.eval()
        family.E.eval()
        with torch.no_grad():
            val = family.validation_batch()
            out = family.G(val["input"], family.E(val["target"])[0])
        family.G.train()
        family.E.train()
        return float((out - val["target"]).abs().mean())

    start = l1()
    g = torch.Generator().manual_seed(0)
    for _ in range(80):
        idx = torch.randint(len(data), (2,), generator=g).tolist()
        family.train_step(default_collate([data[(i, i)] for i in idx]))
    assert l1() < 0.6 * start  # measured: 0.69 → 0.33


# --- CLI: resume, translate, interp, export -------------------------------------------------------------------


def test_resume_through_the_cli_is_bit_identical(demo_dir: Path, tmp_path: Path) -> None:
    common = ["--epochs", "1", "--epochs-decay", "1", "--seed", "2", "--log-every", "1"]
    assert train_cli(tmp_path / "straight", demo_dir, *common, "--steps", "6").exit_code == 0
    assert train_cli(tmp_path / "split", demo_dir, *common, "--steps", "3").exit_code == 0
    mid = load_checkpoint(tmp_path / "split" / "latest.safetensors")
    resumed = cli("train", "--resume", str(tmp_path / "split" / "latest.safetensors"), "--steps", "6",
                  "--workers", "0", "--device", "cpu")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    a, b = (load_checkpoint(tmp_path / run / "latest.safetensors") for run in ("straight", "split"))
    assert a.step == b.step == 6
    kept = ("net/", "optim/", "rng/")
    ta = {k: v for k, v in a.tensors.items() if k.startswith(kept)}
    tb = {k: v for k, v in b.tensors.items() if k.startswith(kept)}
    assert ta.keys() == tb.keys() and {k.split("/")[1] for k in ta if k.startswith("net/")} == {"G", "E", "D", "D2"}
    assert all(torch.equal(ta[k], tb[k]) for k in ta), [k for k in ta if not torch.equal(ta[k], tb[k])][:5]
    assert not all(torch.equal(mid.tensors[k], ta[k]) for k in ta if k.startswith("net/E"))  # it trained on
    logged = [json.loads(line) for line in (tmp_path / "split" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5, 6]
    assert {"G_GAN", "G_GAN2", "G_L1", "z_L1", "kl", "D", "D2"} <= set(logged[-1])


@pytest.fixture(scope="module")
def checkpoint(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bicycle_run")
    cfg = dataclasses.replace(tiny_bicyclegan_config(demo_dir), steps=2)
    with torch.random.fork_rng():
        trained = load_checkpoint(Trainer(BicycleGAN(cfg, CPU), root).fit())
    for key, value in trained.tensors.items():
        if key.startswith("net/G/") and value.is_floating_point() and value.ndim >= 2:
            trained.tensors[key] = value * WAKE
    return save_checkpoint(root / "woken.safetensors", trained)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for i, (h, w) in enumerate([(32, 32), (40, 56)]):  # the second not a multiple of 32: padded, cropped back
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(root / f"p{i}.png")
    return root


def translate(ckpt: Path, photos: Path, out: Path, *args: str) -> list[str]:
    return ok(cli("translate", str(ckpt), str(photos), "--out", str(out), "--device", "cpu", "--precision", "fp32",
                  *args))  # fmt: skip


def test_translate_seeds_writes_one_output_per_seed_and_a_seed_fixes_its_output(checkpoint, photos, tmp_path):
    written = translate(checkpoint, photos, tmp_path / "a", "--seeds", "0-2,4")
    names = [f"{p}/seed{s:06d}.png" for p in ("p0", "p1") for s in (0, 1, 2, 4)]
    assert sorted(Path(w).relative_to(tmp_path / "a").as_posix() for w in written) == sorted(names)
    assert pixels(tmp_path / "a/p1/seed000004.png").shape == (40, 56, 3)
    again = translate(checkpoint, photos, tmp_path / "b", "--seeds", "4,1", "--batch-size", "1")
    assert len(again) == 4
    for rel in ("p0/seed000001.png", "p1/seed000004.png"):  # the same seed: the same image, however batched
        np.testing.assert_array_equal(pixels(tmp_path / "a" / rel), pixels(tmp_path / "b" / rel))
    diff = np.abs(pixels(tmp_path / "a/p0/seed000001.png") - pixels(tmp_path / "a/p0/seed000002.png"))
    assert diff.max() > 10  # seeds differ: the outputs are many
    plain = translate(checkpoint, photos, tmp_path / "c")  # no --seeds: one output per input, at --seed's z
    assert sorted(Path(p).name for p in plain) == ["p0.png", "p1.png"]
    np.testing.assert_array_equal(pixels(tmp_path / "c/p0.png"), pixels(tmp_path / "a/p0/seed000000.png"))
    translate(checkpoint, photos, tmp_path / "d", "--seed", "2")
    np.testing.assert_array_equal(pixels(tmp_path / "d/p1.png"), pixels(tmp_path / "a/p1/seed000002.png"))
    records = [json.loads(line) for line in translate(checkpoint, photos, tmp_path / "e", "--seeds", "3,5", "--json")]
    assert sorted((Path(r["output"]).name, r["seed"]) for r in records if r["input"].endswith("p0.png")) == [
        ("seed000003.png", 3), ("seed000005.png", 5)]  # --json says each output's seed


def test_translate_style_takes_z_from_the_encoder(checkpoint, photos, tmp_path):
    ckpt = load_checkpoint(checkpoint)
    style = photos / "p1.png"
    z = BicycleGAN.encode_style(ckpt, CPU, style)
    assert z.shape == (8,)
    translate(checkpoint, photos / "p0.png", tmp_path / "s", "--style", str(style))
    G = BicycleGAN.generator(ckpt, CPU, TranslateOptions())

    with torch.no_grad():
        expected = to_uint8(G(to_tensor(read_image(photos / "p0.png"))[None], z[None])[0]).astype(np.int16)
    assert np.abs(pixels(tmp_path / "s/p0.png") - expected).max() <= 1
    other = BicycleGAN.encode_style(ckpt, CPU, photos / "p0.png")
    assert not torch.allclose(z, other)  # a different photo, a different z


def test_interp_walks_z_for_one_input_between_seeds(checkpoint, photos, tmp_path):
    translate(checkpoint, photos / "p1.png", tmp_path / "t", "--seeds", "1,2")
    written = ok(cli("interp", str(checkpoint), str(photos / "p1.png"), "--seeds", "1,2", "--steps", "4",
                     "--out", str(tmp_path / "f"), "--gif", str(tmp_path / "walk.gif"), "--device", "cpu"))  # fmt: skip
    assert [Path(w).name for w in written] == [f"frame-{i:05d}.png" for i in range(5)] + ["walk.gif"]
    assert np.abs(pixels(tmp_path / "f/frame-00000.png") - pixels(tmp_path / "t/p1/seed000001.png")).max() <= 1
    assert np.abs(pixels(tmp_path / "f/frame-00004.png") - pixels(tmp_path / "t/p1/seed000002.png")).max() <= 1
    middle = np.abs(pixels(tmp_path / "f/frame-00002.png") - pixels(tmp_path / "f/frame-00000.png"))
    assert middle.max() > 5
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 5


def test_export_takes_the_image_and_z(checkpoint, photos, tmp_path):
    out = tmp_path / "g.pt"
    [line] = ok(cli("export", str(checkpoint), "--out", str(out), "--json"))
    record = json.loads(line)
    assert record["family"] == "bicyclegan" and record["weights"] == "G" and record["max_error"] <= 1e-3
    translate(checkpoint, photos / "p1.png", tmp_path / "t", "--seeds", "3")
    module = torch.jit.load(str(out))
    x = torch.from_numpy(pixels(photos / "p1.png").astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    x = F.pad(x, (0, 8, 0, 24), mode="reflect")  # translate pads 40×56 to 64×64 the same way
    with torch.no_grad():
        y = module(x, latent(3, 8)[None])[..., :40, :56]
    ours = ((y[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().numpy().astype(np.int16)
    assert np.abs(ours - pixels(tmp_path / "t/p1/seed000003.png")).max() <= 1


# --- bad input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (["--batch-size", "3"], "--batch-size must be even"),
        (["--net-d", "basic_256_multi"], "too small for --net-d basic_256_multi"),
        (["--num-ds", "3"], "too small for --net-d basic_128_multi with --num-ds 3"),
        (["--net-e", "resnet_256", "--crop-size", "16", "--load-size", "16", "--net-g", "unet_32"],
         "multiple of 32"),  # fmt: skip
    ],
)
def test_bad_training_options_are_one_line_usage_errors(demo_dir, tmp_path, args, message) -> None:
    error = one_line_error(train_cli(tmp_path / "run", demo_dir, *args, "--steps", "1"), 2)
    assert message in error


@pytest.mark.parametrize(
    "args,message",
    [
        (["--seeds", "0,1", "--style", "STYLE"], "--seeds and --style"),
        (["--seeds", "3-1"], "runs backwards"),
        (["--style", "MISSING"], "MISSING"),
    ],
)
def test_bad_translate_options_are_one_line_errors(checkpoint, photos, tmp_path, args, message) -> None:
    args = [str(photos / "p0.png") if a == "STYLE" else str(tmp_path / "none.png") if a == "MISSING" else a
            for a in args]  # fmt: skip
    result = cli("translate", str(checkpoint), str(photos), "--out", str(tmp_path / "o"), "--device", "cpu", *args)
    assert result.exit_code in (1, 2) and result.stdout == ""
    assert message.replace("MISSING", "none.png") in result.stderr


def test_seeds_and_style_on_a_family_without_z_are_usage_errors(demo_dir, photos, tmp_path) -> None:
    from tests.conftest import tiny_config

    run = tmp_path / "p2p"
    Trainer(create("pix2pix", dataclasses.replace(tiny_config(demo_dir), steps=1), CPU), run).fit()
    for args in (["--seeds", "0-4"], ["--style", str(photos / "p0.png")]):
        result = cli("translate", str(run / "latest.safetensors"), str(photos), "--out", str(tmp_path / "o"),
                     "--device", "cpu", *args)  # fmt: skip
        assert "takes no latent z" in one_line_error(result, 2)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("args", [[], ["--seeds", "1,2", "--seed", "3"], ["--seeds", "1"]])
def test_interp_of_one_image_needs_keyframe_seeds(checkpoint, photos, tmp_path, args) -> None:
    result = cli("interp", str(checkpoint), str(photos / "p0.png"), "--steps", "2", "--out", str(tmp_path / "f"),
                 "--device", "cpu", *args)  # fmt: skip
    assert "--seeds" in one_line_error(result, 2)
    assert not (tmp_path / "f").exists()
