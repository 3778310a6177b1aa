"""What pix2pix and CycleGAN share: the reference's generator/discriminator/preprocessing options
(junyanz/pytorch-CycleGAN-and-pix2pix `base_options.py`/`train_options.py`) in one config base.

Imports no torch: turning the options into network configs is the family's (cgan_cli/families/image_translation.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import TrainConfig, option
from cgan_cli.config.choices import NORMS, PREPROCESS, RESNET_BLOCKS, UNET_SIZES, generator_multiple
from cgan_cli.errors import UsageError

NET_D = ("basic", "n_layers", "pixel")
LOSSES = ("vanilla", "lsgan", "hinge", "wgangp")  # the reference's gan_mode names
GENERATORS = tuple(RESNET_BLOCKS) + tuple(UNET_SIZES)


@dataclass
class ImageTranslationConfig(TrainConfig):
    input_nc: int = option(3, "Input channels (1 or 3).", min=1, max=3)
    output_nc: int = option(3, "Output channels (1 or 3).", min=1, max=3)
    net_g: str = option("unet_256", "Generator: resnet_Nblocks, or a U-Net with log2(size) downsamplings.",
                        choices=GENERATORS)  # fmt: skip
    net_d: str = option("basic", "Discriminator: basic (70×70 PatchGAN), n_layers, pixel (1×1).", choices=NET_D)
    n_layers_d: int = option(3, "Conv layers of the n_layers discriminator.", min=1, max=8)
    ngf: int = option(64, "Generator filters in the last conv layer.", min=1)
    ndf: int = option(64, "Discriminator filters in the first conv layer.", min=1)
    norm: str = option("batch", "Normalisation layers.", choices=NORMS)
    dropout: bool = option(True, "Dropout 0.5 in the generator (pix2pix's noise).")
    loss: str = option("vanilla", "GAN loss (the reference's names: vanilla is BCE, non-saturating).", choices=LOSSES)
    lambda_gp: float = option(10.0, "Gradient-penalty weight (with --loss wgangp).", min=0.0)
    preprocess: str = option("resize_and_crop", "Training-time resizing and cropping.", choices=PREPROCESS)
    load_size: int = option(286, "Resize to this size (width for scale_width) before cropping.", min=1)
    crop_size: int = option(256, "Random crop size.", min=1)
    flip: bool = option(True, "Random horizontal flips (the same on both images of a pair).")

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this for the generator --net-g names."""
        return generator_multiple(self.net_g)

    def check(self) -> None:
        for flag, nc in (("--input-nc", self.input_nc), ("--output-nc", self.output_nc)):
            if nc not in (1, 3):
                raise UsageError(f"{flag} must be 1 or 3 (got {nc})")
        if "crop" in self.preprocess and self.crop_size % self.multiple:
            raise UsageError(
                f"--crop-size {self.crop_size} must be a multiple of {self.multiple} for --net-g {self.net_g}"
            )
