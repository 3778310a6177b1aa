"""InfoGAN (Chen et al., NeurIPS 2016) on the DCGAN backbone: G also takes latent codes, and a Q head on D's
shared trunk learns to recover them from the fakes, which maximises a lower bound on their mutual
information with the image. Unsupervised on any image folder (`--images`), or also class-conditional
(`--classes`: G's class embedding and D's projection, as cgan).

The codes: `--cat-codes 10` categorical codes (one-hot into G; a comma list such as 10,10 for several),
`--cont-codes 2` continuous codes uniform in (-1, 1). They are named c0, c1, … in that order, categorical
codes first: `cgan sample CKPT --code c0=3 --code c1=0.5` fixes them (the unfixed ones are drawn from their
priors per seed), `cgan interp CKPT --walk c1 --range -2,2 --seeds 0-4 --grid sheet.png` sweeps one.
The information term, added to both D's loss (on its fakes) and G's, as openai/InfoGAN does:
λ_info · Σ cross-entropy(Q's logits, the drawn category) + λ_cont · Σ the continuous codes' negative
log-likelihood (`--cont-loss gaussian`: a Gaussian of Q's predicted mean and log-std; `mse`: squared error,
so that openai/InfoGAN's fixed-std Gaussian is `--cont-loss mse --lambda-cont 0.5` up to a constant).

Defaults are the paper's MNIST run (openai/InfoGAN's launchers/run_mnist_exp.py): 62 noise dimensions (N(0, 1)
here, so that a seed fixes them as for every latent family), Categorical(10) + 2 continuous codes, λ 1 for
both, Adam (0.5, 0.999) with G's learning rate 1e-3 (`--lr`) and D's 2e-4 (`--d-lr`), batch 128. With --loss
wgan or r3gan both learning rates default to that loss's. The networks are DCGAN's at --image-size, not the
paper's small MNIST net; Q is its 128-wide BN + LeakyReLU layer on D's last features.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from cgan_cli.config import FamilySpec, option
from cgan_cli.config.latent import LOSS_DEFAULTS, LatentConfig, Optimiser
from cgan_cli.errors import UsageError

CONT_LOSSES = ("gaussian", "mse")
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
    cat_codes: str = option("10", "Categorical codes: their category counts, comma-separated (10,10: two; empty: "
                            "none). Named c0, c1, … first.")  # fmt: skip
    cont_codes: int = option(2, "Continuous codes, uniform in (-1, 1), named after the categorical ones.", min=0)
    lambda_info: float = option(1.0, "Weight λ of the categorical codes' information term.", min=0.0)
    lambda_cont: float = option(1.0, "Weight of the continuous codes' information term (the paper suggests a "
                                "smaller one than --lambda-info for some data).", min=0.0)  # fmt: skip
    cont_loss: str = option("gaussian", "Continuous codes' term: gaussian (NLL with Q's predicted mean and "
                            "log-std) or mse.", choices=CONT_LOSSES)  # fmt: skip
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
