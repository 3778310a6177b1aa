"""Turning command-line inputs (files, folders, `-` for stdin) into an ordered list of images."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cgan_cli.data.io import is_image_path


@dataclass(frozen=True)
class InputImage:
    path: Path
    rel: Path  # where the output goes relative to --out: the path inside a given folder, else the file name


def list_images(folder: Path) -> list[Path]:
    """Image files below `folder`, recursively, sorted by relative path; hidden files and folders skipped."""
    found = []
    for p in folder.rglob("*"):
        rel = p.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if p.is_file() and is_image_path(p):
            found.append(p)
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def expand_inputs(args: Iterable[str], stdin: TextIO | None = None) -> tuple[list[InputImage], list[str]]:
    """Files, folders and `-` (newline-separated paths on stdin) → (images, problems). A missing path or
    an empty folder is a problem to report, not a reason to stop the others."""
    images: list[InputImage] = []
    problems: list[str] = []
    for arg in args:
        if arg == "-":
            stream = stdin if stdin is not None else sys.stdin
            nested = [line.strip() for line in stream.read().splitlines() if line.strip()]
            more, errs = expand_inputs([n for n in nested if n != "-"], stdin)
            images += more
            problems += errs
            continue
        path = Path(arg)
        if path.is_dir():
            found = list_images(path)
            if not found:
                problems.append(f"{path}: no images in this folder")
            images += [InputImage(p, p.relative_to(path)) for p in found]
        elif path.exists():
            images.append(InputImage(path, Path(path.name)))
        else:
            problems.append(f"{path}: no such file or folder")
    return images, problems
