"""Adversarial losses shared by every family, with the conventions of pytorch-CycleGAN-and-pix2pix
`GANLoss` (targets 1/0 for BCE and LSGAN, ∓mean for WGAN) plus the hinge loss of Lim & Ye / Miyato
et al., and the WGAN-GP gradient penalty of Gulrajani et al. 2017 (λ 10, interpolates between real and
fake, as `cal_gradient_penalty(type='mixed')`) and the R1 penalty of Mescheder et al. 2018.

`vanilla` is Goodfellow et al.'s minimax game: G minimises log(1 − D(G(z))), which saturates when D
wins. `nonsat` is their non-saturating fix, G maximising log D(G(z)) — what DCGAN trains with, and what
pytorch-CycleGAN-and-pix2pix calls `vanilla` (so pix2pix maps its `vanilla` onto `nonsat`). `wgan` is the
critic loss of Arjovsky et al. 2017 (the Lipschitz bound then comes from weight clipping, not a penalty).
`relativistic_loss` is RpGAN's pairing loss as R3GAN (Huang et al. 2024, brownvc/R3GAN) trains it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from cgan_cli.config.choices import ADVERSARIAL, SMOOTHABLE


class GANLoss:
    """`loss(logits, real)` for the discriminator, `loss(logits, True, generator=True)` for G.

    `real_label` < 1 is one-sided label smoothing (Salimans et al. 2016): D's target for real images
    only; G's target stays 1.
    """

    def __init__(self, mode: str, real_label: float = 1.0) -> None:
        if mode not in ADVERSARIAL:
            raise ValueError(f"unknown GAN loss {mode!r}; choose from {', '.join(ADVERSARIAL)}")
        if real_label != 1.0 and mode not in SMOOTHABLE:
            raise ValueError(f"label smoothing applies to the {', '.join(SMOOTHABLE)} losses, not {mode}")
        self.mode = mode
        self.real_label = real_label

    @property
    def uses_gradient_penalty(self) -> bool:  # "wgan" clips weights instead
        return self.mode == "wgangp"

    def __call__(self, logits: torch.Tensor, real: bool, generator: bool = False) -> torch.Tensor:
        logits = logits.float()
        target = (1.0 if generator else self.real_label) if real else 0.0
        if self.mode == "vanilla" and generator:
            return -F.softplus(logits).mean()  # log(1 − sigmoid(l)) = −softplus(l): minimised by G
        if self.mode in ("vanilla", "nonsat"):
            return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))
        if self.mode == "lsgan":
            return F.mse_loss(logits, torch.full_like(logits, target))
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


def matching_aware_gp(
    real_logits: torch.Tensor, real: torch.Tensor, text: torch.Tensor, weight: float = 2.0, power: float = 6.0
) -> torch.Tensor:
    """DF-GAN's MA-GP: weight · E[‖(∇ₓ D(x, e), ∇ₑ D(x, e))‖₂^power] on real images and their matching
    text, which smooths D around the real, matching data; both inputs must have requires_grad."""
    grads = torch.autograd.grad(real_logits.float().sum(), (real, text), create_graph=True)
    flat = torch.cat([g.flatten(1).float() for g in grads], dim=1)
    return weight * flat.pow(2).sum(1).pow(power / 2).mean()  # ‖g‖^p without sqrt's infinite slope at 0


def relativistic_loss(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """RpGAN: E[softplus(−(D(pos) − D(neg)))] over pairs: for D, pos = real and neg = fake; for G, the swap
    (R3GAN's `softplus(-RelativisticLogits)`); each real is paired with the fake of the same batch index."""
    return F.softplus(negative.float() - positive.float()).mean()
