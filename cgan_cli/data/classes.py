"""Labelled image folders for class-conditional GANs (DCGAN, cGAN, ACGAN).

The layout is torchvision's ImageFolder: `ROOT/<class>/**/<image>`, one immediate subfolder per class,
classes numbered in sorted name order, so a folder trained here and with ImageFolder gets the same labels.
The unconditional case (DCGAN) takes every image below ROOT with label 0. Preprocessing follows the
DCGAN/PyTorch examples: the shorter side resized to the image size, then a centre crop; no augmentation.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from cgan_cli.data.inputs import list_images
from cgan_cli.data.io import is_image_path, read_image, to_tensor
from cgan_cli.errors import DataError

# Header modes that read_image turns into one grey channel without losing anything: 1-bit, 8-bit,
# 16/32-bit integer and float grey, and grey + alpha (composited on white, which stays grey).
# Palette images ("P", "PA") count as colour even when every palette entry happens to be grey:
# telling would need a full decode, and a grey picture stored as RGB costs only memory.
GRAY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})


@dataclass(frozen=True)
class LabelledImages:
    names: tuple[str, ...]  # class names by label; empty for an unlabelled set
    items: list[tuple[Path, int]]  # (image, label), in sorted order


def _describe(paths: list[Path], limit: int = 3) -> str:
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def _check_folder(root: Path) -> None:
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")


def _visible(root: Path) -> list[Path]:
    """Immediate entries of `root` by name, hidden ones (".git", ".DS_Store") left out."""
    try:
        return sorted((p for p in root.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    except OSError as exc:
        raise DataError(f"{root}: cannot list folder: {exc.strerror or exc}") from None


def find_classes(root: Path) -> LabelledImages:
    """ImageFolder layout: each immediate subfolder of `root` is a class (label = position in sorted
    order), its images found recursively. Anything that would silently drop or mislabel data is an error."""
    root = Path(root)
    _check_folder(root)
    entries = _visible(root)
    class_dirs = [p for p in entries if p.is_dir()]
    loose = [p for p in entries if p.is_file() and is_image_path(p)]
    if not class_dirs:
        found = f"{len(loose)} images but no class subfolders" if loose else "no class subfolders"
        raise DataError(f"{root}: {found} (expected one subfolder per class; for unlabelled images use dcgan)")
    if loose:
        raise DataError(
            f"{root}: {_describe(loose)} lie directly in the dataset folder, next to the class subfolders, "
            "and would be ignored (move them into a class subfolder)"
        )
    items: list[tuple[Path, int]] = []
    for label, folder in enumerate(class_dirs):
        files = list_images(folder)
        if not files:
            raise DataError(f"{folder}: class folder holds no images")
        items += [(f, label) for f in files]
    if len(class_dirs) < 2:
        raise DataError(
            f"{root}: only one class subfolder ({class_dirs[0].name}); a conditional model needs at least 2 classes "
            "(for unlabelled images use dcgan)"
        )
    return LabelledImages(tuple(p.name for p in class_dirs), items)


def find_images(root: Path) -> LabelledImages:
    """The unconditional case: every image below `root`, recursively, all with label 0."""
    root = Path(root)
    _check_folder(root)
    files = list_images(root)
    if not files:
        raise DataError(f"{root}: no images found")
    return LabelledImages((), [(f, 0) for f in files])


def _header_mode(path: Path) -> str:
    try:
        with Image.open(path) as img:  # lazy: reads the header only
            return img.mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a folder, not an image") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DataError(f"{path}: cannot read image header: {str(exc) or type(exc).__name__}") from None


def detect_channels(paths: list[Path]) -> int:
    """1 when every image is grey by its header mode (see GRAY_MODES), else 3; an empty list gives 3.
    Stops at the first colour image, so a colour set costs one header read."""
    if not paths:
        return 3
    for p in paths:
        if _header_mode(Path(p)) not in GRAY_MODES:
            return 3
    return 1


def resize_and_centre_crop(img: Image.Image, size: int) -> Image.Image:
    """torchvision's Resize(size) (bicubic here) then CenterCrop(size), with the same rounding."""
    w, h = img.size
    if min(w, h) != size:
        if w <= h:
            w, h = size, int(size * h / w)
        else:
            w, h = int(size * w / h), size
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    if (w, h) != (size, size):
        left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
        img = img.crop((left, top, left + size, top + size))
    return img


class LabelledDataset(Dataset):
    """Items keyed by (index, seed) like PairedDataset; the seed draws the optional horizontal flip, so
    an item is the same tensor however the run is split, resumed or spread over workers."""

    def __init__(self, data: LabelledImages, image_size: int, channels: int = 3, flip: bool = False):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, not {channels}")
        if image_size < 1:
            raise ValueError(f"image_size must be positive, not {image_size}")
        self.data, self.image_size, self.channels, self.flip = data, image_size, channels, flip

    def __len__(self) -> int:
        return len(self.data.items)

    def image(self, path: Path, rng: random.Random) -> torch.Tensor:
        """The resized, centre-cropped image, flipped when `rng` says so (one draw, with --flip)."""
        img = resize_and_centre_crop(read_image(path, self.channels), self.image_size)
        if self.flip and rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(img)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        path, label = self.data.items[index]
        return {"image": self.image(path, random.Random(seed)), "label": torch.tensor(label, dtype=torch.int64)}
