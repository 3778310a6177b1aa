"""`cgan sample CKPT --out DIR`: images from noise (and a class) with a trained generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cgan_cli.cli.common import (
    Device,
    EncodeThreads,
    Ext,
    ImageBatch,
    NoEma,
    Truncation,
    default_threads,
    exits_cleanly,
    json_option,
    output_ext,
    print_written,
)
from cgan_cli.errors import UsageError

AsJson = json_option("One JSON object per image (path, seed, class, fixed codes) instead of a path.")


@exits_cleanly
def sample(
    checkpoint: Annotated[
        Path, typer.Argument(help="A checkpoint of a sampling family (dcgan, cgan, acgan, infogan, …).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder (one subfolder per class).")],
    n: Annotated[int | None, typer.Option("-n", help="Images (per class with --class): seeds 0…N-1.", min=1)] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Seeds such as 0-63,100: each seed is one reproducible image.")
    ] = None,
    classes: Annotated[
        list[str] | None,
        typer.Option("--class", help="Class name or index (repeatable); `all` for every class. Default: seed mod K."),
    ] = None,
    codes: Annotated[
        list[str] | None,
        typer.Option("--code", help="InfoGAN: fix a latent code, NAME=VALUE (repeatable): c0, c1, … are the "
                     "categorical codes (a category index), then the continuous ones (a number). The others are "
                     "drawn per seed."),
    ] = None,  # fmt: skip
    truncation: Truncation = 1.0,
    grid_file: Annotated[
        Path | None, typer.Option("--grid", help="Also write a contact sheet: one row per class.")
    ] = None,
    no_ema: NoEma = False,
    ext: Ext = "png",
    batch_size: ImageBatch = 64,
    workers: EncodeThreads = default_threads(),
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Generate images. Prints each written path on stdout; the same seed and class give the same image
    on every run, batch size and device."""
    from cgan_cli.generation import parse_seeds
    from cgan_cli.sampling import ImageSettings, sample_images

    settings = ImageSettings(out_dir, output_ext(ext), grid_file, truncation, batch_size, workers, device)
    if n is not None and seeds is not None:
        raise UsageError("give -n or --seeds, not both")
    seed_list = parse_seeds(seeds) if seeds is not None else list(range(n or 16))
    print_written(sample_images(checkpoint, seed_list, classes or [], not no_ema, settings, codes or ()), as_json)
