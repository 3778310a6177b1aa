"""Options shared by the latent-to-image families (dcgan, cgan, acgan): the DCGAN backbone's sizes,
its losses and the optional stabilisers. Torch-free: the network config is built by cgan_cli/families/latent.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cgan_cli.config import TrainConfig, option
from cgan_cli.config.choices import GAN_LOSSES, LATENT_IMAGE_SIZES, SMOOTHABLE, check_policy
from cgan_cli.errors import UsageError

D_NORM_CHOICES = ("auto", "batch", "layer", "none")


@dataclass
class LatentConfig(TrainConfig):
    """Options shared by dcgan, cgan and acgan; each family adds its data folder."""

    image_size: int = option(64, "Image side in pixels: 32, 64 or 128 (images are resized and centre-cropped).")
    channels: int = option(0, "Image channels, 1 or 3 (0: detected from the data).", min=0, max=3)
    z_dim: int = option(100, "Latent (noise) dimensions.", min=1)
    ngf: int = option(128, "Generator width: the 4×4 layer has 8·ngf channels at 64×64.", min=1)
    ndf: int = option(128, "Discriminator width of the first layer.", min=1)
    loss: str = option("nonsat", "GAN loss (vanilla: the saturating minimax form).", choices=GAN_LOSSES)
    spectral_norm: bool = option(False, "Spectral normalisation on every D layer (D then has no batch norm).")
    d_norm: str = option("auto", "D normalisation (auto: batch; none with spectral norm; layer with wgangp).",
                         choices=D_NORM_CHOICES)  # fmt: skip
    r1: float = option(0.0, "R1 penalty weight γ on real images (0: off).", min=0.0)
    label_smoothing: float = option(1.0, "D's target for real images: 0.9 is one-sided smoothing (1: off).",
                                    min=0.5, max=1.0)  # fmt: skip
    ema: float = option(0.0, "Keep an EMA generator with this decay, e.g. 0.999 (0: off); sampling uses it.",
                        min=0.0, max=0.99999)  # fmt: skip
    diffaug: str = option("", "DiffAugment policies on real and fake images alike: color,translation,cutout.")
    n_critic: int = option(1, "D steps per G step (each step is one D update on one batch).", min=1)
    lambda_gp: float = option(10.0, "Gradient-penalty weight (with --loss wgangp).", min=0.0)
    flip: bool = option(False, "Random horizontal flips of the training images.")
    batch_size: int = option(64, "Images per step.", min=1)
    epochs: int = option(25, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)
    class_names: tuple[str, ...] = option((), "Class names, from the data.", cli=False)

    def check(self) -> None:
        if self.image_size not in LATENT_IMAGE_SIZES:
            sizes = ", ".join(map(str, LATENT_IMAGE_SIZES))
            raise UsageError(f"--image-size must be one of {sizes} (got {self.image_size})")
        if self.channels == 2:
            raise UsageError("--channels must be 1 or 3 (or 0 to detect)")
        if self.label_smoothing != 1.0 and self.loss not in SMOOTHABLE:
            raise UsageError(f"--label-smoothing applies to the {', '.join(SMOOTHABLE)} losses, not {self.loss}")
        check_policy(self.diffaug)

    def data_root(self) -> Path:
        raise NotImplementedError

    def resolved_d_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        return "none" if self.spectral_norm else "layer" if self.loss == "wgangp" else "batch"
