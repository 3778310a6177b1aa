"""What every subcommand shares: error handling into exit statuses, and common options."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import torch
import typer

from cgan_cli.console import error
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
        except torch.OutOfMemoryError:
            error("out of memory on the device: try a smaller --batch-size or image size, or --device cpu")
            raise typer.Exit(int(ExitCode.FAILURE)) from None

    return wrapper  # type: ignore[return-value]


DEVICE_HELP = "Device: auto (CUDA when available), cpu, cuda, cuda:N."
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


def output_ext(ext: str) -> str:
    """`--ext` normalised ("JPEG", ".jpg" → "jpg"), or a usage error."""
    ext = ext.lower().lstrip(".").replace("jpeg", "jpg")
    if ext not in EXTENSIONS:
        raise UsageError(f"--ext must be one of {', '.join(EXTENSIONS)} (got {ext!r})")
    return ext


WORKERS_HELP = "Decode worker processes/threads (0: in the main process)."


def default_workers() -> int:
    """Training's DataLoader processes: each holds a copy of the dataset state, so a few."""
    return min(4, os.cpu_count() or 1)


def default_threads() -> int:
    """Decode/encode threads of translate, sample, text2img and eval: Pillow and libjpeg release the GIL,
    and on a GPU machine PNG encoding (10-25 ms per 256² image) bounds the throughput, so use the cores."""
    return min(16, os.cpu_count() or 1)
