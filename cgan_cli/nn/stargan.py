"""StarGAN networks (Choi et al., CVPR 2018), as yunjey/stargan `model.py`.

Generator: the target label c tiled over the image as extra input channels; 7×7 conv (64), two 4×4
stride-2 downsamplings, 6 residual blocks, two 4×4 stride-2 transposed convs, 7×7 conv and tanh;
instance norm with affine parameters and running statistics, no conv biases. Discriminator: 4×4
stride-2 convs with LeakyReLU 0.01 doubling from 64 channels (6 of them at 128×128, one fewer per
halving of the image), then a 3×3 PatchGAN real/fake head and a domain-classification head whose
kernel covers the whole remaining map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class StarGANNetConfig:
    c_dim: int = 5
    image_size: int = 128
    channels: int = 3
    g_conv_dim: int = 64
    d_conv_dim: int = 64
    g_repeat_num: int = 6

    @property
    def d_repeat_num(self) -> int:
        """6 strided convs at 128×128 (2×2 left), as the reference; one fewer per halving."""
        return max(1, int(math.log2(self.image_size)) - 1)


class InstanceNorm(nn.InstanceNorm2d):
    """The reference's InstanceNorm2d(affine, track_running_stats); `image_statistics` normalises by each
    image's own statistics in eval mode too, without touching the running statistics it keeps."""

    image_statistics = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.image_statistics and not self.training:
            return F.instance_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)
        return super().forward(x)


def _instance_norm(channels: int) -> nn.InstanceNorm2d:
    return InstanceNorm(channels, affine=True, track_running_stats=True)


class ResidualBlock(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            _instance_norm(dim),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, dim, 3, 1, 1, bias=False),
            _instance_norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.main(x)


class StarGANGenerator(nn.Module):
    def __init__(self, cfg: StarGANNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.g_conv_dim
        layers: list[nn.Module] = [
            nn.Conv2d(cfg.channels + cfg.c_dim, dim, 7, 1, 3, bias=False),
            _instance_norm(dim),
            nn.ReLU(inplace=True),
        ]
        for _ in range(2):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1, bias=False), _instance_norm(dim * 2), nn.ReLU(inplace=True)]
            dim *= 2
        layers += [ResidualBlock(dim) for _ in range(cfg.g_repeat_num)]
        for _ in range(2):
            layers += [
                nn.ConvTranspose2d(dim, dim // 2, 4, 2, 1, bias=False),
                _instance_norm(dim // 2),
                nn.ReLU(inplace=True),
            ]
            dim //= 2
        layers += [nn.Conv2d(dim, cfg.channels, 7, 1, 3, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), c (N, c_dim) target labels → (N, C, H, W); H, W multiples of 4."""
        maps = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        return self.main(torch.cat([x, maps], 1))


class StarGANDiscriminator(nn.Module):
    def __init__(self, cfg: StarGANNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.d_conv_dim
        layers: list[nn.Module] = [nn.Conv2d(cfg.channels, dim, 4, 2, 1), nn.LeakyReLU(0.01)]
        for _ in range(1, cfg.d_repeat_num):
            layers += [nn.Conv2d(dim, dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            dim *= 2
        self.main = nn.Sequential(*layers)
        side = max(1, cfg.image_size // 2**cfg.d_repeat_num)
        self.conv_src = nn.Conv2d(dim, 1, 3, 1, 1, bias=False)  # PatchGAN real/fake scores
        self.conv_cls = nn.Conv2d(dim, cfg.c_dim, side, bias=False)  # domain logits

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """→ real/fake scores (N, 1, h, w) and domain logits (N, c_dim)."""
        h = self.main(x)
        return self.conv_src(h), self.conv_cls(h).flatten(1)


def use_image_statistics(net: nn.Module, on: bool = True) -> nn.Module:
    """Instance norm from each image's own statistics even in eval mode: what the reference does at test
    time (it never switches to eval), without touching the running statistics it keeps for its files."""
    for m in net.modules():
        if isinstance(m, InstanceNorm):
            m.image_statistics = on
    return net
