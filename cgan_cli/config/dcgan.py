"""DCGAN (Radford et al., ICLR 2016): unconditional image generation from z.

Defaults are DCGAN's: z 100, ngf = ndf = 128 (Radford's code; 4×4×1024 at 64×64), BN in G and in D
except its first layer, LeakyReLU 0.2, N(0, 0.02) init, Adam lr 2e-4 with betas (0.5, 0.999), batch
64, 25 epochs at a constant rate (the PyTorch example's `niter`), and the non-saturating loss.
Optional, off by default: spectral norm in D (Miyato et al. 2018; D then drops batch norm, as SN-GAN's
CNN), R1 (Mescheder et al. 2018), one-sided label smoothing (Salimans et al. 2016), an EMA generator,
DiffAugment (Zhao et al. 2020) on everything D sees, and several D steps per G step (`--n-critic`; the
WGAN-GP critic uses layer norm instead of batch norm, as Gulrajani et al. advise).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.latent import LatentConfig


@dataclass
class DCGANConfig(LatentConfig):
    images: str = option("", "Training images: a folder, searched recursively (class subfolders are ignored).",
                         required=True, path=True)  # fmt: skip

    def data_root(self) -> Path:
        return Path(self.images)


SPEC = FamilySpec(
    "dcgan", DCGANConfig, "samples", "cgan_cli.families.dcgan:DCGAN",
    "Unconditional DCGAN (Radford et al. 2016): images from noise.",
)
