"""The class-conditional GAN family (Mirza & Osindero 2014): `LatentGAN` on a labelled folder, with G's class
embedding and D's projection or concat conditioning. The options and defaults are in cgan_cli/config/cgan.py.
"""

from __future__ import annotations

import dataclasses

from cgan_cli.config.cgan import SPEC, CGANConfig
from cgan_cli.families.latent import LatentGAN
from cgan_cli.nn.dcgan import DCGANNetConfig


class ClassConditional(LatentGAN):
    conditional = True


class CGAN(ClassConditional):
    spec = SPEC
    config: CGANConfig

    @classmethod
    def net_config(cls, config: CGANConfig) -> DCGANNetConfig:
        k = len(config.class_names)
        net = super().net_config(config)
        return dataclasses.replace(net, num_classes=k, g_cond="embed", embed_dim=config.embed_dim or k,
                                   d_cond=config.d_cond)  # fmt: skip
