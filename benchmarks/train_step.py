"""Pix2pix training-step throughput: ours (`cgan_cli.families.create("pix2pix", ...).train_step`) versus a
plain restatement of the reference step written in this file.

The reference is junyanz/pytorch-CycleGAN-and-pix2pix, restated literally below from its `networks.py`
(`UnetGenerator`, `UnetSkipConnectionBlock`, `NLayerDiscriminator`, `GANLoss`, `init_weights`) and
`pix2pix_model.py` (`optimize_parameters`): G forward; D on cat(A, fake.detach()) and cat(A, B) with
BCEWithLogits against target tensors of 0/1, loss_D = 0.5 * (fake + real), backward, Adam step; then
D.requires_grad False, loss_G = GAN + 100 * L1, backward, Adam step. fp32, eager, contiguous tensors,
`torch.optim.Adam(lr=2e-4, betas=(0.5, 0.999))` with default (non-fused) settings, and
`cudnn.benchmark = True` as the reference's BaseModel sets it (a process-wide flag our family sets too).

Before timing, the script proves the comparison is apples to apples: both generators and both
discriminators have the same parameter counts (printed), our initial weights load into the reference
nets with `strict=True` (same module tree, names and shapes), and one step of each from those identical
weights, with the same seed and batch, gives the same losses (exactly equal on CPU, where our path is
also fp32 eager; on CUDA ours runs in bf16, so the difference there is only reported).

On CPU both run the same arithmetic, so the ratio should be ~1.0 and shows the overhead of our code.
On CUDA our family path uses bf16 autocast + channels_last + fused Adam (and `--compile` adds
torch.compile); the reference stays fp32 eager, so the ratio is the speed-up of our GPU fast path.

Timing: `--warmup` steps of each, then `--rounds` blocks of `--steps` steps per implementation,
alternated (ref, ours, then ours, ref, ...) so machine noise hits both alike; each block's images/s is
measured with time.perf_counter() (with torch.cuda.synchronize() around it on CUDA) and the median over
blocks is reported (`--stat max`: the best block, for CPUs shared with other jobs; every block is in the
JSON). Ratio = ours img/s / reference img/s: above 1 means ours is faster. With `--compile`, give
`--warmup` enough steps for compilation (it is excluded from timing only if it happens in warm-up).

    python benchmarks/train_step.py                        # 256x256, batch 1, unet_256
    python benchmarks/train_step.py --batch-size 1,16 --json
    python benchmarks/train_step.py --quick                # 64x64 unet_64, a few steps (smoke run)
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
from common import add_common_options, setup
from torch import nn

from cgan_cli.device import memory_format
from cgan_cli.families import create
from cgan_cli.families.pix2pix import Pix2PixConfig
from cgan_cli.nn.unet import UNET_SIZES


# --------------------------------------------------------------------------------------------------
# The reference, restated from pytorch-CycleGAN-and-pix2pix models/networks.py (batch norm, no
# instance norm / other options needed here). Kept literal on purpose, including the in-place ReLUs.
# --------------------------------------------------------------------------------------------------
class UnetSkipConnectionBlock(nn.Module):
    def __init__(
        self,
        outer_nc,
        inner_nc,
        input_nc=None,
        submodule=None,
        outermost=False,
        innermost=False,
        norm_layer=nn.BatchNorm2d,
        use_dropout=False,
    ):
        super().__init__()
        self.outermost = outermost
        if type(norm_layer) is functools.partial:
            use_bias = norm_layer.func == nn.InstanceNorm2d
        else:
            use_bias = norm_layer == nn.InstanceNorm2d
        if input_nc is None:
            input_nc = outer_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = norm_layer(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = norm_layer(outer_nc)

        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            down = [downconv]
            up = [uprelu, upconv, nn.Tanh()]
            model = down + [submodule] + up
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            down = [downrelu, downconv]
            up = [uprelu, upconv, upnorm]
            model = down + up
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=use_bias)
            down = [downrelu, downconv, downnorm]
            up = [uprelu, upconv, upnorm]
            if use_dropout:
                model = down + [submodule] + up + [nn.Dropout(0.5)]
            else:
                model = down + [submodule] + up
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # add skip connections


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False):
        super().__init__()
        unet_block = UnetSkipConnectionBlock(
            ngf * 8, ngf * 8, input_nc=None, submodule=None, norm_layer=norm_layer, innermost=True
        )
        for _ in range(num_downs - 5):
            unet_block = UnetSkipConnectionBlock(
                ngf * 8, ngf * 8, input_nc=None, submodule=unet_block, norm_layer=norm_layer, use_dropout=use_dropout
            )
        unet_block = UnetSkipConnectionBlock(
            ngf * 4, ngf * 8, input_nc=None, submodule=unet_block, norm_layer=norm_layer
        )
        unet_block = UnetSkipConnectionBlock(
            ngf * 2, ngf * 4, input_nc=None, submodule=unet_block, norm_layer=norm_layer
        )
        unet_block = UnetSkipConnectionBlock(ngf, ngf * 2, input_nc=None, submodule=unet_block, norm_layer=norm_layer)
        self.model = UnetSkipConnectionBlock(
            output_nc, ngf, input_nc=input_nc, submodule=unet_block, outermost=True, norm_layer=norm_layer
        )

    def forward(self, input):
        return self.model(input)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf=64, n_layers=3, norm_layer=nn.BatchNorm2d):
        super().__init__()
        if type(norm_layer) is functools.partial:
            use_bias = norm_layer.func == nn.InstanceNorm2d
        else:
            use_bias = norm_layer == nn.InstanceNorm2d
        kw, padw = 4, 1
        sequence = [nn.Conv2d(input_nc, ndf, kernel_size=kw, stride=2, padding=padw), nn.LeakyReLU(0.2, True)]
        nf_mult = 1
        for n in range(1, n_layers):
            nf_mult_prev = nf_mult
            nf_mult = min(2**n, 8)
            sequence += [
                nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=2, padding=padw, bias=use_bias),
                norm_layer(ndf * nf_mult),
                nn.LeakyReLU(0.2, True),
            ]
        nf_mult_prev = nf_mult
        nf_mult = min(2**n_layers, 8)
        sequence += [
            nn.Conv2d(ndf * nf_mult_prev, ndf * nf_mult, kernel_size=kw, stride=1, padding=padw, bias=use_bias),
            norm_layer(ndf * nf_mult),
            nn.LeakyReLU(0.2, True),
        ]
        sequence += [nn.Conv2d(ndf * nf_mult, 1, kernel_size=kw, stride=1, padding=padw)]
        self.model = nn.Sequential(*sequence)

    def forward(self, input):
        return self.model(input)


def init_weights(net, init_gain=0.02):
    def init_func(m):
        classname = m.__class__.__name__
        if hasattr(m, "weight") and (classname.find("Conv") != -1 or classname.find("Linear") != -1):
            nn.init.normal_(m.weight.data, 0.0, init_gain)
            if hasattr(m, "bias") and m.bias is not None:
                nn.init.constant_(m.bias.data, 0.0)
        elif classname.find("BatchNorm2d") != -1:
            nn.init.normal_(m.weight.data, 1.0, init_gain)
            nn.init.constant_(m.bias.data, 0.0)

    net.apply(init_func)
    return net


class GANLoss(nn.Module):
    """The reference's vanilla GAN loss: BCEWithLogits against a 1/0 target expanded to the logits."""

    def __init__(self, target_real_label=1.0, target_fake_label=0.0):
        super().__init__()
        self.register_buffer("real_label", torch.tensor(target_real_label))
        self.register_buffer("fake_label", torch.tensor(target_fake_label))
        self.loss = nn.BCEWithLogitsLoss()

    def __call__(self, prediction, target_is_real):
        target_tensor = (self.real_label if target_is_real else self.fake_label).expand_as(prediction)
        return self.loss(prediction, target_tensor)


def set_requires_grad(nets, requires_grad=False):
    for net in nets if isinstance(nets, list) else [nets]:
        for param in net.parameters():
            param.requires_grad = requires_grad


class ReferencePix2Pix:
    """pix2pix_model.py's training step (netG unet, netD basic, gan_mode vanilla, lambda_L1 100)."""

    def __init__(self, cfg: Pix2PixConfig, device: torch.device) -> None:
        # base_model.py: cudnn.benchmark = True unless --preprocess scale_width (our family sets it too;
        # it is process-wide, so both sides run with it on CUDA)
        torch.backends.cudnn.benchmark = True
        norm_layer = functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
        num_downs = UNET_SIZES[cfg.net_g]
        self.netG = init_weights(
            UnetGenerator(cfg.input_nc, cfg.output_nc, num_downs, cfg.ngf, norm_layer, use_dropout=cfg.dropout)
        ).to(device)
        self.netD = init_weights(
            NLayerDiscriminator(cfg.input_nc + cfg.output_nc, cfg.ndf, n_layers=3, norm_layer=norm_layer)
        ).to(device)
        self.criterionGAN = GANLoss().to(device)
        self.criterionL1 = nn.L1Loss()
        self.lambda_L1 = cfg.lambda_l1
        self.optimizer_G = torch.optim.Adam(self.netG.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        self.optimizer_D = torch.optim.Adam(self.netD.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))

    def optimize_parameters(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        fake_B = self.netG(real_A)  # forward()
        # update D
        set_requires_grad(self.netD, True)
        self.optimizer_D.zero_grad()
        fake_AB = torch.cat((real_A, fake_B), 1)
        pred_fake = self.netD(fake_AB.detach())
        loss_D_fake = self.criterionGAN(pred_fake, False)
        real_AB = torch.cat((real_A, real_B), 1)
        pred_real = self.netD(real_AB)
        loss_D_real = self.criterionGAN(pred_real, True)
        loss_D = (loss_D_fake + loss_D_real) * 0.5
        loss_D.backward()
        self.optimizer_D.step()
        # update G
        set_requires_grad(self.netD, False)
        self.optimizer_G.zero_grad()
        fake_AB = torch.cat((real_A, fake_B), 1)
        pred_fake = self.netD(fake_AB)
        loss_G_GAN = self.criterionGAN(pred_fake, True)
        loss_G_L1 = self.criterionL1(fake_B, real_B) * self.lambda_L1
        loss_G = loss_G_GAN + loss_G_L1
        loss_G.backward()
        self.optimizer_G.step()
        return {
            "D_real": loss_D_real.detach(),
            "D_fake": loss_D_fake.detach(),
            "G_GAN": loss_G_GAN.detach(),
            "G_L1": loss_G_L1.detach(),
        }


# --------------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------------
def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or N,M,... (got {text!r})") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers (got {text!r})")
    return values


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Pix2pix training-step images/s: cgan's family path vs a plain restatement of the reference "
        "(junyanz/pytorch-CycleGAN-and-pix2pix). Ratio = ours / reference; above 1 means ours is faster.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--size", type=int_list, default="256", help="Image side(s), e.g. 256 or 128,256.")
    p.add_argument("--batch-size", type=int_list, default="1", help="Batch size(s), e.g. 1 or 1,16.")
    p.add_argument("--net-g", default="unet_256", choices=tuple(UNET_SIZES), help="Generator.")
    p.add_argument("--steps", type=int, default=10, help="Timed steps per block.")
    p.add_argument("--warmup", type=int, default=3, help="Untimed steps of each implementation first.")
    p.add_argument(
        "--rounds", type=int, default=3, help="Timed blocks per implementation, alternated; combined by --stat."
    )
    p.add_argument("--compile", action="store_true", help="Also torch.compile our networks (family --compile).")
    p.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run: defaults become size 64, unet_64, 1 warmup, 2 rounds of 2 steps.",
    )
    add_common_options(p, "blocks")
    if p.parse_known_args(argv)[0].quick:  # quick changes the defaults; options given explicitly still win
        p.set_defaults(size="64", net_g="unet_64", steps=2, warmup=1, rounds=2)
    args = p.parse_args(argv)
    for name in ("steps", "rounds"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.warmup < 1:
        p.error("--warmup must be at least 1 (the first step is the equivalence check)")
    return args


def our_path(device: torch.device, compile: bool) -> str:
    if device.type == "cuda":
        return "bf16 autocast + channels_last + fused Adam" + (" + torch.compile" if compile else "")
    return "fp32 eager, contiguous, default Adam (the reference's arithmetic)" + (" + torch.compile" if compile else "")


def bench_config(args: argparse.Namespace, device: torch.device, size: int, batch_size: int) -> dict:
    multiple = 2 ** UNET_SIZES[args.net_g]
    if size % multiple:
        raise SystemExit(f"--size {size} must be a multiple of {multiple} for --net-g {args.net_g}")
    cfg = Pix2PixConfig(
        paired="<benchmark: no data read>",
        net_g=args.net_g,
        batch_size=batch_size,
        load_size=size,
        crop_size=size,
    )
    torch.manual_seed(0)
    ours = create("pix2pix", cfg, device, compile=args.compile)
    ref = ReferencePix2Pix(cfg, device)
    params = {
        "params_G_ours": n_params(ours.G),
        "params_G_ref": n_params(ref.netG),
        "params_D_ours": n_params(ours.D),
        "params_D_ref": n_params(ref.netD),
    }
    # Same module tree, names and shapes: our initial weights load strictly into the reference nets.
    ref.netG.load_state_dict(ours.G.state_dict(), strict=True)
    ref.netD.load_state_dict(ours.D.state_dict(), strict=True)
    ours.train_mode(True)
    ref.netG.train()
    ref.netD.train()

    gen = torch.Generator().manual_seed(1)
    real_a = (torch.rand(batch_size, cfg.input_nc, size, size, generator=gen) * 2 - 1).to(device)
    real_b = (torch.rand(batch_size, cfg.output_nc, size, size, generator=gen) * 2 - 1).to(device)
    # ours gets its batch as the Trainer hands it over (channels_last on CUDA); the reference contiguous
    mf = memory_format(device)
    batch = {"input": real_a.contiguous(memory_format=mf), "target": real_b.contiguous(memory_format=mf)}

    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    def step_ref() -> dict[str, torch.Tensor]:
        return ref.optimize_parameters(real_a, real_b)

    def step_ours() -> dict[str, torch.Tensor]:
        return ours.train_step(batch)

    # The first step of each, from identical weights, seed and batch: the same losses (dropout masks too).
    torch.manual_seed(123)
    losses_ref = {k: float(v) for k, v in step_ref().items()}
    torch.manual_seed(123)
    losses_ours = {k: float(v) for k, v in step_ours().items()}
    loss_diff = max(abs(losses_ours[k] - losses_ref[k]) / max(1e-12, abs(losses_ref[k])) for k in losses_ref)
    g_diff = max(
        (a.float() - b.float()).abs().max().item()
        for a, b in zip(ours.G.state_dict().values(), ref.netG.state_dict().values())
        if a.is_floating_point()
    )
    for _ in range(args.warmup - 1):
        step_ref()
        step_ours()
    sync()

    def block(step: Callable[[], object]) -> float:
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        sync()
        return args.steps * batch_size / (time.perf_counter() - t0)

    rates: dict[str, list[float]] = {"ref": [], "ours": []}
    for r in range(args.rounds):
        order = ("ref", "ours") if r % 2 == 0 else ("ours", "ref")
        for which in order:
            rates[which].append(block(step_ref if which == "ref" else step_ours))
    combine = statistics.median if args.stat == "median" else max
    ref_rate, ours_rate = combine(rates["ref"]), combine(rates["ours"])
    result = {
        "benchmark": "train_step",
        "device": str(device),
        "threads": torch.get_num_threads(),
        "loadavg_1min_before": args.load_before,
        "size": size,
        "batch_size": batch_size,
        "net_g": args.net_g,
        "ours_path": our_path(device, args.compile),
        "ref_path": "fp32 eager, contiguous, torch.optim.Adam defaults",
        "steps": args.steps,
        "rounds": args.rounds,
        "stat": args.stat,
        "ref_img_s": round(ref_rate, 4),
        "ours_img_s": round(ours_rate, 4),
        "ratio": round(ours_rate / ref_rate, 4),
        "ref_img_s_blocks": [round(v, 4) for v in rates["ref"]],
        "ours_img_s_blocks": [round(v, 4) for v in rates["ours"]],
        # each round's ours/ref from back-to-back blocks: robust to slow drift in machine load
        "ratio_rounds": [round(o / r, 4) for o, r in zip(rates["ours"], rates["ref"])],
        **params,
        "same_params": params["params_G_ours"] == params["params_G_ref"]
        and params["params_D_ours"] == params["params_D_ref"],
        "first_step_max_rel_loss_diff": loss_diff,
        "first_step_max_abs_G_weight_diff": g_diff,
    }
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = setup(args)
    # other work on the machine (before ours starts) skews CPU timings; shown so a reader can judge
    args.load_before = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    table = sys.stderr if args.json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=table, flush=True)

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    say(f"pix2pix train step on {device} ({name}), torch {torch.__version__}")
    say(f"  ours: {our_path(device, args.compile)}")
    say("  ref:  plain restatement of pytorch-CycleGAN-and-pix2pix, fp32 eager, torch.optim.Adam defaults")
    if device.type == "cpu" and args.load_before is not None and args.load_before > 0.5 * (os.cpu_count() or 1):
        say(f"  note: 1-minute load average was {args.load_before} at start: other work shares these CPUs")
    say(f"  timing: {args.warmup} warmup, then {args.rounds} alternated blocks of {args.steps} steps each; {args.stat}")
    say()
    header = f"{'size':>5} {'batch':>5}  {'net_g':<9} {'ref img/s':>10} {'ours img/s':>11} {'ours/ref':>9}"
    rows = []
    for size in args.size:
        for bs in args.batch_size:
            r = bench_config(args, device, size, bs)
            gc.collect()  # free this configuration's nets before building the next
            if device.type == "cuda":
                torch.cuda.empty_cache()
            rows.append(r)
            if args.json:
                print(json.dumps(r), flush=True)
            say(
                f"params: G ours {r['params_G_ours']:,} / ref {r['params_G_ref']:,}; "
                f"D ours {r['params_D_ours']:,} / ref {r['params_D_ref']:,} "
                f"({'equal' if r['same_params'] else 'DIFFERENT: not apples to apples'})"
            )
            say(
                f"first step from identical weights: max relative loss difference "
                f"{r['first_step_max_rel_loss_diff']:.2e}, max |G weight difference| "
                f"{r['first_step_max_abs_G_weight_diff']:.2e}"
            )
    say()
    say(header)
    for r in rows:
        say(
            f"{r['size']:>5} {r['batch_size']:>5}  {r['net_g']:<9} {r['ref_img_s']:>10.3f} "
            f"{r['ours_img_s']:>11.3f} {r['ratio']:>9.3f}"
        )
    return 0 if all(r["same_params"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
