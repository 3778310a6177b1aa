"""DF-GAN's networks (tobran/DF-GAN models/GAN.py) and the matching-aware gradient penalty."""

from __future__ import annotations

import pytest
import torch

from cgan_cli.nn.dfgan import Affine, DFGANDiscriminator, DFGANGenerator, DFGANNetConfig, widths
from cgan_cli.nn.losses import matching_aware_gp

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.mark.parametrize("size, blocks", [(32, 3), (64, 4), (256, 6)])
def test_widths_and_block_counts_follow_the_reference(size: int, blocks: int) -> None:
    cfg = DFGANNetConfig(image_size=size, cond_dim=16, ngf=4, ndf=4)
    G, D = DFGANGenerator(cfg), DFGANDiscriminator(cfg)
    assert len(G.blocks) == blocks and len(D.blocks) == blocks
    # get_G_in_out_chs: nf·min(2^i, 8), coarsest first
    assert [b.c1.out_channels for b in G.blocks] == widths(4, size)[::-1][1:]
    assert widths(32, 256) == [32, 64, 128, 256, 256, 256, 256]


def test_generator_and_discriminator_shapes() -> None:
    cfg = DFGANNetConfig(image_size=64, z_dim=10, cond_dim=12, ngf=4, ndf=4)
    G, D = DFGANGenerator(cfg), DFGANDiscriminator(cfg)
    z, s = torch.randn(3, 10), torch.randn(3, 12)
    x = G(z, s)
    assert x.shape == (3, 3, 64, 64) and x.abs().max() <= 1
    assert D.features(x).shape == (3, 32, 4, 4)
    assert D(x, s).shape == (3,)


def test_affine_starts_as_identity_and_fusion_sees_z_and_text() -> None:
    affine = Affine(6, 5)
    x = torch.randn(2, 5, 3, 3)
    assert torch.equal(affine(x, torch.randn(2, 6)), x)
    cfg = DFGANNetConfig(image_size=32, z_dim=4, cond_dim=6, ngf=4, ndf=4)
    G = DFGANGenerator(cfg)
    assert G.blocks[0].fuse1.affine0.fc_gamma[0].in_features == 4 + 6


def test_discriminator_residual_gate_starts_closed() -> None:
    D = DFGANDiscriminator(DFGANNetConfig(image_size=32, cond_dim=4, ngf=4, ndf=4))
    assert all(b.gamma.item() == 0.0 for b in D.blocks)


def test_text_changes_the_image_once_the_fusion_has_learned() -> None:
    cfg = DFGANNetConfig(image_size=32, z_dim=4, cond_dim=6, ngf=4, ndf=4)
    G = DFGANGenerator(cfg)
    for block in G.blocks:  # at init the affines are the identity whatever the text: perturb them
        for fuse in (block.fuse1, block.fuse2):
            torch.nn.init.normal_(fuse.affine0.fc_gamma[2].weight, std=0.5)
    z = torch.randn(1, 4)
    assert not torch.allclose(G(z, torch.randn(1, 6)), G(z, torch.randn(1, 6)))


def test_magp_is_the_norm_of_the_joint_gradient_to_the_power() -> None:
    x = torch.randn(4, 3, requires_grad=True)
    e = torch.randn(4, 2, requires_grad=True)
    w, v = torch.randn(3), torch.randn(2)
    out = x @ w + (e @ v) ** 2  # ∇x = w, ∇e = 2(e·v)v
    got = matching_aware_gp(out, x, e, weight=2.0, power=6.0)
    grad_e = 2 * (e @ v)[:, None] * v
    norms = torch.cat([w.expand(4, 3), grad_e], dim=1).norm(dim=1)
    assert torch.allclose(got, 2.0 * (norms**6).mean())
    got.backward()  # create_graph: the penalty trains D
    assert e.grad is not None and e.grad.abs().sum() > 0
