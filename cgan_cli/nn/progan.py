"""ProGAN's networks (Karras et al. 2018; tkarras/progressive_growing_of_gans `G_paper`, `D_paper`): equalized
learning-rate layers, pixel norm, and a generator and discriminator that run at any resolution from 4×4 up to
their full size, fading a new resolution in over the one below with weight α.

Both networks hold every resolution's layers from the start; `set_stage(resolution, alpha)` chooses which run
(the side and whether a fade is on are plain attributes, α a non-persistent buffer, so a compiled network is
not recompiled as α moves and checkpoints hold weights only). Upsampling is nearest-neighbour and downsampling
a 2×2 box filter, as the official unfused layers (its fused ones compute the same functions).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.nn.minibatch import MinibatchStdDev

SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class ProGANNetConfig:
    image_size: int = 1024
    channels: int = 3
    z_dim: int = 512
    fmap_base: int = 8192
    fmap_max: int = 512
    num_classes: int = 0  # > 0: G takes the one-hot class with z; D adds a logit per class
    mbstd_group: int = 4  # 0 or 1: no minibatch stddev layer

    def nf(self, stage: int) -> int:
        """Channels of a stage: min(fmap_base / 2^stage, fmap_max), as the official `nf` (at least 1)."""
        return max(1, min(int(self.fmap_base / 2.0**stage), self.fmap_max))

    @property
    def levels(self) -> int:
        """log2(image_size): the resolution 2^level is built by level − 1 blocks."""
        return int(math.log2(self.image_size))


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x / √(mean over channels of x² + ε), per pixel (computed in fp32)."""
    return x * torch.rsqrt(x.float().pow(2).mean(1, keepdim=True) + eps).to(x.dtype)


def upsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    return x if factor == 1 else F.interpolate(x, scale_factor=factor, mode="nearest")


def downsample(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    return x if factor == 1 else F.avg_pool2d(x, factor)


class EqualizedConv2d(nn.Module):
    """A 'same' convolution whose weights are N(0, 1), multiplied by gain / √fan_in at every call, so Adam
    sees every layer at the same scale (the paper's equalized learning rate); biases start at 0."""

    def __init__(self, cin: int, cout: int, kernel: int, gain: float = SQRT2) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = gain / math.sqrt(cin * kernel * kernel)
        self.padding = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """A dense layer with the equalized learning rate; `bias=False` leaves the bias to the caller."""

    def __init__(self, cin: int, cout: int, gain: float = SQRT2, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale = gain / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def _fading(alpha: float | torch.Tensor) -> bool:
    return torch.is_tensor(alpha) or alpha < 1.0


class Staged(nn.Module):
    """A network that runs at `self.resolution`, blending in the resolution below with `self.alpha` while fading."""

    def __init__(self, image_size: int) -> None:
        super().__init__()
        self.register_buffer("alpha", torch.ones(()), persistent=False)
        self.resolution, self.fading = image_size, False

    def set_stage(self, resolution: int, alpha: float) -> None:
        """Run at `resolution`; α < 1 fades it in over the one below (no GPU sync: α is filled, not read)."""
        self.resolution, self.fading = resolution, alpha < 1.0
        self.alpha.fill_(alpha)

    def stage_alpha(self) -> float | torch.Tensor:
        return self.alpha if self.fading else 1.0


class GBlock(nn.Module):
    """Nearest ×2, then two 3×3 convs, each with LeakyReLU 0.2 and pixel norm."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv0, self.conv1 = EqualizedConv2d(cin, cout, 3), EqualizedConv2d(cout, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pixel_norm(_act(self.conv0(upsample(x))))
        return pixel_norm(_act(self.conv1(x)))


class ProGANGenerator(Staged):
    """G_paper: (z, class one-hot) → images at `self.resolution`, fading in over the one below by `self.alpha`.
    The output is linear (no tanh), as the official network; images are clamped to [-1, 1] when written."""

    def __init__(self, cfg: ProGANNetConfig) -> None:
        super().__init__(cfg.image_size)
        self.cfg = cfg
        c4 = cfg.nf(1)
        self.dense = EqualizedLinear(cfg.z_dim + cfg.num_classes, c4 * 16, gain=SQRT2 / 4, bias=False)
        self.dense_bias = nn.Parameter(torch.zeros(c4))
        self.conv4 = EqualizedConv2d(c4, c4, 3)
        self.blocks = nn.ModuleList(GBlock(cfg.nf(lv - 2), cfg.nf(lv - 1)) for lv in range(3, cfg.levels + 1))
        self.to_rgb = nn.ModuleList(EqualizedConv2d(cfg.nf(lv - 1), cfg.channels, 1, gain=1.0)
                                    for lv in range(2, cfg.levels + 1))  # fmt: skip

    def class_vector(self, labels: torch.Tensor) -> torch.Tensor:
        """(N,) class indices → (N, num_classes) one-hot, the official label input ((N, 0) when unconditional)."""
        if not self.cfg.num_classes:
            return torch.zeros(labels.shape[0], 0, device=labels.device)
        return F.one_hot(labels.long(), self.cfg.num_classes).float()

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.synthesize(z, cond, self.resolution, self.stage_alpha())

    def synthesize(
        self, z: torch.Tensor, cond: torch.Tensor | None, resolution: int, alpha: float | torch.Tensor = 1.0
    ) -> torch.Tensor:
        """Images at `resolution`; with α < 1 (or a tensor α) lerp(upsample(toRGB_old(h_old)), toRGB(h), α)."""
        x = z if cond is None or cond.shape[1] == 0 else torch.cat([z, cond.to(z.dtype)], 1)
        x = self.dense(pixel_norm(x)).view(-1, self.cfg.nf(1), 4, 4) + self.dense_bias.view(1, -1, 1, 1)
        x = pixel_norm(_act(self.conv4(pixel_norm(_act(x)))))
        n = int(math.log2(resolution)) - 2  # blocks to run
        old = x
        for block in self.blocks[:n]:
            old, x = x, block(x)
        image = self.to_rgb[n](x)
        if _fading(alpha) and n > 0:
            image = torch.lerp(upsample(self.to_rgb[n - 1](old)), image, _weight(alpha, image))
        return image


class DBlock(nn.Module):
    """Two 3×3 convs with LeakyReLU 0.2, then 2×2 average pooling."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv0, self.conv1 = EqualizedConv2d(cin, cin, 3), EqualizedConv2d(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return downsample(_act(self.conv1(_act(self.conv0(x)))))


class ProGANDiscriminator(Staged):
    """D_paper: images at `self.resolution` → scores (N,), or (scores, class logits) with classes."""

    def __init__(self, cfg: ProGANNetConfig) -> None:
        super().__init__(cfg.image_size)
        self.cfg = cfg
        c4 = cfg.nf(1)
        self.from_rgb = nn.ModuleList(EqualizedConv2d(cfg.channels, cfg.nf(lv - 1), 1)
                                      for lv in range(2, cfg.levels + 1))  # fmt: skip
        self.blocks = nn.ModuleList(DBlock(cfg.nf(lv - 1), cfg.nf(lv - 2)) for lv in range(3, cfg.levels + 1))
        self.mbstd = MinibatchStdDev(cfg.mbstd_group) if cfg.mbstd_group > 1 else None
        self.conv4 = EqualizedConv2d(c4 + (self.mbstd is not None), c4, 3)
        self.dense0 = EqualizedLinear(c4 * 16, cfg.nf(0))
        self.dense1 = EqualizedLinear(cfg.nf(0), 1 + cfg.num_classes, gain=1.0)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return self.score(x, self.resolution, self.stage_alpha())

    def features(self, x: torch.Tensor, resolution: int, alpha: float | torch.Tensor = 1.0) -> torch.Tensor:
        """D's 4×4 features of images at `resolution` (the fade-in blend, then the blocks down to 4×4)."""
        n = int(math.log2(resolution)) - 2
        h = _act(self.from_rgb[n](x))
        if n > 0:
            h = self.blocks[n - 1](h)
            if _fading(alpha):
                h = torch.lerp(_act(self.from_rgb[n - 1](downsample(x))), h, _weight(alpha, h))
        for block in reversed(self.blocks[: n - 1] if n > 1 else []):
            h = block(h)
        return h

    def score(self, x: torch.Tensor, resolution: int, alpha: float | torch.Tensor = 1.0
              ) -> torch.Tensor | tuple[torch.Tensor, ...]:  # fmt: skip
        """Scores of images at `resolution`, and with classes also their class logits (the AC head)."""
        h = self.features(x, resolution, alpha)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = _act(self.dense0(_act(self.conv4(h)).flatten(1)))
        out = self.dense1(h)
        return (out[:, 0], out[:, 1:]) if self.cfg.num_classes else out[:, 0]


def _weight(alpha: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
    return alpha.to(like.dtype) if torch.is_tensor(alpha) else alpha


def fade_reals(x: torch.Tensor, image_size: int, resolution: int, alpha: float | torch.Tensor) -> torch.Tensor:
    """Real images as D sees them at `resolution`: box-downsampled from `image_size`, and during a fade
    blended with their half-resolution copy upsampled back (the official `process_reals` at lod)."""
    x = downsample(x, image_size // resolution)
    if _fading(alpha) and resolution > 4:
        x = torch.lerp(upsample(downsample(x)), x, _weight(alpha, x))
    return x
