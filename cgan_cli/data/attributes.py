"""Multi-label (CelebA-style) data for StarGAN: a CSV with one row per image — the file name first,
then 0/1 attribute columns — of which `--select-attrs` picks the domains to learn.

    image,Black_Hair,Blond_Hair,Male,Young
    000001.jpg,0,1,0,1
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import torch

from cgan_cli.errors import DataError


@dataclass(frozen=True)
class AttributeImages:
    names: tuple[str, ...]
    items: list[tuple[Path, tuple[float, ...]]]


def read_attributes(table: Path, select: tuple[str, ...], images: Path | None = None) -> AttributeImages:
    """Rows of `table` with the `select`ed columns; image paths are relative to `images` (default: the
    CSV's folder). Every error names the file and, where there is one, the row."""
    if not table.is_file():
        raise DataError(f"{table}: no such attribute file")
    root = images if images is not None else table.parent
    try:
        with open(table, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{table}: not a readable CSV ({exc})") from None
    if len(rows) < 2:
        raise DataError(f"{table}: needs a header row and at least one image row")
    header = [h.strip() for h in rows[0]]
    if not select:
        raise DataError(f"{table}: choose the domains with --select-attrs (columns: {', '.join(header[1:])})")
    repeated = sorted({a for a in select if select.count(a) > 1})
    if repeated:
        raise DataError(f"--select-attrs names {', '.join(repeated)} more than once")
    unknown = [a for a in select if a not in header[1:]]
    if unknown:
        raise DataError(f"{table}: no attribute {', '.join(unknown)} (columns: {', '.join(header[1:])})")
    columns = [header.index(a) for a in select]
    items = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DataError(f"{table}:{line}: {len(row)} fields, but the header has {len(header)}")
        values = []
        for col in columns:
            cell = row[col].strip()
            if cell not in ("0", "1"):
                raise DataError(f"{table}:{line}: {header[col]} is {cell!r}; attribute values must be 0 or 1")
            values.append(float(cell))
        path = root / row[0].strip()
        if not path.is_file():
            raise DataError(f"{table}:{line}: image {path} does not exist")
        items.append((path, tuple(values)))
    if not items:
        raise DataError(f"{table}: no image rows")
    return AttributeImages(tuple(select), items)


def label_tensor(values: tuple[float, ...] | int, c_dim: int) -> torch.Tensor:
    """A multi-hot row as it is, or a class index as a one-hot row: the generator's input either way."""
    if isinstance(values, int):
        return torch.nn.functional.one_hot(torch.tensor(values), c_dim).float()
    return torch.tensor(values, dtype=torch.float32)
