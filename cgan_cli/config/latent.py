"""Options shared by the latent-to-image families (dcgan, cgan, acgan, infogan): the DCGAN backbone's
sizes, its losses, the optional stabilisers and the classic training tricks. Torch-free: the network config
is built by cgan_cli/families/latent.py, the tricks run in its training step.

The optimiser follows the loss unless --lr/--beta1/--beta2/--n-critic are given (`LOSS_DEFAULTS`): DCGAN's
Adam 2e-4 (0.5, 0.999) and one D step per G step; the original WGAN's RMSprop 5e-5 with 5 critic steps and
weight clipping at 0.01 (Arjovsky et al. 2017, martinarjovsky/WassersteinGAN); R3GAN's Adam 2e-4 (0, 0.99)
(Huang et al. 2024, brownvc/R3GAN's CIFAR-10 configuration, γ 0.05).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cgan_cli.config import TrainConfig, option
from cgan_cli.config.choices import LATENT_IMAGE_SIZES, LATENT_LOSSES, SMOOTHABLE, check_policy
from cgan_cli.errors import UsageError

D_NORM_CHOICES = ("auto", "batch", "layer", "none")
WEIGHT_CLIP = 0.01  # martinarjovsky/WassersteinGAN's clamp_lower/clamp_upper
GAMMA = 0.05  # brownvc/R3GAN's CIFAR-10 γ


class Optimiser(NamedTuple):
    kind: str  # "adam" or "rmsprop"
    lr: float
    betas: tuple[float, float]
    n_critic: int


DCGAN_OPTIMISER = Optimiser("adam", 2e-4, (0.5, 0.999), 1)
LOSS_DEFAULTS = {
    "wgan": Optimiser("rmsprop", 5e-5, (0.5, 0.999), 5),
    "r3gan": Optimiser("adam", 2e-4, (0.0, 0.99), 1),
}


@dataclass
class LatentConfig(TrainConfig):
    """Options shared by dcgan, cgan and acgan; each family adds its data folder."""

    image_size: int = option(64, "Image side in pixels: 32, 64 or 128 (images are resized and centre-cropped).")
    channels: int = option(0, "Image channels, 1 or 3 (0: detected from the data).", min=0, max=3)
    z_dim: int = option(100, "Latent (noise) dimensions.", min=1)
    ngf: int = option(128, "Generator width: the 4×4 layer has 8·ngf channels at 64×64.", min=1)
    ndf: int = option(128, "Discriminator width of the first layer.", min=1)
    loss: str = option("nonsat", "GAN loss (vanilla: the saturating minimax form; wgan: weight-clipped critic; "
                       "r3gan: relativistic pairing with R1 + R2).", choices=LATENT_LOSSES)  # fmt: skip
    spectral_norm: bool = option(False, "Spectral normalisation on every D layer (D then has no batch norm).")
    d_norm: str = option("auto", "D normalisation (auto: batch; none with spectral norm or r3gan; layer with wgangp).",
                         choices=D_NORM_CHOICES)  # fmt: skip
    r1: float = option(0.0, "R1 penalty weight γ on real images (0: off).", min=0.0)
    label_smoothing: float = option(1.0, "D's target for real images: 0.9 is one-sided smoothing (1: off).",
                                    min=0.5, max=1.0)  # fmt: skip
    ema: float = option(0.0, "Keep an EMA generator with this decay, e.g. 0.999 (0: off); sampling uses it.",
                        min=0.0, max=0.99999)  # fmt: skip
    diffaug: str = option("", "DiffAugment policies on real and fake images alike: color,translation,cutout.")
    n_critic: int | None = option(None, "D steps per G step, each step one D update on one batch (default: the "
                                  "loss's, 5 for wgan, else 1).", min=1)  # fmt: skip
    lr: float | None = option(None, "Learning rate (default: the loss's, 5e-5 for wgan, else 2e-4).", min=0.0)
    beta1: float | None = option(None, "Adam beta1 (default: the loss's, 0 for r3gan, else 0.5).", min=0.0, max=1.0)
    beta2: float | None = option(None, "Adam beta2 (default: the loss's, 0.99 for r3gan, else 0.999).", min=0.0,
                                 max=1.0)  # fmt: skip
    weight_clip: float = option(WEIGHT_CLIP, "With --loss wgan: clip every critic weight to [-c, c] after each D "
                                "step.", min=0.0)  # fmt: skip
    gamma: float = option(GAMMA, "With --loss r3gan: the weight γ of R1 + R2 (γ/2 · each; R3GAN's CIFAR-10 0.05).",
                          min=0.0)  # fmt: skip
    feature_matching: float = option(0.0, "Feature matching (Salimans et al. 2016): add λ · mean|E f(real) − "
                                     "E f(fake)| of D's last features to G's loss (0: off; the flag alone: λ 1).",
                                     min=0.0, bare=1.0)  # fmt: skip
    feature_matching_only: bool = option(False, "With --feature-matching: G's loss is the feature distance alone "
                                         "(improved-gan), no adversarial term.")  # fmt: skip
    minibatch_disc: int = option(0, "Minibatch discrimination kernels before D's last layer, of 5 dimensions each "
                                 "(0: off; the flag alone: Salimans et al. 2016's 100).", min=0, bare=100)  # fmt: skip
    minibatch_stddev: int = option(0, "ProGAN's minibatch standard-deviation feature map before D's last layer, "
                                   "over groups of this size (0: off; the flag alone: ProGAN's 4).", min=0,
                                   bare=4)  # fmt: skip
    historical_averaging: float = option(0.0, "Historical averaging (Salimans et al. 2016): add λ · ‖θ − mean of "
                                         "past θ‖² to the G and D losses (0: off).", min=0.0)  # fmt: skip
    unrolled: int = option(0, "Unrolled GAN (Metz et al. 2017): G's loss is taken against D after K look-ahead "
                           "steps on a copy (0: off; the paper uses 5 to 10).", min=0)  # fmt: skip
    lambda_gp: float = option(10.0, "Gradient-penalty weight (with --loss wgangp).", min=0.0)
    flip: bool = option(False, "Random horizontal flips of the training images.")
    batch_size: int = option(64, "Images per step.", min=1)
    epochs: int = option(25, "Epochs at the initial learning rate.", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)
    class_names: tuple[str, ...] = option((), "Class names, from the data.", cli=False)

    def check(self) -> None:
        if self.image_size not in self.image_sizes():
            sizes = ", ".join(map(str, self.image_sizes()))
            raise UsageError(f"--image-size must be one of {sizes} (got {self.image_size}){self.size_hint()}")
        if self.channels == 2:
            raise UsageError("--channels must be 1 or 3 (or 0 to detect)")
        if self.label_smoothing != 1.0 and self.loss not in SMOOTHABLE:
            raise UsageError(f"--label-smoothing applies to the {', '.join(SMOOTHABLE)} losses, not {self.loss}")
        check_policy(self.diffaug)
        if self.feature_matching_only and not self.feature_matching:
            raise UsageError("--feature-matching-only needs --feature-matching λ > 0")
        if self.r1 and self.loss == "r3gan":
            raise UsageError("--loss r3gan has its own R1 + R2 (weight --gamma); drop --r1")
        if self.minibatch_disc and self.minibatch_stddev:
            raise UsageError("choose one of --minibatch-disc and --minibatch-stddev")
        if self.minibatch_stddev == 1:
            raise UsageError("--minibatch-stddev 1 has nothing to compare: groups of 2 or more (4 is ProGAN's)")
        if self.weight_clip != WEIGHT_CLIP and self.loss != "wgan":  # stored configs hold the default: not a choice
            raise UsageError(f"--weight-clip applies to --loss wgan, not {self.loss}")
        if self.loss == "wgan" and self.weight_clip <= 0:
            raise UsageError("--weight-clip must be above 0: clipping at 0 zeroes every critic weight")
        if self.gamma != GAMMA and self.loss != "r3gan":
            raise UsageError(f"--gamma is R3GAN's R1 + R2 weight: it applies to --loss r3gan, not {self.loss}")

    def image_sizes(self) -> tuple[int, ...]:
        """The image sides the networks take: the DCGAN backbone's."""
        return LATENT_IMAGE_SIZES

    def size_hint(self) -> str:
        """What to add to the error about a side that the networks do not take."""
        return ""

    def optimiser(self) -> Optimiser:
        """The optimiser the loss calls for, with any of --lr/--beta1/--beta2/--n-critic the user gave."""
        base = LOSS_DEFAULTS.get(self.loss, DCGAN_OPTIMISER)
        given = Optimiser(base.kind, self.lr, (self.beta1, self.beta2), self.n_critic)
        betas = tuple(b if g is None else g for b, g in zip(base.betas, given.betas))
        lr = base.lr if given.lr is None else given.lr
        return Optimiser(base.kind, lr, betas, base.n_critic if given.n_critic is None else given.n_critic)

    def data_root(self) -> Path:
        raise NotImplementedError

    def resolved_d_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        if self.spectral_norm or self.loss == "r3gan":  # R3GAN's D has no normalisation layers
            return "none"
        return "layer" if self.loss == "wgangp" else "batch"
