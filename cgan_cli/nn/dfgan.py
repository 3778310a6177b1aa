"""DF-GAN's networks (Tao et al., CVPR 2022, "DF-GAN: A Simple and Effective Baseline for Text-to-Image
Synthesis"), as in tobran/DF-GAN's `models/GAN.py`.

G: z → fc → 8·ngf×4×4, then one up-sampling G block per doubling, each a residual block whose two
3×3 convs are preceded by deep text-fusion blocks (two affine transforms of the features, scale and
shift predicted from [z, sentence] by two-layer MLPs, each followed by LeakyReLU 0.2), then
LeakyReLU → 3×3 conv → tanh. D: 3×3 conv, one residual down block per halving to 4×4 (shortcut
1×1 conv + average pool, residual scaled by a learned γ that starts at 0), and the joint head that
concatenates the sentence vector tiled to 4×4 and predicts one logit with two convs. Widths follow
`get_G_in_out_chs`/`get_D_in_out_chs`: ngf·min(2^i, 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class DFGANNetConfig:
    image_size: int = 64
    channels: int = 3
    z_dim: int = 100  # DF-GAN's nz
    cond_dim: int = 512  # the sentence vector's width (CLIP's embed dim here; DAMSM's 256 in the paper)
    ngf: int = 32  # DF-GAN's nf
    ndf: int = 32


def widths(nf: int, image_size: int) -> list[int]:
    """nf·min(2^i, 8) for each resolution from image_size down to 4 (finest first)."""
    return [nf * min(2**i, 8) for i in range(int(math.log2(image_size)) - 1)]


class Affine(nn.Module):
    """Per-channel scale and shift predicted from the condition; starts as the identity (γ=1, β=0)."""

    def __init__(self, cond_dim: int, features: int) -> None:
        super().__init__()
        self.fc_gamma = _mlp(cond_dim, features)
        self.fc_beta = _mlp(cond_dim, features)
        nn.init.zeros_(self.fc_gamma[2].weight)
        nn.init.ones_(self.fc_gamma[2].bias)
        nn.init.zeros_(self.fc_beta[2].weight)
        nn.init.zeros_(self.fc_beta[2].bias)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc_gamma(y)[:, :, None, None], self.fc_beta(y)[:, :, None, None]  # (N, C, 1, 1)
        return gamma * x + beta


def _mlp(cond_dim: int, features: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cond_dim, features), nn.ReLU(), nn.Linear(features, features))


class FusionBlock(nn.Module):
    """DF-GAN's DFBLK: affine → LeakyReLU → affine → LeakyReLU."""

    def __init__(self, cond_dim: int, features: int) -> None:
        super().__init__()
        self.affine0 = Affine(cond_dim, features)
        self.affine1 = Affine(cond_dim, features)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.affine0(x, y), 0.2)
        return F.leaky_relu(self.affine1(h, y), 0.2)


class GBlock(nn.Module):
    def __init__(self, cond_dim: int, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.fuse1 = FusionBlock(cond_dim, in_ch)
        self.c1 = nn.Conv2d(in_ch, out_ch, 3, 1, 1)
        self.fuse2 = FusionBlock(cond_dim, out_ch)
        self.c2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1)
        self.c_sc = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else None

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2)  # nearest, as the reference
        shortcut = self.c_sc(x) if self.c_sc is not None else x
        h = self.c2(self.fuse2(self.c1(self.fuse1(x, y)), y))
        return shortcut + h


class DFGANGenerator(nn.Module):
    def __init__(self, cfg: DFGANNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        chs = widths(cfg.ngf, cfg.image_size)[::-1]  # 8·ngf at 4×4 … ngf at full size
        self.fc = nn.Linear(cfg.z_dim, chs[0] * 16)
        cond = cfg.z_dim + cfg.cond_dim  # the fusion MLPs see [z, sentence]
        self.blocks = nn.ModuleList(GBlock(cond, i, o) for i, o in zip(chs[:-1], chs[1:]))
        self.to_rgb = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(chs[-1], cfg.channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """(N, z_dim), (N, cond_dim) → (N, C, S, S) in [-1, 1]."""
        h = self.fc(z).view(z.shape[0], -1, 4, 4)
        y = torch.cat([z, sentence.to(z.dtype)], dim=1)
        for block in self.blocks:
            h = block(h, y)
        return self.to_rgb(h)


class DBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_r = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2),
            nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2),
        )
        self.conv_s = nn.Conv2d(in_ch, out_ch, 1)
        self.learned_shortcut = in_ch != out_ch
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.conv_r(x)
        if self.learned_shortcut:
            x = self.conv_s(x)
        return F.avg_pool2d(x, 2) + self.gamma * res


class DFGANDiscriminator(nn.Module):
    """Image trunk (NetD) and joint conditional head (NetC) in one module: `forward(x, sentence)`."""

    def __init__(self, cfg: DFGANNetConfig) -> None:
        super().__init__()
        self.cfg = cfg
        chs = widths(cfg.ndf, cfg.image_size)
        self.conv_img = nn.Conv2d(cfg.channels, chs[0], 3, 1, 1)
        self.blocks = nn.Sequential(*(DBlock(i, o) for i, o in zip(chs[:-1], chs[1:])))
        self.joint_conv = nn.Sequential(
            nn.Conv2d(chs[-1] + cfg.cond_dim, cfg.ndf * 2, 3, 1, 1, bias=False),
            nn.LeakyReLU(0.2),
            nn.Conv2d(cfg.ndf * 2, 1, 4, 1, 0, bias=False),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, S, S) → (N, 8·ndf, 4, 4)."""
        return self.blocks(self.conv_img(x))

    def head(self, features: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        """(N, 8·ndf, 4, 4), (N, cond_dim) → (N,) logits."""
        y = sentence.to(features.dtype)[:, :, None, None].expand(-1, -1, 4, 4)
        return self.joint_conv(torch.cat([features, y], dim=1)).flatten()

    def forward(self, x: torch.Tensor, sentence: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x), sentence)
