"""`cgan export CKPT --out FILE`: the generator as ONNX, TorchScript or an inference-only safetensors file."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from cgan_cli.cli.common import NoEma, exits_cleanly, json_option
from cgan_cli.config.inference import FORMATS, MAX_OPSET, MIN_OPSET, OPSET, ExportOptions, format_of
from cgan_cli.console import info, out

AsJson = json_option("A JSON object (path, format, family, weights, dtype, bytes, max_error).")


@exits_cleanly
def export(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint of any family (or an earlier safetensors export).")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The file to write.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help=f"{', '.join(FORMATS)} (default: from --out's suffix: .onnx, .pt, .safetensors)."
        ),  # fmt: skip
    ] = None,
    fp16: Annotated[bool, typer.Option("--fp16", help="Half-precision weights (and ONNX/TorchScript inputs).")] = False,
    direction: Annotated[
        str | None, typer.Option("--direction", help="Which generator: AtoB or BtoA (CycleGAN; pix2pix's own only).")
    ] = None,
    no_ema: NoEma = False,
    image_stats: Annotated[
        bool, typer.Option("--image-stats", help="Batch norm from each image's own statistics (as translate).")
    ] = False,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset.", min=MIN_OPSET, max=MAX_OPSET)] = OPSET,
    as_json: AsJson = False,
) -> None:
    """Write a trained generator for use outside cgan. The file is checked before it is put in place: it is
    run on random inputs and must match PyTorch's output (else an error and no file). Prints its path."""
    from cgan_cli.export import export_checkpoint

    fmt = format_of(out_file, fmt)
    options = ExportOptions(ema=not no_ema, direction=direction, image_stats=image_stats)
    result = export_checkpoint(checkpoint, fmt, out_file, options, fp16, opset)
    info(f"exported {result.family} {result.weights} ({result.dtype}) as {fmt}: {result.bytes / 1e6:.1f} MB, "
         f"max |Δ| {result.max_error:.2g} vs PyTorch over {result.checks} random batches")  # fmt: skip
    if as_json:
        record = dataclasses.asdict(result)
        out(json.dumps({**record, "path": str(result.path)}))
    else:
        out(str(result.path))
