"""`cgan sample CKPT --out DIR`: images from noise (and a class) with a trained generator."""

from __future__ import annotations

import concurrent.futures as cf
import json
from pathlib import Path
from typing import Annotated

import torch
import typer

from cgan_cli.cli.common import DEVICE_HELP, Ext, NoEma, Truncation, default_threads, exits_cleanly, output_ext
from cgan_cli.console import info, out
from cgan_cli.data.grid import grid
from cgan_cli.data.io import save_image, write_format
from cgan_cli.device import resolve_device
from cgan_cli.errors import UsageError
from cgan_cli.families import SampleOptions
from cgan_cli.generation import Item, generate, open_sampler, parse_seeds, plan, resolve_classes
from cgan_cli.parallel import ordered_map

GRID_LIMIT = 4096


@exits_cleanly
def sample(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of a sampling family (dcgan, cgan, acgan, …).")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (one subfolder per class).")],
    n: Annotated[int | None, typer.Option("-n", help="Images (per class with --class): seeds 0…N-1.", min=1)] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Seeds such as 0-63,100: each seed is one reproducible image.")
    ] = None,
    classes: Annotated[
        list[str] | None,
        typer.Option("--class", help="Class name or index (repeatable); `all` for every class. Default: seed mod K."),
    ] = None,
    truncation: Truncation = 1.0,
    grid_file: Annotated[
        Path | None, typer.Option("--grid", help="Also write a contact sheet: one row per class.")
    ] = None,
    no_ema: NoEma = False,
    ext: Ext = "png",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Images per forward pass.", min=1)] = 64,
    workers: Annotated[int, typer.Option("--workers", help="Encode threads.", min=1)] = default_threads(),
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per image (path, seed, class) instead of a path.")
    ] = False,
) -> None:
    """Generate images. Prints each written path on stdout; the same seed and class give the same image
    on every run, batch size and device."""
    ext = output_ext(ext)
    if n is not None and seeds is not None:
        raise UsageError("give -n or --seeds, not both")
    if grid_file is not None:
        write_format(grid_file)  # a bad extension fails before any work
    seed_list = parse_seeds(seeds) if seeds is not None else list(range(n or 16))
    dev = resolve_device(device)
    sampler = open_sampler(checkpoint, dev, SampleOptions(ema=not no_ema))
    items = plan(seed_list, resolve_classes(classes or [], sampler.class_names), sampler.class_names)
    if grid_file is not None and len(items) > GRID_LIMIT:
        raise UsageError(f"--grid: {len(items)} images are too many for one contact sheet (at most {GRID_LIMIT})")
    info(f"sampling {len(items)} images with the {'EMA ' if sampler.ema else ''}generator of {checkpoint} on {dev}")

    names = sampler.class_names

    def write(pair: tuple[Item, torch.Tensor]) -> tuple[Item, Path]:
        item, image = pair
        return item, save_image(image, out_dir / item.rel_path(names, f".{ext}"))

    sheet: dict[int | None, list[torch.Tensor]] = {}
    with cf.ThreadPoolExecutor(workers) as pool:
        for item, path in ordered_map(pool, write, _keep(generate(sampler, items, dev, batch_size, truncation),
                                                         sheet, grid_file is not None), 2 * workers):  # fmt: skip
            if as_json:
                record = {"path": str(path), "seed": item.seed}
                if item.label is not None:
                    record.update({"class": names[item.label], "label": item.label})
                out(json.dumps(record))
            else:
                out(str(path))
    if grid_file is not None:
        rows = [sheet[k] for k in (sorted(sheet) if not classes else sheet)] if names else _square(sheet[None])
        out(str(save_image(grid(rows), grid_file)))


def _keep(stream, sheet: dict, on: bool):
    """Pass images through, keeping a copy per class row for the contact sheet."""
    for item, image in stream:
        if on:
            sheet.setdefault(item.label, []).append(image)
        yield item, image


def _square(images: list[torch.Tensor]) -> list[list[torch.Tensor]]:
    cols = max(1, round(len(images) ** 0.5))
    return [images[i : i + cols] for i in range(0, len(images), cols)]
