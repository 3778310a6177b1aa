"""Training-time preprocessing of pix2pix/CycleGAN (`get_params`/`get_transform` in the reference):
resize to --load-size, random --crop-size crop, random horizontal flip, the same draw applied to both
images of a pair. Randomness comes from a `random.Random` the caller seeds, so data order and
augmentation are reproducible and resumable independently of worker processes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image

PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none")


@dataclass(frozen=True)
class Preprocess:
    mode: str = "resize_and_crop"
    load_size: int = 286
    crop_size: int = 256
    flip: bool = True
    multiple: int = 1  # output sides are rounded to this (the generator's size multiple) where not cropped

    def _resized(self, size: tuple[int, int]) -> tuple[int, int]:
        w, h = size
        if self.mode == "resize_and_crop":
            return self.load_size, self.load_size
        if self.mode.startswith("scale_width"):
            return self.load_size, max(round(self.load_size * h / w), self.crop_size)
        return w, h

    def draw(self, size: tuple[int, int], rng: random.Random) -> tuple[int, int, bool]:
        """Crop corner and flip for one image (or pair) of `size`."""
        w, h = self._resized(size)
        x = rng.randint(0, max(0, w - self.crop_size))
        y = rng.randint(0, max(0, h - self.crop_size))
        flip = rng.random() > 0.5
        return x, y, flip and self.flip

    def centre(self, size: tuple[int, int]) -> tuple[int, int, bool]:
        """The centre crop without flip: for the fixed validation images."""
        w, h = self._resized(size)
        return max(0, w - self.crop_size) // 2, max(0, h - self.crop_size) // 2, False

    def apply(self, img: Image.Image, params: tuple[int, int, bool]) -> Image.Image:
        x, y, flip = params
        w, h = self._resized(img.size)
        if (w, h) != img.size:
            img = img.resize((w, h), Image.Resampling.BICUBIC)
        if "crop" in self.mode:
            c = self.crop_size
            if w < c or h < c:
                img = img.resize((max(w, c), max(h, c)), Image.Resampling.BICUBIC)
            img = img.crop((x, y, x + c, y + c))
        elif self.multiple > 1:
            m = self.multiple
            tw, th = max(m, round(img.width / m) * m), max(m, round(img.height / m) * m)
            if (tw, th) != img.size:
                img = img.resize((tw, th), Image.Resampling.BICUBIC)
        if flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img
