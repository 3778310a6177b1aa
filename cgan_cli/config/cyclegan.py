"""CycleGAN (Zhu et al., ICCV 2017), following junyanz/pytorch-CycleGAN-and-pix2pix `cycle_gan_model.py`.

G_A: A → B and G_B: B → A (ResNet, 9 blocks, ngf 64, instance norm, no dropout), D_A judges B-domain
images and D_B A-domain images (70×70 PatchGAN, ndf 64, instance norm). Losses: LSGAN, cycle
consistency λ_A = λ_B = 10, identity 0.5·λ (G_A(B) ≈ B, G_B(A) ≈ A). Each D sees fakes through an
image pool of 50 and its loss is halved. One Adam for both generators and one for both
discriminators: lr 2e-4, betas (0.5, 0.999), batch 1, 100 epochs + 100 of linear decay, load 286 →
random crop 256 with flips, N(0, 0.02) init. Step order as the reference: G first (with both Ds
frozen), then both Ds.
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.choices import NORMS
from cgan_cli.config.image_translation import GENERATORS, LOSSES, ImageTranslationConfig
from cgan_cli.errors import UsageError


@dataclass
class CycleGANConfig(ImageTranslationConfig):
    unpaired: str = option("", "Unpaired dataset: DIR/trainA and DIR/trainB (testA/testB for samples).", path=True)
    domain_a: str = option("", "Domain A folder (instead of --unpaired).", path=True)
    domain_b: str = option("", "Domain B folder (instead of --unpaired).", path=True)
    net_g: str = option("resnet_9blocks", "Generator: resnet_Nblocks, or a U-Net with log2(size) downsamplings.",
                        choices=GENERATORS)  # fmt: skip
    norm: str = option("instance", "Normalisation layers.", choices=NORMS)
    dropout: bool = option(False, "Dropout 0.5 in the generator's residual blocks.")
    loss: str = option("lsgan", "GAN loss (the reference's names: vanilla is BCE, non-saturating).", choices=LOSSES)
    lambda_a: float = option(10.0, "Weight of the A → B → A cycle loss.", min=0.0)
    lambda_b: float = option(10.0, "Weight of the B → A → B cycle loss.", min=0.0)
    lambda_identity: float = option(0.5, "Identity loss weight, relative to the cycle weights (0: off).", min=0.0)
    pool_size: int = option(50, "Fakes kept per discriminator's image pool (0: no pool).", min=0)

    def check(self) -> None:
        super().check()
        if not self.unpaired and not (self.domain_a and self.domain_b):
            raise UsageError("give --unpaired DIR (with trainA/ and trainB/) or both --domain-a and --domain-b")
        if self.lambda_identity > 0 and self.input_nc != self.output_nc:
            raise UsageError("--lambda-identity needs --input-nc equal to --output-nc (G_A(B) must look like B)")


SPEC = FamilySpec(
    "cyclegan", CycleGANConfig, "translations", "cgan_cli.families.cyclegan:CycleGAN",
    "Unpaired image-to-image translation (Zhu et al. 2017): two ResNet generators, cycle loss.",
)
