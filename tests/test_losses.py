"""GAN losses and penalties against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch

from cgan_cli.nn.losses import GANLoss, gradient_penalty, r1_penalty


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


LOGITS = torch.tensor([[-2.0, 0.0], [0.5, 3.0]])


@pytest.mark.parametrize("mode", ["vanilla", "nonsat"])
def test_discriminator_bce_with_logits(mode):
    loss = GANLoss(mode)
    assert loss(LOGITS, real=True).item() == pytest.approx(sum(softplus(-v) for v in LOGITS.flatten().tolist()) / 4)
    assert loss(LOGITS, real=False).item() == pytest.approx(sum(softplus(v) for v in LOGITS.flatten().tolist()) / 4)


def test_nonsat_generator_maximises_log_d():
    # −log σ(l) = softplus(−l): the "real" target
    v = LOGITS.flatten().tolist()
    got = GANLoss("nonsat")(LOGITS, real=True, generator=True).item()
    assert got == pytest.approx(sum(softplus(-x) for x in v) / 4)


def test_vanilla_generator_is_the_saturating_minimax_loss():
    # log(1 − σ(l)) = −softplus(l), minimised by G; its gradient vanishes as D(G(z)) → 0
    v = LOGITS.flatten().tolist()
    got = GANLoss("vanilla")(LOGITS, real=True, generator=True).item()
    assert got == pytest.approx(sum(-softplus(x) for x in v) / 4)
    logits = torch.tensor([-20.0], requires_grad=True)
    GANLoss("vanilla")(logits, True, generator=True).backward()
    saturating = logits.grad.abs().item()
    logits.grad = None
    GANLoss("nonsat")(logits, True, generator=True).backward()
    assert saturating < 1e-6 < logits.grad.abs().item()


@pytest.mark.parametrize("mode", ["vanilla", "nonsat", "lsgan"])
def test_one_sided_label_smoothing_changes_only_the_real_target(mode):
    plain, smooth = GANLoss(mode), GANLoss(mode, real_label=0.9)
    assert smooth(LOGITS, real=False).item() == pytest.approx(plain(LOGITS, real=False).item())
    assert smooth(LOGITS, True, generator=True).item() == pytest.approx(plain(LOGITS, True, generator=True).item())
    v = LOGITS.flatten().tolist()
    if mode == "lsgan":
        want = sum((x - 0.9) ** 2 for x in v) / 4
    else:  # BCE against 0.9: 0.9·softplus(−l) + 0.1·softplus(l)
        want = sum(0.9 * softplus(-x) + 0.1 * softplus(x) for x in v) / 4
    assert smooth(LOGITS, real=True).item() == pytest.approx(want)


@pytest.mark.parametrize("mode", ["hinge", "wgangp"])
def test_label_smoothing_is_refused_where_there_is_no_target(mode):
    with pytest.raises(ValueError, match="label smoothing"):
        GANLoss(mode, real_label=0.9)


def test_bce_is_stable_for_large_logits():
    loss = GANLoss("nonsat")
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
