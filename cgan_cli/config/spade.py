"""SPADE / GauGAN (Park et al., CVPR 2019, "Semantic Image Synthesis with Spatially-Adaptive Normalization"),
following NVlabs/SPADE `pix2pix_model.py`, `models/networks/` and `options/`.

Defaults are the reference's: SPADE residual generator from the label map downsampled by 32 (ngf 64,
num_upsampling_layers normal, spectral norm, parameter-free batch norm in SPADE with 128 hidden channels),
two-scale PatchGAN discriminators (ndf 64, 4 layers, spectral + instance norm) that see the one-hot label map
and the image concatenated, hinge loss, feature-matching loss λ 10, VGG19 perceptual loss λ 10 (weights
1/32, 1/16, 1/8, 1/4, 1), Adam betas (0, 0.9) with TTUR: lr 2e-4 → G 1e-4 and D 4e-4, batch 1, load 286 → crop
256 with flips. `--use-vae` adds the reference's image encoder: G starts from z (256) drawn from E's posterior
of the target photo, plus λ_kld 0.05 · KL(q(z|x) ‖ N(0, I)); translate then takes `--seeds` or a `--style` photo.
`--instances DIR` adds the instance edge map as one more input channel (the reference's default where a dataset
has instance maps). Label maps are index PNGs, or colour-coded maps with --palette FILE or --palette auto
(cgan_cli/data/labels.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import FamilySpec, TrainConfig, option
from cgan_cli.config.choices import PREPROCESS
from cgan_cli.errors import UsageError

SIDES = ("A", "B")


@dataclass
class SPADEConfig(TrainConfig):
    paired: str = option("", "Paired dataset: aligned photo|label files, or DIR/A + DIR/B (see --label-side).",
                         path=True)  # fmt: skip
    labels: str = option("", "SPADE's layout: DIR/labels/ and DIR/images/ (or DIR/train/…), matched by name.",
                         path=True)  # fmt: skip
    label_side: str = option("B", "Which side of --paired holds the label maps (facades: B, the right half).",
                             choices=SIDES)  # fmt: skip
    palette: str = option("", "Colour-coded maps: a JSON/CSV palette FILE (colour → class name), or auto; "
                          "none: index maps (palette or 8-bit grey PNG).")  # fmt: skip
    palette_tolerance: float = option(96.0, "RGB distance within which a colour is its nearest palette entry.",
                                      min=0.0)  # fmt: skip
    label_nc: int = option(0, "Classes of index maps (0: the largest value found, plus one).", min=0, max=256)
    class_names: tuple[str, ...] = option((), "Class names, from the data.", cli=False)
    class_colours: tuple[str, ...] = option((), "Class colours (#rrggbb) of colour-coded maps.", cli=False)
    instances: str = option("", "Instance maps (integer ids per pixel; files named as the label maps): SPADE's "
                            "instance edge map becomes one more input channel.", path=True)  # fmt: skip
    use_vae: bool = option(False, "Train SPADE's VAE image encoder: outputs vary with z, and translate takes "
                           "--seeds or a --style photo.")  # fmt: skip
    z_dim: int = option(256, "Latent dimensions of the VAE (with --use-vae).", min=1)
    lambda_kld: float = option(0.05, "Weight of the VAE's KL divergence (with --use-vae).", min=0.0)
    ngf: int = option(64, "Generator filters in the last block (16·ngf at the first); the VAE encoder's too.", min=1)
    ndf: int = option(64, "Discriminator filters in the first conv layer.", min=1)
    spade_hidden: int = option(128, "Hidden channels of each SPADE layer's shared conv.", min=1)
    n_layers_d: int = option(4, "Conv layers of each discriminator.", min=2, max=8)
    num_d: int = option(2, "Discriminator scales.", min=1, max=4)
    lambda_feat: float = option(10.0, "Weight of the discriminator feature-matching loss.", min=0.0)
    lambda_vgg: float = option(10.0, "Weight of the VGG19 perceptual loss.", min=0.0)
    vgg: bool = option(True, "Train with the VGG19 perceptual loss (--no-vgg: without; no weights needed).")
    vgg_weights: str = option("", "VGG19 weights file (torchvision's vgg19 .pth); else $CGAN_VGG19_WEIGHTS, the "
                              "torch hub cache, or a download.", path=True)  # fmt: skip
    ttur: bool = option(True, "Two time-scale update rule: G at lr/2, D at lr·2.")
    preprocess: str = option("resize_and_crop", "Training-time resizing and cropping.", choices=PREPROCESS)
    load_size: int = option(286, "Resize to this size (width for scale_width) before cropping.", min=1)
    crop_size: int = option(256, "Random crop size (a multiple of 32).", min=32)
    flip: bool = option(True, "Random horizontal flips (the same on the label map and the photo).")
    epochs: int = option(50, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)
    beta1: float = option(0.0, "Adam beta1.", min=0.0, max=1.0)
    beta2: float = option(0.9, "Adam beta2.", min=0.0, max=1.0)

    multiple = 32

    def check(self) -> None:
        if bool(self.paired) == bool(self.labels):
            raise UsageError("give one of --paired DIR or --labels DIR")
        if "crop" in self.preprocess and self.crop_size % 32:
            raise UsageError(f"--crop-size {self.crop_size} must be a multiple of 32 (the generator starts at 1/32)")
        if self.use_vae and "crop" not in self.preprocess:
            raise UsageError("--use-vae needs a square training crop (--preprocess with crop): G starts from a fixed "
                             "crop_size/32 grid")  # fmt: skip
        if "crop" in self.preprocess and self.crop_size == 32 and self.batch_size == 1:
            raise UsageError("--crop-size 32 with --batch-size 1 leaves SPADE's batch norm one value per channel at "
                             "the generator's 1×1 start: use --crop-size 64 or more, or --batch-size 2 or more")


SPEC = FamilySpec(
    "spade", SPADEConfig, "translations", "cgan_cli.families.spade:SPADE",
    "Semantic image synthesis from label maps (Park et al. 2019): SPADE generator + multi-scale PatchGAN.",
)
