"""Adversarial losses shared by every family, with the conventions of pytorch-CycleGAN-and-pix2pix
`GANLoss` (targets 1/0 for vanilla and LSGAN, ∓mean for WGAN) plus the hinge loss of Lim & Ye / Miyato
et al., and the WGAN-GP gradient penalty of Gulrajani et al. 2017 (λ 10, interpolates between real and
fake, as `cal_gradient_penalty(type='mixed')`) and the R1 penalty of Mescheder et al. 2018.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

GAN_LOSSES = ("vanilla", "lsgan", "hinge", "wgangp")


class GANLoss:
    """`loss(logits, real)` for the discriminator, `loss(logits, True, generator=True)` for G."""

    def __init__(self, mode: str) -> None:
        if mode not in GAN_LOSSES:
            raise ValueError(f"unknown GAN loss {mode!r}; choose from {', '.join(GAN_LOSSES)}")
        self.mode = mode

    @property
    def uses_gradient_penalty(self) -> bool:
        return self.mode == "wgangp"

    def __call__(self, logits: torch.Tensor, real: bool, generator: bool = False) -> torch.Tensor:
        logits = logits.float()
        if self.mode == "vanilla":
            target = torch.ones_like(logits) if real else torch.zeros_like(logits)
            return F.binary_cross_entropy_with_logits(logits, target)
        if self.mode == "lsgan":
            return F.mse_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))
        if self.mode == "hinge" and not generator:
            return F.relu(1.0 - logits).mean() if real else F.relu(1.0 + logits).mean()
        # WGAN critic and hinge generator: raise D's score of what should look real
        return -logits.mean() if real else logits.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float = 10.0,
    target_norm: float = 1.0,
) -> torch.Tensor:
    """WGAN-GP: weight · E[(‖∇ D(x̂)‖₂ − target_norm)²] with x̂ uniformly between real and fake per sample."""
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
    norms = (grad.flatten(1).float() + 1e-16).norm(2, dim=1)
    return weight * ((norms - target_norm) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1: gamma/2 · E[‖∇ₓ D(x)‖²] on real data; `real` must have been passed with requires_grad."""
    (grad,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
    return 0.5 * gamma * grad.flatten(1).float().pow(2).sum(1).mean()
