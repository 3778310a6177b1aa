"""`cgan interp CKPT --out DIR`: walks between seeds (through z) or between classes (at a fixed seed), or an
InfoGAN code swept across a row per seed (`--walk`); with an IMAGE, StarGAN's label walk or BicycleGAN's walk
through z for that one input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cgan_cli.cli.common import (
    Device,
    NoEma,
    Truncation,
    batch_size_option,
    exits_cleanly,
    json_option,
    print_written,
)
from cgan_cli.config.inference import SampleOptions

BatchSize = batch_size_option("Frames per forward pass.")
AsJson = json_option("One JSON object per written file.")


@exits_cleanly
def interp(
    checkpoint: Annotated[
        Path,
        typer.Argument(
            help="A checkpoint of a sampling family (dcgan, cgan, acgan, infogan, progan), stargan or bicyclegan."
        ),
    ],
    image: Annotated[
        Path | None,
        typer.Argument(
            help="StarGAN: the input image whose domain label is blended; BicycleGAN: "
            "the input translated at every frame while z walks between --seeds."
        ),
    ] = None,
    out_dir: Annotated[Path | None, typer.Option("--out", "-o", help="Write the frames here, numbered.")] = None,
    seeds: Annotated[
        str | None, typer.Option("--seeds", help="Keyframe seeds, e.g. 1,2,3: walk through z between them.")
    ] = None,
    classes: Annotated[
        str | None, typer.Option("--classes", help="Keyframe classes, e.g. cat,dog: blend the class at fixed --seed.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="With --classes: the seed held fixed (default 0).", min=0)
    ] = None,
    class_: Annotated[
        str | None,
        typer.Option("--class", help="With --seeds: the class held fixed (default: the first seed's, as in sample)."),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Frames from one keyframe to the next.", min=1)] = 16,
    mode: Annotated[str, typer.Option("--mode", help="slerp or lerp (latents; classes always blend linearly).")] = (
        "slerp"
    ),
    loop: Annotated[bool, typer.Option("--loop", help="Return to the first keyframe so the walk repeats.")] = False,
    gif: Annotated[Path | None, typer.Option("--gif", help="Also write an animated GIF of the frames.")] = None,
    duration: Annotated[int, typer.Option("--duration", help="GIF frame duration in milliseconds.", min=1)] = 80,
    grid_file: Annotated[Path | None, typer.Option("--grid", help="Also write the frames as a contact sheet.")] = None,
    truncation: Truncation = 1.0,
    no_ema: NoEma = False,
    batch_size: BatchSize = 64,
    device: Device = "auto",
    source: Annotated[
        str | None, typer.Option("--from", help="StarGAN: the label to start from (domain, or attributes A,B).")
    ] = None,
    target: Annotated[str | None, typer.Option("--to", help="StarGAN: the label to end at.")] = None,
    texts: Annotated[
        list[str] | None,
        typer.Option(
            "--text",
            help="Text-to-image: keyframe prompts (repeat; GAN-INT at --seed), or the prompt held fixed with --seeds.",
        ),
    ] = None,
    clip_weights: Annotated[
        Path | None, typer.Option("--clip-weights", help="Text-to-image: the CLIP weights file it was trained with.")
    ] = None,
    walk_code: Annotated[
        str | None,
        typer.Option("--walk", help="InfoGAN: sweep this code (c0, c1, …): a row per --seeds seed, a column per "
                     "value (--steps values over --range, or every category of a categorical code)."),
    ] = None,  # fmt: skip
    value_range: Annotated[
        str | None, typer.Option("--range", help="With --walk on a continuous code: LO,HI (default -2,2).")
    ] = None,
    codes: Annotated[
        list[str] | None,
        typer.Option("--code", help="InfoGAN: hold a code fixed, NAME=VALUE (repeatable), as in cgan sample."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Interpolate. Prints each written path (frames, then the GIF and grid) on stdout."""
    from cgan_cli.interpolation import Frames, Walk, interpolate

    options = SampleOptions(ema=not no_ema, clip_weights=str(clip_weights or ""))
    walk = Walk(seeds, classes, seed, class_, steps, mode, loop, truncation, image, source, target,
                None if texts is None else tuple(texts), options, batch_size, device, walk_code, value_range,
                tuple(codes or ()))  # fmt: skip
    print_written(interpolate(checkpoint, walk, Frames(out_dir, gif, grid_file, duration)), as_json)
