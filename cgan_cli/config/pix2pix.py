"""Pix2Pix (Isola et al., CVPR 2017), following junyanz/pytorch-CycleGAN-and-pix2pix `pix2pix_model.py`.

Defaults are the paper's and the reference's: U-Net-256 generator (ngf 64, batch norm, dropout 0.5),
70×70 PatchGAN discriminator (ndf 64, 3 layers) that sees input and output concatenated, vanilla GAN
loss, λ_L1 = 100, Adam lr 2e-4 with betas (0.5, 0.999), batch 1, 100 epochs at the initial rate
then 100 of linear decay, load 286 → random crop 256 with flips, N(0, 0.02) init. The discriminator
loss is halved, as in the reference, to slow D relative to G.
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.choices import DIRECTIONS
from cgan_cli.config.image_translation import ImageTranslationConfig


@dataclass
class Pix2PixConfig(ImageTranslationConfig):
    paired: str = option(
        "", "Paired dataset: aligned A|B files (DIR/train or DIR itself), or DIR/A + DIR/B.", required=True, path=True
    )
    direction: str = option("AtoB", "AtoB: learn A → B; BtoA: learn B → A.", choices=DIRECTIONS)
    lambda_l1: float = option(100.0, "Weight of the L1 loss between output and target.", min=0.0)


SPEC = FamilySpec(
    "pix2pix", Pix2PixConfig, "translations", "cgan_cli.families.pix2pix:Pix2Pix",
    "Paired image-to-image translation (Isola et al. 2017): U-Net + PatchGAN.",
)
