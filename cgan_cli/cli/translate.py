"""`cgan translate CKPT INPUT… --out DIR`: image-to-image inference from a checkpoint alone."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import torch
import typer

from cgan_cli.checkpoint import load_checkpoint, read_metadata
from cgan_cli.cli.common import DEVICE_HELP, Precision, default_threads, exits_cleanly, output_ext
from cgan_cli.console import error, info, out
from cgan_cli.data.inputs import expand_inputs
from cgan_cli.device import resolve_device, set_precision
from cgan_cli.errors import CganError, ExitCode, UsageError
from cgan_cli.families import TranslateOptions, family_class
from cgan_cli.translation import TranslationRun, plan_outputs


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
    ext: Annotated[str, typer.Option("--ext", help="Output format: png, jpg or webp.")] = "png",
    skip_existing: Annotated[
        bool, typer.Option("--skip-existing", help="Leave outputs that already exist alone.")
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", "-b", help="Images per forward pass (same-size images batch together).", min=1),
    ] = 8,
    workers: Annotated[int, typer.Option("--workers", help="Decode/encode threads.", min=1)] = default_threads(),
    device: Annotated[str, typer.Option("--device", help=DEVICE_HELP)] = "auto",
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
    seed: Annotated[int, typer.Option("--seed", help="Seed for --dropout noise.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per output on stdout instead of a path.")
    ] = False,
) -> None:
    """Translate images with a trained generator. Prints each written path on stdout, in input order;
    a bad input is named on stderr, the others still translate, and the exit status is 1."""
    ext = output_ext(ext)
    if direction is not None and direction not in ("AtoB", "BtoA"):
        raise UsageError(f"--direction must be AtoB or BtoA (got {direction!r})")
    target_size = parse_size(size)
    meta = read_metadata(checkpoint)
    cls = family_class(meta.get("family", "?"), checkpoint)
    set_precision(precision)
    dev = resolve_device(device)
    if gpu_decode and dev.type != "cuda":
        raise UsageError(f"--gpu-decode needs a CUDA --device (the device is {dev})")
    ckpt = load_checkpoint(checkpoint, groups=cls.inference_groups())
    options = TranslateOptions(dropout, image_stats, direction, None, parse_sets(sets or []), source)
    targets: list[str | None] = list(dict.fromkeys(to or [None]))
    if "all" in targets:
        targets = list(cls.targets(ckpt)) or [None]
    # one --to writes into --out; several (or all) write one subfolder per domain
    runs = [(cls.translator(ckpt, dev, replace(options, target=t)), out_dir / t if len(targets) > 1 else out_dir)
            for t in targets]  # fmt: skip
    torch.manual_seed(seed)

    items, problems = expand_inputs(inputs)
    for problem in problems:
        error(problem)
    if not items:
        raise CganError("no input images")
    failed, written, skipped = len(problems), 0, 0
    results = (
        result
        for translator, folder in runs
        for result in TranslationRun(
            translator,
            dev,
            size=target_size,
            aligned=aligned,
            batch_size=batch_size,
            workers=workers,
            gpu_decode=dev.type == "cuda" if gpu_decode is None else gpu_decode,
        ).run(plan_outputs(items, folder, ext), skip_existing)
    )
    for result in results:
        if result.skipped:
            skipped += 1
        elif result.error:
            failed += 1
            error(result.error)
        else:
            written += 1
            out(
                json.dumps({"input": str(result.item.path), "output": str(result.output)})
                if as_json
                else str(result.output)
            )
    info(f"translated {written}, skipped {skipped}, failed {failed}")
    if failed:
        raise typer.Exit(int(ExitCode.FAILURE))
