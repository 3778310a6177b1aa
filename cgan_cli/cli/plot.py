"""`cgan plot RUN`: a run's losses, metrics, learning rate and throughput from its log.jsonl, as one PNG or SVG.

Like every CLI module it imports no torch and no matplotlib: the service (`cgan_cli.watch.plots`) is imported when
the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cgan_cli.cli.common import SMOOTH, Smooth, exits_cleanly
from cgan_cli.console import out


@exits_cleanly
def plot(
    run: Annotated[Path, typer.Argument(help="A run folder (the --out of cgan train), finished or still training.")],
    out_file: Annotated[
        Path | None, typer.Option("--out", "-o", help="The figure to write: .png or .svg. [default: RUN/plot.png]")
    ] = None,
    smooth: Smooth = SMOOTH,
) -> None:
    """Plot a run's curves from its log.jsonl, also while it trains. One panel per network's losses (raw and
    smoothed), one per metric of --eval-every (the best marked), the sample figures such as diversity, the learning
    rate and the throughput of all ranks. Needs matplotlib: pip install "cgan-cli[plot]". Prints the path."""
    from cgan_cli.watch.plots import save_plot

    out(str(save_plot(run, out_file, smooth)))
