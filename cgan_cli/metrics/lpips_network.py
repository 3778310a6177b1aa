"""The LPIPS network (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"),
restated; finding, checking, loading and writing its weights are cgan_cli/metrics/lpips.py's.

The numbers are those of the official `lpips` package (richzhang/PerceptualSimilarity, PyPI `lpips` 0.1.4) with its
defaults (`lpips.LPIPS(net='alex', version='0.1')`, `--lpips-net vgg` for `net='vgg'`): both images, in [-1, 1], go
through its ScalingLayer ((x - shift) / scale), then torchvision's ImageNet AlexNet (or VGG16) features; at five ReLU
outputs each feature vector is divided by its channel norm (+1e-10), the two images' features are subtracted and
squared, a learned 1×1 convolution (one weight per channel, no bias; v0.1 weights; its dropout does nothing at eval)
maps them to one channel, which is averaged over space, and the five layers are summed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

EPS = 1e-10  # lpips.normalize_tensor
SHIFT = (-0.030, -0.088, -0.188)  # lpips.ScalingLayer
SCALE = (0.458, 0.448, 0.450)


@dataclass(frozen=True)
class NetSpec:
    """One backbone as `lpips.pretrained_networks` slices torchvision's `features`."""

    layers: tuple  # torchvision's features to the last tap: (out, kernel, stride, padding) convs, ("M", k, s) pools
    taps: tuple[int, ...]  # indices (in torchvision's `features`) of the ReLUs whose outputs are compared
    channels: tuple[int, ...]  # channels at each tap
    min_side: int  # smallest image side the backbone accepts


_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_POOL3, _POOL2 = ("M", 3, 2), ("M", 2, 2)
NETS: dict[str, NetSpec] = {
    "alex": NetSpec(
        layers=((64, 11, 4, 2), _POOL3, (192, 5, 1, 2), _POOL3, (384, 3, 1, 1), (256, 3, 1, 1), (256, 3, 1, 1)),
        taps=(1, 4, 7, 9, 11),
        channels=(64, 192, 384, 256, 256),
        min_side=31,
    ),
    "vgg": NetSpec(
        layers=tuple(_POOL2 if c == "M" else (c, 3, 1, 1) for c in _VGG16),
        taps=(3, 8, 15, 22, 29),
        channels=(64, 128, 256, 512, 512),
        min_side=16,
    ),
}


def _features(spec: NetSpec) -> nn.Sequential:
    """torchvision's `features` (same indices, so its state-dict names load as they are), cut after the last tap."""
    layers: list[nn.Module] = []
    channels = 3
    for layer in spec.layers:
        if layer[0] == "M":  # AlexNet pools 3×3 stride 2, VGG 2×2 stride 2
            layers.append(nn.MaxPool2d(layer[1], layer[2]))
            continue
        out, kernel, stride, padding = layer
        layers += [nn.Conv2d(channels, out, kernel, stride, padding), nn.ReLU()]
        channels = out
    assert len(layers) == spec.taps[-1] + 1 and all(isinstance(layers[i], nn.ReLU) for i in spec.taps)
    return nn.Sequential(*layers)


def _unit(x: Tensor) -> Tensor:
    """lpips.normalize_tensor: each spatial position's feature vector divided by its norm (+eps)."""
    return x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + EPS)


class LPIPS(nn.Module):
    """Learned perceptual distance. `forward(a, b)`: two (N, 3, H, W) batches in [-1, 1] → (N,) distances."""

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in NETS:
            raise ValueError(f"LPIPS net must be one of {', '.join(NETS)} (got {net!r})")
        self.net, self.spec = net, NETS[net]
        self.features = _features(self.spec)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in self.spec.channels)
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None], persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None], persistent=False)

    def taps(self, x: Tensor) -> list[Tensor]:
        x = (x - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.spec.taps:
                out.append(x)
        return out

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] != 3:
            raise ValueError(
                f"LPIPS needs two (N, 3, H, W) batches of one shape, got {tuple(a.shape)}, {tuple(b.shape)}"
            )
        if min(a.shape[2:]) < self.spec.min_side:
            side = self.spec.min_side
            raise ValueError(
                f"LPIPS ({self.net}) needs images of at least {side}×{side} pixels, got {a.shape[3]}×{a.shape[2]}"
            )
        total = 0
        for lin, fa, fb in zip(self.lins, self.taps(a), self.taps(b)):
            total = total + lin((_unit(fa) - _unit(fb)) ** 2).mean([2, 3], keepdim=True)
        return total.flatten()

    @torch.inference_mode()
    def images(self, a: Image.Image, b: Image.Image) -> float:
        """LPIPS of two RGB images of one size."""
        device = self.shift.device
        return float(self(to_input(a).to(device), to_input(b).to(device))[0])


def to_input(img: Image.Image) -> Tensor:
    """An RGB image → (1, 3, H, W) float32 in [-1, 1], rounded as `lpips.im2tensor` does (x / 127.5 - 1 in float64)."""
    arr = np.asarray(img.convert("RGB"), dtype=np.float64) / 127.5 - 1.0
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float()
