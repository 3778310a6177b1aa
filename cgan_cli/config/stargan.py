"""StarGAN (Choi et al., CVPR 2018), following yunjey/stargan `solver.py`.

One generator translates an image to any target domain given as a label vector; D scores realism
(WGAN-GP, λ_gp 10) and classifies the domain (λ_cls 1: cross-entropy for single-label data such as
RaFD, per-attribute BCE summed over attributes for multi-label data such as CelebA). G also
reconstructs the input from its translation back to the original label (λ_rec 10, L1). Targets are
the batch's own labels shuffled. D updates every step, G every 5th (n_critic 5). Adam 1e-4 with
betas (0.5, 0.999), batch 16, 128×128, random flips; the rate decays linearly over the second half
of training (the reference: 200k iterations, decay from 100k).
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import FamilySpec, TrainConfig, option
from cgan_cli.errors import UsageError


@dataclass
class StarGANConfig(TrainConfig):
    domains: str = option("", "Single-label data: one subfolder per domain (RaFD style).", path=True)
    attrs: str = option("", "Multi-label data: a CSV of file name + 0/1 attribute columns (CelebA style).", path=True)
    images: str = option("", "With --attrs: the folder the CSV's file names are relative to (default: its own).",
                         path=True)  # fmt: skip
    select_attrs: str = option("", "With --attrs: the attributes to learn, comma-separated.")
    image_size: int = option(128, "Image side: images are centre-cropped (--crop-size) and resized to it.", min=8)
    crop_size: int = option(0, "Centre crop before resizing (178 for CelebA; 0: none).", min=0)
    channels: int = option(0, "Image channels, 1 or 3 (0: detected from the data).", min=0, max=3)
    g_conv_dim: int = option(64, "Generator width of the first layer.", min=1)
    d_conv_dim: int = option(64, "Discriminator width of the first layer.", min=1)
    g_repeat_num: int = option(6, "Residual blocks in the generator.", min=0)
    lambda_cls: float = option(1.0, "Weight of the domain classification loss.", min=0.0)
    lambda_rec: float = option(10.0, "Weight of the reconstruction (cycle) loss.", min=0.0)
    lambda_gp: float = option(10.0, "Weight of the WGAN gradient penalty.", min=0.0)
    n_critic: int = option(5, "D updates per G update (each step is one D update).", min=1)
    flip: bool = option(True, "Random horizontal flips.")
    lr: float = option(1e-4, "Adam learning rate (G and D).", min=0.0)
    batch_size: int = option(16, "Images per step.", min=1)
    epochs: int = option(10, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(10, "Epochs over which the learning rate decays linearly to zero.", min=0)
    domain_names: tuple[str, ...] = option((), "Domain or attribute names, from the data.", cli=False)
    multi_label: bool = option(False, "Attributes (several may hold at once) rather than exclusive domains.",
                               cli=False)  # fmt: skip

    def check(self) -> None:
        if bool(self.domains) == bool(self.attrs):
            raise UsageError("give --domains DIR (one subfolder per domain) or --attrs FILE.csv, one of them")
        if self.attrs and not self.select_attrs and not self.domain_names:
            raise UsageError("--attrs needs --select-attrs A,B,C: the attributes to learn")
        if self.image_size % 4:
            raise UsageError(f"--image-size must be a multiple of 4 (got {self.image_size})")
        if self.channels == 2:
            raise UsageError("--channels must be 1 or 3 (or 0 to detect)")


SPEC = FamilySpec(
    "stargan", StarGANConfig, "translations", "cgan_cli.families.stargan:StarGAN",
    "Multi-domain translation (Choi et al. 2018): one generator for every domain or attribute.",
)
