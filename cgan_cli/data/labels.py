"""Semantic label maps as data (SPADE's input): one class per pixel, read as index maps or colour-coded maps.

Index maps are palette ("P") or 8-bit grey PNGs whose pixel values are the class indices. Colour-coded maps
(the pix2pix facades label maps, often JPEGs) go through a `Palette`: colour → class, from a JSON or CSV file
(`--palette FILE`) or found in the data (`--palette auto`: the frequent distinct colours, JPEG noise merged into
the nearest one). Every pixel is mapped to its nearest palette entry; pixels farther than the tolerance from
every entry are unknown, and more than a few of them (JPEG ringing is allowed for) make a one-line error; with
`--palette auto` the colours are the data's own, so every pixel goes to its nearest class (facades' JPEG maps
blend neighbouring classes' colours over ~5% of their pixels).

Label maps are resized with nearest neighbour, never interpolated: a blend of two classes is no class.
Instance maps (`--instances DIR`, integer ids per pixel, matched to label maps by name) are resized, cropped and
flipped alike and become SPADE's instance edge map (`instance_edges`, 1 where neighbouring ids differ).
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from cgan_cli.data.inputs import list_images
from cgan_cli.data.io import open_image, read_image, to_tensor
from cgan_cli.data.paired import Pair, split_aligned
from cgan_cli.data.transforms import Preprocess
from cgan_cli.errors import DataError
from cgan_cli.nn.spade import instance_edges

UNKNOWN_SHARE = 0.02  # unknown colours beyond this share of a map's pixels are an error, not JPEG noise
AUTO_MIN_SHARE = 0.0002  # --palette auto: a colour is a class when it covers this share of the pixels seen
AUTO_SAMPLE = 64  # --palette auto looks at this many label maps (spread over the dataset)


def parse_colour(text: str | list | tuple, where: str) -> tuple[int, int, int]:
    """A colour written #rrggbb, r,g,b or [r, g, b] → (r, g, b)."""
    try:
        if isinstance(text, (list, tuple)):
            rgb = tuple(int(v) for v in text)
        elif text.strip().startswith("#") and len(text.strip()) == 7:
            s = text.strip()
            rgb = (int(s[1:3], 16), int(s[3:5], 16), int(s[5:7], 16))
        else:
            rgb = tuple(int(v) for v in text.split(","))
    except (ValueError, AttributeError):
        raise DataError(f"{where}: {text!r} is not a colour (#rrggbb or r,g,b)") from None
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise DataError(f"{where}: {text!r} is not a colour (three values 0-255)")
    return rgb  # type: ignore[return-value]


def hex_colour(rgb: tuple[int, int, int] | np.ndarray) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


@dataclass(frozen=True)
class Palette:
    """The class list: names in class-index order, and for colour-coded maps each class's colour."""

    names: tuple[str, ...]
    colours: tuple[tuple[int, int, int], ...] = ()  # empty: index maps
    tolerance: float = 96.0  # Euclidean RGB distance within which a colour is its nearest entry
    strict: bool = True  # colours beyond the tolerance are an error; False (auto palettes): all go to the nearest

    @property
    def coded(self) -> bool:
        return bool(self.colours)

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, img: Image.Image, path: Path | str) -> np.ndarray:
        """(H, W) uint8 class indices of a label map, or a one-line DataError naming the file and value."""
        if self.coded:
            return self._from_colours(np.asarray(img.convert("RGB")), path)
        if img.mode not in ("P", "L"):
            raise DataError(
                f"{path}: a {img.mode} image is not an index map (palette or 8-bit grey PNG); "
                "for colour-coded maps give --palette FILE or --palette auto"
            )
        arr = np.asarray(img, dtype=np.uint8)
        top = int(arr.max()) if arr.size else 0
        if top >= len(self.names):
            raise DataError(f"{path}: label value {top} is outside the class list (0-{len(self.names) - 1})")
        return arr

    def _from_colours(self, rgb: np.ndarray, path: Path | str) -> np.ndarray:
        table = np.asarray(self.colours, dtype=np.int32)  # (K, 3)
        flat = rgb.reshape(-1, 3).astype(np.int32)
        colours, inverse = np.unique(flat, axis=0, return_inverse=True)  # maps hold few distinct colours
        dist = ((colours[:, None, :] - table[None, :, :]) ** 2).sum(-1)  # (U, K)
        nearest = dist.argmin(1)
        far = np.sqrt(dist.min(1)) > self.tolerance
        if self.strict and far.any():
            counts = np.bincount(inverse.reshape(-1), minlength=len(colours))
            unknown = int(counts[far].sum())
            if unknown > UNKNOWN_SHARE * flat.shape[0]:
                worst = colours[far][counts[far].argmax()]
                raise DataError(
                    f"{path}: colour {hex_colour(worst)} is not in the palette ({unknown} pixels farther than "
                    f"{self.tolerance:g} from every entry)"
                )
        return nearest[inverse.reshape(-1)].astype(np.uint8).reshape(rgb.shape[:2])

    def record(self) -> dict[str, tuple[str, ...]]:
        """The config fields a checkpoint stores this palette in."""
        return {"class_names": self.names, "class_colours": tuple(hex_colour(c) for c in self.colours)}


def palette_from_record(names: tuple[str, ...], colours: tuple[str, ...], tolerance: float, strict: bool) -> Palette:
    return Palette(tuple(names), tuple(parse_colour(c, "checkpoint") for c in colours), tolerance, strict)


def read_palette(path: Path, tolerance: float) -> Palette:
    """A palette file: JSON ({"sky": "#87ceeb", ...}, or [{"name": ..., "color": ...}, ...]) or CSV rows of
    `name,#rrggbb` or `name,r,g,b`. The order of the entries is the class index order."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the palette ({exc.strerror or exc})") from None
    entries: list[tuple[str, object]] = []
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
        if isinstance(data, dict):
            entries = list(data.items())
        elif isinstance(data, list) and all(isinstance(e, dict) for e in data):
            entries = [(str(e.get("name", "")), e.get("color", e.get("colour"))) for e in data]
        else:
            raise DataError(f"{path}: expected an object of name → colour or a list of {{name, color}}")
    else:
        for row in csv.reader(line for line in text.splitlines() if line.strip() and not line.startswith("#")):
            if len(row) not in (2, 4):
                raise DataError(f"{path}: row {','.join(row)!r} is not name,#rrggbb or name,r,g,b")
            entries.append((row[0].strip(), row[1] if len(row) == 2 else ",".join(row[1:])))
    if not entries:
        raise DataError(f"{path}: the palette has no entries")
    names = tuple(str(n) for n, _ in entries)
    colours = tuple(parse_colour(c, f"{path}: {n}") for n, c in entries)  # type: ignore[arg-type]
    if len(set(names)) != len(names):
        raise DataError(f"{path}: class names repeat")
    if len(set(colours)) != len(colours):
        raise DataError(f"{path}: two classes have the same colour")
    return Palette(names, colours, tolerance)


def auto_palette(maps: list[np.ndarray], tolerance: float) -> Palette:
    """The distinct colours of colour-coded maps: colours by frequency, each a new class unless it lies within
    half the `tolerance` of a more frequent one or is too rare (JPEG noise at class edges); sorted by colour."""
    flat = np.concatenate([m.reshape(-1, 3) for m in maps]).astype(np.int32)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    centres: list[np.ndarray] = []
    for i in np.argsort(-counts, kind="stable"):
        if counts[i] < AUTO_MIN_SHARE * flat.shape[0]:
            break
        c = colours[i]
        if all(np.sqrt(((c - k) ** 2).sum()) > tolerance / 2 for k in centres):
            centres.append(c)
    found = sorted(tuple(int(v) for v in c) for c in centres)
    names = tuple(hex_colour(c) for c in found)
    return Palette(names, tuple(found), tolerance, strict=False)  # type: ignore[arg-type]


def open_label_map(path: Path) -> Image.Image:
    """A label map as stored: palette and grey maps keep their index values (read_image would convert them)."""
    img = open_image(path)
    if img.mode in ("P", "L"):
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        arr = np.asarray(img)
        if arr.size and int(arr.max()) > 255:
            raise DataError(f"{path}: label value {int(arr.max())} is outside the class list (at most 256 classes)")
        return Image.fromarray(arr.astype(np.uint8), mode="L")
    return img.convert("RGB")


def open_instance_map(path: Path) -> np.ndarray:
    """(H, W) int64 instance ids: grey, palette and 16/32-bit PNGs as stored; colour maps, one id per colour."""
    img = open_image(path)
    if img.mode in ("RGB", "RGBA", "CMYK", "LA", "PA"):
        rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return np.asarray(img, dtype=np.int64)


def instance_files(folder: Path) -> dict[str, Path]:
    """--instances DIR: its images keyed by file name without extension (the label maps' names)."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (--instances)")
    found: dict[str, Path] = {}
    for p in list_images(folder):
        if p.stem in found:
            raise DataError(f"{found[p.stem]} and {p} have the same name (instance maps are matched by name)")
        found[p.stem] = p
    if not found:
        raise DataError(f"{folder}: holds no instance maps")
    return found


def instance_for(instances: dict[str, Path], label_path: Path, folder: str) -> Path:
    try:
        return instances[label_path.stem]
    except KeyError:
        raise DataError(f"no instance map named {label_path.stem}.* in {folder} for {label_path}") from None


@dataclass(frozen=True)
class LabelPairs:
    """Where the (label map, photo) pairs are: `Pair`s of cgan_cli/data/paired.py and the label side, and with
    --instances the instance map of each label map (by name)."""

    pairs: list[Pair]
    label_side: str  # "A" or "B" (for the A/B layouts; --labels DIR is labels/ = A, images/ = B)
    instances: dict[str, Path] | None = None
    instances_folder: str = ""

    def label_path(self, pair: Pair) -> Path:
        return pair.a if pair.b is None or self.label_side == "A" else pair.b

    def instance_path(self, pair: Pair) -> Path | None:
        if self.instances is None:
            return None
        return instance_for(self.instances, self.label_path(pair), self.instances_folder)

    def check_instances(self) -> None:
        """Every label map has its instance map: a missing one is an error before training starts."""
        for pair in self.pairs:
            self.instance_path(pair)

    def load(self, pair: Pair, with_photo: bool = True) -> tuple[Image.Image, Image.Image | None, str]:
        """(label map as stored, RGB photo or None, the label map's path for errors)."""
        label_first = self.label_side == "A"
        if pair.b is None:
            whole = open_label_map(pair.a)
            left, right = split_aligned(whole)
            label = left if label_first else right
            photo = None
            if with_photo:
                photo_whole = read_image(pair.a, 3)
                pl, pr = split_aligned(photo_whole)
                photo = pr if label_first else pl
            return label, photo, f"{pair.a} ({'left' if label_first else 'right'} half)"
        label_path, photo_path = (pair.a, pair.b) if label_first else (pair.b, pair.a)
        label = open_label_map(label_path)
        photo = read_image(photo_path, 3) if with_photo else None
        if photo is not None and photo.size != label.size:
            raise DataError(
                f"size mismatch: {label_path} is {label.width}×{label.height} but {photo_path} is "
                f"{photo.width}×{photo.height}"
            )
        return label, photo, str(label_path)


def palette_for(data: LabelPairs, palette: str, tolerance: float, label_nc: int) -> Palette:
    """The class list of a dataset: from the palette file, found in the maps (auto), or for index maps
    0 … label_nc-1 (label_nc 0: the largest value found, plus one)."""
    if palette not in ("", "auto"):
        return read_palette(Path(palette), tolerance)
    step = max(1, len(data.pairs) // AUTO_SAMPLE)
    if palette == "auto":
        maps = [np.asarray(data.load(p, with_photo=False)[0].convert("RGB")) for p in data.pairs[::step]]
        found = auto_palette(maps, tolerance)
        if len(found) < 2:
            raise DataError(f"{data.pairs[0].a}: --palette auto found {len(found)} colour; are these label maps?")
        return found
    if label_nc == 0:
        top = 0
        for pair in data.pairs:
            label, _, where = data.load(pair, with_photo=False)
            if label.mode not in ("P", "L"):
                raise DataError(
                    f"{where}: a colour image is not an index map; for colour-coded maps give --palette FILE or auto"
                )
            top = max(top, int(np.asarray(label).max()))
        label_nc = top + 1
    return Palette(tuple(str(i) for i in range(label_nc)))


def one_hot(indices: torch.Tensor, classes: int) -> torch.Tensor:
    """(N, H, W) or (N, 1, H, W) integer class maps → (N, classes, H, W) float one-hot."""
    if indices.dim() == 4:
        indices = indices[:, 0]
    return torch.nn.functional.one_hot(indices.long(), classes).permute(0, 3, 1, 2).float()


def label_tensor(label: Image.Image, palette: Palette, where: str) -> torch.Tensor:
    """(1, H, W) int64 class indices."""
    return torch.from_numpy(palette.indices(label, where).astype(np.int64))[None]


class LabelMapDataset(Dataset):
    """(label map, photo) items keyed by (index, augmentation seed): the photo resized bicubic, the label map
    nearest, both cropped and flipped alike. Items: "label" (1, H, W) int64, "target" (3, H, W) in [-1, 1]."""

    def __init__(self, data: LabelPairs, palette: Palette, preprocess: Preprocess) -> None:
        self.data, self.palette, self.preprocess = data, palette, preprocess

    def __len__(self) -> int:
        return len(self.data.pairs)

    def item(self, index: int, params: tuple[int, int, bool] | None, rng: random.Random | None = None):
        pair = self.data.pairs[index]
        label, photo, where = self.data.load(pair)
        assert photo is not None
        indices = Image.fromarray(self.palette.indices(label, where))  # classes before resizing: no blends
        if params is None:
            params = self.preprocess.draw(photo.size, rng) if rng is not None else self.preprocess.centre(photo.size)
        lab = self.preprocess.apply(indices, params, Image.Resampling.NEAREST)
        item = {
            "label": torch.from_numpy(np.asarray(lab, dtype=np.int64).copy())[None],
            "target": to_tensor(self.preprocess.apply(photo, params)),
        }
        instance_path = self.data.instance_path(pair)
        if instance_path is not None:
            ids = open_instance_map(instance_path)
            if (ids.shape[1], ids.shape[0]) != label.size:
                raise DataError(f"size mismatch: {where} is {label.width}×{label.height} but {instance_path} is "
                                f"{ids.shape[1]}×{ids.shape[0]}")  # fmt: skip
            # ids as int32 through the same nearest resize, crop and flip; edges after them, as the reference
            resized = self.preprocess.apply(Image.fromarray(ids.astype(np.int32), mode="I"), params,
                                            Image.Resampling.NEAREST)  # fmt: skip
            item["edges"] = instance_edges(torch.from_numpy(np.asarray(resized, dtype=np.int64).copy()))[None]
        return item

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        return self.item(index, None, random.Random(seed))
