"""Training-step throughput of pix2pix (default) or CycleGAN (`--family cyclegan`): ours
(`cgan_cli.families.create(family, ...).train_step`) versus a plain restatement of the reference step
written in this file.

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

`--family cyclegan` restates `cycle_gan_model.py` the same way, from the reference's `networks.py`
(`ResnetGenerator`, `ResnetBlock`, `NLayerDiscriminator` with instance norm, `GANLoss('lsgan')`) and
`util/image_pool.py` (`ImagePool`, Python's `random`): forward() G_A(A), G_B(G_A(A)), G_B(B), G_A(G_B(B));
both Ds frozen; identity, GAN and cycle losses, one backward, Adam step for both Gs; then each D on real and
pooled fakes, halved, one Adam step for both Ds. Our four nets' weights load into it strictly (same module
tree, names and shapes, `conv_block` included, so reference checkpoints load too). The first step runs
with the pools still empty, so no random draw is involved and the updated weights can be compared exactly.

On CPU with `--precision fp32` both run the same arithmetic, so the ratio should be ~1.0 and shows the
overhead of our code; with `auto` our side runs bf16 autocast on CPUs with bf16 units (AVX512-BF16, AMX),
and the first-step comparison is only reported.
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
    python benchmarks/train_step.py --family cyclegan      # 256x256, batch 1, resnet_9blocks
    python benchmarks/train_step.py --family cyclegan --quick   # 32x32 resnet_6blocks (smoke run)
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable

import torch
from common import add_common_options, setup
from torch import nn

from cgan_cli.config.choices import RESNET_BLOCKS, UNET_SIZES
from cgan_cli.device import PRECISIONS, Runtime, memory_format
from cgan_cli.families import create
from cgan_cli.families.cyclegan import CycleGANConfig
from cgan_cli.families.pix2pix import Pix2PixConfig

DEFAULT_NET_G = {"pix2pix": "unet_256", "cyclegan": "resnet_9blocks"}


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
    """The reference's GANLoss: `vanilla` is BCEWithLogits, `lsgan` MSE, against a 1/0 target expanded to the
    logits (its `wgangp` mode is not needed here)."""

    def __init__(self, gan_mode="vanilla", target_real_label=1.0, target_fake_label=0.0):
        super().__init__()
        self.register_buffer("real_label", torch.tensor(target_real_label))
        self.register_buffer("fake_label", torch.tensor(target_fake_label))
        self.gan_mode = gan_mode
        if gan_mode == "lsgan":
            self.loss = nn.MSELoss()
        elif gan_mode == "vanilla":
            self.loss = nn.BCEWithLogitsLoss()
        else:
            raise NotImplementedError(f"gan mode {gan_mode} not implemented")

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
# CycleGAN, restated from networks.py (ResnetGenerator, ResnetBlock), util/image_pool.py and
# cycle_gan_model.py. Literal too, including the in-place ReLUs and the global `random` of the pool.
# --------------------------------------------------------------------------------------------------
class ResnetBlock(nn.Module):
    def __init__(self, dim, padding_type, norm_layer, use_dropout, use_bias):
        super().__init__()
        self.conv_block = self.build_conv_block(dim, padding_type, norm_layer, use_dropout, use_bias)

    def build_conv_block(self, dim, padding_type, norm_layer, use_dropout, use_bias):
        conv_block = []
        p = 0
        if padding_type == "reflect":
            conv_block += [nn.ReflectionPad2d(1)]
        elif padding_type == "zero":
            p = 1
        else:
            raise NotImplementedError(f"padding [{padding_type}] is not implemented")
        conv_block += [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            conv_block += [nn.Dropout(0.5)]
        p = 0
        if padding_type == "reflect":
            conv_block += [nn.ReflectionPad2d(1)]
        elif padding_type == "zero":
            p = 1
        conv_block += [nn.Conv2d(dim, dim, kernel_size=3, padding=p, bias=use_bias), norm_layer(dim)]
        return nn.Sequential(*conv_block)

    def forward(self, x):
        out = x + self.conv_block(x)  # add skip connections
        return out


class ResnetGenerator(nn.Module):
    def __init__(
        self, input_nc, output_nc, ngf=64, norm_layer=nn.BatchNorm2d, use_dropout=False, n_blocks=6,
        padding_type="reflect",
    ):  # fmt: skip
        assert n_blocks >= 0
        super().__init__()
        if type(norm_layer) is functools.partial:
            use_bias = norm_layer.func == nn.InstanceNorm2d
        else:
            use_bias = norm_layer == nn.InstanceNorm2d
        model = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(input_nc, ngf, kernel_size=7, padding=0, bias=use_bias),
            norm_layer(ngf),
            nn.ReLU(True),
        ]
        n_downsampling = 2
        for i in range(n_downsampling):  # add downsampling layers
            mult = 2**i
            model += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, kernel_size=3, stride=2, padding=1, bias=use_bias),
                norm_layer(ngf * mult * 2),
                nn.ReLU(True),
            ]
        mult = 2**n_downsampling
        for _ in range(n_blocks):  # add ResNet blocks
            model += [
                ResnetBlock(
                    ngf * mult,
                    padding_type=padding_type,
                    norm_layer=norm_layer,
                    use_dropout=use_dropout,
                    use_bias=use_bias,
                )
            ]
        for i in range(n_downsampling):  # add upsampling layers
            mult = 2 ** (n_downsampling - i)
            model += [
                nn.ConvTranspose2d(
                    ngf * mult,
                    int(ngf * mult / 2),
                    kernel_size=3,
                    stride=2,
                    padding=1,
                    output_padding=1,
                    bias=use_bias,
                ),
                norm_layer(int(ngf * mult / 2)),
                nn.ReLU(True),
            ]
        model += [nn.ReflectionPad2d(3)]
        model += [nn.Conv2d(ngf, output_nc, kernel_size=7, padding=0)]
        model += [nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, input):
        return self.model(input)


class ImagePool:
    def __init__(self, pool_size):
        self.pool_size = pool_size
        if self.pool_size > 0:  # create an empty pool
            self.num_imgs = 0
            self.images = []

    def query(self, images):
        if self.pool_size == 0:  # if the buffer size is 0, do nothing
            return images
        return_images = []
        for image in images:
            image = torch.unsqueeze(image.data, 0)
            if self.num_imgs < self.pool_size:  # if the buffer is not full; keep inserting current images
                self.num_imgs = self.num_imgs + 1
                self.images.append(image)
                return_images.append(image)
            else:
                p = random.uniform(0, 1)
                if p > 0.5:  # by 50% chance, return a previously stored image, and insert the current one
                    random_id = random.randint(0, self.pool_size - 1)  # randint is inclusive
                    tmp = self.images[random_id].clone()
                    self.images[random_id] = image
                    return_images.append(tmp)
                else:  # by another 50% chance, the buffer will return the current image
                    return_images.append(image)
        return_images = torch.cat(return_images, 0)  # collect all the images and return
        return return_images


class ReferenceCycleGAN:
    """cycle_gan_model.py's training step (netG resnet or unet, netD basic, norm instance, gan_mode lsgan)."""

    def __init__(self, cfg: CycleGANConfig, device: torch.device) -> None:
        torch.backends.cudnn.benchmark = True  # base_model.py, as for pix2pix
        # get_norm_layer('instance')
        norm_layer = functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)

        def define_G(input_nc, output_nc):
            if cfg.net_g in RESNET_BLOCKS:
                net = ResnetGenerator(input_nc, output_nc, cfg.ngf, norm_layer=norm_layer, use_dropout=cfg.dropout,
                                      n_blocks=RESNET_BLOCKS[cfg.net_g])  # fmt: skip
            else:
                net = UnetGenerator(input_nc, output_nc, UNET_SIZES[cfg.net_g], cfg.ngf, norm_layer, cfg.dropout)
            return init_weights(net).to(device)

        def define_D(input_nc):
            return init_weights(NLayerDiscriminator(input_nc, cfg.ndf, n_layers=3, norm_layer=norm_layer)).to(device)

        # Code (paper): G_A (G), G_B (F), D_A (D_Y), D_B (D_X)
        self.netG_A = define_G(cfg.input_nc, cfg.output_nc)
        self.netG_B = define_G(cfg.output_nc, cfg.input_nc)
        self.netD_A = define_D(cfg.output_nc)
        self.netD_B = define_D(cfg.input_nc)
        self.fake_A_pool = ImagePool(cfg.pool_size)
        self.fake_B_pool = ImagePool(cfg.pool_size)
        self.criterionGAN = GANLoss("lsgan").to(device)
        self.criterionCycle = nn.L1Loss()
        self.criterionIdt = nn.L1Loss()
        self.lambda_A, self.lambda_B, self.lambda_idt = cfg.lambda_a, cfg.lambda_b, cfg.lambda_identity
        self.optimizer_G = torch.optim.Adam(
            itertools.chain(self.netG_A.parameters(), self.netG_B.parameters()), lr=cfg.lr, betas=(cfg.beta1, 0.999)
        )
        self.optimizer_D = torch.optim.Adam(
            itertools.chain(self.netD_A.parameters(), self.netD_B.parameters()), lr=cfg.lr, betas=(cfg.beta1, 0.999)
        )

    def forward(self):
        self.fake_B = self.netG_A(self.real_A)  # G_A(A)
        self.rec_A = self.netG_B(self.fake_B)  # G_B(G_A(A))
        self.fake_A = self.netG_B(self.real_B)  # G_B(B)
        self.rec_B = self.netG_A(self.fake_A)  # G_A(G_B(B))

    def backward_D_basic(self, netD, real, fake):
        pred_real = netD(real)
        loss_D_real = self.criterionGAN(pred_real, True)
        pred_fake = netD(fake.detach())
        loss_D_fake = self.criterionGAN(pred_fake, False)
        loss_D = (loss_D_real + loss_D_fake) * 0.5
        loss_D.backward()
        return loss_D

    def backward_D_A(self):
        fake_B = self.fake_B_pool.query(self.fake_B)
        self.loss_D_A = self.backward_D_basic(self.netD_A, self.real_B, fake_B)

    def backward_D_B(self):
        fake_A = self.fake_A_pool.query(self.fake_A)
        self.loss_D_B = self.backward_D_basic(self.netD_B, self.real_A, fake_A)

    def backward_G(self):
        lambda_idt, lambda_A, lambda_B = self.lambda_idt, self.lambda_A, self.lambda_B
        if lambda_idt > 0:
            self.idt_A = self.netG_A(self.real_B)  # G_A should be identity if real_B is fed
            self.loss_idt_A = self.criterionIdt(self.idt_A, self.real_B) * lambda_B * lambda_idt
            self.idt_B = self.netG_B(self.real_A)  # G_B should be identity if real_A is fed
            self.loss_idt_B = self.criterionIdt(self.idt_B, self.real_A) * lambda_A * lambda_idt
        else:
            self.loss_idt_A = 0
            self.loss_idt_B = 0
        self.loss_G_A = self.criterionGAN(self.netD_A(self.fake_B), True)  # GAN loss D_A(G_A(A))
        self.loss_G_B = self.criterionGAN(self.netD_B(self.fake_A), True)  # GAN loss D_B(G_B(B))
        self.loss_cycle_A = self.criterionCycle(self.rec_A, self.real_A) * lambda_A  # forward cycle loss
        self.loss_cycle_B = self.criterionCycle(self.rec_B, self.real_B) * lambda_B  # backward cycle loss
        self.loss_G = (
            self.loss_G_A + self.loss_G_B + self.loss_cycle_A + self.loss_cycle_B + self.loss_idt_A + self.loss_idt_B
        )
        self.loss_G.backward()

    def optimize_parameters(self, real_A: torch.Tensor, real_B: torch.Tensor) -> dict[str, torch.Tensor]:
        self.real_A, self.real_B = real_A, real_B  # set_input()
        self.forward()
        # G_A and G_B
        set_requires_grad([self.netD_A, self.netD_B], False)  # Ds require no gradients when optimizing Gs
        self.optimizer_G.zero_grad()
        self.backward_G()
        self.optimizer_G.step()
        # D_A and D_B
        set_requires_grad([self.netD_A, self.netD_B], True)
        self.optimizer_D.zero_grad()
        self.backward_D_A()
        self.backward_D_B()
        self.optimizer_D.step()
        names = ["D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"]  # the reference's loss_names
        losses = {name: getattr(self, "loss_" + name) for name in names}
        return {k: v.detach() for k, v in losses.items() if torch.is_tensor(v)}


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
        description="Pix2pix or CycleGAN training-step images/s: cgan's family path vs a plain restatement of the "
        "reference (junyanz/pytorch-CycleGAN-and-pix2pix). Ratio = ours / reference; above 1 means ours is faster.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--family", default="pix2pix", choices=tuple(DEFAULT_NET_G), help="Which training step.")
    p.add_argument("--size", type=int_list, default="256", help="Image side(s), e.g. 256 or 128,256.")
    p.add_argument("--batch-size", type=int_list, default="1", help="Batch size(s), e.g. 1 or 1,16.")
    p.add_argument(
        "--net-g",
        default=None,
        choices=tuple(UNET_SIZES) + tuple(RESNET_BLOCKS),
        help="Generator (default: unet_256 for pix2pix, resnet_9blocks for cyclegan; pix2pix takes U-Nets only).",
    )
    p.add_argument("--ngf", type=int, default=64, help="Generator filters (the reference's default 64).")
    p.add_argument("--ndf", type=int, default=64, help="Discriminator filters (the reference's default 64).")
    p.add_argument("--steps", type=int, default=10, help="Timed steps per block.")
    p.add_argument("--warmup", type=int, default=3, help="Untimed steps of each implementation first.")
    p.add_argument(
        "--rounds", type=int, default=3, help="Timed blocks per implementation, alternated; combined by --stat."
    )
    p.add_argument("--compile", action="store_true", help="Also torch.compile our networks (family --compile).")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="Our side's, as cgan train --precision (auto: bf16 on CUDA and on CPUs with bf16 units); "
                   "the reference is always fp32.")  # fmt: skip
    p.add_argument(
        "--quick",
        action="store_true",
        help="Smoke run: defaults become size 64 and unet_64 (cyclegan: size 32, resnet_6blocks, 16 filters), "
        "1 warmup, 2 rounds of 2 steps.",
    )
    add_common_options(p, "blocks")
    known = p.parse_known_args(argv)[0]
    if known.quick:  # quick changes the defaults; options given explicitly still win
        p.set_defaults(size="64", net_g="unet_64", steps=2, warmup=1, rounds=2)
        if known.family == "cyclegan":
            p.set_defaults(size="32", net_g="resnet_6blocks", ngf=16, ndf=16)
    args = p.parse_args(argv)
    args.net_g = args.net_g or DEFAULT_NET_G[args.family]
    if args.family == "pix2pix" and args.net_g not in UNET_SIZES:
        p.error("--family pix2pix compares U-Net generators only (the restated reference step builds a UnetGenerator)")
    for name in ("steps", "rounds", "ngf", "ndf"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.warmup < 1:
        p.error("--warmup must be at least 1 (the first step is the equivalence check)")
    return args


def our_path(runtime: Runtime) -> str:
    """What our side ran: the CUDA fast path, or on the CPU eager contiguous tensors and default Adam."""
    precision = "bf16 autocast" if runtime.bf16 else "fp32"
    compiled = " + torch.compile" if runtime.compile else ""
    if runtime.device.type == "cuda":
        return f"{precision} + channels_last + fused Adam{compiled}"
    arithmetic = "" if runtime.bf16 else " (the reference's arithmetic)"
    return f"{precision} eager, contiguous, default Adam{arithmetic}{compiled}"


def bench_config(args: argparse.Namespace, device: torch.device, size: int, batch_size: int) -> dict:
    multiple = 2 ** UNET_SIZES[args.net_g]
    if size % multiple:
        raise SystemExit(f"--size {size} must be a multiple of {multiple} for --net-g {args.net_g}")
    cfg = Pix2PixConfig(
        paired="<benchmark: no data read>",
        net_g=args.net_g,
        ngf=args.ngf,
        ndf=args.ndf,
        batch_size=batch_size,
        load_size=size,
        crop_size=size,
    )
    torch.manual_seed(0)
    ours = create("pix2pix", cfg, Runtime(device, args.precision, args.compile))
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
    result = time_both(args, device, size, batch_size, step_ref, step_ours)
    result.update(
        {
            **params,
            "same_params": params["params_G_ours"] == params["params_G_ref"]
            and params["params_D_ours"] == params["params_D_ref"],
            "first_step_max_rel_loss_diff": loss_diff,
            "first_step_max_abs_G_weight_diff": g_diff,
        }
    )
    return result


def time_both(
    args: argparse.Namespace,
    device: torch.device,
    size: int,
    batch_size: int,
    step_ref: Callable[[], object],
    step_ours: Callable[[], object],
) -> dict:
    """The rest of the warm-up, then alternated timed blocks of each side; the shared part of the JSON."""
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    for _ in range(args.warmup - 1):
        step_ref()
        step_ours()
    sync()

    cpu: dict[str, list[float]] = {"ref": [], "ours": []}  # process CPU seconds per step, per block

    def block(step: Callable[[], object], which: str) -> float:
        sync()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(args.steps):
            step()
        sync()
        cpu[which].append((time.process_time() - c0) / args.steps)
        return args.steps * batch_size / (time.perf_counter() - t0)

    rates: dict[str, list[float]] = {"ref": [], "ours": []}
    for r in range(args.rounds):
        order = ("ref", "ours") if r % 2 == 0 else ("ours", "ref")
        for which in order:
            rates[which].append(block(step_ref if which == "ref" else step_ours, which))
    combine = statistics.median if args.stat == "median" else max
    ref_rate, ours_rate = combine(rates["ref"]), combine(rates["ours"])
    ref_cpu, ours_cpu = statistics.median(cpu["ref"]), statistics.median(cpu["ours"])
    return {
        "benchmark": "train_step",
        "family": args.family,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "loadavg_1min_before": args.load_before,
        "size": size,
        "batch_size": batch_size,
        "net_g": args.net_g,
        "ngf": args.ngf,
        "ndf": args.ndf,
        "ours_path": our_path(Runtime(device, args.precision, args.compile)),
        "ref_path": "fp32 eager, contiguous, torch.optim.Adam defaults",
        "steps": args.steps,
        "rounds": args.rounds,
        "stat": args.stat,
        "ref_img_s": round(ref_rate, 4),
        "ours_img_s": round(ours_rate, 4),
        "ratio": round(ours_rate / ref_rate, 4),
        # the same, as time per step: ours s/step ÷ reference s/step (below 1 means ours is faster)
        "ref_s_per_step": round(batch_size / ref_rate, 5),
        "ours_s_per_step": round(batch_size / ours_rate, 5),
        "time_ratio": round(ref_rate / ours_rate, 4),
        # CPU seconds this process spent per step (median over blocks): on a CPU shared with other work this
        # moves far less than wall time, so with --threads 1 it is the steadier comparison (on CUDA it is
        # only the host's share of the step)
        "ref_cpu_s_per_step": round(ref_cpu, 5),
        "ours_cpu_s_per_step": round(ours_cpu, 5),
        "cpu_time_ratio": round(ours_cpu / ref_cpu, 4),
        "ref_img_s_blocks": [round(v, 4) for v in rates["ref"]],
        "ours_img_s_blocks": [round(v, 4) for v in rates["ours"]],
        # each round's ours/ref from back-to-back blocks: robust to slow drift in machine load
        "ratio_rounds": [round(o / r, 4) for o, r in zip(rates["ours"], rates["ref"])],
    }


def bench_cyclegan(args: argparse.Namespace, device: torch.device, size: int, batch_size: int) -> dict:
    multiple = 4 if args.net_g in RESNET_BLOCKS else 2 ** UNET_SIZES[args.net_g]
    if size % multiple:
        raise SystemExit(f"--size {size} must be a multiple of {multiple} for --net-g {args.net_g}")
    cfg = CycleGANConfig(
        domain_a="<benchmark: no data read>",
        domain_b="<benchmark: no data read>",
        net_g=args.net_g,
        ngf=args.ngf,
        ndf=args.ndf,
        batch_size=batch_size,
        load_size=size,
        crop_size=size,
    )
    torch.manual_seed(0)
    ours = create("cyclegan", cfg, Runtime(device, args.precision, args.compile))
    ref = ReferenceCycleGAN(cfg, device)
    pairs = {"G_A": (ours.G_A, ref.netG_A), "G_B": (ours.G_B, ref.netG_B),
             "D_A": (ours.D_A, ref.netD_A), "D_B": (ours.D_B, ref.netD_B)}  # fmt: skip
    params: dict[str, int] = {}
    for name, (mine, theirs) in pairs.items():
        params[f"params_{name}_ours"], params[f"params_{name}_ref"] = n_params(mine), n_params(theirs)
        # Same module tree, names and shapes: our initial weights load strictly into the reference nets.
        theirs.load_state_dict(mine.state_dict(), strict=True)
        theirs.train()
    ours.train_mode(True)

    gen = torch.Generator().manual_seed(1)
    real_a = (torch.rand(batch_size, cfg.input_nc, size, size, generator=gen) * 2 - 1).to(device)
    real_b = (torch.rand(batch_size, cfg.output_nc, size, size, generator=gen) * 2 - 1).to(device)
    mf = memory_format(device)  # ours gets its batch as the Trainer hands it over; the reference contiguous
    batch = {"A": real_a.contiguous(memory_format=mf), "B": real_b.contiguous(memory_format=mf)}

    def step_ref() -> dict[str, torch.Tensor]:
        return ref.optimize_parameters(real_a, real_b)

    def step_ours() -> dict[str, torch.Tensor]:
        return ours.train_step(batch)

    # The first step of each from identical weights and batch, both pools empty (no random draw): the same
    # losses and the same updated weights of all four nets.
    random.seed(0)
    torch.manual_seed(123)
    losses_ref = {k: float(v) for k, v in step_ref().items()}
    torch.manual_seed(123)
    losses_ours = {k: float(v) for k, v in step_ours().items()}
    assert losses_ours.keys() == losses_ref.keys(), (sorted(losses_ours), sorted(losses_ref))
    loss_diff = max(abs(losses_ours[k] - losses_ref[k]) / max(1e-12, abs(losses_ref[k])) for k in losses_ref)
    weight_diff = {}
    for name, (mine, theirs) in pairs.items():
        state, theirs_state = mine.state_dict(), theirs.state_dict()
        weight_diff[name] = max(
            (state[k].float() - theirs_state[k].float()).abs().max().item()
            for k in theirs_state
            if theirs_state[k].is_floating_point()
        )
    result = time_both(args, device, size, batch_size, step_ref, step_ours)
    same = all(params[f"params_{n}_ours"] == params[f"params_{n}_ref"] for n in pairs)
    result.update(
        {
            **params,
            "same_params": same,
            "first_step_losses_ref": losses_ref,
            "first_step_max_rel_loss_diff": loss_diff,
            "first_step_max_abs_weight_diff": max(weight_diff.values()),
            "first_step_max_abs_weight_diff_by_net": weight_diff,
        }
    )
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
    say(f"{args.family} train step on {device} ({name}), torch {torch.__version__}")
    say(f"  ours: {our_path(Runtime(device, args.precision, args.compile))}")
    say("  ref:  plain restatement of pytorch-CycleGAN-and-pix2pix, fp32 eager, torch.optim.Adam defaults")
    if device.type == "cpu" and args.load_before is not None and args.load_before > 0.5 * (os.cpu_count() or 1):
        say(f"  note: 1-minute load average was {args.load_before} at start: other work shares these CPUs")
    say(f"  timing: {args.warmup} warmup, then {args.rounds} alternated blocks of {args.steps} steps each; {args.stat}")
    say()
    header = f"{'size':>5} {'batch':>5}  {'net_g':<14} {'ref img/s':>10} {'ours img/s':>11} {'ours/ref':>9}"
    header += f" {'ref s/step':>11} {'ours s/step':>12}"
    nets = ("G", "D") if args.family == "pix2pix" else ("G_A", "G_B", "D_A", "D_B")
    weights = "G weight" if args.family == "pix2pix" else "weight (all four nets)"
    rows = []
    for size in args.size:
        for bs in args.batch_size:
            bench = bench_config if args.family == "pix2pix" else bench_cyclegan
            r = bench(args, device, size, bs)
            gc.collect()  # free this configuration's nets before building the next
            if device.type == "cuda":
                torch.cuda.empty_cache()
            rows.append(r)
            if args.json:
                print(json.dumps(r), flush=True)
            counts = "; ".join(f"{n} ours {r[f'params_{n}_ours']:,} / ref {r[f'params_{n}_ref']:,}" for n in nets)
            say(f"params: {counts} ({'equal' if r['same_params'] else 'DIFFERENT: not apples to apples'})")
            weight_diff = r.get("first_step_max_abs_G_weight_diff", r.get("first_step_max_abs_weight_diff"))
            say(
                f"first step from identical weights: max relative loss difference "
                f"{r['first_step_max_rel_loss_diff']:.2e}, max |{weights} difference| {weight_diff:.2e}"
            )
    say()
    say(header)
    for r in rows:
        say(
            f"{r['size']:>5} {r['batch_size']:>5}  {r['net_g']:<14} {r['ref_img_s']:>10.3f} "
            f"{r['ours_img_s']:>11.3f} {r['ratio']:>9.3f} {r['ref_s_per_step']:>11.3f} {r['ours_s_per_step']:>12.3f}"
        )
    return 0 if all(r["same_params"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
