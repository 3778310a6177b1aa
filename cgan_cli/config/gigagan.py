"""A scaled-down GigaGAN (Kang et al., CVPR 2023, "Scaling up GANs for Text-to-Image Synthesis").

What is GigaGAN's: a frozen CLIP text tower with a learned text transformer on top giving local
(per-token) and global text features; a mapping network M(z, t_global); a StyleGAN2-style synthesis
network whose convolutions are modulated and pick their kernels per sample from a filter bank
(sample-adaptive kernel selection), interleaved with self-attention (L2-distance) and cross-attention
to the local text features; image-pyramid outputs; a multi-scale, text-conditioned discriminator fed
the matching scales (multi-scale input and output); the matching-aware loss, in which D must call a
real image with another image's caption fake; a CLIP contrastive loss on G; a vision-aided
discriminator head on frozen CLIP image features; R1; and an EMA generator.

What is scaled down: widths (ngf/ndf 32, at most 256 channels, against thousands), depth (2 text
layers, 4 mapping layers, attention only up to 16×16), a filter bank of 4 kernels, and 64×64 output
by default (`--image-size` up to 256 on a GPU). What is left out: the GAN upsampler (the paper's
second, super-resolution network), and the paper's data scale and training length; no speed or FID
of the paper is claimed for this model.

Loss weights: the paper's objective adds its terms without stating weights for every one here, so
these defaults are ours (after lucidrains/gigagan-pytorch): matching-aware 1, CLIP contrastive 0.1,
vision-aided 0.5, R1 γ 0.05 applied lazily every 4 D steps (StyleGAN2), Adam 2e-4 with betas
(0.5, 0.9), EMA 0.999. DiffAugment, when asked for, draws its own parameters at each scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.text import TextConfig
from cgan_cli.errors import UsageError


@dataclass
class GigaGANConfig(TextConfig):
    z_dim: int = option(128, "Latent (noise) dimensions.", min=1)
    w_dim: int = option(256, "Style vector width (the mapping network's output).", min=1)
    t_dim: int = option(256, "Width of the learned text transformer (local and global text features).", min=8)
    text_layers: int = option(2, "Learned transformer layers over the frozen CLIP tokens (paper: 4).", min=1)
    mapping_layers: int = option(4, "Mapping network depth (StyleGAN: 8).", min=1)
    ngf: int = option(32, "Generator width: channels at side r are min(ngf·size/r, --channel-max).", min=1)
    ndf: int = option(32, "Discriminator width, as --ngf.", min=1)
    channel_max: int = option(256, "Most channels of any layer.", min=8)
    kernels: int = option(4, "Filter bank size of sample-adaptive kernel selection.", min=1)
    attn_max_res: int = option(16, "Self- and cross-attention at sides up to this.", min=0)
    heads: int = option(4, "Attention heads.", min=1)
    pyramid: int = option(4, "Output scales fed to the multi-scale discriminator (size, size/2, …).", min=1)
    lambda_match: float = option(1.0, "Matching-aware loss weight: (real image, another caption) is fake.", min=0.0)
    lambda_clip: float = option(0.1, "CLIP contrastive loss weight on G (needs the CLIP image tower).", min=0.0)
    lambda_vision: float = option(0.5, "Vision-aided discriminator loss weight (needs the CLIP image tower).",
                                  min=0.0)  # fmt: skip
    clip_vision: bool = option(True, "Use CLIP's image tower, when the weights have one, for the contrastive loss "
                               "and the vision-aided D.")  # fmt: skip
    r1: float = option(0.05, "R1 penalty γ on real images (0: off).", min=0.0)
    r1_every: int = option(4, "Apply R1 every N D steps, scaled by N (lazy regularisation).", min=1)
    ema: float = option(0.999, "EMA generator decay (0: off); sampling uses it.", min=0.0, max=0.99999)
    lr: float = option(2e-4, "Adam learning rate of G and D.", min=0.0)
    beta1: float = option(0.5, "Adam beta1.", min=0.0, max=1.0)
    beta2: float = option(0.9, "Adam beta2.", min=0.0, max=1.0)
    batch_size: int = option(16, "Images per step.", min=1)
    epochs: int = option(300, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)

    IMAGE_SIZES = (16, 32, 64, 128, 256)

    def check(self) -> None:
        super().check()
        if 2 ** (self.pyramid - 1) * 4 > self.image_size:
            raise UsageError(f"--pyramid {self.pyramid} has scales below 4×4 at --image-size {self.image_size}")


SPEC = FamilySpec(
    "gigagan", GigaGANConfig, "text", "cgan_cli.families.gigagan:GigaGAN",
    "A scaled-down GigaGAN: text-conditioned StyleGAN with adaptive kernels, attention, multi-scale D.",
)
