"""The `cgan sample` and `cgan text2img` services: make the images asked for, write them in parallel
threads (text2img puts each image's prompt beside it), keep a contact sheet when asked, and report each
written file in order.

Parsing flags is the CLI's; turning a seed (and a class or prompt) into an image is
cgan_cli/generation.py's and cgan_cli/prompts.py's.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch

from cgan_cli.console import info
from cgan_cli.data.atomic import atomic_write_bytes
from cgan_cli.data.grid import grid
from cgan_cli.data.io import save_image, write_format
from cgan_cli.device import resolve_device
from cgan_cli.errors import UsageError
from cgan_cli.families import SampleOptions
from cgan_cli.generation import Item, generate, open_sampler, open_text_sampler, parse_codes, plan, resolve_classes
from cgan_cli.parallel import ordered_map
from cgan_cli.prompts import PromptItem, generate_from_text, prompt_names

GRID_LIMIT = 4096
T = TypeVar("T")


@dataclass(frozen=True)
class Written:
    """A file on disk, and what `--json` says of it besides its path."""

    path: Path
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageSettings:
    """Where and how generated images are written."""

    out_dir: Path
    ext: str = "png"
    grid: Path | None = None  # a contact sheet too
    truncation: float = 1.0
    batch_size: int = 64
    workers: int = 4
    device: str = "auto"


def _check_grid(settings: ImageSettings, inside_out_dir: bool = True) -> None:
    """A bad contact-sheet name fails before any work."""
    if settings.grid is None:
        return
    write_format(settings.grid)
    if not inside_out_dir and settings.grid.resolve().is_relative_to(settings.out_dir.resolve()):
        raise UsageError(
            f"--grid {settings.grid}: put the contact sheet outside --out, which holds captioned images only"
        )


def _check_count(settings: ImageSettings, count: int) -> None:
    if settings.grid is not None and count > GRID_LIMIT:
        raise UsageError(f"--grid: {count} images are too many for one contact sheet (at most {GRID_LIMIT})")


def sample_images(checkpoint: Path, seeds: list[int], classes: list[str], ema: bool,
                  settings: ImageSettings, codes: Sequence[str] = ()) -> Iterator[Written]:  # fmt: skip
    """`cgan sample`: every seed for every class asked for (none: seed s gets class s mod K), with the InfoGAN
    codes `codes` (NAME=VALUE) fixed and the others drawn per seed."""
    _check_grid(settings)
    dev = resolve_device(settings.device)
    sampler = open_sampler(checkpoint, dev, SampleOptions(ema=ema))
    names = sampler.class_names
    fixed = parse_codes(codes, sampler)
    shown = {sampler.codes[i].name: v for i, v in fixed.items()}
    items = plan(seeds, resolve_classes(classes, names), names)
    _check_count(settings, len(items))
    info(f"sampling {len(items)} images with the {'EMA ' if sampler.ema else ''}generator of {checkpoint} on {dev}")

    def save(item: Item, image: torch.Tensor) -> Written:
        fields: dict[str, Any] = {"seed": item.seed}
        if item.label is not None:
            fields.update({"class": names[item.label], "label": item.label})
        if shown:
            fields["codes"] = shown
        return Written(save_image(image, settings.out_dir / item.rel_path(names, f".{settings.ext}")), fields)

    rows: dict[int | None, list[torch.Tensor]] = {}
    stream = generate(sampler, items, dev, settings.batch_size, settings.truncation, fixed)
    yield from _write(_keep(stream, rows, lambda item: item.label, settings.grid is not None), save, settings.workers)
    if settings.grid is not None:
        sheet = [rows[k] for k in (sorted(rows) if not classes else rows)] if names else _square(rows[None])
        yield Written(save_image(grid(sheet), settings.grid), {"kind": "grid"})


def text_images(checkpoint: Path, texts: list[str], seeds: list[int], options: SampleOptions,
                settings: ImageSettings) -> Iterator[Written]:  # fmt: skip
    """`cgan text2img`: every seed for every prompt, one folder per prompt, NAME.txt beside each image."""
    _check_grid(settings, inside_out_dir=False)
    items = [PromptItem(p, s) for p in range(len(texts)) for s in seeds]
    _check_count(settings, len(items))
    dev = resolve_device(settings.device)
    sampler = open_text_sampler(checkpoint, dev, options)
    names = prompt_names(texts)
    info(
        f"making {len(items)} images for {len(texts)} prompts with the {'EMA ' if sampler.ema else ''}generator of "
        f"{checkpoint} (text encoder {sampler.encoder}) on {dev}"
    )

    def save(item: PromptItem, image: torch.Tensor) -> Written:
        path = settings.out_dir / names[item.prompt] / f"seed{item.seed:06d}.{settings.ext}"
        atomic_write_bytes(path.with_suffix(".txt"), (texts[item.prompt] + "\n").encode())
        return Written(save_image(image, path), {"prompt": texts[item.prompt], "seed": item.seed})

    rows: dict[int, list[torch.Tensor]] = {}
    stream = generate_from_text(sampler, texts, items, dev, settings.batch_size, settings.truncation)
    yield from _write(_keep(stream, rows, lambda item: item.prompt, settings.grid is not None), save, settings.workers)
    if settings.grid is not None:
        yield Written(save_image(grid([rows[p] for p in sorted(rows)]), settings.grid), {"kind": "grid"})


def _write(stream: Iterable[tuple[T, torch.Tensor]], save: Callable[[T, torch.Tensor], Written],
           workers: int) -> Iterator[Written]:  # fmt: skip
    """Encode in `workers` threads (PNG encoding, not the generator, bounds a GPU's throughput), in order."""
    with cf.ThreadPoolExecutor(workers) as pool:
        yield from ordered_map(pool, lambda pair: save(*pair), stream, 2 * workers)


def _keep(stream: Iterable[tuple[T, torch.Tensor]], rows: dict, row_of: Callable[[T], Any],
          on: bool) -> Iterator[tuple[T, torch.Tensor]]:  # fmt: skip
    """Pass images through, keeping a copy per contact-sheet row."""
    for item, image in stream:
        if on:
            rows.setdefault(row_of(item), []).append(image)
        yield item, image


def _square(images: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    cols = max(1, round(len(images) ** 0.5))
    return [images[i : i + cols] for i in range(0, len(images), cols)]
