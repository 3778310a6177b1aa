"""PatchGAN discriminators as in pix2pix (Isola et al. 2017) and the reference `NLayerDiscriminator` /
`PixelDiscriminator`: 4×4 convs, ndf 64, LeakyReLU 0.2, no norm on the first layer, widths doubling up
to 8×ndf, a stride-1 penultimate layer and a 1-channel stride-1 output. `basic` is n_layers=3, whose
receptive field is 70×70 and whose output is 30×30 for a 256×256 input; `pixel` is a 1×1 PatchGAN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from cgan_cli.nn.norm import conv_bias, init_weights, norm_layer


@dataclass(frozen=True)
class PatchGANConfig:
    in_channels: int = 6
    ndf: int = 64
    n_layers: int = 3  # 0 means the 1×1 `pixel` discriminator
    norm: str = "batch"


class NLayerDiscriminator(nn.Module):
    def __init__(self, cfg: PatchGANConfig) -> None:
        super().__init__()
        self.config = cfg
        make_norm, bias, ndf = norm_layer(cfg.norm), conv_bias(cfg.norm), cfg.ndf
        layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, cfg.n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 2, 1, bias=bias), make_norm(ndf * mult)]
            layers.append(nn.LeakyReLU(0.2, True))
        prev, mult = mult, min(2**cfg.n_layers, 8)
        layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, 1, 1, bias=bias), make_norm(ndf * mult)]
        layers += [nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * mult, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, in_channels, H, W) → logits (N, 1, H', W'), one per overlapping patch
        return self.model(x)


class PixelDiscriminator(nn.Module):
    def __init__(self, cfg: PatchGANConfig) -> None:
        super().__init__()
        self.config = cfg
        make_norm, bias, ndf = norm_layer(cfg.norm), conv_bias(cfg.norm), cfg.ndf
        self.model = nn.Sequential(
            nn.Conv2d(cfg.in_channels, ndf, 1, 1, 0),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, 1, 0, bias=bias),
            make_norm(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, 1, 0, bias=bias),
        )
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (N, in_channels, H, W) → logits (N, 1, H, W), one per pixel
        return self.model(x)


def patchgan(cfg: PatchGANConfig) -> nn.Module:
    return PixelDiscriminator(cfg) if cfg.n_layers == 0 else NLayerDiscriminator(cfg)
