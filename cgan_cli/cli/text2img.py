"""`cgan text2img CKPT "a red bird" … --out DIR`: images from prompts with a text-to-image checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cgan_cli.cli import common
from cgan_cli.cli.common import Device, EncodeThreads, Ext, ImageBatch, NoEma, Truncation
from cgan_cli.config.inference import SampleOptions

AsJson = common.json_option("One JSON object per image (path, prompt, seed) instead of a path.")


@common.exits_cleanly
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
    batch_size: ImageBatch = 32,
    workers: EncodeThreads = common.default_threads(),
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Generate images from prompts. Prints each written path on stdout. Each image has a NAME.txt beside it
    holding its prompt, so the folder is a captioned set for `cgan eval --clip-score` (or for training).
    The same prompt and seed give the same image on every run (across batch sizes and devices, up to
    floating-point rounding: at most one 8-bit level here and there)."""
    from cgan_cli.generation import parse_seeds
    from cgan_cli.prompts import read_prompts
    from cgan_cli.sampling import ImageSettings, text_images

    settings = ImageSettings(out_dir, common.output_ext(ext), grid_file, truncation, batch_size, workers, device)
    seed_list = parse_seeds(seeds) if seeds is not None else parse_seeds(f"{seed}-{seed + n - 1}")
    texts = read_prompts(prompts)
    options = SampleOptions(ema=not no_ema, clip_weights=str(clip_weights or ""))
    common.print_written(text_images(checkpoint, texts, seed_list, options, settings), as_json)
