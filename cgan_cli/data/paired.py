"""Paired datasets for pix2pix-style training.

Two layouts: (a) the pix2pix *aligned* layout, each file holding A and B side by side
(`DIR/train/*.jpg`, or DIR being the split itself); (b) `DIR/A/` and `DIR/B/` holding files with the
same relative path (extensions may differ). `--direction BtoA` swaps the roles of A and B.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from cgan_cli.data.inputs import list_images
from cgan_cli.data.io import image_size, read_image, to_tensor
from cgan_cli.data.transforms import VIEW, DeviceCrop, Preprocess
from cgan_cli.errors import DataError


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path | None = None  # None: `a` is an aligned A|B file

    @property
    def name(self) -> str:
        return str(self.a) if self.b is None else f"{self.a} + {self.b}"


def split_aligned(img: Image.Image) -> tuple[Image.Image, Image.Image]:
    """Left half, right half of a side-by-side A|B image (an odd last column is dropped)."""
    half = img.width // 2
    return img.crop((0, 0, half, img.height)), img.crop((half, 0, 2 * half, img.height))


def _split_folder(root: Path, split: str) -> Path:
    return root / split if (root / split).is_dir() else root


def _describe(paths: list[str], limit: int = 3) -> str:
    shown = ", ".join(paths[:limit])
    return shown + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def find_pairs(root: Path, split: str = "train") -> list[Pair]:
    """All pairs of `root` (or `root/split`), checked from the image headers: every A has a B of the
    same size, and every aligned file is an image wide enough to split."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    base = _split_folder(root, split)
    has_a, has_b = (base / "A").is_dir(), (base / "B").is_dir()
    if has_a and has_b:
        return _ab_pairs(base)
    if has_a or has_b:
        there, missing = ("A", "B") if has_a else ("B", "A")
        raise DataError(f"{base}: has {there}/ but no {missing}/ folder (expected both, or aligned A|B files)")
    files = list_images(base)
    if not files:
        raise DataError(f"{base}: no images found (expected aligned A|B files, or A/ and B/ folders)")
    pairs = []
    for f in files:
        w, h = image_size(f)
        if w < 2:
            raise DataError(f"{f}: {w}×{h} is too narrow to hold A and B side by side")
        pairs.append(Pair(f))
    return pairs


def find_folder_pairs(root: Path, a: str, b: str, split: str = "train") -> list[Pair]:
    """Pairs of `root/a` and `root/b` (or of `root/split/a` and `root/split/b`), matched by name."""
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    base = _split_folder(root, split)
    for name in (a, b):
        if not (base / name).is_dir():
            raise DataError(f"{base}: has no {name}/ folder (expected {a}/ and {b}/)")
    return _ab_pairs(base, a, b)


def _by_name(folder: Path) -> dict[str, Path]:
    """Images of `folder` keyed by relative path without extension; two files with one key are an error."""
    files: dict[str, Path] = {}
    for p in list_images(folder):
        key = p.relative_to(folder).with_suffix("").as_posix()
        if key in files:
            raise DataError(f"{files[key]} and {p} have the same name (A/B files are matched without extension)")
        files[key] = p
    return files


def _ab_pairs(base: Path, a: str = "A", b: str = "B") -> list[Pair]:
    """Pairs of the same-named files of `base/a` and `base/b` (A/ and B/; SPADE's labels/ and images/)."""
    a_files, b_files = _by_name(base / a), _by_name(base / b)
    if not a_files and not b_files:
        raise DataError(f"{base}: {a}/ and {b}/ hold no images")
    missing_b = sorted(str(a_files[k]) for k in a_files.keys() - b_files.keys())
    missing_a = sorted(str(b_files[k]) for k in b_files.keys() - a_files.keys())
    if missing_b:
        raise DataError(f"no partner in {base / b} for {_describe(missing_b)}")
    if missing_a:
        raise DataError(f"no partner in {base / a} for {_describe(missing_a)}")
    pairs = []
    for key in sorted(a_files):
        fa, fb = a_files[key], b_files[key]
        sa, sb = image_size(fa), image_size(fb)
        if sa != sb:
            raise DataError(f"size mismatch: {fa} is {sa[0]}×{sa[1]} but {fb} is {sb[0]}×{sb[1]}")
        pairs.append(Pair(fa, fb))
    return pairs


def load_pair(pair: Pair, direction: str, in_channels: int, out_channels: int) -> tuple[Image.Image, Image.Image]:
    """(input, target) images of a pair, in the generator's direction."""
    if pair.b is None:
        whole = read_image(pair.a, 3 if max(in_channels, out_channels) == 3 else 1)
        a, b = split_aligned(whole)
    else:
        a, b = read_image(pair.a), read_image(pair.b)
        if a.size != b.size:
            raise DataError(f"size mismatch: {pair.a} is {a.size} but {pair.b} is {b.size} after EXIF rotation")
    src, dst = (a, b) if direction == "AtoB" else (b, a)
    return _mode(src, in_channels), _mode(dst, out_channels)


def _mode(img: Image.Image, channels: int) -> Image.Image:
    want = "RGB" if channels == 3 else "L"
    return img if img.mode == want else img.convert(want)


class PairedDataset(DeviceCrop, Dataset):
    """Items are keyed by (index, augmentation seed) so the same key always gives the same tensors."""

    def __init__(self, pairs: list[Pair], direction: str, preprocess: Preprocess, in_channels: int, out_channels: int):
        self.pairs, self.direction, self.preprocess = pairs, direction, preprocess
        self.in_channels, self.out_channels = in_channels, out_channels

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        src, dst = load_pair(self.pairs[index], self.direction, self.in_channels, self.out_channels)
        params = self.preprocess.draw(src.size, random.Random(seed))
        if self.defer_crop and self.preprocess.uniform:
            (src, view), (dst, _) = self.preprocess.deferred(src, params), self.preprocess.deferred(dst, params)
            return {"input": src, "target": dst, "input" + VIEW: view, "target" + VIEW: view}
        return {
            "input": to_tensor(self.preprocess.apply(src, params)),
            "target": to_tensor(self.preprocess.apply(dst, params)),
        }


def validation_pairs(
    root: Path, training_pairs: Callable[[], list[Pair]], direction: str, prep: Preprocess, in_channels: int,
    out_channels: int, limit: int,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """The fixed batch of a paired family's sample grids: up to `limit` pairs of ROOT/val (or ROOT/test) when
    ROOT/train is the training split, else the first training pairs; centre-cropped, no flips; pairs of another
    size than the first are left out so the batch stacks."""
    pairs = None
    for split in ("val", "test"):
        if (root / split).is_dir() and (root / "train").is_dir():
            pairs = find_pairs(root, split)
            break
    inputs, targets = [], []
    for pair in (pairs or training_pairs())[:limit]:
        src, dst = load_pair(pair, direction, in_channels, out_channels)
        params = prep.centre(src.size)
        x, y = to_tensor(prep.apply(src, params)), to_tensor(prep.apply(dst, params))
        if inputs and x.shape != inputs[0].shape:
            continue
        inputs.append(x)
        targets.append(y)
    return {"input": torch.stack(inputs), "target": torch.stack(targets)}

