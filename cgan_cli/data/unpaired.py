"""Unpaired two-domain data for CycleGAN: the reference layout `DIR/trainA` + `DIR/trainB` (with
`testA`/`testB` for sample grids), or any two folders. The domains may differ in size and count; as in
the reference `UnalignedDataset`, item i takes A[i mod |A|] and a B drawn at random for every item, and
each image gets its own crop and flip.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from cgan_cli.data.inputs import list_images
from cgan_cli.data.io import read_image, to_tensor
from cgan_cli.data.transforms import VIEW, DeviceCrop, Preprocess
from cgan_cli.errors import DataError


@dataclass(frozen=True)
class Domains:
    a: list[Path]
    b: list[Path]


def _domain(folder: Path, flag: str) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder ({flag})")
    files = list_images(folder)
    if not files:
        raise DataError(f"{folder}: no images in this domain folder ({flag})")
    return files


def find_domains(root: Path | None, domain_a: Path | None = None, domain_b: Path | None = None,
                 split: str = "train") -> Domains:  # fmt: skip
    """`root/<split>A` + `root/<split>B`, or the two folders given (which take precedence)."""
    if domain_a is not None or domain_b is not None:
        if domain_a is None or domain_b is None:
            raise DataError("give both --domain-a and --domain-b")
        return Domains(_domain(domain_a, "--domain-a"), _domain(domain_b, "--domain-b"))
    if root is None:
        raise DataError("give --unpaired DIR (with trainA/ and trainB/) or --domain-a DIR --domain-b DIR")
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    a, b = root / f"{split}A", root / f"{split}B"
    missing = [p.name for p in (a, b) if not p.is_dir()]
    if missing:
        raise DataError(f"{root}: no {' or '.join(missing)}/ folder (expected {split}A/ and {split}B/)")
    return Domains(_domain(a, f"{split}A"), _domain(b, f"{split}B"))


def load_domain_image(path: Path, channels: int, preprocess: Preprocess, rng: random.Random | None) -> torch.Tensor:
    img = read_image(path, channels)
    params = preprocess.draw(img.size, rng) if rng is not None else preprocess.centre(img.size)
    return to_tensor(preprocess.apply(img, params))


class UnpairedDataset(DeviceCrop, Dataset):
    """Keyed by (index, seed): the seed picks B and both augmentations, so a key always gives the same pair."""

    def __init__(self, domains: Domains, preprocess: Preprocess, a_channels: int, b_channels: int) -> None:
        self.domains, self.preprocess = domains, preprocess
        self.a_channels, self.b_channels = a_channels, b_channels

    def __len__(self) -> int:
        return max(len(self.domains.a), len(self.domains.b))

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        rng = random.Random(seed)
        a_path = self.domains.a[index % len(self.domains.a)]
        b_path = self.domains.b[rng.randrange(len(self.domains.b))]
        if not (self.defer_crop and self.preprocess.uniform):
            return {
                "A": load_domain_image(a_path, self.a_channels, self.preprocess, rng),
                "B": load_domain_image(b_path, self.b_channels, self.preprocess, rng),
            }
        item = {}
        for domain, path, channels in (("A", a_path, self.a_channels), ("B", b_path, self.b_channels)):
            img = read_image(path, channels)  # the same draws, in the same order, as load_domain_image
            item[domain], item[domain + VIEW] = self.preprocess.deferred(img, self.preprocess.draw(img.size, rng))
        return item
