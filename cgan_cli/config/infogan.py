"""InfoGAN (Chen et al., NeurIPS 2016) on the paper's networks or DCGAN's: G also takes latent codes, and a Q head
on D's shared trunk learns to recover them from the fakes, which maximises a lower bound on their mutual
information with the image. Unsupervised on any image folder (`--images`), or also class-conditional
(`--classes`: G's class embedding and D's projection, as cgan).

The codes: `--cat-codes 10` categorical codes (one-hot into G; a comma list such as 10,10 for several),
`--cont-codes 2` continuous codes uniform in (-1, 1). They are named c0, c1, … in that order, categorical
codes first: `cgan sample CKPT --code c0=3 --code c1=0.5` fixes them (the unfixed ones are drawn from their
priors per seed), `cgan interp CKPT --walk c1 --range -2,2 --seeds 0-4 --grid sheet.png` sweeps one.
The information term, added to both D's loss (on its fakes) and G's, as openai/InfoGAN does:
λ_info · Σ cross-entropy(Q's logits, the drawn category) + λ_cont · Σ the continuous codes' negative
log-likelihood: `--cont-loss fixed`, a Gaussian of Q's predicted mean and standard deviation 1 (openai/InfoGAN's
`Uniform(1, fix_std=True)` codes of its MNIST run, the default); `gaussian`, Q predicts the log-std too (the
paper's factored Gaussian with a learned variance; unbounded below as Q grows sure, its pull on G can outgrow the
adversarial term: on Fashion-MNIST the paper net's samples had turned to noise by step 4000); `mse`, the squared
error, which is `fixed` at twice the weight, less a constant.

Defaults are the paper's MNIST run (openai/InfoGAN's launchers/run_mnist_exp.py): 62 noise dimensions (N(0, 1)
here, so that a seed fixes them as for every latent family; the run's are uniform in (-1, 1)), Categorical(10) + 2
continuous codes with Q's fixed-std Gaussian, λ 1 for both, Adam (0.5, 0.999) with G's learning rate 1e-3
(`--lr`) and D's 2e-4 (`--d-lr`), batch 128. With --loss wgan or r3gan both learning rates default to that loss's.

The networks (`--net`): `paper` is the paper's MNIST pair (appendix C, Table 1; cgan_cli/nn/infogan.py), G two FC
layers (1024, then a 128-channel map at a quarter of --image-size) and two 4×4 upconvs, D two 4×4 convs and an FC
1024 layer, started at a quarter of the side so that it takes 28 (the paper's), 32 and 64 px, --ngf/--ndf 128
being its widths; `dcgan` is the DCGAN backbone (cgan_cli/nn/dcgan.py) at 32, 64 or 128 px; `auto` is the paper
net up to 64 px and dcgan at 128, and the default: faithful, and on unlabelled Fashion-MNIST at 32 px the paper's
net makes the categorical code capture the class a little better than DCGAN's (benchmarks/infogan_purity.py,
benchmarks/README.md: Hungarian purity of c0 0.54 to 0.70 against 0.51 to 0.60 over three seeds of 1500 steps
of 64 with the fixed std; the learned std widens the gap, 0.55 to 0.63 against 0.31 to 0.39). Either way
Q is the paper's 128-wide layer with BN and LeakyReLU on D's shared trunk, then the codes' parameters.
Checkpoints written before --net have the DCGAN nets, and rebuild them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.latent import LOSS_DEFAULTS, LatentConfig, Optimiser
from cgan_cli.errors import UsageError

CONT_LOSSES = ("fixed", "gaussian", "mse")
NETS = ("auto", "paper", "dcgan")
PAPER_SIZES = (28, 32, 64)  # the paper net's sides (cgan_cli/nn/infogan.py); at 128 its FC layers would be huge
G_LR, D_LR = 1e-3, 2e-4  # openai/InfoGAN's generator_learning_rate and discriminator_learning_rate


class Code(NamedTuple):
    """One latent code: its name (c0, c1, …), kind ("categorical" or "continuous") and categories (0: continuous)."""

    name: str
    kind: str
    categories: int = 0


def parse_categories(text: str) -> tuple[int, ...]:
    """`--cat-codes 10,10` → (10, 10); "" → ()."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        counts = tuple(int(p) for p in parts)
    except ValueError:
        raise UsageError(f"--cat-codes must be category counts such as 10 or 10,10 (got {text!r})") from None
    if any(k < 2 for k in counts):
        raise UsageError(f"--cat-codes: every categorical code needs at least 2 categories (got {text!r})")
    return counts


def code_layout(categories: tuple[int, ...], continuous: int) -> tuple[Code, ...]:
    """The codes in G's input order: categorical codes, then continuous ones; named c0, c1, … in that order."""
    codes = [Code(f"c{i}", "categorical", k) for i, k in enumerate(categories)]
    codes += [Code(f"c{len(codes) + j}", "continuous") for j in range(continuous)]
    return tuple(codes)


@dataclass
class InfoGANConfig(LatentConfig):
    images: str = option("", "Training images (unsupervised): a folder, searched recursively. Give this or "
                         "--classes.", path=True)  # fmt: skip
    classes: str = option("", "Training images with one subfolder per class: also class-conditional (G's class "
                          "embedding, D's projection). Give this or --images.", path=True)  # fmt: skip
    image_size: int = option(64, "Image side in pixels: 32, 64 or 128; with --net paper 28, 32 or 64 (images are "
                             "resized and centre-cropped).")  # fmt: skip
    net: str = option("auto", "Networks: paper (the paper's MNIST nets, from a quarter of the side up: FC layers "
                      "and two 4×4 convs each way, --ngf/--ndf 128 being its widths), dcgan (the DCGAN backbone), "
                      "auto: paper up to 64 px, dcgan at 128.", choices=NETS)  # fmt: skip
    ngf: int = option(128, "Generator width: dcgan's 4×4 layer has 8·ngf channels at 64×64; paper's FC 8·ngf, then "
                      "ngf and ngf/2 channels (128: the paper's 1024, 128, 64).", min=1)  # fmt: skip
    ndf: int = option(128, "Discriminator width: dcgan's first layer's; paper's ndf/2 and ndf channels, then FC "
                      "8·ndf (128: the paper's 64, 128, 1024).", min=1)  # fmt: skip
    cat_codes: str = option("10", "Categorical codes: their category counts, comma-separated (10,10: two; empty: "
                            "none). Named c0, c1, … first.")  # fmt: skip
    cont_codes: int = option(2, "Continuous codes, uniform in (-1, 1), named after the categorical ones.", min=0)
    lambda_info: float = option(1.0, "Weight λ of the categorical codes' information term.", min=0.0)
    lambda_cont: float = option(1.0, "Weight of the continuous codes' information term (the paper suggests a "
                                "smaller one than --lambda-info for some data).", min=0.0)  # fmt: skip
    cont_loss: str = option("fixed", "Continuous codes' term: fixed (Gaussian NLL with Q's predicted mean, std 1: "
                            "openai/InfoGAN's), gaussian (Q's predicted mean and log-std) or mse.",
                            choices=CONT_LOSSES)  # fmt: skip
    z_dim: int = option(62, "Noise dimensions (besides the codes).", min=1)
    lr: float | None = option(None, "G's learning rate (default: InfoGAN's 1e-3; the loss's for wgan and r3gan).",
                              min=0.0)  # fmt: skip
    d_lr: float | None = option(None, "D's (and Q's) learning rate (default: InfoGAN's 2e-4; the loss's for wgan "
                                "and r3gan).", min=0.0)  # fmt: skip
    batch_size: int = option(128, "Images per step.", min=1)

    def check(self) -> None:
        super().check()
        if bool(self.images) == bool(self.classes):
            raise UsageError("give --images DIR (unsupervised) or --classes DIR (class-conditional), one of them")
        if not self.codes():
            raise UsageError("InfoGAN needs at least one code: --cat-codes and/or --cont-codes")
        kinds = {code.kind for code in self.codes()}
        for flag, given, kind, source in (
            ("--lambda-info", self.lambda_info != 1.0, "categorical", "--cat-codes"),
            ("--lambda-cont", self.lambda_cont != 1.0, "continuous", "--cont-codes"),
            ("--cont-loss", self.cont_loss != "fixed", "continuous", "--cont-codes"),
        ):
            if given and kind not in kinds:
                raise UsageError(f"{flag} applies to {kind} codes, and this run has none ({source})")
        if self.batch_size < 2:
            raise UsageError("--batch-size must be at least 2: Q's hidden layer (and the paper net's FC layers) "
                             "batch-normalise over the batch")  # fmt: skip

    def resolved_net(self) -> str:
        """paper or dcgan: --net, auto being the paper's net wherever it takes the image side."""
        if self.net != "auto":
            return self.net
        return "paper" if self.image_size in PAPER_SIZES else "dcgan"

    def image_sizes(self) -> tuple[int, ...]:
        return PAPER_SIZES if self.resolved_net() == "paper" else super().image_sizes()

    def size_hint(self) -> str:
        if self.resolved_net() == "paper":
            return " with --net paper, the paper's small net; --net dcgan takes 32, 64 and 128"
        return "; 28 with --net paper" if self.image_size == 28 else ""

    def codes(self) -> tuple[Code, ...]:
        return code_layout(parse_categories(self.cat_codes), self.cont_codes)

    def optimiser(self) -> Optimiser:
        """G's optimiser: InfoGAN's learning rate 1e-3 unless the loss has its own or --lr is given."""
        base = super().optimiser()
        if self.lr is None and self.loss not in LOSS_DEFAULTS:
            return base._replace(lr=G_LR)
        return base

    def d_optimiser(self) -> Optimiser:
        """D's: like G's, at --d-lr (default InfoGAN's 2e-4, or the loss's)."""
        base = super().optimiser()
        if self.d_lr is not None:
            return base._replace(lr=self.d_lr)
        if self.loss not in LOSS_DEFAULTS:
            return base._replace(lr=D_LR)
        return base._replace(lr=LOSS_DEFAULTS[self.loss].lr)

    def data_root(self) -> Path:
        return Path(self.classes or self.images)


SPEC = FamilySpec(
    "infogan", InfoGANConfig, "samples", "cgan_cli.families.infogan:InfoGAN",
    "InfoGAN (Chen et al. 2016): latent codes that Q recovers from the fakes; unsupervised or class-conditional.",
)
