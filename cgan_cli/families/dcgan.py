"""The DCGAN family (Radford et al., ICLR 2016): `LatentGAN` (cgan_cli/families/latent.py) on unlabelled
images. The options and the paper's defaults are in cgan_cli/config/dcgan.py.
"""

from __future__ import annotations

from cgan_cli.config.dcgan import SPEC, DCGANConfig
from cgan_cli.families.latent import LatentGAN

__all__ = ["DCGAN", "DCGANConfig"]


class DCGAN(LatentGAN):
    spec = SPEC
