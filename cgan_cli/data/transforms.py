"""Training-time preprocessing of pix2pix/CycleGAN (`get_params`/`get_transform` in the reference):
resize to --load-size, random --crop-size crop, random horizontal flip, the same draw applied to both
images of a pair. Randomness comes from a `random.Random` the caller seeds, so data order and
augmentation are reproducible and resumable independently of worker processes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from PIL import Image

from cgan_cli.data.io import image_to_uint8_tensor, normalise
from cgan_cli.device import memory_format, to_device


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

    @property
    def uniform(self) -> bool:
        """Every image has one size before cropping, so a batch can be cropped on the device."""
        return self.mode == "resize_and_crop"

    def resize(self, img: Image.Image, resample: Image.Resampling = Image.Resampling.BICUBIC) -> Image.Image:
        """Everything `apply` does before the crop: on the CPU, in Pillow, as the reference does (label maps
        pass `resample=NEAREST`: classes must not blend)."""
        w, h = self._resized(img.size)
        if (w, h) != img.size:
            img = img.resize((w, h), resample)
        if "crop" in self.mode:
            c = self.crop_size
            if w < c or h < c:
                img = img.resize((max(w, c), max(h, c)), resample)
        elif self.multiple > 1:
            m = self.multiple
            tw, th = max(m, round(img.width / m) * m), max(m, round(img.height / m) * m)
            if (tw, th) != img.size:
                img = img.resize((tw, th), resample)
        return img

    def apply(
        self, img: Image.Image, params: tuple[int, int, bool], resample: Image.Resampling = Image.Resampling.BICUBIC
    ) -> Image.Image:
        x, y, flip = params
        img = self.resize(img, resample)
        if "crop" in self.mode:
            c = self.crop_size
            img = img.crop((x, y, x + c, y + c))
        if flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img

    def deferred(self, img: Image.Image, params: tuple[int, int, bool]) -> tuple[torch.Tensor, torch.Tensor]:
        """The resized uint8 image and its view (x, y, flip, crop size) for `crop_on_device`."""
        x, y, flip = params
        return image_to_uint8_tensor(self.resize(img)), torch.tensor([x, y, int(flip), self.crop_size])


class DeviceCrop:
    """A dataset that can leave crop, flip and the float conversion to the training device: with
    `defer_crop` set (the trainer always sets it; it takes effect when `Preprocess.uniform`, i.e. every
    image has one size before the crop), items carry the resized uint8 image
    under `key` and its view under `key.view`; `crop_on_device` finishes the batch. Pinned-memory copies
    are then 4× smaller (uint8, not float32) and the loader workers only decode and resize."""

    defer_crop = False


VIEW = ".view"


def crop_flip(images: torch.Tensor, views: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) uint8 and (N, 4) views → (N, C, size, size) in [-1, 1], on the images' device: the same
    pixels `Preprocess.apply` + `to_tensor` give, in one gather and no host sync."""
    ar = torch.arange(size, device=images.device)
    x, y, flip = views[:, 0:1], views[:, 1:2], views[:, 2:3].bool()
    rows = y + ar  # (N, size)
    cols = torch.where(flip, x + (size - 1) - ar, x + ar)  # (N, size)
    n = torch.arange(images.shape[0], device=images.device)[:, None, None]
    picked = images[n, :, rows[:, :, None], cols[:, None, :]]  # (N, size, size, C)
    return normalise(picked.permute(0, 3, 1, 2))


def crop_on_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A loader batch on `device`, with deferred crops done there (see DeviceCrop)."""
    out = {}
    for key, value in batch.items():
        if key.endswith(VIEW):
            continue
        view = batch.get(key + VIEW)
        if view is None:
            out[key] = to_device(value, device)
            continue
        size = int(view[0, 3])  # the loader's CPU tensor: no device sync
        images = value.to(device, non_blocking=True)
        cropped = crop_flip(images, view.to(device, non_blocking=True), size)
        out[key] = cropped.contiguous(memory_format=memory_format(device))
    return out
