"""Normalisation choice and weight initialisation as in pytorch-CycleGAN-and-pix2pix."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from cgan_cli.config.choices import NORMS


def norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """`batch`: affine BN with running stats; `instance`: IN without affine or stats (the reference's choices)."""
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False)
    if kind == "none":
        return lambda channels: nn.Identity()
    raise ValueError(f"unknown norm {kind!r}; choose from {', '.join(NORMS)}")


def conv_bias(kind: str) -> bool:
    """The reference's rule: a conv has a bias only before InstanceNorm (BN's shift replaces it, and
    with no norm the reference has none either)."""
    return kind == "instance"


class PerImageBatchNorm(nn.Module):
    """A trained BatchNorm2d that normalises each image by its own statistics: what the reference's
    test.py does (train-mode BN on batches of one), independent of how images are batched."""

    def __init__(self, bn: nn.BatchNorm2d) -> None:
        super().__init__()
        self.bn = bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.instance_norm(x, weight=self.bn.weight, bias=self.bn.bias, eps=self.bn.eps)


def per_image_batch_norm(net: nn.Module) -> nn.Module:
    """Swap every BatchNorm2d of `net` (in place) for its per-image form; for inference only."""
    for name, child in net.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(net, name, PerImageBatchNorm(child))
        else:
            per_image_batch_norm(child)
    return net


def init_weights(net: nn.Module, gain: float = 0.02, kind: str = "normal") -> nn.Module:
    """N(0, gain) conv/linear weights (pix2pix/DCGAN init; `kind="xavier"`: Xavier-normal with `gain`, as
    BicycleGAN's `init_type xavier`), N(1, gain) for norm scales, zero biases."""
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            if kind == "xavier":
                nn.init.xavier_normal_(m.weight, gain=gain)
            else:
                nn.init.normal_(m.weight, 0.0, gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.affine:
            nn.init.normal_(m.weight, 1.0, gain)
            nn.init.zeros_(m.bias)
    return net
