"""`cgan translate CKPT INPUT… --out DIR`: image-to-image inference from a checkpoint alone."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer

from cgan_cli.cli.common import (
    Device,
    Ext,
    Precision,
    batch_size_option,
    default_threads,
    exits_cleanly,
    json_option,
    output_ext,
    threads_option,
)
from cgan_cli.config.choices import DIRECTIONS
from cgan_cli.config.inference import TranslateOptions
from cgan_cli.console import error, info, out
from cgan_cli.errors import CganError, ExitCode, UsageError


def parse_size(text: str | None) -> tuple[int, int] | None:
    """`N` → (N, N); `WxH` → (W, H)."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*", text)
    if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < 1):
        raise UsageError(f"--size must be N or WxH with positive integers (got {text!r})")
    w = int(m.group(1))
    return w, int(m.group(2) or w)


def parse_sets(values: list[str]) -> tuple[tuple[str, float], ...]:
    """`--set Blond_Hair=1` → (("Blond_Hair", 1.0),)."""
    pairs = []
    for text in values:
        name, eq, value = text.partition("=")
        if not eq or not name.strip() or value.strip() not in ("0", "1"):
            raise UsageError(f"--set {text!r}: expected ATTR=0 or ATTR=1")
        pairs.append((name.strip(), float(value)))
    return tuple(pairs)


BatchSize = batch_size_option("Images per forward pass (same-size images batch together).")
Threads = threads_option("Decode/encode threads.")
AsJson = json_option("One JSON object per output on stdout instead of a path.")


@exits_cleanly
def translate(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of a family that translates (pix2pix, …).")],
    inputs: Annotated[
        list[str], typer.Argument(help="Image files, folders (recursive), or - to read paths from stdin.")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder; relative paths of folder inputs are kept.")
    ],
    size: Annotated[
        str | None, typer.Option("--size", help="Resize inputs to N×N (or WxH) instead of keeping each input's size.")
    ] = None,
    aligned: Annotated[
        bool, typer.Option("--aligned", help="Inputs are side-by-side A|B files: take the half the model reads.")
    ] = False,
    dropout: Annotated[
        bool, typer.Option("--dropout", help="Keep dropout on (pix2pix's noise); off by default.")
    ] = False,
    image_stats: Annotated[
        bool,
        typer.Option(
            "--image-stats",
            help="Batch norm from each image's own statistics, as the reference's test.py does (default: "
            "the running statistics of training).",
        ),
    ] = False,
    direction: Annotated[
        str | None,
        typer.Option("--direction", help="AtoB or BtoA: which generator of a two-way model (CycleGAN; default AtoB)."),
    ] = None,
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="StarGAN: target domain (repeatable; `all`: every domain, one subfolder each)."),
    ] = None,
    sets: Annotated[list[str] | None, typer.Option("--set", help="StarGAN multi-label: ATTR=0|1 (repeatable).")] = None,
    source: Annotated[
        str | None,
        typer.Option("--from", help="StarGAN multi-label: the attributes inputs have (A,B); default: D's guess."),
    ] = None,
    seeds: Annotated[
        str | None,
        typer.Option("--seeds", help="BicycleGAN, SPADE --use-vae: one output per seed, e.g. 0-4, written "
                     "OUT/NAME/seed000003.png (a seed alone fixes its z)."),
    ] = None,  # fmt: skip
    style: Annotated[
        Path | None,
        typer.Option("--style", help="BicycleGAN, SPADE --use-vae: take z from this reference image of the output "
                     "domain (E's encoding) instead of a seed."),
    ] = None,  # fmt: skip
    instances: Annotated[
        Path | None,
        typer.Option("--instances", help="SPADE trained with --instances: the folder of the inputs' instance maps "
                     "(matched by file name)."),
    ] = None,  # fmt: skip
    ext: Ext = "png",
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave outputs that already exist alone.")
    ] = False,
    batch_size: BatchSize = 8,
    workers: Threads = default_threads(),
    device: Device = "auto",
    gpu_decode: Annotated[
        bool | None,
        typer.Option(
            "--gpu-decode/--cpu-decode",
            help="Decode JPEGs with nvJPEG into GPU memory, or with libjpeg-turbo on the CPU "
            "(default: the GPU when --device is CUDA; --size decodes on the CPU, where the resize runs).",
            show_default=False,
        ),
    ] = None,
    precision: Precision = "auto",
    seed: Annotated[
        int, typer.Option("--seed", help="Seed for --dropout noise, and a latent z without --seeds/--style.")
    ] = 0,
    as_json: AsJson = False,
) -> None:
    """Translate images with a trained generator. Prints each written path on stdout, in input order;
    a bad input is named on stderr, the others still translate, and the exit status is 1."""
    from cgan_cli.data.inputs import expand_inputs
    from cgan_cli.generation import parse_seeds
    from cgan_cli.translation import TranslateSettings, Translation

    if direction is not None and direction not in DIRECTIONS:
        raise UsageError(f"--direction must be AtoB or BtoA (got {direction!r})")
    settings = TranslateSettings(out_dir, output_ext(ext), parse_size(size), aligned, batch_size, workers, device,
                                 gpu_decode, precision, seed, skip_existing, tuple(to or ()),
                                 tuple(parse_seeds(seeds)) if seeds is not None else ())  # fmt: skip
    options = TranslateOptions(dropout, image_stats, direction, None, parse_sets(sets or []), source, style,
                               instances)  # fmt: skip
    translation = Translation(checkpoint, options, settings)
    items, problems = expand_inputs(inputs)
    for problem in problems:
        error(problem)
    if not items:
        raise CganError("no input images")
    failed, written, skipped = len(problems), 0, 0
    for result in translation.results(items):
        if result.skipped:
            skipped += 1
        elif result.error:
            failed += 1
            error(result.error)
        else:
            written += 1
            record = {"input": str(result.item.path), "output": str(result.output)}
            if result.seed is not None:
                record["seed"] = result.seed
            out(json.dumps(record) if as_json else str(result.output))
    info(f"translated {written}, skipped {skipped}, failed {failed}")
    if failed:
        raise typer.Exit(int(ExitCode.FAILURE))
