"""Captioned image folders for text-to-image training (GAN-CLS) and CLIP score.

Two layouts, which may be mixed: a sidecar `NAME.txt` beside each image `NAME.ext` (one caption per line,
as Flickr8k/CUB/Oxford-102 are usually shipped), and `ROOT/captions.jsonl` with lines
`{"file": "rel/path.jpg", "captions": [...]}` or `{"file": ..., "caption": "..."}`. A sidecar wins over a
jsonl entry for the same image. Anything that would silently drop an image or a caption is a DataError:
a text model trained on a quietly shrunken set fails far from the cause.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath, PureWindowsPath

import torch

from cgan_cli.data.classes import LabelledDataset, find_images
from cgan_cli.errors import DataError

JSONL_NAME = "captions.jsonl"
SIDECAR_SUFFIX = ".txt"
_NEWLINES = re.compile(r"\r\n|\r|\n")  # universal newlines; str.splitlines would also split on \x0c, \u2028 ...


@dataclass(frozen=True)
class CaptionedImages:
    root: Path
    items: tuple[tuple[Path, tuple[str, ...]], ...]  # (image, its captions), sorted by path relative to root

    @cached_property
    def _offsets(self) -> tuple[int, ...]:
        """Running caption counts, so caption_range is O(1) on sets of 100k images."""
        offsets = [0]
        for _, caps in self.items:
            offsets.append(offsets[-1] + len(caps))
        return tuple(offsets)

    def captions(self) -> list[str]:
        """Every caption, flattened in item order: the global caption index used by CaptionedDataset."""
        return [c for _, caps in self.items for c in caps]

    def caption_range(self, index: int) -> tuple[int, int]:
        """[start, stop) of item `index`'s captions within captions()."""
        n = len(self.items)
        if not -n <= index < n:
            raise IndexError(f"item {index} out of range for {n} items")
        index %= n
        return self._offsets[index], self._offsets[index + 1]


def _describe(paths: list[Path], noun: str) -> str:
    """The first offender by name, then a count of the rest, to keep the message on one line."""
    others = len(paths) - 1
    return str(paths[0]) + (f" (and {others} other {noun}{'s' if others > 1 else ''})" if others else "")


def _decode(path: Path) -> str:
    """UTF-8 text (a BOM, as Windows editors write, is dropped); anything else is an error, not mojibake."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None


def _lines(text: str) -> list[str]:
    return _NEWLINES.split(text)


def _read_sidecar(path: Path) -> tuple[str, ...]:
    caps = tuple(s for s in (line.strip() for line in _lines(_decode(path))) if s)
    if not caps:
        raise DataError(f"{path}: caption file holds no captions (only blank lines)")
    return caps


def _relative_file(value: str, where: str) -> PurePosixPath:
    """The entry's path as relative parts; absolute paths and `..` are refused so that a jsonl file
    cannot point a training run outside its dataset folder."""
    if not value.strip():
        raise DataError(f'{where}: "file" is empty')
    as_windows = PureWindowsPath(value)  # accepts both "/" and "\" separators
    if PurePosixPath(value).is_absolute() or as_windows.drive or as_windows.root:
        raise DataError(f'{where}: "file" must be relative to the dataset folder, not {value!r}')
    parts = as_windows.parts
    if ".." in parts:
        raise DataError(f'{where}: "file" {value!r} escapes the dataset folder (contains "..")')
    return PurePosixPath(*parts)


def _entry_captions(entry: dict, where: str) -> list[str]:
    if "captions" in entry and "caption" in entry:
        raise DataError(f'{where}: give either "captions" or "caption", not both')
    if "captions" in entry:
        caps = entry["captions"]
        if not isinstance(caps, list) or not all(isinstance(c, str) for c in caps):
            raise DataError(f'{where}: "captions" must be a list of strings')
    elif "caption" in entry:
        if not isinstance(entry["caption"], str):
            raise DataError(f'{where}: "caption" must be a string')
        caps = [entry["caption"]]
    else:
        raise DataError(f'{where}: entry has no "captions" (list of strings) or "caption" (string)')
    caps = [c.strip() for c in caps if c.strip()]
    if not caps:
        raise DataError(f"{where}: empty captions for {entry['file']!r}")
    return caps


def _read_jsonl(path: Path, root: Path, images: set[Path]) -> dict[Path, list[str]]:
    """image -> captions from captions.jsonl. Repeated entries for one file add up, so a COCO-style
    export with one {"file", "caption"} line per caption works as is."""
    found: dict[Path, list[str]] = {}
    for number, line in enumerate(_lines(_decode(path)), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(entry, dict):
            raise DataError(f'{where}: expected an object like {{"file": ..., "captions": [...]}}, not a JSON value')
        if "file" not in entry:
            raise DataError(f'{where}: entry has no "file"')
        if not isinstance(entry["file"], str):
            raise DataError(f'{where}: "file" must be a string')
        image = root.joinpath(_relative_file(entry["file"], where))
        if image not in images:
            if not image.exists():
                raise DataError(f"{where}: caption for a missing image: no such file {image}")
            raise DataError(f"{where}: {image} is not an image of the dataset (not an image file, or hidden)")
        found.setdefault(image, []).extend(_entry_captions(entry, where))
    return found


def _stray_sidecars(root: Path, used: set[Path]) -> list[Path]:
    """`.txt` files below root (hidden ones skipped, as list_images does) that caption no image."""
    stray = []
    for p in root.rglob("*" + SIDECAR_SUFFIX):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or p in used or not p.is_file():
            continue
        stray.append(p)
    return sorted(stray, key=lambda p: p.relative_to(root).as_posix())


def find_captioned(root: Path) -> CaptionedImages:
    """Every image below `root` (recursively, hidden skipped) with its captions from the sidecar, else
    from captions.jsonl. Every image must have a caption and every caption an image."""
    root = Path(root)
    images = [p for p, _ in find_images(root).items]  # checks the folder, sorted by relative path
    image_set = set(images)
    jsonl_path = root / JSONL_NAME
    from_jsonl = _read_jsonl(jsonl_path, root, image_set) if jsonl_path.is_file() else {}

    items: list[tuple[Path, tuple[str, ...]]] = []
    uncaptioned: list[Path] = []
    used: set[Path] = set()
    for image in images:
        sidecar = image.with_suffix(SIDECAR_SUFFIX)  # a.jpg and a.png both take a.txt
        if sidecar.is_file():
            used.add(sidecar)
            items.append((image, _read_sidecar(sidecar)))
        elif image in from_jsonl:
            items.append((image, tuple(from_jsonl[image])))
        else:
            uncaptioned.append(image)

    stray = _stray_sidecars(root, used)
    if stray:
        raise DataError(
            f"{_describe(stray, 'caption file')}: caption file with no image of that name beside it "
            f"(expected e.g. {stray[0].with_suffix('.jpg').name})"
        )
    if uncaptioned:
        raise DataError(
            f"{_describe(uncaptioned, 'image')}: image has no captions "
            f"(no {uncaptioned[0].with_suffix(SIDECAR_SUFFIX).name} beside it and no entry in {jsonl_path})"
        )
    return CaptionedImages(root, tuple(items))


def first_captions(data: CaptionedImages) -> dict[Path, str]:
    """image -> its first caption: a generated folder has one image per prompt, so this is its prompt."""
    return {image: caps[0] for image, caps in data.items}


class CaptionedDataset(LabelledDataset):
    """LabelledDataset's items with a caption instead of a label. The seed draws the caption first, then
    the optional flip, so the caption drawn does not depend on whether flipping is on."""

    data: CaptionedImages

    def __getitem__(self, key: tuple[int, int]) -> dict[str, torch.Tensor]:
        index, seed = key
        path, _ = self.data.items[index]
        start, stop = self.data.caption_range(index)
        rng = random.Random(seed)
        caption = start + rng.randrange(stop - start)
        return {"image": self.image(path, rng), "caption": torch.tensor(caption, dtype=torch.int64)}
