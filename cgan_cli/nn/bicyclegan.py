"""BicycleGAN's networks (Zhu et al., NeurIPS 2017), after junyanz/BicycleGAN `models/networks.py`.

- `ZUNet`: the U-Net of pix2pix taking a latent z besides the image. `where_add="all"` (the reference's
  `G_Unet_add_all`) tiles z over the input of every down block and concatenates it there; `"input"`
  (`G_Unet_add_input`) only onto the image. Up path: ReLU, 4×4 stride-2 transposed conv ("basic" upsampling),
  norm; dropout 0.5 after the decoder blocks of the 8×ngf levels between the bottleneck and ngf·4.
- `ResNetEncoder` (`E_ResNet`): 4×4 stride-2 conv (nef), n−1 residual blocks that each halve the side
  (norm, LeakyReLU, 3×3 conv, norm, LeakyReLU, 3×3 conv, 2×2 average pool; shortcut: pool then 1×1 conv),
  LeakyReLU, a global average pool (the reference's AvgPool2d(8) at its 256/128 sizes, where the map is 8×8)
  and two linear heads: the posterior's mean and log-variance.
- `MultiscalePatchGAN` (`D_NLayersMulti`): num_D PatchGANs, the i-th with ndf/2**i filters on the input
  average-pooled i times (3×3, stride 2); its output is the list of their logit maps.

Weights are drawn as the reference's `init_type xavier` with gain 0.02.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.nn.norm import init_weights, norm_layer
from cgan_cli.nn.patchgan import NLayerDiscriminator, PatchGANConfig

WHERE_ADD = ("all", "input")


def xavier_init(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """The reference's `init_type xavier` (junyanz/BicycleGAN `init_weights`)."""
    return init_weights(net, gain, kind="xavier")


def tile(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(N, nz) → (N, nz, H, W) with `like`'s H and W: z repeated at every position."""
    return z[:, :, None, None].expand(-1, -1, *like.shape[-2:]).to(like.dtype)


@dataclass(frozen=True)
class ZUNetConfig:
    in_channels: int = 3
    out_channels: int = 3
    nz: int = 8
    ngf: int = 64
    num_downs: int = 8
    norm: str = "instance"
    dropout: bool = True
    where_add: str = "all"

    @property
    def multiple(self) -> int:
        return 2**self.num_downs


class ZUNetBlock(nn.Module):
    """One level: [x, z tiled] (z only when `nz`) → down → inner(·, z) → up, then [up, x] concatenated
    (except at the outermost level)."""

    def __init__(self, in_channels: int, outer: int, inner: int, nz: int, submodule: ZUNetBlock | None = None, *,
                 outermost: bool = False, norm: str = "instance", dropout: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.outermost, self.nz, self.submodule = outermost, nz, submodule
        make_norm = norm_layer(norm)  # every conv has a bias, as the reference's
        self.down_conv = nn.Conv2d(in_channels + nz, inner, 4, stride=2, padding=1, bias=True)
        innermost = submodule is None
        up_in = inner if innermost else inner * 2
        if outermost:
            self.down = nn.Identity()
            self.up = nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1), nn.Tanh())
        else:
            after = [] if innermost else [make_norm(inner)]
            self.down = nn.Sequential(*after)
            up: list[nn.Module] = [nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1), make_norm(outer)]
            if dropout and not innermost:
                up.append(nn.Dropout(0.5))
            self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        h = torch.cat([x, tile(z, x)], 1) if self.nz else x
        if not self.outermost:
            h = F.leaky_relu(h, 0.2)
        h = self.down(self.down_conv(h))
        if self.submodule is not None:
            h = self.submodule(h, z)
        y = self.up(h)
        return y if self.outermost else torch.cat([y, x], 1)  # the reference's order: up, then skip


class ZUNet(nn.Module):
    """G(x, z): (N, in_channels, H, W) in [-1, 1] and (N, nz) → (N, out_channels, H, W); H, W multiples of
    2**num_downs."""

    channels_last_on_cpu = True

    def __init__(self, cfg: ZUNetConfig) -> None:
        super().__init__()
        if cfg.num_downs < 5:
            raise ValueError("a U-Net needs at least 5 downsamplings (unet_32)")
        if cfg.where_add not in WHERE_ADD:
            raise ValueError(f"unknown where_add {cfg.where_add!r}; choose from {', '.join(WHERE_ADD)}")
        self.config = cfg
        ngf, norm = cfg.ngf, cfg.norm
        every = cfg.nz if cfg.where_add == "all" else 0  # z at every level, or only at the input
        block = ZUNetBlock(ngf * 8, ngf * 8, ngf * 8, every, norm=norm)
        for _ in range(cfg.num_downs - 5):
            block = ZUNetBlock(ngf * 8, ngf * 8, ngf * 8, every, block, norm=norm, dropout=cfg.dropout)
        block = ZUNetBlock(ngf * 4, ngf * 4, ngf * 8, every, block, norm=norm)
        block = ZUNetBlock(ngf * 2, ngf * 2, ngf * 4, every, block, norm=norm)
        block = ZUNetBlock(ngf, ngf, ngf * 2, every, block, norm=norm)
        self.model = ZUNetBlock(cfg.in_channels, cfg.out_channels, ngf, cfg.nz, block, outermost=True, norm=norm)
        xavier_init(self)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.model(x, z)


@dataclass(frozen=True)
class EncoderConfig:
    in_channels: int = 3
    nz: int = 8
    nef: int = 64
    n_blocks: int = 5  # resnet_256: 5, resnet_128: 4
    norm: str = "instance"

    @property
    def least_side(self) -> int:
        """The smallest input side: each block's first norm must see more than one pixel."""
        return 2**self.n_blocks


class EncoderBlock(nn.Module):
    def __init__(self, inp: int, out: int, norm: str) -> None:
        super().__init__()
        make_norm = norm_layer(norm)
        self.conv = nn.Sequential(
            make_norm(inp), nn.LeakyReLU(0.2, True), nn.Conv2d(inp, inp, 3, 1, 1),
            make_norm(inp), nn.LeakyReLU(0.2, True), nn.Conv2d(inp, out, 3, 1, 1), nn.AvgPool2d(2, 2),
        )  # fmt: skip
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(inp, out, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


class ResNetEncoder(nn.Module):
    """E(B) → (μ, log σ²), each (N, nz): the posterior q(z | B) of the cVAE-GAN branch."""

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.config = cfg
        layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, cfg.nef, 4, 2, 1)]
        width = cfg.nef
        for n in range(1, cfg.n_blocks):
            width = cfg.nef * min(4, n + 1)
            layers.append(EncoderBlock(cfg.nef * min(4, n), width, cfg.norm))
        layers += [nn.LeakyReLU(0.2, True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(width, cfg.nz)
        self.fc_var = nn.Linear(width, cfg.nz)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x)
        return self.fc(h), self.fc_var(h)


@dataclass(frozen=True)
class MultiscaleConfig:
    in_channels: int = 3
    ndf: int = 64
    n_layers: int = 3  # basic_256: 3, basic_128: 2
    num_d: int = 2
    norm: str = "instance"


def downsample(x: torch.Tensor) -> torch.Tensor:
    """The reference's AvgPool2d(3, stride 2, padding 1, count_include_pad False) between scales."""
    return F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)


class MultiscalePatchGAN(nn.Module):
    def __init__(self, cfg: MultiscaleConfig) -> None:
        super().__init__()
        self.config = cfg
        self.scales = nn.ModuleList(
            NLayerDiscriminator(PatchGANConfig(cfg.in_channels, round(cfg.ndf / 2**i), cfg.n_layers, cfg.norm))
            for i in range(cfg.num_d)
        )
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, d in enumerate(self.scales):
            if i:
                x = downsample(x)
            out.append(d(x))
        return out
