"""What the inference commands (translate, sample, interp, text2img, export) let a user choose: plain frozen
dataclasses each family reads the fields of that apply to it, the export formats and ONNX opsets, and interp's
walk modes. Torch-free: the CLI declares its options from these and builds the dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cgan_cli.errors import UsageError


@dataclass(frozen=True)
class TranslateOptions:
    """What `cgan translate` lets a user choose; each family reads the fields that apply to it."""

    dropout: bool = False  # keep pix2pix's dropout noise at inference
    image_stats: bool = False  # batch norm from each image's own statistics (the reference's test.py)
    direction: str | None = None  # which generator, for two-way families
    target: str | None = None  # the domain to translate to (StarGAN --to)
    sets: tuple[tuple[str, float], ...] = ()  # attribute values to set (StarGAN --set A=1)
    source: str | None = None  # attributes the inputs have (StarGAN --from), instead of D's guess
    style: Path | None = None  # BicycleGAN/SPADE-VAE --style: z is E's encoding of this image
    instances: Path | None = None  # SPADE --instances: the instance maps of the label maps, by name


@dataclass(frozen=True)
class SampleOptions:
    """What `cgan sample`/`interp` let a user choose."""

    ema: bool = True  # the EMA generator when the checkpoint has one
    clip_weights: str = ""  # text-to-image: where the CLIP text encoder's weights are, if not where training found them


@dataclass(frozen=True)
class ExportOptions:
    """What `cgan export` lets a user choose; each family reads the fields that apply to it."""

    ema: bool = True  # the EMA generator when the checkpoint has one
    direction: str | None = None  # which generator, for two-way families
    image_stats: bool = False  # batch norm from each image's own statistics


FORMATS = ("onnx", "torchscript", "safetensors")
SUFFIXES = {".onnx": "onnx", ".pt": "torchscript", ".ts": "torchscript", ".torchscript": "torchscript",
            ".safetensors": "safetensors"}  # fmt: skip
OPSET = 18  # the torch.export-based exporter's own opset (the issue asks for ≥ 17; down-conversion fails)
MIN_OPSET, MAX_OPSET = 18, 23
MODES = ("slerp", "lerp")  # how `cgan interp` walks between latents


def format_of(out: Path, fmt: str | None) -> str:
    """`--format`, or the one `--out`'s suffix names."""
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file name")
    if fmt is not None:
        if fmt not in FORMATS:
            raise UsageError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
        return fmt
    try:
        return SUFFIXES[out.suffix.lower()]
    except KeyError:
        raise UsageError(f"say --format {'|'.join(FORMATS)}: {out.name} has no suffix that names one") from None
