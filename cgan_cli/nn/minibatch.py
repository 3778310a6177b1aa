"""Layers that let a discriminator see the whole minibatch, so a generator that collapses onto a few
outputs is caught: minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training
GANs", openai/improved-gan's `MinibatchLayer`: 100 kernels of 5 dimensions) and the minibatch standard
deviation feature map of ProGAN (Karras et al. 2018, tkarras/progressive_growing_of_gans
`minibatch_stddev_layer`, group size 4). The networks that use them (cgan_cli/nn/dcgan.py,
cgan_cli/nn/progan.py) decide where they sit.
"""

from __future__ import annotations

import torch
from torch import nn


class MinibatchDiscrimination(nn.Module):
    """x (N, in_features) → o (N, kernels): o_b(x_i) = Σ_j exp(−‖M_i,b − M_j,b‖₁), with M = x·T reshaped to
    (N, kernels, dims), plus a learned bias per kernel (initially −1). As improved-gan, the sum runs over
    j ≠ i (it masks the self term, exp(0) = 1). The caller concatenates o to x before D's last layer."""

    def __init__(self, in_features: int, kernels: int = 100, dims: int = 5) -> None:
        super().__init__()
        self.kernels, self.dims = kernels, dims
        self.T = nn.Parameter(torch.randn(in_features, kernels * dims) * 0.05)  # improved-gan: Normal(0.05)
        self.b = nn.Parameter(torch.full((kernels,), -1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = (x.flatten(1) @ self.T.to(x.dtype)).view(-1, self.kernels, self.dims)  # (N, B, C)
        l1 = (m[:, None] - m[None]).abs().sum(3)  # (N, N, B)
        return torch.exp(-l1).sum(1) - 1.0 + self.b.to(x.dtype)  # (N, B); − 1: the j = i term


class MinibatchStdDev(nn.Module):
    """x (N, C, H, W) → (N, C + 1, H, W): the standard deviation of each feature over a group of `group_size`
    samples, averaged over features and pixels, appended as one more channel (ProGAN's layer; a batch that is
    not a multiple of the group uses the largest group that divides it, as StyleGAN2's `min(G, N)` does)."""

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        y = x.float().view(g, -1, c, h, w)  # (G, M, C, H, W): sample i is in group i mod M, as ProGAN
        y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt()  # (M, C, H, W) stddev over the group
        y = y.mean((1, 2, 3)).to(x.dtype)  # (M,)
        return torch.cat([x, y.repeat(g)[:, None, None, None].expand(n, 1, h, w)], 1)
