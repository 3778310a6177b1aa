"""The CycleGAN ResNet generator (Zhu et al. 2017, after Johnson et al. 2016), as the reference
junyanz/pytorch-CycleGAN-and-pix2pix `ResnetGenerator`: reflection-padded 7×7 conv (ngf 64), two 3×3
stride-2 downsamplings, n residual blocks (reflection padding, two 3×3 convs, instance norm), two 3×3
stride-2 transposed convs back up, a reflection-padded 7×7 conv and tanh. `resnet_9blocks` (the
default for 256×256) has 11.378 M parameters, `resnet_6blocks` 7.838 M.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cgan_cli.nn.norm import conv_bias, init_weights, norm_layer


@dataclass(frozen=True)
class ResNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    ngf: int = 64
    n_blocks: int = 9
    norm: str = "instance"
    dropout: bool = False

    @property
    def multiple(self) -> int:
        """Two stride-2 downsamplings: sides that are multiples of 4 come back at their own size."""
        return 4


class ResnetBlock(nn.Module):
    def __init__(self, dim: int, norm: str, dropout: bool) -> None:
        super().__init__()
        make_norm, bias = norm_layer(norm), conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            make_norm(dim),
            nn.ReLU(True),
        ]
        if dropout:
            layers.append(nn.Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), make_norm(dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, cfg: ResNetConfig) -> None:
        super().__init__()
        self.config = cfg
        make_norm, bias, ngf = norm_layer(cfg.norm), conv_bias(cfg.norm), cfg.ngf
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(cfg.in_channels, ngf, 7, bias=bias),
            make_norm(ngf),
            nn.ReLU(True),
        ]
        for i in range(2):  # (ngf, H, W) → (4·ngf, H/4, W/4)
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, 2, 1, bias=bias),
                make_norm(ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, cfg.norm, cfg.dropout) for _ in range(cfg.n_blocks)]
        for i in range(2):  # back to (ngf, H, W)
            mult = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, 2, 1, output_padding=1, bias=bias),
                make_norm(ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, cfg.out_channels, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) → (N, out_channels, H, W) in [-1, 1]; H and W multiples of 4."""
        return self.model(x)
