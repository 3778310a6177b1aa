"""Tiny label-map datasets for the SPADE tests: index PNGs (palette mode) of three classes and photos whose
colour follows the class, so a model that learns the mapping shows it in a few steps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

COLOURS = ((200, 40, 40), (40, 200, 40), (40, 40, 200))  # the photo's colour of class 0, 1, 2
PALETTE = {"sky": "#ff0000", "tree": "#00ff00", "road": "#0000ff"}


def label_array(i: int, size: int = 64) -> np.ndarray:
    """Class 0 on the left, 1 on the right, a class-2 box whose place depends on `i`."""
    lab = np.zeros((size, size), np.uint8)
    lab[:, size // 2 :] = 1
    o = (i * 7) % (size // 2)
    lab[o : o + size // 3, o : o + size // 3] = 2
    return lab


def write_labels(root: Path, count: int = 6, size: int = 64, coded: bool = False) -> Path:
    """root/labels/*.png (palette index maps, or colour-coded RGB with `coded`) and root/images/*.png."""
    (root / "labels").mkdir(parents=True)
    (root / "images").mkdir()
    colours = [tuple(int(PALETTE[k][j : j + 2], 16) for j in (1, 3, 5)) for k in PALETTE]
    for i in range(count):
        lab = label_array(i, size)
        photo = np.asarray(COLOURS, np.int32)[lab] + np.random.default_rng(i).integers(-10, 11, (size, size, 3))
        Image.fromarray(photo.clip(0, 255).astype(np.uint8)).save(root / "images" / f"{i}.png")
        if coded:
            Image.fromarray(np.asarray(colours, np.uint8)[lab]).save(root / "labels" / f"{i}.png")
        else:
            img = Image.fromarray(lab, mode="P")
            img.putpalette([v for c in colours for v in c])
            img.save(root / "labels" / f"{i}.png")
    return root


def tiny_vgg19(path: Path, width: int = 4) -> Path:
    """A narrow VGG19 with torchvision's layout and names (`features.N.weight`), random weights."""
    from cgan_cli.nn.spade import VGG19Features

    torch.manual_seed(0)
    widths = tuple(width * m for m in (1, 1, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 8))
    net = VGG19Features(widths)
    torch.save({f"features.{k}": v for k, v in net.features.state_dict().items()}, path)
    return path
