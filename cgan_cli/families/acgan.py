"""The ACGAN family (Odena, Olah & Shlens, ICML 2017): `LatentGAN` whose D has an auxiliary classifier head;
the one hook it overrides is the class loss. The options and defaults are in cgan_cli/config/acgan.py.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from cgan_cli.config.acgan import SPEC, ACGANConfig
from cgan_cli.families.cgan import ClassConditional
from cgan_cli.nn.dcgan import DCGANNetConfig


class ACGAN(ClassConditional):
    spec = SPEC
    config: ACGANConfig

    @classmethod
    def net_config(cls, config: ACGANConfig) -> DCGANNetConfig:
        k = len(config.class_names)
        return dataclasses.replace(super().net_config(config), num_classes=k, g_cond="onehot", d_cond="acgan")

    def class_loss(self, class_logits: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor | None:
        return self.config.lambda_cls * F.cross_entropy(class_logits.float(), labels)
