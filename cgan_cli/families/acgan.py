"""Auxiliary-classifier GAN (Odena, Olah & Shlens, ICML 2017) on the DCGAN backbone.

G takes z joined to the one-hot class code (the paper's 110-d input for 10 classes). D shares its
features between the real/fake head and an auxiliary classifier head whose logits go straight into
cross-entropy (no softmax before it). D minimises L_S + λ·(CE on reals + CE on fakes); G minimises its
adversarial loss + λ·CE on its fakes (the paper's L_C − L_S / L_S + L_C, with λ = 1).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cgan_cli.config import option
from cgan_cli.families.base import register
from cgan_cli.families.cgan import ClassConditional, ClassConfig
from cgan_cli.nn.dcgan import DCGANNetConfig


@dataclass
class ACGANConfig(ClassConfig):
    lambda_cls: float = option(1.0, "Weight of the auxiliary classification loss.", min=0.0)


@register
class ACGAN(ClassConditional):
    name = "acgan"
    summary = "Auxiliary-classifier GAN (Odena et al. 2017): D also predicts the class."
    Config = ACGANConfig
    config: ACGANConfig

    @classmethod
    def net_config(cls, config: ACGANConfig) -> DCGANNetConfig:
        k = len(config.class_names)
        return dataclasses.replace(config.net(), num_classes=k, g_cond="onehot", d_cond="acgan")

    def class_loss(self, class_logits: torch.Tensor | None, labels: torch.Tensor) -> torch.Tensor | None:
        return self.config.lambda_cls * F.cross_entropy(class_logits.float(), labels)
