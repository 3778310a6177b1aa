"""Auxiliary-classifier GAN (Odena, Olah & Shlens, ICML 2017) on the DCGAN backbone.

G takes z joined to the one-hot class code (the paper's 110-d input for 10 classes). D shares its
features between the real/fake head and an auxiliary classifier head whose logits go straight into
cross-entropy (no softmax before it). D minimises L_S + λ·(CE on reals + CE on fakes); G minimises its
adversarial loss + λ·CE on its fakes (the paper's L_C − L_S / L_S + L_C, with λ = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.cgan import ClassConfig


@dataclass
class ACGANConfig(ClassConfig):
    lambda_cls: float = option(1.0, "Weight of the auxiliary classification loss.", min=0.0)


SPEC = FamilySpec(
    "acgan", ACGANConfig, "samples", "cgan_cli.families.acgan:ACGAN",
    "Auxiliary-classifier GAN (Odena et al. 2017): D also predicts the class.",
)
