"""`cgan eval REAL FAKE --fid …`: metrics on stdout (`name: value`, or one JSON object), progress on stderr.

This module only declares the options, builds an EvalOptions, calls the service once and prints its report; what
is computed, and how, is cgan_cli/evaluation's (service.py, and table.py's row per metric). It imports no torch,
numpy or PIL at module level, so `cgan eval --help` does not pay for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cgan_cli.cli.common import (
    Device,
    batch_size_option,
    default_threads,
    exits_cleanly,
    json_option,
    threads_option,
)
from cgan_cli.console import animated, error, info, out, stderr_console
from cgan_cli.errors import ExitCode

if TYPE_CHECKING:
    from rich.progress import Progress


BatchSize = batch_size_option("Images per Inception pass.")
Threads = threads_option("Decode threads.")
AsJson = json_option("One JSON object with every metric and the settings.")


def _flag(name: str, help: str) -> typer.models.OptionInfo:
    return typer.Option(f"--{name}", help=help)


@exits_cleanly
def evaluate(
    real: Annotated[str, typer.Argument(help="Real images: a folder (recursive) or a --save-stats file.")],
    fake: Annotated[
        str | None, typer.Argument(help="Generated images: a folder, a --save-stats file, or a checkpoint.")
    ] = None,
    fid: Annotated[bool, _flag("fid", "Fréchet Inception Distance (pytorch-fid's numbers).")] = False,
    kid: Annotated[bool, _flag("kid", "Kernel Inception Distance (mean and std over subsets).")] = False,
    inception_score: Annotated[bool, _flag("is", "Inception Score of FAKE (10 splits).")] = False,
    pr: Annotated[bool, _flag("pr", "Precision and recall (Kynkäänniemi et al., k=3).")] = False,
    prdc: Annotated[bool, _flag("prdc", "Precision, recall, density and coverage (Naeem et al., k=5).")] = False,
    psnr: Annotated[bool, _flag("psnr", "PSNR of files sharing a relative path.")] = False,
    ssim: Annotated[bool, _flag("ssim", "SSIM (Gaussian window) of files sharing a relative path.")] = False,
    l1: Annotated[bool, _flag("l1", "Mean absolute difference of files sharing a relative path.")] = False,
    lpips: Annotated[
        bool, _flag("lpips", "LPIPS (the lpips package's v0.1 numbers) of files sharing a relative path.")
    ] = False,
    lpips_net: Annotated[str | None, typer.Option("--lpips-net", help="LPIPS backbone: alex (default) or vgg.")] = None,
    lpips_weights: Annotated[
        Path | None, typer.Option("--lpips-weights", help="LPIPS weights file (.safetensors; see README).")
    ] = None,
    clip: Annotated[
        bool, _flag("clip-score", "CLIP score of FAKE (or of REAL alone) against each image's caption.")
    ] = False,
    clip_model: Annotated[str, typer.Option("--clip-model", help="open_clip model for --clip-score.")] = "ViT-B-32",
    clip_pretrained: Annotated[
        str, typer.Option("--clip-pretrained", help="Its pretrained tag, downloaded on first use.")
    ] = "openai",
    clip_weights: Annotated[
        Path | None, typer.Option("--clip-weights", help="A local CLIP weights file instead of downloading.")
    ] = None,
    text_encoder_weights: Annotated[
        Path | None,
        typer.Option("--text-encoder-weights", help="With a text checkpoint FAKE: its CLIP weights file, if moved."),
    ] = None,
    dims: Annotated[int, typer.Option("--dims", help="Inception feature layer: 64, 192, 768 or 2048.")] = 2048,
    resize: Annotated[str, typer.Option("--resize", help="pytorch-fid (bilinear) or clean (PIL bicubic).")] = (
        "pytorch-fid"
    ),
    inception_weights: Annotated[
        Path | None, typer.Option("--inception-weights", help="FID Inception weights file (see README).")
    ] = None,
    save_stats_to: Annotated[
        Path | None, typer.Option("--save-stats", help="Write REAL's FID statistics (μ, Σ, count) to FILE.")
    ] = None,
    cache: Annotated[bool, typer.Option("--cache", help="Reuse features of unchanged folders.")] = False,
    n: Annotated[
        int | None,
        typer.Option("-n", help="With a checkpoint FAKE: images to make (sampling default: as many as REAL).", min=1),
    ] = None,
    inputs: Annotated[
        Path | None, typer.Option("--inputs", help="With a translation checkpoint: the images to translate.")
    ] = None,
    aligned: Annotated[
        bool,
        typer.Option("--aligned", help="With a translation checkpoint: REAL holds A|B files (or A/ and B/ folders): "
                     "translate the input side, compare with the other."),
    ] = False,
    size: Annotated[
        int | None,
        typer.Option("--size", min=1, help="With a translation checkpoint: translate at N×N and compare with REAL "
                     "resized to N×N (bicubic)."),
    ] = None,
    kid_subsets: Annotated[int, typer.Option("--kid-subsets", min=1, help="KID subsets.")] = 100,
    kid_subset_size: Annotated[int, typer.Option("--kid-subset-size", min=2, help="KID subset size.")] = 1000,
    is_splits: Annotated[int, typer.Option("--is-splits", min=1, help="Inception Score splits.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Seed for KID subsets and IS shuffling.")] = 0,
    batch_size: BatchSize = 50,
    workers: Threads = default_threads(),
    device: Device = "auto",
    as_json: AsJson = False,
) -> None:
    """Compare two image sets. Prints `name: value` lines (or --json); exit 1 if an image could not be read."""
    from cgan_cli.evaluation import service
    from cgan_cli.evaluation.options import EvalOptions

    flags = {"fid": fid, "kid": kid, "is": inception_score, "pr": pr, "prdc": prdc, "psnr": psnr, "ssim": ssim}
    flags.update({"l1": l1, "lpips": lpips, "clip-score": clip})
    options = EvalOptions(
        dims=dims,
        resize=resize,
        inception_weights=inception_weights,
        batch_size=batch_size,
        workers=workers,
        cache=cache,
        device=device,
        save_stats=save_stats_to,
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size,
        is_splits=is_splits,
        seed=seed,
        lpips_net=lpips_net,
        lpips_weights=lpips_weights,
        clip_model=clip_model,
        clip_pretrained=clip_pretrained,
        clip_weights=clip_weights,
        n=n,
        inputs=inputs,
        aligned=aligned,
        size=size,
        text_encoder_weights=text_encoder_weights,
    )
    chosen = [name for name, on in flags.items() if on]
    report = service.evaluate(real, fake, chosen, options, on_error=error, progress=_progress_bars())
    if as_json:
        out(json.dumps(report.as_dict()))
    else:
        for key, value in report.results.items():
            out(f"{key}: {value:.6g}")
    if report.stats_file is not None:
        info(f"wrote {report.stats_file}")
    if report.failures:
        raise typer.Exit(int(ExitCode.FAILURE))


def _progress_bars() -> Progress:
    """One bar per Inception pass on stderr, animated only on a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = stderr_console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    return Progress(*columns, console=console, disable=not animated(console))
