"""Class-conditional GAN (Mirza & Osindero 2014) on the DCGAN backbone.

G joins a learned class embedding to z (width = the number of classes by default, as
eriklindernoren/PyTorch-GAN's cgan). D is conditioned by projection by default (Miyato & Koyama,
ICLR 2018: logit + ⟨embed(y), Σ_spatial φ(x)⟩ on D's last features), or, with `--d-cond concat`, by
one-hot label maps concatenated to the image. Fakes are drawn with the labels of the real batch, so
classes appear as often as in the data. Everything else is DCGAN's (see `cgan train dcgan --help`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.latent import LatentConfig

D_CONDITIONING = ("projection", "concat")


@dataclass
class ClassConfig(LatentConfig):
    """A labelled folder: one subfolder per class (the torchvision ImageFolder layout)."""

    classes: str = option("", "Training images: one subfolder per class (ImageFolder layout).", required=True,
                          path=True)  # fmt: skip

    def data_root(self) -> Path:
        return Path(self.classes)


@dataclass
class CGANConfig(ClassConfig):
    d_cond: str = option("projection", "How D sees the class: projection (Miyato & Koyama) or concat label maps.",
                         choices=D_CONDITIONING)  # fmt: skip
    embed_dim: int = option(0, "Width of G's class embedding joined to z (0: the number of classes).", min=0)


SPEC = FamilySpec(
    "cgan", CGANConfig, "samples", "cgan_cli.families.cgan:CGAN",
    "Class-conditional GAN on the DCGAN backbone; projection discriminator by default.",
)
