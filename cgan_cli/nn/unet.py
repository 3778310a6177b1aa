"""The pix2pix U-Net generator (Isola et al. 2017, "Image-to-Image Translation with Conditional
Adversarial Networks"), built as in junyanz/pytorch-CycleGAN-and-pix2pix `UnetGenerator`:
4×4 stride-2 convs down (LeakyReLU 0.2), 4×4 stride-2 transposed convs up (ReLU), skip connections
by concatenation, ngf 64, channel widths 64-128-256-512-512…, dropout 0.5 in the three innermost
decoder blocks after the bottleneck, tanh output. `unet_256` has 8 downsamplings (256 → 1×1),
`unet_128` 7; the other sizes follow the same rule (num_downs = log2(size)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cgan_cli.nn.norm import conv_bias, init_weights, norm_layer


@dataclass(frozen=True)
class UNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    num_downs: int = 8
    norm: str = "batch"
    dropout: bool = True

    @property
    def multiple(self) -> int:
        """Input height and width must be multiples of this (one pixel at the bottleneck per 2**num_downs)."""
        return 2**self.num_downs


class UNetBlock(nn.Module):
    """One level of the U: down(x) → inner → up, concatenated with x (except at the outermost level)."""

    def __init__(
        self,
        outer: int,
        inner: int,
        *,
        inner_out: int | None = None,
        submodule: nn.Module | None = None,
        in_channels: int | None = None,
        outermost: bool = False,
        norm: str = "batch",
        dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        make_norm = norm_layer(norm)
        bias = conv_bias(norm)
        in_channels = outer if in_channels is None else in_channels
        down_conv = nn.Conv2d(in_channels, inner, 4, stride=2, padding=1, bias=bias)
        innermost = submodule is None
        up_in = inner if innermost else inner * 2  # the level below returns [x, up] concatenated
        if outermost:
            up_conv = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1)
            down = [down_conv]
            up = [nn.ReLU(True), up_conv, nn.Tanh()]
        elif innermost:
            up_conv = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1, bias=bias)
            down = [nn.LeakyReLU(0.2, True), down_conv]
            up = [nn.ReLU(True), up_conv, make_norm(outer)]
        else:
            up_conv = nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1, bias=bias)
            down = [nn.LeakyReLU(0.2, True), down_conv, make_norm(inner)]
            up = [nn.ReLU(True), up_conv, make_norm(outer)]
            if dropout:
                up.append(nn.Dropout(0.5))
        layers = down + ([submodule] if submodule is not None else []) + up
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNetGenerator(nn.Module):
    # inference in channels_last pays on the CPU too (oneDNN): benchmarks/forward.py measured 1.18-1.20x at
    # batch 8-16 and 1.02x at batch 1 for unet_256 on an AVX2 CPU; ResNet generators ran 0.94x, training 0.87-0.94x
    channels_last_on_cpu = True

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        if cfg.num_downs < 5:
            raise ValueError("a U-Net needs at least 5 downsamplings (unet_32)")
        self.config = cfg
        ngf, norm = cfg.ngf, cfg.norm
        block = UNetBlock(ngf * 8, ngf * 8, norm=norm)  # innermost: bottleneck at 1×1 for a 2**n input
        for _ in range(cfg.num_downs - 5):
            block = UNetBlock(ngf * 8, ngf * 8, submodule=block, norm=norm, dropout=cfg.dropout)
        block = UNetBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UNetBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UNetBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UNetBlock(
            cfg.out_channels, ngf, in_channels=cfg.in_channels, submodule=block, outermost=True, norm=norm
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, in_channels, H, W) in [-1, 1], H and W multiples of config.multiple → (N, out_channels, H, W)
        return self.model(x)
