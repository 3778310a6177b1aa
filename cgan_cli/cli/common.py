"""What every subcommand shares: error handling into exit statuses, and the options several commands spell
the same way (declared once here). Imports no torch: `--help` and completion load every CLI module."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from cgan_cli.console import error, out
from cgan_cli.errors import CganError, ExitCode, UsageError

F = TypeVar("F", bound=Callable[..., Any])


def exits_cleanly(fn: F) -> F:
    """Turn our errors into one stderr line and an exit status; Ctrl-C into 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CganError as exc:
            error(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:  # `cgan … | head`: the reader has gone; stop quietly, as SIGPIPE would
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 — keep interpreter shutdown from flushing into the pipe
            raise typer.Exit(128 + 13) from None
        except OSError as exc:  # an output that cannot be written, a disk that filled up
            where = f"{exc.filename}: " if exc.filename else ""
            error(f"{where}{exc.strerror or exc}")
            raise typer.Exit(int(ExitCode.FAILURE)) from None
        except Exception as exc:
            if not _out_of_memory(exc):
                raise
            error("out of memory on the device: try a smaller --batch-size or image size, or --device cpu")
            raise typer.Exit(int(ExitCode.FAILURE)) from None

    return wrapper  # type: ignore[return-value]


# typer's boxed, coloured help on a terminal; plain help where it is piped or read by a program, which also
# spares those the ~0.1 s of importing rich's help renderer
HELP_MODE = "rich" if sys.stdout.isatty() else None


def _out_of_memory(exc: BaseException) -> bool:
    """torch's OutOfMemoryError, without importing torch to name it (a command that ran out of device
    memory has imported torch already)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(exc, torch.OutOfMemoryError)


DEVICE_HELP = "Device: auto (CUDA when available), cpu, cuda, cuda:N."
Device = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
Precision = Annotated[
    str, typer.Option("--precision", help="auto (bf16 on CUDA and on CPUs with bf16 units), fp32 or bf16.")
]
EXTENSIONS = ("png", "jpg", "webp")

# options every image-making command (sample, text2img, interp) spells the same way
Truncation = Annotated[
    float, typer.Option("--truncation", help="ψ: pull latents towards the mean (1: off).", min=0.0, max=1.0)
]
NoEma = Annotated[bool, typer.Option("--no-ema", help="The raw generator even if an EMA one is saved.")]
Ext = Annotated[str, typer.Option("--ext", help="Output format: png, jpg or webp.")]


def print_written(written: Iterable[Any], as_json: bool) -> None:
    """Each file a command wrote, as it is written: its path, or with --json one object of its path and
    fields (what the service put in `Written.fields`)."""
    for item in written:
        out(json.dumps({"path": str(item.path), **item.fields}) if as_json else str(item.path))


def output_ext(ext: str) -> str:
    """`--ext` normalised ("JPEG", ".jpg" → "jpg"), or a usage error."""
    ext = ext.lower().lstrip(".").replace("jpeg", "jpg")
    if ext not in EXTENSIONS:
        raise UsageError(f"--ext must be one of {', '.join(EXTENSIONS)} (got {ext!r})")
    return ext


WORKERS_HELP = "Decode worker processes/threads (0: in the main process)."


def batch_size_option(help: str) -> Any:
    """`--batch-size/-b N` (at least 1), with a command's own help text."""
    return Annotated[int, typer.Option("--batch-size", "-b", help=help, min=1)]


def threads_option(help: str) -> Any:
    """`--workers N` threads (at least 1) of the inference commands."""
    return Annotated[int, typer.Option("--workers", help=help, min=1)]


def json_option(help: str) -> Any:
    """`--json`: JSON lines on stdout instead of paths; what each line holds is the command's help."""
    return Annotated[bool, typer.Option("--json", help=help)]


# `cgan plot` and `cgan report` (the default is cgan_cli.watch.plots.DEFAULT_SMOOTH, restated: no service import here)
Smooth = Annotated[
    float,
    typer.Option("--smooth", help="Smoothing of the loss and throughput curves, TensorBoard's: the weight of a "
                 "debiased moving average (0: raw).", min=0.0, max=0.999),
]  # fmt: skip
SMOOTH = 0.6


def run_page_option(what: str, default: str) -> Any:
    """`--out FILE` of the commands that draw a run (plot, report)."""
    return Annotated[Path | None, typer.Option("--out", "-o", help=f"{what} [default: RUN/{default}]")]


RunArgument = Annotated[
    Path, typer.Argument(help="A run folder (the --out of cgan train), finished or still training.")
]

# the image-making commands (sample, text2img) spell these the same way
ImageBatch = batch_size_option("Images per forward pass.")
EncodeThreads = threads_option("Encode threads.")


def default_workers() -> int:
    """Training's DataLoader processes: each holds a copy of the dataset state, so a few."""
    return min(4, os.cpu_count() or 1)


def default_threads() -> int:
    """Decode/encode threads of translate, sample, text2img and eval: Pillow and libjpeg release the GIL,
    and on a GPU machine PNG encoding (10-25 ms per 256² image) bounds the throughput, so use the cores."""
    return min(16, os.cpu_count() or 1)
