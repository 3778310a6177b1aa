"""BicycleGAN (Zhu et al., NeurIPS 2017, "Toward Multimodal Image-to-Image Translation"), following
junyanz/BicycleGAN `bicycle_gan_model.py`.

Defaults are the reference's: a U-Net-256 generator (ngf 64, instance norm, dropout 0.5) taking an
8-dimensional latent z tiled and concatenated at the input of every down block (`--where-add all`; `input`:
only onto the image), a ResNet encoder E (nef 64, `resnet_256`) giving a Gaussian posterior (μ, log σ²), and
two discriminators, D for the cVAE-GAN branch and D2 for the cLR-GAN branch, each two PatchGANs at two scales
(`basic_256_multi`, ndf 64) that see B alone (not conditional). Each batch of 2 splits in halves: the first
pair trains the cVAE-GAN branch (z ~ E(B), G(A, z) ≈ B in L1, KL(q(z|B) ‖ N(0, I))), the second pair's B is
the real image D2 sees beside G(A_1, z) for a random z ~ N(0, I), whose z E must recover (L1 on E's mean,
a gradient to G only). Losses: LSGAN, λ_L1 10, λ_GAN 1, λ_GAN2 1, λ_z 0.5, λ_kl 0.01 (the KL summed, as the
reference). Adam lr 2e-4, betas (0.5, 0.999) for G, E, D and D2; 100 epochs at the initial rate then 100 of
linear decay; load 286 → random crop 256 with flips; Xavier-normal init with gain 0.02. Step order as the
reference: G and E first (both Ds frozen), then D and D2 on the same fakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from cgan_cli.config import FamilySpec, TrainConfig, option
from cgan_cli.config.choices import DIRECTIONS, NORMS, PREPROCESS, UNET_SIZES
from cgan_cli.errors import UsageError

WHERE_ADD = ("all", "input")
ENCODERS = {"resnet_256": 5, "resnet_128": 4}  # name → blocks (the first a strided conv)
DISCRIMINATORS = {"basic_256_multi": 3, "basic_128_multi": 2, "basic_256": 3, "basic_128": 2}  # name → layers
LOSSES = ("lsgan", "vanilla")


def patch_side(side: int, n_layers: int, num_d: int) -> int:
    """The side of a multiscale PatchGAN's smallest logit map for a `side`×`side` input (< 1: too small)."""
    smallest = side
    for _ in range(num_d - 1):
        smallest = (smallest - 1) // 2 + 1  # 3×3 average pool, stride 2, padding 1
    for _ in range(n_layers):
        smallest //= 2  # 4×4 stride-2 convs, padding 1
    return smallest - 2  # two 4×4 stride-1 convs, padding 1


def d_layers(name: str) -> int:
    return DISCRIMINATORS[name]


def d_scales(name: str, num_ds: int) -> int:
    return num_ds if name.endswith("_multi") else 1


@dataclass
class BicycleGANConfig(TrainConfig):
    paired: str = option(
        "", "Paired dataset: aligned A|B files (DIR/train or DIR itself), or DIR/A + DIR/B.", required=True, path=True
    )
    direction: str = option("AtoB", "AtoB: learn A → B; BtoA: learn B → A.", choices=DIRECTIONS)
    batch_size: int = option(2, "Images per step: an even number, half for each branch.", min=2)
    input_nc: int = option(3, "Input channels (1 or 3).", min=1, max=3)
    output_nc: int = option(3, "Output channels (1 or 3).", min=1, max=3)
    nz: int = option(8, "Latent dimensions.", min=1)
    net_g: str = option("unet_256", "Generator: a U-Net with log2(size) downsamplings.", choices=tuple(UNET_SIZES))
    where_add: str = option("all", "Where z enters G: all (every down block) or input (the image only).",
                            choices=WHERE_ADD)  # fmt: skip
    net_e: str = option("resnet_256", "Encoder: resnet_256 (5 blocks) or resnet_128 (4).", choices=tuple(ENCODERS))
    net_d: str = option("basic_256_multi", "cVAE-GAN discriminator D: basic_N (one PatchGAN) or basic_N_multi.",
                        choices=tuple(DISCRIMINATORS))  # fmt: skip
    net_d2: str = option("basic_256_multi", "cLR-GAN discriminator D2, as --net-d.", choices=tuple(DISCRIMINATORS))
    num_ds: int = option(2, "Scales of a _multi discriminator.", min=1, max=4)
    conditional_d: bool = option(False, "The discriminators see A beside B (the reference's conditional_D).")
    ngf: int = option(64, "Generator filters in the last conv layer.", min=1)
    ndf: int = option(64, "Discriminator filters in the first conv layer.", min=1)
    nef: int = option(64, "Encoder filters in the first conv layer.", min=1)
    norm: str = option("instance", "Normalisation layers.", choices=NORMS)
    dropout: bool = option(True, "Dropout 0.5 in the generator.")
    loss: str = option("lsgan", "GAN loss (vanilla: BCE, non-saturating).", choices=LOSSES)
    lambda_l1: float = option(10.0, "Weight of the L1 loss between G(A, E(B)) and B.", min=0.0)
    lambda_gan: float = option(1.0, "Weight of D's GAN loss on the cVAE-GAN branch.", min=0.0)
    lambda_gan2: float = option(1.0, "Weight of D2's GAN loss on the cLR-GAN branch.", min=0.0)
    lambda_z: float = option(0.5, "Weight of the L1 loss between E(G(A, z)) and the random z.", min=0.0)
    lambda_kl: float = option(0.01, "Weight of the KL divergence of E's posterior from N(0, I).", min=0.0)
    preprocess: str = option("resize_and_crop", "Training-time resizing and cropping.", choices=PREPROCESS)
    load_size: int = option(286, "Resize to this size (width for scale_width) before cropping.", min=1)
    crop_size: int = option(256, "Random crop size.", min=1)
    flip: bool = option(True, "Random horizontal flips (the same on both images of a pair).")

    @property
    def multiple(self) -> int:
        return 2 ** UNET_SIZES[self.net_g]

    def check(self) -> None:
        for flag, nc in (("--input-nc", self.input_nc), ("--output-nc", self.output_nc)):
            if nc not in (1, 3):
                raise UsageError(f"{flag} must be 1 or 3 (got {nc})")
        if self.batch_size % 2:
            raise UsageError(f"--batch-size must be even: half the batch for each branch (got {self.batch_size})")
        if "crop" in self.preprocess and self.crop_size % self.multiple:
            raise UsageError(
                f"--crop-size {self.crop_size} must be a multiple of {self.multiple} for --net-g {self.net_g}"
            )
        for flag, name in (("--net-d", self.net_d), ("--net-d2", self.net_d2)):
            side = patch_side(self.crop_size, d_layers(name), d_scales(name, self.num_ds))
            if "crop" in self.preprocess and side < 1:
                raise UsageError(f"--crop-size {self.crop_size} is too small for {flag} {name} with --num-ds "
                                 f"{self.num_ds}: try basic_128_multi or fewer --num-ds")  # fmt: skip


SPEC = FamilySpec(
    "bicyclegan", BicycleGANConfig, "translations", "cgan_cli.families.bicyclegan:BicycleGAN",
    "Multimodal paired image-to-image translation (Zhu et al. 2017): U-Net with z, encoder, two Ds.",
)
