"""Options shared by the text-to-image families (gancls, gigagan): the captioned folder, the frozen
open_clip text encoder, and what a run records about both. Imports no torch or open_clip: whether
--clip-model names an open_clip model is checked when the family is built (cgan_cli/families/text_to_image.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from cgan_cli.config import TrainConfig, option
from cgan_cli.config.choices import TEXT_IMAGE_SIZES, check_policy
from cgan_cli.errors import UsageError


@dataclass
class TextConfig(TrainConfig):
    """Options shared by the text-to-image families."""

    captions: str = option("", "Captioned images: NAME.txt beside each image (one caption per line) or "
                           "captions.jsonl.", required=True, path=True)  # fmt: skip
    clip_model: str = option("ViT-B-32", "open_clip model whose frozen text tower conditions G and D "
                             "(cgan-tiny: a tiny one for tests).")  # fmt: skip
    clip_pretrained: str = option("openai", "open_clip pretrained tag, downloaded on first use (none: random "
                                  "weights, for tests).")  # fmt: skip
    clip_weights: str = option("", "Local CLIP weights file (.safetensors), instead of downloading.", path=True)
    embed_clip: bool = option(False, "Store the text encoder's weights in every checkpoint (self-contained, larger).")
    image_size: int = option(64, "Image side in pixels (a power of two).")
    z_dim: int = option(100, "Latent (noise) dimensions.", min=1)
    ema: float = option(0.0, "Keep an EMA generator with this decay, e.g. 0.999 (0: off); sampling uses it.",
                        min=0.0, max=0.99999)  # fmt: skip
    diffaug: str = option("", "DiffAugment policies on everything D sees: color,translation,cutout.")
    flip: bool = option(False, "Random horizontal flips of the training images.")
    text_encoder: dict | None = option(None, "The text encoder's identity, recorded at the start.", cli=False)
    sample_prompts: tuple[str, ...] = option((), "The fixed prompts of the sample grids.", cli=False)
    captions_sha256: str = option("", "Digest of the training captions, in order.", cli=False)

    IMAGE_SIZES: ClassVar[tuple[int, ...]] = TEXT_IMAGE_SIZES

    def check(self) -> None:
        if self.image_size not in self.IMAGE_SIZES:
            sizes = ", ".join(map(str, self.IMAGE_SIZES))
            raise UsageError(f"--image-size must be one of {sizes} (got {self.image_size})")
        check_policy(self.diffaug)
