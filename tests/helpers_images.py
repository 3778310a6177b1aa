"""Small image makers shared by the image I/O, layout and translate tests (deterministic, no downloads)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

RED = (255, 0, 0)
GREEN = (0, 255, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)


def noise(width: int, height: int, seed: int = 0, mode: str = "RGB") -> Image.Image:
    """Random pixels: every crop, flip and half of it is different from every other."""
    rng = np.random.default_rng(seed)
    if mode == "L":
        return Image.fromarray(rng.integers(0, 256, (height, width), dtype=np.uint8), mode="L")
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="RGB")


def solid(width: int, height: int, colour: tuple[int, ...] = RED, mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (width, height), colour)


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """An aligned A|B image."""
    assert left.size == right.size
    out = Image.new("RGB", (left.width * 2, left.height))
    out.paste(left.convert("RGB"), (0, 0))
    out.paste(right.convert("RGB"), (left.width, 0))
    return out


def write(path: Path, img: Image.Image, **options) -> Path:
    """Save `img` at `path` (folders created; format from the extension unless `format=` is given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **options)
    return path


def pixels(path_or_img: Path | Image.Image) -> np.ndarray:
    """The pixels of a file or image as a signed array (safe to subtract)."""
    img = path_or_img if isinstance(path_or_img, Image.Image) else Image.open(path_or_img)
    with img:
        return np.asarray(img).astype(np.int16)


def with_marker(width: int, height: int, marker: tuple[int, int, int] = RED, box: int = 6) -> Image.Image:
    """White picture with a `box`×`box` coloured square in its top-left corner."""
    img = Image.new("RGB", (width, height), WHITE)
    img.paste(marker, (0, 0, box, box))
    return img


def corner_colours(img: Image.Image, inset: int = 2) -> dict[str, tuple[int, ...]]:
    """The colour a few pixels inside each corner, by name."""
    arr = np.asarray(img.convert("RGB"))
    h, w = arr.shape[:2]
    return {
        "top-left": tuple(int(v) for v in arr[inset, inset]),
        "top-right": tuple(int(v) for v in arr[inset, w - 1 - inset]),
        "bottom-left": tuple(int(v) for v in arr[h - 1 - inset, inset]),
        "bottom-right": tuple(int(v) for v in arr[h - 1 - inset, w - 1 - inset]),
    }


def close(colour: tuple[int, ...], expected: tuple[int, ...], tol: int = 12) -> bool:
    return len(colour) == len(expected) and all(abs(a - b) <= tol for a, b in zip(colour, expected))
