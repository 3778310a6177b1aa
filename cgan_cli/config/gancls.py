"""Text-to-image GAN with DF-GAN's networks and loss (Tao et al., CVPR 2022; tobran/DF-GAN), or Reed et
al.'s GAN-CLS/GAN-INT objective (ICML 2016) with `--loss gancls`, conditioned on a frozen CLIP text
encoder's sentence embedding instead of the papers' own text encoders.

Defaults are DF-GAN's: nf 32, z 100, one-stage G of fusion blocks, 64×64 here (the paper trains
256×256; `--image-size 256` on a GPU), random horizontal flips (DF-GAN also random-crops from a 76/64
larger resize; here images are resized and centre-cropped), batch 32, Adam betas (0.0, 0.9), lr G 1e-4
and D 4e-4, constant rate, and the hinge loss over (real, matching text), (fake, text) and (real,
mismatched text: the batch shifted by one), the last two weighted ½, plus the matching-aware gradient
penalty (weight 2, power 6) on real images with their text. G minimises −D(fake, text).

`--loss gancls` is Reed et al.'s matching-aware BCE loss: D scores (real, right) real and (real, wrong)
and (fake, right) fake, the last two halved; G's non-saturating loss adds fakes made from the midpoint of
two captions' embeddings (GAN-INT, β = ½), which D never sees as real. MA-GP is DF-GAN's and is not used
with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.text import TextConfig

LOSSES = ("hinge", "gancls")


@dataclass
class GANCLSConfig(TextConfig):
    ngf: int = option(32, "Generator width (DF-GAN's nf): 8·ngf channels at 4×4.", min=1)
    ndf: int = option(32, "Discriminator width of the first layer.", min=1)
    loss: str = option("hinge", "hinge: DF-GAN's loss with MA-GP; gancls: Reed et al.'s BCE with GAN-INT.",
                       choices=LOSSES)  # fmt: skip
    magp: float = option(2.0, "Matching-aware gradient penalty weight (hinge loss; 0: off).", min=0.0)
    magp_power: float = option(6.0, "MA-GP power p in E[‖∇‖^p].", min=1.0)
    lr: float = option(1e-4, "Generator learning rate.", min=0.0)
    lr_d: float = option(4e-4, "Discriminator learning rate.", min=0.0)
    beta1: float = option(0.0, "Adam beta1.", min=0.0, max=1.0)
    beta2: float = option(0.9, "Adam beta2.", min=0.0, max=1.0)
    batch_size: int = option(32, "Images per step.", min=1)
    epochs: int = option(600, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)
    flip: bool = option(True, "Random horizontal flips of the training images (DF-GAN's RandomHorizontalFlip).")

SPEC = FamilySpec(
    "gancls", GANCLSConfig, "text", "cgan_cli.families.gancls:GANCLS",
    "Text-to-image with DF-GAN's one-stage generator and matching-aware hinge loss (or GAN-CLS).",
)
