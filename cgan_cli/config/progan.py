"""Progressive Growing of GANs (Karras, Aila, Laine & Lehtinen, ICLR 2018), as tkarras/progressive_growing_of_gans.

G and D start at 4×4 and grow by one resolution at a time up to --image-size: per resolution a stabilise
phase of --stable-images real images, then the next resolution fades in over --fade-images (the official
lod_training_kimg = lod_transition_kimg = 600; small data sets want 10k–50k each). During a fade G's output is
lerp(upsample(toRGB_old(h_old)), toRGB_new(h_new), α) and D's features lerp(fromRGB_old(avgpool(x)),
block(fromRGB_new(x)), α), α rising linearly with the images shown; the real images are box-downsampled to the
current resolution and, during a fade, blended the same way with their half-resolution copy (the official
`lod` of reals). Adam's moments are cleared when a fade starts and when it ends (reset_opt_for_new_lod).

Networks are G_paper / D_paper: z (--z-dim 512) joined to the one-hot class with --classes, pixel-normalised,
dense → 4×4 (gain √2/4) and a 3×3 conv, then per resolution nearest ×2 upsampling and two 3×3 convs;
LeakyReLU 0.2 and pixel norm after every G conv; a linear 1×1 toRGB per resolution. D mirrors it with 1×1
fromRGB, two 3×3 convs and 2×2 average pooling per resolution, and at 4×4 the minibatch stddev layer (group
--mbstd-group 4), a 3×3 conv, dense 16·C → C and dense → 1 (+ one logit per class with --classes). Widths are
min(fmap_base / 2^stage, fmap_max) (8192 / 512). Equalized learning rate everywhere: weights N(0, 1), scaled at
run time by gain / √fan_in (gain √2; 1 for toRGB and D's last dense layer).

Loss: WGAN-GP (λ 10, target 1) plus the drift term ε·E[D(x)²] on reals (ε 0.001); with --classes an
auxiliary-classifier cross-entropy on reals and fakes in D and on fakes in G (D_wgangp_acgan / G_wgan_acgan,
cond_weight 1); fakes take the labels of the real batch (the official draws them from the data's label
distribution, the same in expectation). One D update per G update (D_repeats 1), Adam lr 0.001 (0.0015 at
1024×1024, the preset's G_lrate_dict; --lr-schedule), betas (0, 0.99), eps 1e-8, and an EMA generator with
decay 0.999 (G_smoothing, no warm-up) that sample, interp, eval and export use.

A step is one batch of --batch-size real images (images shown = steps × --batch-size, so the resolution and
α follow from the step alone and a resumed run continues exactly). --batch-schedule sets the batch per
resolution (the official 1-GPU preset v2: 128 up to 16×16, then halving to 4 at 512 and up); a scheduled batch
b smaller than --batch-size splits the step into --batch-size / b updates of D and G on consecutive chunks of
b, so b must divide --batch-size (scheduled batches above --batch-size are capped at it). The paper's runs
show 12M images (total_kimg 12000): --steps 93750 at --batch-size 128.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cgan_cli.config import FamilySpec, TrainConfig, option
from cgan_cli.errors import UsageError

MIN_SIZE, MAX_SIZE = 4, 1024
PRESET_BATCHES = "4:128,8:128,16:128,32:64,64:32,128:16,256:8,512:4,1024:4"  # config.py preset-v2-1gpu
PRESET_LRS = "1024:0.0015"  # its G_lrate_dict = D_lrate_dict


def resolutions(image_size: int) -> list[int]:
    """4, 8, …, image_size: the sides the networks pass through."""
    return [4 * 2**k for k in range(image_size.bit_length() - 3 + 1)] if image_size >= MIN_SIZE else []


@dataclass
class ProGANConfig(TrainConfig):
    images: str = option("", "Training images: a folder, searched recursively (unconditional).", path=True)
    classes: str = option("", "Training images: one subfolder per class (ImageFolder layout; class-conditional).",
                          path=True)  # fmt: skip
    image_size: int = option(128, "Final image side in pixels: a power of two from 4 to 1024.")
    channels: int = option(0, "Image channels, 1 or 3 (0: detected from the data).", min=0, max=3)
    z_dim: int = option(512, "Latent (noise) dimensions.", min=1)
    fmap_base: int = option(8192, "Width multiplier: a stage has min(fmap_base / 2^stage, fmap_max) channels.", min=1)
    fmap_max: int = option(512, "Most channels in any layer.", min=1)
    mbstd_group: int = option(4, "Group size of D's minibatch stddev layer (0 or 1: off).", min=0)
    stable_images: int = option(600_000, "Real images shown at each resolution before the next fades in.", min=0)
    fade_images: int = option(600_000, "Real images over which each new resolution fades in.", min=0)
    batch_schedule: str = option(PRESET_BATCHES, "Batch per resolution, RES:BATCH,… (others: --batch-size); "
                                 "each must divide --batch-size.")  # fmt: skip
    lambda_gp: float = option(10.0, "Gradient-penalty weight λ.", min=0.0)
    drift: float = option(0.001, "Drift penalty ε on D's real scores (ε·E[D(x)²]).", min=0.0)
    lambda_cls: float = option(1.0, "Weight of the auxiliary classification loss (with --classes).", min=0.0)
    ema: float = option(0.999, "EMA generator decay (0: off); sampling uses it.", min=0.0, max=0.99999)
    reset_optimizer: bool = option(True, "Clear Adam's moments when a fade-in starts and when it ends.")
    flip: bool = option(False, "Random horizontal flips of the training images (the official mirror_augment).")
    batch_size: int = option(128, "Real images per step: the largest scheduled batch.", min=1)
    lr: float = option(0.001, "Adam learning rate.", min=0.0)
    lr_schedule: str = option(PRESET_LRS, "Learning rate per resolution, RES:LR,… (others: --lr).")
    beta1: float = option(0.0, "Adam beta1.", min=0.0, max=1.0)
    beta2: float = option(0.99, "Adam beta2.", min=0.0, max=1.0)
    epochs: int = option(100, "Epochs to train (set --steps for a length in images: steps × --batch-size).", min=0)
    epochs_decay: int = option(0, "Epochs over which the learning rate decays linearly to zero.", min=0)
    class_names: tuple[str, ...] = option((), "Class names, from the data.", cli=False)

    @property
    def conditional(self) -> bool:
        return bool(self.classes)

    def data_root(self) -> Path:
        return Path(self.classes or self.images)

    def check(self) -> None:
        if bool(self.images) == bool(self.classes):
            raise UsageError("give exactly one of --images (unconditional) and --classes (class-conditional)")
        if self.image_size not in resolutions(MAX_SIZE):
            raise UsageError(f"--image-size must be a power of two from 4 to 1024 (got {self.image_size})")
        if self.channels == 2:
            raise UsageError("--channels must be 1 or 3 (or 0 to detect)")
        self.batches()
        self.learning_rates()

    def batches(self) -> dict[int, int]:
        """--batch-schedule as {resolution: batch} for every resolution of this run (checked)."""
        given = _schedule("--batch-schedule", self.batch_schedule, "BATCH (e.g. 4:128,8:64)", int)
        out = {r: min(given.get(r, self.batch_size), self.batch_size) for r in resolutions(self.image_size)}
        for r, b in out.items():
            if self.batch_size % b:
                raise UsageError(f"--batch-schedule: the batch {b} at {r}×{r} does not divide --batch-size "
                                 f"{self.batch_size}")  # fmt: skip
        return out

    def learning_rates(self) -> dict[int, float]:
        """--lr-schedule as {resolution: learning rate} for every resolution of this run (others at --lr)."""
        given = _schedule("--lr-schedule", self.lr_schedule, "LR (e.g. 1024:0.0015)", float)
        return {r: given.get(r, self.lr) for r in resolutions(self.image_size)}

    def stage(self, step: int) -> tuple[int, float]:
        """(resolution, α) of step `step` (from 0), after step × --batch-size images (the official
        TrainingSchedule): α < 1 while that resolution fades in over the one below, 1 once it is stable."""
        images, sides = step * self.batch_size, resolutions(self.image_size)
        phase = self.stable_images + self.fade_images
        k = images // phase if phase else len(sides)
        if k >= len(sides) - 1:
            return self.image_size, 1.0
        into = images - k * phase
        if into < self.stable_images:
            return sides[k], 1.0
        return sides[k + 1], (into - self.stable_images) / self.fade_images


def _schedule(flag: str, text: str, what: str, kind: type) -> dict[int, Any]:
    """RES:VALUE,… as {resolution: value > 0}, each a power-of-two side from 4 to 1024 listed once."""
    given: dict[int, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        res, sep, value = part.partition(":")
        try:
            r, v = int(res), kind(value)
        except ValueError:
            r = v = None
        if not sep or r is None:
            raise UsageError(f"{flag}: {part!r} is not RES:{what}")
        if r not in resolutions(MAX_SIZE) or r in given or not v > 0:
            why = "is listed twice" if r in given else "needs a power-of-two side 4–1024 and a value above 0"
            raise UsageError(f"{flag}: {part!r} {why}")
        given[r] = v
    return given


SPEC = FamilySpec(
    "progan", ProGANConfig, "samples", "cgan_cli.families.progan:ProGAN",
    "Progressive Growing of GANs (Karras et al. 2018): grown from 4×4; class-conditional with --classes.",
)  # fmt: skip
