"""GAN losses and penalties against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from cgan_cli.nn.losses import GANLoss, gradient_penalty, r1_penalty


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


LOGITS = torch.tensor([[-2.0, 0.0], [0.5, 3.0]])


def test_vanilla_is_bce_with_logits():
    loss = GANLoss("vanilla")
    assert loss(LOGITS, real=True).item() == pytest.approx(sum(softplus(-v) for v in LOGITS.flatten().tolist()) / 4)
    assert loss(LOGITS, real=False).item() == pytest.approx(sum(softplus(v) for v in LOGITS.flatten().tolist()) / 4)
    # the generator's non-saturating loss is the "real" target
    assert loss(LOGITS, real=True, generator=True).item() == pytest.approx(loss(LOGITS, real=True).item())


def test_vanilla_is_stable_for_large_logits():
    loss = GANLoss("vanilla")
    big = torch.tensor([1e4, -1e4])
    assert torch.isfinite(loss(big, real=True)) and torch.isfinite(loss(big, real=False))
    assert loss(big, real=True).item() == pytest.approx(5e3)


def test_lsgan_is_mse_to_one_and_zero():
    loss = GANLoss("lsgan")
    v = LOGITS.flatten().tolist()
    assert loss(LOGITS, real=True).item() == pytest.approx(sum((x - 1) ** 2 for x in v) / 4)
    assert loss(LOGITS, real=False).item() == pytest.approx(sum(x**2 for x in v) / 4)


def test_hinge_discriminator_and_generator():
    loss = GANLoss("hinge")
    v = LOGITS.flatten().tolist()
    assert loss(LOGITS, real=True).item() == pytest.approx(sum(max(0, 1 - x) for x in v) / 4)
    assert loss(LOGITS, real=False).item() == pytest.approx(sum(max(0, 1 + x) for x in v) / 4)
    assert loss(LOGITS, real=True, generator=True).item() == pytest.approx(-sum(v) / 4)


def test_wgan_critic_signs():
    loss = GANLoss("wgangp")
    assert loss(LOGITS, real=True).item() == pytest.approx(-LOGITS.mean().item())
    assert loss(LOGITS, real=False).item() == pytest.approx(LOGITS.mean().item())
    assert loss.uses_gradient_penalty and not GANLoss("vanilla").uses_gradient_penalty


def test_unknown_loss_is_rejected():
    with pytest.raises(ValueError, match="unknown GAN loss"):
        GANLoss("nope")


def test_gradient_penalty_of_a_linear_critic_is_exact():
    # D(x) = <w, x> has gradient w everywhere, so GP = λ (‖w‖ − 1)²
    w = torch.tensor([3.0, 4.0, 0.0, 0.0]).view(1, 1, 2, 2)

    def critic(x):
        return (x * w).flatten(1).sum(1)

    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    gp = gradient_penalty(critic, real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10.0 * (5.0 - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_backpropagates_into_the_critic():
    lin = torch.nn.Linear(4, 1)
    gp = gradient_penalty(lambda x: lin(x), torch.randn(8, 4), torch.randn(8, 4))
    gp.backward()
    assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0


def test_r1_of_a_linear_critic():
    w = torch.tensor([1.0, 2.0, 2.0])
    real = torch.randn(6, 3, requires_grad=True)
    logits = real @ w
    assert r1_penalty(logits, real, gamma=10.0).item() == pytest.approx(0.5 * 10.0 * 9.0, rel=1e-6)
