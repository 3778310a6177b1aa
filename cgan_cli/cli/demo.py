"""`cgan demo DIR`: write the built-in demo dataset (generated, no download)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cgan_cli.cli.common import exits_cleanly
from cgan_cli.console import info, out


@exits_cleanly
def demo(
    folder: Annotated[Path, typer.Argument(help="Where to write DIR/train and DIR/test.")],
    train: Annotated[int, typer.Option("--train", help="Training pairs.", min=1)] = 400,
    test: Annotated[int, typer.Option("--test", help="Test pairs.", min=0)] = 40,
    size: Annotated[int, typer.Option("--size", help="Side of each half, in pixels.", min=16, max=1024)] = 64,
) -> None:
    """Write the "outlines → shapes" demo dataset in the pix2pix aligned layout (A | B per file).
    Prints the dataset folder on stdout."""
    from cgan_cli.data.demo import write_demo

    paths = write_demo(folder, train, test, size)
    info(f"wrote {len(paths)} images ({train} train, {test} test, {size}×{size} halves) under {folder}")
    out(str(folder))
