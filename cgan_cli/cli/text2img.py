"""`cgan text2img CKPT "a red bird" … --out DIR`: images from prompts with a text-to-image checkpoint."""

from __future__ import annotations

import concurrent.futures as cf
import json
from pathlib import Path
from typing import Annotated

import torch
import typer

from cgan_cli.cli.common import DEVICE_HELP, Ext, NoEma, Truncation, default_threads, exits_cleanly, output_ext
from cgan_cli.cli.sample import GRID_LIMIT
from cgan_cli.console import info, out
from cgan_cli.data.grid import grid
from cgan_cli.data.io import atomic_write_bytes, save_image, write_format
from cgan_cli.device import resolve_device
from cgan_cli.errors import UsageError
from cgan_cli.families import SampleOptions
from cgan_cli.generation import open_text_sampler, parse_seeds
from cgan_cli.parallel import ordered_map
from cgan_cli.prompts import PromptItem, generate_from_text, prompt_names, read_prompts


@exits_cleanly
def text2img(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of a text-to-image family (gancls, gigagan).")],
    prompts: Annotated[list[str], typer.Argument(help="Prompts; `-` reads one prompt per line from stdin.")],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder: one subfolder per prompt, named after it.")
    ],
    n: Annotated[int, typer.Option("-n", help="Images per prompt: seeds --seed … --seed+N-1.", min=1)] = 4,
    seed: Annotated[int, typer.Option("--seed", help="The first seed.", min=0)] = 0,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Seeds such as 0-3,10 instead of -n/--seed (for every prompt).")
    ] = None,
    truncation: Truncation = 1.0,
    grid_file: Annotated[
        Path | None, typer.Option("--grid", help="Also write a contact sheet: one row per prompt.")
    ] = None,
    clip_weights: Annotated[
        Path | None,
        typer.Option("--clip-weights", help="The CLIP weights file the model was trained with, if it has moved."),
    ] = None,
    no_ema: NoEma = False,
    ext: Ext = "png",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", help="Images per forward pass.", min=1)] = 32,
    workers: Annotated[int, typer.Option("--workers", help="Encode threads.", min=1)] = default_threads(),
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per image (path, prompt, seed) instead of a path.")
    ] = False,
) -> None:
    """Generate images from prompts. Prints each written path on stdout. Each image has a NAME.txt beside it
    holding its prompt, so the folder is a captioned set for `cgan eval --clip-score` (or for training).
    The same prompt and seed give the same image on every run (across batch sizes and devices, up to
    floating-point rounding: at most one 8-bit level here and there)."""
    ext = output_ext(ext)
    if grid_file is not None:
        write_format(grid_file)
        if grid_file.resolve().is_relative_to(out_dir.resolve()):
            raise UsageError(
                f"--grid {grid_file}: put the contact sheet outside --out, which holds captioned images only"
            )
    seed_list = parse_seeds(seeds) if seeds is not None else parse_seeds(f"{seed}-{seed + n - 1}")
    texts = read_prompts(prompts)
    items = [PromptItem(p, s) for p in range(len(texts)) for s in seed_list]
    if grid_file is not None and len(items) > GRID_LIMIT:
        raise UsageError(f"--grid: {len(items)} images are too many for one contact sheet (at most {GRID_LIMIT})")
    dev = resolve_device(device)
    options = SampleOptions(ema=not no_ema, clip_weights=str(clip_weights or ""))
    sampler = open_text_sampler(checkpoint, dev, options)
    names = prompt_names(texts)
    info(
        f"making {len(items)} images for {len(texts)} prompts with the {'EMA ' if sampler.ema else ''}generator of "
        f"{checkpoint} (text encoder {sampler.encoder}) on {dev}"
    )

    def write(pair: tuple[PromptItem, torch.Tensor]) -> tuple[PromptItem, Path]:
        item, image = pair
        path = out_dir / names[item.prompt] / f"seed{item.seed:06d}.{ext}"
        atomic_write_bytes(path.with_suffix(".txt"), (texts[item.prompt] + "\n").encode())
        return item, save_image(image, path)

    rows: dict[int, list[torch.Tensor]] = {}
    stream = generate_from_text(sampler, texts, items, dev, batch_size, truncation)
    with cf.ThreadPoolExecutor(workers) as pool:
        for item, path in ordered_map(pool, write, _keep(stream, rows, grid_file is not None), 2 * workers):
            if as_json:
                out(json.dumps({"path": str(path), "prompt": texts[item.prompt], "seed": item.seed}))
            else:
                out(str(path))
    if grid_file is not None:
        sheet = save_image(grid([rows[p] for p in sorted(rows)]), grid_file)
        out(json.dumps({"path": str(sheet), "kind": "grid"}) if as_json else str(sheet))


def _keep(stream, rows: dict[int, list[torch.Tensor]], on: bool):
    for item, image in stream:
        if on:
            rows.setdefault(item.prompt, []).append(image)
        yield item, image
